"""Model URI resolution: the forms that need no server (the others: test_log_model.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import labtrack as lt
from labtrack.errors import InvalidParameterValue
from labtrack.models import download_model, resolve_model_uri

pytest.importorskip("sklearn")


@pytest.fixture
def saved(tmp_path: Path, sk_model: Any) -> Path:
    path = tmp_path / "my model"
    lt.sklearn.save_model(sk_model, path)
    return path


def test_paths_and_file_uris_are_used_in_place(
    saved: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert download_model(saved) == saved
    assert download_model(saved.as_uri()) == saved  # file:///.../my%20model
    monkeypatch.chdir(saved.parent)
    assert download_model("my model") == Path("my model")
    assert lt.pyfunc.load_model("my model").metadata.flavors["sklearn"]


def test_download_to_a_destination(saved: Path, tmp_path: Path) -> None:
    copy = download_model(saved.as_uri(), dst_path=tmp_path / "copy")
    assert (copy / "MLmodel").is_file()
    assert copy != saved


def test_resolve_runs_uri_to_the_run_artifacts(tmp_path: Path) -> None:
    with lt.start_run() as run:
        pass
    uri = resolve_model_uri(f"runs:/{run.info.run_id}/some/model")
    assert uri == f"{run.info.artifact_uri}/some/model"


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("models:/", "Not a proper models:/ URI"),
        ("models:/name/not-a-stage", "Invalid Model Version stage: not-a-stage"),
        ("runs:/", "Not a proper runs:/ URI"),
        ("ftp://host/model", "Unsupported model URI 'ftp://host/model'"),
    ],
)
def test_malformed_uris(uri: str, message: str) -> None:
    with pytest.raises(InvalidParameterValue, match=message):
        resolve_model_uri(uri)


def test_missing_local_model(tmp_path: Path) -> None:
    with pytest.raises(lt.ResourceDoesNotExist, match="does not exist"):
        download_model(tmp_path / "nothing")


def test_credentials_are_not_echoed() -> None:
    with pytest.raises(InvalidParameterValue) as caught:
        resolve_model_uri("gopher://user:secret@host/model")
    assert "secret" not in str(caught.value)
