"""What every artifact repository does the same: a local directory, S3 (a moto server on
127.0.0.1) and a labtrack server's artifact proxy (``mlflow-artifacts:`` over HTTP).

Each test runs on every kind through the ``any_repo`` fixture (tests/artifacts/conftest.py);
what only one kind does is tested in that kind's file (test_local.py, test_s3.py).
"""

from __future__ import annotations

import hashlib
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from labtrack.artifacts import ArtifactRepository
from labtrack.entities import FileInfo
from labtrack.errors import InvalidParameterValue, ResourceDoesNotExist

from ._support import read as _read
from ._support import tree as _tree
from ._support import walk as _walk


def test_log_artifact_at_root_and_under_path(tmp_path: Path, any_repo: ArtifactRepository) -> None:
    f = tmp_path / "model.pkl"
    f.write_bytes(b"weights")
    any_repo.log_artifact(f)
    any_repo.log_artifact(str(f), "models/v1")
    assert _walk(any_repo) == {
        "model.pkl": b"weights",
        "models": None,
        "models/v1": None,
        "models/v1/model.pkl": b"weights",
    }


def test_log_artifact_overwrites(tmp_path: Path, any_repo: ArtifactRepository) -> None:
    f = tmp_path / "x.txt"
    f.write_bytes(b"one")
    any_repo.log_artifact(f)
    f.write_bytes(b"two!")
    any_repo.log_artifact(f)
    assert any_repo.list_artifacts() == [FileInfo("x.txt", False, 4)]
    assert _read(any_repo, "x.txt") == b"two!"


def test_log_artifacts_round_trip(
    tmp_path: Path, source_dir: Path, any_repo: ArtifactRepository
) -> None:
    any_repo.log_artifacts(source_dir, "data")
    local = any_repo.download_artifacts("data", tmp_path / "dl")
    assert local == str(tmp_path / "dl" / "data")
    assert _tree(Path(local)) == _tree(source_dir)
    any_repo.log_artifacts(str(source_dir))
    assert _tree(Path(any_repo.download_artifacts("", tmp_path / "all"))) == {
        **_tree(source_dir),
        "data": None,
        **{f"data/{k}": v for k, v in _tree(source_dir).items()},
    }


def test_log_bytes(any_repo: ArtifactRepository) -> None:
    any_repo.log_bytes(b"<html/>", "reports/a.html")
    any_repo.log_bytes(bytearray(b"x"), "reports/b.txt")
    any_repo.log_bytes(memoryview(b"yz"), "./c.txt")
    assert _read(any_repo, "reports/a.html") == b"<html/>"
    assert any_repo.list_artifacts("reports") == [
        FileInfo("reports/a.html", False, 7),
        FileInfo("reports/b.txt", False, 1),
    ]
    assert any_repo.list_artifacts() == [FileInfo("c.txt", False, 2), FileInfo("reports", True)]
    any_repo.log_bytes(b"", "reports/a.html")
    assert any_repo.file_size("reports/a.html") == 0
    assert _read(any_repo, "reports/a.html") == b""


@pytest.mark.parametrize(
    ("bad_file", "message"),
    [
        (None, "log_bytes needs a file name, got the artifact root"),
        ("", "log_bytes needs a file name, got the artifact root"),
        (".", "log_bytes needs a file name, got the artifact root"),
        ("a/..", "Invalid artifact path 'a/..': contains a '..' component"),
    ],
)
def test_log_bytes_needs_a_file_name(
    any_repo: ArtifactRepository, bad_file: Any, message: str
) -> None:
    with pytest.raises(InvalidParameterValue, match=re.escape(message)):
        any_repo.log_bytes(b"x", bad_file)


@pytest.mark.parametrize(
    "name",
    ["with space.txt", "100%25 done.txt", "naïve/日本語.txt", "a+b=c&d.txt", "q?x#y.txt", "~t'\"`"],
)
def test_unusual_names_round_trip(any_repo: ArtifactRepository, name: str) -> None:
    any_repo.log_bytes(name.encode(), f"d/{name}")
    assert _walk(any_repo, "d") == {
        f"d/{name}": name.encode(),
        **({"d/naïve": None} if "/" in name else {}),
    }
    any_repo.delete_artifacts(f"d/{name}")
    assert any_repo.list_artifacts("d/naïve" if "/" in name else "d") == []


def test_list_semantics(any_repo: ArtifactRepository) -> None:
    for name in ["z.txt", "b/inner.txt", "a.txt", "B.txt", "m/n/o.txt"]:
        any_repo.log_bytes(name.encode(), name)
    top = any_repo.list_artifacts()
    assert top == [
        FileInfo("B.txt", False, 5),
        FileInfo("a.txt", False, 5),
        FileInfo("b", True, None),
        FileInfo("m", True, None),
        FileInfo("z.txt", False, 5),
    ]
    assert (
        any_repo.list_artifacts(None)
        == any_repo.list_artifacts("")
        == any_repo.list_artifacts(".")
        == top
    )
    assert any_repo.list_artifacts("m") == [FileInfo("m/n", True, None)]
    assert any_repo.list_artifacts("m/n/") == [FileInfo("m/n/o.txt", False, 9)]
    assert any_repo.list_artifacts("missing") == []
    assert any_repo.list_artifacts("missing/deeper") == []
    assert any_repo.list_artifacts("a.txt") == []
    assert any_repo.list_artifacts("a.txt/x") == []


def test_list_before_anything_is_logged(any_repo: ArtifactRepository) -> None:
    assert any_repo.list_artifacts() == []
    assert any_repo.get_file_info("") == FileInfo("", True, None)


def test_open_streams(tmp_path: Path, any_repo: ArtifactRepository) -> None:
    big = tmp_path / "big.bin"
    chunk = os.urandom(64 * 1024)
    with open(big, "wb") as f:
        for _ in range(48):  # 3 MiB
            f.write(chunk)
    any_repo.log_artifact(big, "blobs")
    digest = hashlib.sha256()
    with any_repo.open("blobs/big.bin") as stream:
        assert stream.read(0) == b""
        assert len(stream.read(10)) == 10
        while block := stream.read(256 * 1024):
            assert len(block) <= 256 * 1024
            digest.update(block)
    assert stream.closed
    whole = big.read_bytes()
    assert digest.hexdigest() == hashlib.sha256(whole[10:]).hexdigest()
    stream, size = any_repo.open_sized("blobs/big.bin")
    with stream:
        assert size == len(whole) == any_repo.file_size("blobs/big.bin")
        assert stream.read() == whole


def test_open_errors(any_repo: ArtifactRepository) -> None:
    any_repo.log_bytes(b"x", "d/f.txt")
    with pytest.raises(ResourceDoesNotExist, match=_missing("d/missing.txt")):
        any_repo.open("d/missing.txt")
    with pytest.raises(ResourceDoesNotExist, match=_missing("d/f.txt/below")):
        any_repo.open("d/f.txt/below")
    with pytest.raises(InvalidParameterValue, match="directory"):
        any_repo.open("d")
    with pytest.raises(InvalidParameterValue, match="directory"):
        any_repo.open("")
    with pytest.raises(InvalidParameterValue, match="directory"):
        any_repo.open_sized("d")
    with pytest.raises(ResourceDoesNotExist, match=_missing("nope")):
        any_repo.open_sized("nope")


def test_file_info_and_size(any_repo: ArtifactRepository) -> None:
    any_repo.log_bytes(b"abcd", "d/f.txt")
    assert any_repo.get_file_info("d/f.txt") == FileInfo("d/f.txt", False, 4)
    assert any_repo.get_file_info("d/") == FileInfo("d", True, None)
    assert any_repo.get_file_info(None) == FileInfo("", True, None)
    assert any_repo.file_size("d/f.txt") == 4
    with pytest.raises(InvalidParameterValue, match="Artifact 'd' is a directory, not a file"):
        any_repo.file_size("d")
    with pytest.raises(ResourceDoesNotExist, match=_missing("nope")):
        any_repo.file_size("nope")
    with pytest.raises(ResourceDoesNotExist, match=_missing("d/f")):
        any_repo.get_file_info("d/f")  # a prefix of a name is not a directory


def test_download_file(tmp_path: Path, any_repo: ArtifactRepository) -> None:
    any_repo.log_bytes(b"abc", "a/b/c.txt")
    dst = tmp_path / "not-yet"
    local = any_repo.download_artifacts("a/b/c.txt", dst)
    assert local == str(dst / "a" / "b" / "c.txt")
    assert Path(local).read_bytes() == b"abc"
    assert os.listdir(dst / "a" / "b") == ["c.txt"]  # no temporary file left behind
    local = any_repo.download_artifacts("a/b/c.txt", dst)  # again: overwrites
    assert Path(local).read_bytes() == b"abc"
    temp = Path(any_repo.download_artifacts("a/b/c.txt"))
    assert temp.read_bytes() == b"abc"


def test_download_dirs(tmp_path: Path, source_dir: Path, any_repo: ArtifactRepository) -> None:
    empty = any_repo.download_artifacts("", tmp_path / "empty")
    assert os.listdir(empty) == []
    any_repo.log_artifacts(source_dir, "x")
    local = Path(any_repo.download_artifacts("x/sub"))
    assert local.parts[-2:] == ("x", "sub")
    assert _tree(local) == _tree(source_dir / "sub")


def test_download_errors(tmp_path: Path, any_repo: ArtifactRepository) -> None:
    any_repo.log_bytes(b"x", "f.txt")
    with pytest.raises(ResourceDoesNotExist, match=_missing("missing")):
        any_repo.download_artifacts("missing", tmp_path / "dl")
    (tmp_path / "a-file").write_bytes(b"")
    with pytest.raises(InvalidParameterValue, match="not a directory"):
        any_repo.download_artifacts("f.txt", tmp_path / "a-file")


def test_delete(source_dir: Path, any_repo: ArtifactRepository) -> None:
    any_repo.log_artifacts(source_dir)
    any_repo.log_bytes(b"sibling", "a.txt.bak")
    any_repo.delete_artifacts("a.txt")
    any_repo.delete_artifacts("sub/deep/")
    assert _walk(any_repo) == {
        "a.txt.bak": b"sibling",
        "sub": None,
        "sub/b.json": b'{"b": 1}',
    }
    any_repo.delete_artifacts("missing")  # idempotent
    any_repo.delete_artifacts("missing/deeper")
    any_repo.delete_artifacts("sub/b.json/x")
    any_repo.delete_artifacts()
    assert any_repo.list_artifacts() == []
    any_repo.delete_artifacts()
    any_repo.log_bytes(b"again", "f.txt")
    assert any_repo.list_artifacts() == [FileInfo("f.txt", False, 5)]


def test_concurrent_writers_and_readers(any_repo: ArtifactRepository) -> None:
    names = [f"t/{i:03d}.txt" for i in range(40)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: any_repo.log_bytes(n.encode(), n), names))
        contents = list(pool.map(lambda n: _read(any_repo, n), names))
    assert contents == [n.encode() for n in names]
    assert [i.path for i in any_repo.list_artifacts("t")] == names


def _missing(path: str) -> str:
    """The message every repository kind gives for an artifact that is not there (through the
    proxy the path is named from the server's artifact destination, so a prefix may come first)."""
    return f"Artifact '(.+/)?{re.escape(path)}' does not exist"
