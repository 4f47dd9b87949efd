"""LocalArtifactRepository: files on disk, atomic writes, symlinks, special files, confinement.

What every kind of repository does (round trips, listing, streaming, downloads,
deletion) is tested in test_repository_contract.py.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from labtrack.artifacts import path_to_file_uri
from labtrack.artifacts._atomic import TEMP_PREFIX
from labtrack.artifacts.local import LocalArtifactRepository
from labtrack.entities import FileInfo
from labtrack.errors import InvalidParameterValue, ResourceDoesNotExist

from ._support import read as _read
from ._support import tree as _tree

needs_symlinks = pytest.mark.skipif(os.name == "nt", reason="symlinks need privileges on Windows")
needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "labtrack-artifacts" / "1" / "run" / "artifacts"


@pytest.fixture
def repo(root: Path) -> LocalArtifactRepository:
    return LocalArtifactRepository(path_to_file_uri(root))


# -- writing and round trips ---------------------------------------------------------


def test_artifacts_are_plain_files_under_the_root(
    tmp_path: Path, source_dir: Path, repo: LocalArtifactRepository
) -> None:
    f = tmp_path / "model.pkl"
    f.write_bytes(b"weights")
    repo.log_artifact(f)
    repo.log_artifact(str(f), "models/v1")
    assert (repo.root / "model.pkl").read_bytes() == b"weights"
    assert (repo.root / "models" / "v1" / "model.pkl").read_bytes() == b"weights"
    repo.log_artifacts(source_dir, "data")
    assert _tree(repo.root / "data") == _tree(source_dir)
    repo.log_bytes(b"<html/>", "reports/a.html")
    assert (repo.root / "reports" / "a.html").read_bytes() == b"<html/>"
    repo.delete_artifacts("data/sub/deep/")
    repo.delete_artifacts("models")
    assert _tree(repo.root) == {
        "data": None,
        "data/a.txt": b"alpha",
        "data/sub": None,
        "data/sub/b.json": b'{"b": 1}',
        "model.pkl": b"weights",
        "reports": None,
        "reports/a.html": b"<html/>",
    }
    repo.delete_artifacts()
    assert not repo.root.exists()


def test_log_artifact_source_errors(tmp_path: Path, repo: LocalArtifactRepository) -> None:
    with pytest.raises(ResourceDoesNotExist, match=r"Local file .*missing.txt. does not exist"):
        repo.log_artifact(tmp_path / "missing.txt")
    with pytest.raises(InvalidParameterValue, match="log_artifacts"):
        repo.log_artifact(tmp_path)


@needs_symlinks
def test_log_artifact_source_may_be_anywhere(tmp_path: Path, repo: LocalArtifactRepository) -> None:
    elsewhere = tmp_path / "elsewhere" / "data.csv"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(b"1,2")
    link = tmp_path / "link.csv"
    link.symlink_to(elsewhere)
    repo.log_artifact(link)
    stored = repo.root / "link.csv"
    assert not stored.is_symlink()
    assert stored.read_bytes() == b"1,2"


def test_log_artifacts_at_root(source_dir: Path, repo: LocalArtifactRepository) -> None:
    repo.log_artifacts(str(source_dir))
    assert _tree(repo.root) == _tree(source_dir)


def test_log_artifacts_source_errors(tmp_path: Path, repo: LocalArtifactRepository) -> None:
    with pytest.raises(ResourceDoesNotExist, match=r"Local directory .*missing. does not exist"):
        repo.log_artifacts(tmp_path / "missing")
    (tmp_path / "f").write_bytes(b"")
    with pytest.raises(InvalidParameterValue, match="log_artifact"):
        repo.log_artifacts(tmp_path / "f")


@needs_symlinks
def test_log_artifacts_symlink_policy(tmp_path: Path, repo: LocalArtifactRepository) -> None:
    blobs = tmp_path / "blobs"
    (blobs / "inner").mkdir(parents=True)
    (blobs / "w.bin").write_bytes(b"blob")
    (blobs / "inner" / "never.txt").write_bytes(b"no")
    src = tmp_path / "snapshot"
    src.mkdir()
    (src / "weights.bin").symlink_to(blobs / "w.bin")  # file link: bytes are copied
    (src / "dirlink").symlink_to(blobs / "inner", target_is_directory=True)  # not followed
    (src / "loop").symlink_to(src, target_is_directory=True)  # no infinite recursion
    (src / "dangling").symlink_to(tmp_path / "nope")  # skipped
    repo.log_artifacts(src)
    assert _tree(repo.root) == {"weights.bin": b"blob"}
    assert not (repo.root / "weights.bin").is_symlink()


@pytest.mark.skipif(os.name == "nt", reason="backslash is a separator on Windows")
def test_log_artifacts_validates_everything_before_writing(
    tmp_path: Path, repo: LocalArtifactRepository
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "aaa.txt").write_bytes(b"fine")
    (src / "b\\c.txt").write_bytes(b"backslash in a POSIX name")
    with pytest.raises(InvalidParameterValue, match="backslash"):
        repo.log_artifacts(src)
    assert not repo.root.exists()


def test_log_bytes_needs_bytes(repo: LocalArtifactRepository) -> None:
    with pytest.raises(InvalidParameterValue, match="bytes"):
        repo.log_bytes("text", "a.txt")  # type: ignore[arg-type]


def test_write_conflicts_with_existing_entries(repo: LocalArtifactRepository) -> None:
    repo.log_bytes(b"x", "d/f.txt")
    with pytest.raises(InvalidParameterValue, match="directory"):
        repo.log_bytes(b"y", "d")
    with pytest.raises(InvalidParameterValue, match="is a file"):
        repo.log_bytes(b"y", "d/f.txt/g.txt")
    assert (repo.root / "d" / "f.txt").read_bytes() == b"x"


def test_written_files_follow_umask(repo: LocalArtifactRepository) -> None:
    umask = os.umask(0)
    os.umask(umask)
    repo.log_bytes(b"x", "f.txt")
    assert stat.S_IMODE((repo.root / "f.txt").stat().st_mode) == 0o666 & ~umask


def test_failed_write_keeps_old_file_and_no_temp(
    tmp_path: Path, repo: LocalArtifactRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo.log_bytes(b"old", "f.txt")
    src = tmp_path / "f.txt"
    src.write_bytes(b"new content")

    def broken_copy(source: str, target: str) -> None:
        Path(target).write_bytes(b"new co")
        raise OSError("disk full")

    monkeypatch.setattr("labtrack.artifacts._atomic.shutil.copyfile", broken_copy)
    with pytest.raises(OSError, match="disk full"):
        repo.log_artifact(src)
    assert os.listdir(repo.root) == ["f.txt"]
    assert (repo.root / "f.txt").read_bytes() == b"old"


def test_readers_never_see_partial_writes(repo: LocalArtifactRepository) -> None:
    repo.log_bytes(b"a" * 1000, "f.txt")
    with repo.open("f.txt") as reader:
        repo.log_bytes(b"b" * 2000, "f.txt")  # replaced, not rewritten in place
        assert reader.read() == b"a" * 1000
    assert _read(repo, "f.txt") == b"b" * 2000


# -- listing ----------------------------------------------------------------------


def test_list_hides_writes_in_progress(repo: LocalArtifactRepository) -> None:
    repo.log_bytes(b"x", "f.txt")
    (repo.root / f"{TEMP_PREFIX}abc").write_bytes(b"partial")
    assert [i.path for i in repo.list_artifacts()] == ["f.txt"]


@needs_fifo
def test_special_files_are_not_artifacts(repo: LocalArtifactRepository) -> None:
    repo.log_bytes(b"x", "f.txt")
    os.mkfifo(repo.root / "pipe")
    assert [i.path for i in repo.list_artifacts()] == ["f.txt"]
    with pytest.raises(InvalidParameterValue, match="regular file"):
        repo.open("pipe")  # would block forever without O_NONBLOCK
    with pytest.raises(ResourceDoesNotExist, match="Artifact 'pipe' does not exist"):
        repo.file_size("pipe")


# -- downloading ------------------------------------------------------------------


def test_download_file_to_given_dst(tmp_path: Path, repo: LocalArtifactRepository) -> None:
    repo.log_bytes(b"abc", "a/b/c.txt")
    dst = tmp_path / "not-yet"
    local = repo.download_artifacts("a/b/c.txt", dst)
    assert local == str(dst / "a" / "b" / "c.txt")
    assert Path(local).read_bytes() == b"abc"
    assert os.listdir(dst / "a" / "b") == ["c.txt"]


def test_download_file_to_new_temp_dir(repo: LocalArtifactRepository) -> None:
    repo.log_bytes(b"abc", "c.txt")
    local = Path(repo.download_artifacts("c.txt"))
    try:
        assert local.name == "c.txt"
        assert local.read_bytes() == b"abc"
        assert not local.parent.samefile(repo.root)
    finally:
        local.unlink()
        local.parent.rmdir()


def test_download_root_and_empty_root(
    tmp_path: Path, source_dir: Path, repo: LocalArtifactRepository
) -> None:
    empty = repo.download_artifacts("", tmp_path / "empty")
    assert empty == str(tmp_path / "empty")
    assert os.listdir(empty) == []
    repo.log_artifacts(source_dir)
    local = repo.download_artifacts("", str(tmp_path / "all"))
    assert _tree(Path(local)) == _tree(source_dir)


def test_download_dir_to_temp(source_dir: Path, repo: LocalArtifactRepository) -> None:
    repo.log_artifacts(source_dir, "x")
    local = Path(repo.download_artifacts("x/sub"))
    assert local.parts[-2:] == ("x", "sub")
    assert _tree(local) == _tree(source_dir / "sub")


# -- deleting ---------------------------------------------------------------------


def test_delete_root_of_filesystem_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_rmtree(path: str) -> None:
        raise AssertionError(f"rmtree({path!r}) called")

    monkeypatch.setattr("labtrack.artifacts.local.shutil.rmtree", no_rmtree)
    with pytest.raises(InvalidParameterValue, match="filesystem root"):
        LocalArtifactRepository("/").delete_artifacts()


# -- symlinks that stay inside the root ----------------------------------------------


@needs_symlinks
def test_root_may_itself_be_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "big-disk" / "artifacts"
    real.mkdir(parents=True)
    (tmp_path / "link-root").symlink_to(real, target_is_directory=True)
    repo = LocalArtifactRepository(str(tmp_path / "link-root"))
    repo.log_bytes(b"x", "d/f.txt")
    assert (real / "d" / "f.txt").read_bytes() == b"x"
    assert repo.list_artifacts("d") == [FileInfo("d/f.txt", False, 1)]
    assert _read(repo, "d/f.txt") == b"x"


@needs_symlinks
def test_internal_symlinks_work_and_delete_only_the_link(
    repo: LocalArtifactRepository,
) -> None:
    repo.log_bytes(b"data", "real/f.txt")
    (repo.root / "alias").symlink_to(repo.root / "real", target_is_directory=True)
    (repo.root / "f-alias").symlink_to(repo.root / "real" / "f.txt")
    # Directory links are left out of listings; named explicitly they work.
    assert repo.list_artifacts() == [FileInfo("f-alias", False, 4), FileInfo("real", True)]
    assert repo.list_artifacts("alias") == [FileInfo("alias/f.txt", False, 4)]
    assert repo.get_file_info("alias") == FileInfo("alias", True)
    assert _read(repo, "f-alias") == b"data"
    repo.delete_artifacts("alias")
    repo.delete_artifacts("f-alias")
    assert (repo.root / "real" / "f.txt").read_bytes() == b"data"
    assert [i.path for i in repo.list_artifacts()] == ["real"]


@needs_symlinks
def test_symlink_cycles_do_not_hang_downloads(
    tmp_path: Path, repo: LocalArtifactRepository
) -> None:
    repo.log_bytes(b"x", "a/f.txt")
    repo.log_bytes(b"y", "b/g.txt")
    (repo.root / "loop").symlink_to(repo.root, target_is_directory=True)
    (repo.root / "a" / "to_b").symlink_to(repo.root / "b", target_is_directory=True)
    (repo.root / "b" / "to_a").symlink_to(repo.root / "a", target_is_directory=True)
    local = repo.download_artifacts("", tmp_path / "dl")
    assert _tree(Path(local)) == {"a": None, "a/f.txt": b"x", "b": None, "b/g.txt": b"y"}
    local = repo.download_artifacts("a/to_b", tmp_path / "dl2")
    assert _tree(Path(local)) == {"g.txt": b"y"}


# -- hostile paths ----------------------------------------------------------------


class Hostile:
    """A run root containing symlinks that point outside it, plus a secret outside."""

    def __init__(self, tmp_path: Path) -> None:
        self.outside = tmp_path / "outside"
        self.outside.mkdir()
        self.secret = self.outside / "secret.txt"
        self.secret.write_bytes(b"TOP SECRET")
        self.root = tmp_path / "run" / "artifacts"
        self.root.mkdir(parents=True)
        (self.root / "ok.txt").write_bytes(b"fine")
        if os.name != "nt":
            (self.root / "link_dir").symlink_to(self.outside, target_is_directory=True)
            (self.root / "link_file").symlink_to(self.secret)
            (self.root / "link_up").symlink_to(self.root.parent, target_is_directory=True)
            (self.root / "nested").mkdir()
            (self.root / "nested" / "evil").symlink_to(
                Path("..") / ".." / ".." / "outside", target_is_directory=True
            )
        self.repo = LocalArtifactRepository(path_to_file_uri(self.root))
        self.dst = tmp_path / "dl"
        self.before = self.snapshot()

    def snapshot(self) -> dict[str, bytes | None]:
        siblings = sorted(p.name for p in self.root.parent.iterdir())
        return {**_tree(self.outside), "<run dir>": "|".join(siblings).encode()}

    def assert_untouched(self) -> None:
        assert self.snapshot() == self.before
        assert not self.dst.exists() or _tree(self.dst) == {}


@pytest.fixture
def hostile(tmp_path: Path) -> Hostile:
    return Hostile(tmp_path)


LEXICAL = [
    "..",
    "../outside/secret.txt",
    "a/../../outside/secret.txt",
    "../../outside",
    "<ABS>",
    "%2e%2e/%2e%2e/outside/secret.txt",
    "%2e%2e%2f%2e%2e%2foutside",
    "..\\..\\outside\\secret.txt",
    "C:\\x",
    "a\x00b",
]
SYMLINKED = [
    "link_dir",
    "link_dir/secret.txt",
    "link_dir/new/x.txt",
    "link_file",
    "link_up",
    "link_up/x.txt",
    "nested/evil",
    "nested/evil/secret.txt",
]
HOSTILE_PATHS = [pytest.param(p, id=repr(p)) for p in LEXICAL] + [
    pytest.param(p, id=p, marks=needs_symlinks) for p in SYMLINKED
]


def _write_file(tmp_path: Path) -> Path:
    f = tmp_path / "payload.txt"
    f.write_bytes(b"PWNED")
    return f


# every refusal names the path: the cleaner's reason, or the symlink that leads outside
HOSTILE_PATH_ERROR = (
    r"^(Invalid artifact path '|Artifact path '.*' resolves outside the artifact root)"
)

OPERATIONS: dict[str, Callable[[Hostile, str, Path], object]] = {
    "list": lambda h, p, t: h.repo.list_artifacts(p),
    "download": lambda h, p, t: h.repo.download_artifacts(p, h.dst),
    "open": lambda h, p, t: h.repo.open(p).read(),
    "open_sized": lambda h, p, t: h.repo.open_sized(p),
    "file_size": lambda h, p, t: h.repo.file_size(p),
    "delete": lambda h, p, t: h.repo.delete_artifacts(p),
    "log_bytes": lambda h, p, t: h.repo.log_bytes(b"PWNED", p),
    "log_artifact": lambda h, p, t: h.repo.log_artifact(_write_file(t), p),
    "log_artifacts": lambda h, p, t: h.repo.log_artifacts(_write_file(t).parent, p),
}


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_hostile_path_is_refused(
    hostile: Hostile, tmp_path: Path, operation: str, path: str
) -> None:
    if path == "<ABS>":
        path = str(hostile.secret)
    payload_dir = tmp_path / "payload"
    payload_dir.mkdir()
    with pytest.raises(InvalidParameterValue, match=HOSTILE_PATH_ERROR):
        OPERATIONS[operation](hostile, path, payload_dir)
    hostile.assert_untouched()
    assert hostile.secret.read_bytes() == b"TOP SECRET"
    assert (hostile.root / "ok.txt").read_bytes() == b"fine"


@needs_symlinks
def test_listing_never_follows_links_out(hostile: Hostile) -> None:
    assert [i.path for i in hostile.repo.list_artifacts()] == ["nested", "ok.txt"]
    assert hostile.repo.list_artifacts("nested") == []


@needs_symlinks
def test_download_of_root_skips_links_out(hostile: Hostile) -> None:
    local = hostile.repo.download_artifacts("", hostile.dst)
    assert _tree(Path(local)) == {"nested": None, "ok.txt": b"fine"}


@needs_symlinks
def test_delete_everything_removes_links_not_targets(hostile: Hostile) -> None:
    hostile.repo.delete_artifacts()
    assert not hostile.root.exists()
    assert hostile.secret.read_bytes() == b"TOP SECRET"
    assert _tree(hostile.outside) == {"secret.txt": b"TOP SECRET"}


@needs_symlinks
def test_delete_of_dir_containing_links_out(hostile: Hostile) -> None:
    hostile.repo.delete_artifacts("nested")
    assert not (hostile.root / "nested").exists()
    assert _tree(hostile.outside) == {"secret.txt": b"TOP SECRET"}


@needs_symlinks
def test_write_refusal_creates_nothing_outside(hostile: Hostile) -> None:
    with pytest.raises(InvalidParameterValue, match="outside the artifact root"):
        hostile.repo.log_bytes(b"x", "link_dir/a/b/c.txt")
    assert not (hostile.outside / "a").exists()


# -- paths the filesystem refuses --------------------------------------------------------
LONG_NAME = "n" * 300  # over every common filesystem's 255-byte name limit


def every_use(repo: LocalArtifactRepository, path: str) -> dict[str, Callable[[], object]]:
    return {
        "get_file_info": lambda: repo.get_file_info(path),
        "list_artifacts": lambda: repo.list_artifacts(path),
        "open": lambda: repo.open(path),
        "log_bytes": lambda: repo.log_bytes(b"x", path),
        "delete_artifacts": lambda: repo.delete_artifacts(path),
    }


@pytest.mark.parametrize("path", [LONG_NAME, f"dir/{LONG_NAME}", f"dir/{LONG_NAME}/f.txt"])
def test_a_name_longer_than_the_filesystem_holds_is_refused(
    repo: LocalArtifactRepository, path: str
) -> None:
    repo.log_bytes(b"x", "dir/ok.txt")
    for use, call in every_use(repo, path).items():
        with pytest.raises(InvalidParameterValue, match="is too long"):
            call()
        assert _tree(repo.root) == {"dir": None, "dir/ok.txt": b"x"}, use


@needs_symlinks
@pytest.mark.parametrize("path", ["loop", "loop/f.txt", "a/loop/deeper/f.txt"])
def test_a_symlink_loop_is_refused(repo: LocalArtifactRepository, path: str) -> None:
    repo.log_bytes(b"x", "a/ok.txt")
    os.symlink("loop", repo.root / "loop")
    os.symlink("loop", repo.root / "a" / "loop")
    uses = every_use(repo, path)
    writes = {name: uses.pop(name) for name in ("log_bytes", "delete_artifacts")}
    for call in uses.values():
        with pytest.raises(InvalidParameterValue, match="symlink"):
            call()
    if path != "loop":  # (writing or deleting "loop" itself replaces or removes the link)
        for use, call in writes.items():
            with pytest.raises(InvalidParameterValue):
                call()
            assert (repo.root / "loop").is_symlink(), use
    assert _read(repo, "a/ok.txt") == b"x"
