"""Tests for `labtrack artifacts` on every database backend (artifacts on the local disk)."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

import pytest

from labtrack.tracking.client import TrackingClient

from .conftest import Invoke

MODEL_BYTES = bytes(range(256)) * 8  # 2 KB, not text


@pytest.fixture
def run_id(client: TrackingClient, tmp_path: Path) -> str:
    """A run with model.bin (2 KB) at the top and notes/readme.txt, notes/deep/x.txt below."""
    run_id = client.create_run("0", run_name="with-files").info.run_id
    model = tmp_path / "model.bin"
    model.write_bytes(MODEL_BYTES)
    client.log_artifact(run_id, model)
    notes = tmp_path / "notes"
    (notes / "deep").mkdir(parents=True)
    (notes / "readme.txt").write_text("hello\n")
    (notes / "deep" / "x.txt").write_text("deep\n")
    client.log_artifact(run_id, notes)
    return run_id


def test_list_table(invoke: Invoke, db_uri: str, run_id: str) -> None:
    lines = invoke("artifacts", "list", run_id, "--tracking-uri", db_uri).stdout.splitlines()
    assert lines[0].split() == ["Path", "Size"]
    assert [line.split() for line in lines[2:]] == [["model.bin", "2.0", "KB"], ["notes/"]]


def test_list_json_and_csv(invoke: Invoke, db_uri: str, run_id: str) -> None:
    listed = json.loads(
        invoke("artifacts", "list", run_id, "-o", "json", "--tracking-uri", db_uri).stdout
    )
    assert listed == [
        {"path": "model.bin", "is_dir": False, "file_size": len(MODEL_BYTES)},
        {"path": "notes", "is_dir": True, "file_size": None},
    ]
    text = invoke("artifacts", "list", run_id, "-o", "csv", "--tracking-uri", db_uri).stdout
    assert list(csv.reader(io.StringIO(text))) == [
        ["path", "is_dir", "file_size"],
        ["model.bin", "false", str(len(MODEL_BYTES))],
        ["notes", "true", ""],
    ]


def test_list_a_directory(invoke: Invoke, db_uri: str, run_id: str) -> None:
    args = ("artifacts", "list", run_id, "--path", "notes", "-o", "json", "--tracking-uri", db_uri)
    assert [(f["path"], f["is_dir"]) for f in json.loads(invoke(*args).stdout)] == [
        ("notes/deep", True),
        ("notes/readme.txt", False),
    ]


def test_list_nothing(invoke: Invoke, db_uri: str, client: TrackingClient) -> None:
    run_id = client.create_run("0").info.run_id
    result = invoke("artifacts", "list", run_id, "--tracking-uri", db_uri)
    assert (result.stdout, result.stderr) == ("", f"No artifacts in run {run_id}.\n")
    result = invoke("artifacts", "list", run_id, "-p", "sub", "--tracking-uri", db_uri)
    assert result.stderr == f"No artifacts under 'sub' in run {run_id}.\n"


def test_download_everything_round_trip(
    invoke: Invoke, db_uri: str, run_id: str, tmp_path: Path
) -> None:
    dst = tmp_path / "download" / "here"
    result = invoke("artifacts", "download", run_id, "--dst", str(dst), "--tracking-uri", db_uri)
    assert result.stdout == f"{dst}\n"
    assert (dst / "model.bin").read_bytes() == MODEL_BYTES
    assert (dst / "notes" / "readme.txt").read_text() == "hello\n"
    assert (dst / "notes" / "deep" / "x.txt").read_text() == "deep\n"


def test_download_one_file(invoke: Invoke, db_uri: str, run_id: str, tmp_path: Path) -> None:
    args = ("artifacts", "download", run_id, "-p", "notes/readme.txt", "-d", str(tmp_path / "d"))
    result = invoke(*args, "--tracking-uri", db_uri)
    local = Path(result.stdout.strip())
    assert local == tmp_path / "d" / "notes" / "readme.txt"
    assert local.read_text() == "hello\n"
    assert not (tmp_path / "d" / "model.bin").exists()


def test_download_defaults_to_a_new_temp_dir(
    invoke: Invoke, db_uri: str, run_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    args = ("artifacts", "download", run_id, "--path", "model.bin", "--tracking-uri", db_uri)
    local = Path(invoke(*args).stdout.strip())
    assert local.parent.parent == tmp_path
    assert local.name == "model.bin"
    assert local.read_bytes() == MODEL_BYTES


MISSING_RUN = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("list", MISSING_RUN), f"Error: Run with id={MISSING_RUN} not found"),
        (("download", MISSING_RUN), f"Error: Run with id={MISSING_RUN} not found"),
        (("download", "{run}", "--path", "nope.txt"), "Error: Artifact 'nope.txt' does not exist"),
        (("download", "{run}", "--path", "../escape"), None),
        (("list", "{run}", "--path", "../escape"), None),
    ],
)
def test_errors(
    invoke: Invoke, db_uri: str, run_id: str, args: tuple[str, ...], message: str | None
) -> None:
    args = tuple(a.replace("{run}", run_id) for a in args)
    result = invoke("artifacts", *args, "--tracking-uri", db_uri, exit_code=1)
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ")
    assert len(result.stderr.splitlines()) == 1
    if message is not None:
        assert result.stderr == message + "\n"


def test_download_into_a_file_is_a_usage_error(
    invoke: Invoke, db_uri: str, run_id: str, tmp_path: Path
) -> None:
    target = tmp_path / "a-file"
    target.write_text("")
    args = ("artifacts", "download", run_id, "--dst", str(target), "--tracking-uri", db_uri)
    assert "is a file" in invoke(*args, exit_code=2).stderr


def test_os_errors_are_one_line(invoke: Invoke, db_uri: str, run_id: str, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    args = ("artifacts", "download", run_id, "--dst", str(blocker / "sub"))
    result = invoke(*args, "--tracking-uri", db_uri, exit_code=1)
    assert result.stderr == f"Error: Not a directory: {blocker / 'sub'}\n"


# -- a run's logged models (MLflow 3's log_model keeps their files outside the run) --------
@pytest.fixture
def model_id(client: TrackingClient, run_id: str) -> str:
    """A logged model "model" of the run, with MLmodel, requirements.txt and data/weights."""
    from labtrack.artifacts import get_artifact_repository
    from labtrack.entities import LoggedModelOutput, LoggedModelStatus

    service = client.service
    model = service.create_logged_model("0", "model", source_run_id=run_id)
    service.log_outputs(run_id, [LoggedModelOutput(model.model_id, 0)])
    repo = get_artifact_repository(model.artifact_location)
    repo.log_bytes(b"flavors: {}\n", "MLmodel")
    repo.log_bytes(b"scikit-learn==1.5.0\n", "requirements.txt")
    repo.log_bytes(MODEL_BYTES, "data/weights.bin")
    service.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    return model.model_id


def test_list_shows_the_logged_model_as_a_directory(
    invoke: Invoke, db_uri: str, run_id: str, model_id: str
) -> None:
    lines = invoke("artifacts", "list", run_id, "--tracking-uri", db_uri).stdout.splitlines()
    assert lines[0].split() == ["Path", "Size", "Logged", "model"]
    assert [line.split() for line in lines[2:]] == [
        ["model/", model_id],
        ["model.bin", "2.0", "KB"],
        ["notes/"],
    ]
    listed = json.loads(
        invoke("artifacts", "list", run_id, "-o", "json", "--tracking-uri", db_uri).stdout
    )
    assert listed[0] == {
        "path": "model",
        "is_dir": True,
        "file_size": None,
        "logged_model_id": model_id,
    }
    assert listed[1] == {"path": "model.bin", "is_dir": False, "file_size": len(MODEL_BYTES)}


def test_list_a_logged_models_files(
    invoke: Invoke, db_uri: str, run_id: str, model_id: str
) -> None:
    args = ("artifacts", "list", run_id, "-p", "model", "-o", "json", "--tracking-uri", db_uri)
    assert json.loads(invoke(*args).stdout) == [
        {"path": "model/MLmodel", "is_dir": False, "file_size": 12, "logged_model_id": model_id},
        {"path": "model/data", "is_dir": True, "file_size": None, "logged_model_id": model_id},
        {
            "path": "model/requirements.txt",
            "is_dir": False,
            "file_size": 20,
            "logged_model_id": model_id,
        },
    ]
    args = ("artifacts", "list", run_id, "-p", "model/data", "-o", "csv", "--tracking-uri", db_uri)
    assert list(csv.reader(io.StringIO(invoke(*args).stdout))) == [
        ["path", "is_dir", "file_size"],
        ["model/data/weights.bin", "false", str(len(MODEL_BYTES))],
    ]


def test_download_a_logged_model(
    invoke: Invoke, db_uri: str, run_id: str, model_id: str, tmp_path: Path
) -> None:
    dst = tmp_path / "got"
    args = ("artifacts", "download", run_id, "-p", "model", "-d", str(dst))
    assert invoke(*args, "--tracking-uri", db_uri).stdout == f"{dst / 'model'}\n"
    assert (dst / "model" / "requirements.txt").read_text() == "scikit-learn==1.5.0\n"
    assert (dst / "model" / "data" / "weights.bin").read_bytes() == MODEL_BYTES
    args = ("artifacts", "download", run_id, "-p", "model/MLmodel", "-d", str(tmp_path / "one"))
    assert invoke(*args, "--tracking-uri", db_uri).stdout == f"{tmp_path / 'one/model/MLmodel'}\n"


def test_download_everything_includes_the_logged_models(
    invoke: Invoke, db_uri: str, run_id: str, model_id: str, tmp_path: Path
) -> None:
    dst = tmp_path / "all"
    invoke("artifacts", "download", run_id, "-d", str(dst), "--tracking-uri", db_uri)
    assert (dst / "model.bin").read_bytes() == MODEL_BYTES
    assert (dst / "notes" / "readme.txt").read_text() == "hello\n"
    assert (dst / "model" / "MLmodel").read_text() == "flavors: {}\n"
