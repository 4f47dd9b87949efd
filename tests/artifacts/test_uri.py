"""URI helpers and the scheme -> repository registry."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import labtrack.artifacts as artifacts
from labtrack.artifacts import (
    ArtifactRepository,
    get_artifact_repository,
    local_path_from_uri,
    path_to_file_uri,
    register_artifact_repository,
    supported_schemes,
)
from labtrack.artifacts._uri import redact_uri, uri_scheme
from labtrack.artifacts.local import LocalArtifactRepository
from labtrack.entities import FileInfo
from labtrack.errors import InvalidParameterValue

posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX path semantics")


@posix_only
@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("file:///tmp/x", "/tmp/x"),
        ("file:/tmp/x", "/tmp/x"),
        ("file://localhost/tmp/x", "/tmp/x"),
        ("file://LOCALHOST/tmp/x", "/tmp/x"),
        ("FILE:///tmp/x", "/tmp/x"),
        ("file:///tmp/x/", "/tmp/x"),
        ("file:///tmp/a%20b", "/tmp/a b"),
        ("file:///tmp/a%23b%3Fc", "/tmp/a#b?c"),
        ("file:///tmp/a#b", "/tmp/a#b"),
        ("file:///tmp/%C3%A9t%C3%A9", "/tmp/été"),
        ("file:///tmp/100%25", "/tmp/100%"),
        ("file:///C:/x", "/C:/x"),
        ("/tmp/x", "/tmp/x"),
        ("/tmp/a%20b", "/tmp/a%20b"),  # plain paths are literal
        ("rel/x", "rel/x"),
        ("./rel", "rel"),
        ("labtrack-artifacts", "labtrack-artifacts"),
    ],
)
def test_local_path_from_uri(uri: str, expected: str) -> None:
    assert local_path_from_uri(uri) == Path(expected)


@pytest.mark.parametrize(
    "uri",
    [
        "",
        "file:",
        "file://",
        "file:rel/x",
        "file://otherhost/tmp/x",
        "file:///tmp/a%00b",
        "/tmp/a\x00b",
        "s3://bucket/x",
        "https://example.com/x",
    ],
)
def test_local_path_from_uri_refuses(uri: str) -> None:
    with pytest.raises(
        InvalidParameterValue, match=r"^(Invalid artifact URI '|Not a local artifact URI: )"
    ):
        local_path_from_uri(uri)


@posix_only
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/tmp/x", "file:///tmp/x"),
        ("/tmp/a b", "file:///tmp/a%20b"),
        ("/tmp/a#b?c%", "file:///tmp/a%23b%3Fc%25"),
        ("/tmp/x/../y", "file:///tmp/y"),
        ("/tmp/été", "file:///tmp/%C3%A9t%C3%A9"),
    ],
)
def test_path_to_file_uri(path: str, expected: str) -> None:
    assert path_to_file_uri(path) == expected


def test_path_to_file_uri_makes_relative_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert local_path_from_uri(path_to_file_uri("sub")) == tmp_path / "sub"


_NAME = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00/\\"),
    min_size=1,
).filter(lambda s: s not in (".", ".."))


@given(_NAME)
def test_file_uri_round_trip(name: str) -> None:
    path = Path(os.path.abspath("base")) / name
    assert local_path_from_uri(path_to_file_uri(path)) == path


@pytest.mark.parametrize(
    ("uri", "scheme"),
    [
        ("s3://b/k", "s3"),
        ("S3://b/k", "s3"),
        ("file:///x", "file"),
        ("mlflow-artifacts:/x", "mlflow-artifacts"),
        ("/abs", ""),
        ("rel/x", ""),
        ("C:\\runs", ""),
        ("c:/runs", ""),
    ],
)
def test_uri_scheme(uri: str, scheme: str) -> None:
    assert uri_scheme(uri) == scheme


def test_redact_uri() -> None:
    assert redact_uri("https://user:secret@host/x") == "https://***@host/x"
    assert redact_uri("s3://bucket/k@v") == "s3://bucket/k@v"
    assert len(redact_uri("x" * 1000)) < 210


# -- registry -----------------------------------------------------------------------


@pytest.mark.parametrize("form", ["uri", "plain", "relative"])
def test_local_uris_get_the_local_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    monkeypatch.chdir(tmp_path)
    uri = {
        "uri": path_to_file_uri(tmp_path / "art"),
        "plain": str(tmp_path / "art"),
        "relative": "art",
    }[form]
    repo = get_artifact_repository(uri)
    assert isinstance(repo, LocalArtifactRepository)
    assert repo.artifact_uri == uri
    assert repo.root == tmp_path / "art"


def test_relative_root_is_fixed_at_construction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    repo = get_artifact_repository("art")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    repo.log_bytes(b"x", "f.txt")
    assert (tmp_path / "art" / "f.txt").read_bytes() == b"x"


def test_unknown_scheme() -> None:
    with pytest.raises(InvalidParameterValue) as info:
        get_artifact_repository("s3x://user:pw@bucket/path")
    message = info.value.message
    assert message.startswith("No artifact repository for scheme 's3x' (in 's3x://")
    assert "pw" not in message
    assert "supported: file" in message


def test_supported_schemes() -> None:
    assert "file" in supported_schemes()
    assert "" not in supported_schemes()


class _FakeRepository(LocalArtifactRepository):
    def __init__(self, artifact_uri: str) -> None:
        ArtifactRepository.__init__(self, artifact_uri)


class _NotARepository:
    def __init__(self, artifact_uri: str) -> None:
        pass


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(artifacts, "_REPOSITORIES", dict(artifacts._REPOSITORIES))


@pytest.mark.usefixtures("registry")
def test_register_is_lazy_and_dispatches() -> None:
    register_artifact_repository("nowhere", "labtrack_no_such_module_xyz:Repo")
    register_artifact_repository("Fake", f"{__name__}:_FakeRepository")
    assert {"fake", "nowhere"} <= set(supported_schemes())
    repo = get_artifact_repository("fake://bucket/x")
    assert isinstance(repo, _FakeRepository)
    assert repo.artifact_uri == "fake://bucket/x"
    with pytest.raises(ModuleNotFoundError, match="labtrack_no_such_module_xyz"):
        get_artifact_repository("nowhere://x")


@pytest.mark.usefixtures("registry")
def test_register_checks_target() -> None:
    with pytest.raises(
        InvalidParameterValue, match="Invalid artifact repository target 'no_colon'"
    ):
        register_artifact_repository("x", "no_colon")
    register_artifact_repository("bad", f"{__name__}:_NotARepository")
    with pytest.raises(TypeError, match="is not an ArtifactRepository subclass"):
        get_artifact_repository("bad://x")


def test_importing_artifacts_imports_no_backend(tmp_path: Path) -> None:
    src = Path(artifacts.__file__).resolve().parents[2]
    code = (
        "import sys, labtrack.artifacts as a\n"
        "assert 'labtrack.artifacts.local' not in sys.modules\n"
        f"r = a.get_artifact_repository({str(tmp_path)!r})\n"
        "r.log_bytes(b'x', 'f')\n"
        "bad = {'boto3', 'botocore', 'httpx', 'requests'} & set(sys.modules)\n"
        "assert not bad, bad\n"
    )
    env = {**os.environ, "PYTHONPATH": str(src)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_file_info_shape(tmp_path: Path) -> None:
    repo = get_artifact_repository(str(tmp_path))
    repo.log_bytes(b"abc", "d/f.txt")
    assert repo.list_artifacts() == [FileInfo("d", True, None)]
    assert repo.list_artifacts("d") == [FileInfo("d/f.txt", False, 3)]
