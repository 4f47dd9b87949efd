"""Artifacts in a local (or mounted) directory.

Confinement: besides the lexical checks of ``normalize_artifact_path``, every
filesystem path is resolved with ``os.path.realpath`` and refused unless it
lies under the real path of the root. A symlink inside the root that points
outside therefore cannot be read, listed, written or deleted through (and is
left out of listings); a symlink pointing elsewhere inside the root works like
its target when named explicitly. Listings show symlinks to files inside the
root as files but omit symlinks to directories, so recursive downloads cannot
loop. The root itself may be a symlink (e.g. onto a bigger disk).

Files are opened with ``O_NOFOLLOW`` and ``O_NONBLOCK`` (a FIFO planted in the
root cannot hang a reader) and checked to be regular files. The remaining race
- someone with shell access swapping a checked directory for a symlink between
the check and the use - is outside what this repository can prevent; the
repository itself never creates symlinks.

The filesystem's refusals of a path (a name longer than it holds, a symlink loop, a file
where a directory should be) are the caller's errors, 400s on a server: every primitive
runs under :func:`_path_errors`, which translates them with :func:`path_error`.
"""

from __future__ import annotations

import errno
import functools
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from labtrack.artifacts._atomic import TEMP_PREFIX, atomic_copy_file, atomic_write_bytes
from labtrack.artifacts._paths import _shown
from labtrack.artifacts._uri import local_path_from_uri
from labtrack.artifacts.base import ArtifactRepository
from labtrack.entities import FileInfo
from labtrack.errors import InvalidParameterValue, LabtrackError, ResourceDoesNotExist

__all__ = ["LocalArtifactRepository", "path_error"]

T = TypeVar("T")

_READ_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_BINARY", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
)


def path_error(exc: OSError, path: str) -> LabtrackError | None:
    """The caller's error for the filesystem refusing the artifact path ``path``; None
    when the failure is not the path's (a full disk, a permission: the owner's problem)."""
    code = exc.errno
    if code == errno.ENAMETOOLONG:
        return InvalidParameterValue(
            f"Artifact path {_shown(path)} is too long: the filesystem refused a name in it"
        )
    if code == errno.ELOOP:
        return InvalidParameterValue(
            f"Invalid artifact path {_shown(path)}: too many levels of symlinks (a loop)"
        )
    if code == errno.EISDIR:
        return InvalidParameterValue(f"Artifact {_shown(path)} is a directory, not a file")
    if code in (errno.ENOTDIR, errno.EEXIST):
        return InvalidParameterValue(
            f"Invalid artifact path {_shown(path)}: part of its parent path is a file"
        )
    if code in (errno.EINVAL, errno.EILSEQ):
        return InvalidParameterValue(
            f"Invalid artifact path {_shown(path)}: not a valid file name on this filesystem"
        )
    return None


def _path_errors(primitive: Callable[..., T]) -> Callable[..., T]:
    """``primitive(self, ..., path)`` (the artifact path comes last), with the filesystem's
    refusals of ``path`` reported by :func:`path_error`."""

    @functools.wraps(primitive)
    def checked(self: LocalArtifactRepository, *args: Any) -> T:
        try:
            return primitive(self, *args)
        except OSError as exc:
            mapped = path_error(exc, args[-1])
            if mapped is None:
                raise
            raise mapped from None

    return checked


def _is_within(path: str, root: str) -> bool:
    """True if the real path ``path`` is ``root`` or below it."""
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:  # different drives on Windows
        return False


class LocalArtifactRepository(ArtifactRepository):
    """Artifacts stored as files under a local directory (``file://`` URI or a path).

    Directories are created on demand. Writes are atomic (temp file in the
    same directory, then ``os.replace``) and copies stream.
    """

    def __init__(self, artifact_uri: str) -> None:
        super().__init__(artifact_uri)
        self.root = Path(os.path.abspath(local_path_from_uri(artifact_uri)))

    # -- confinement --------------------------------------------------------

    def _root_real(self) -> str:
        return os.path.realpath(self.root)

    def _resolve(self, path: str, root_real: str | None = None) -> str:
        """Real filesystem path of the clean artifact path ``path``, confined to the root."""
        root_real = root_real or self._root_real()
        lexical = os.path.join(root_real, *path.split("/")) if path else root_real
        real = os.path.realpath(lexical)
        if not _is_within(real, root_real):
            raise InvalidParameterValue(
                f"Artifact path {path!r} resolves outside the artifact root (through a symlink)"
            )
        return real

    # -- reading ------------------------------------------------------------

    @_path_errors
    def _stat(self, path: str) -> FileInfo | None:
        try:
            st = os.stat(self._resolve(path))
        except (FileNotFoundError, NotADirectoryError):
            return None
        if stat.S_ISDIR(st.st_mode):
            return FileInfo(path=path, is_dir=True, file_size=None)
        if stat.S_ISREG(st.st_mode):
            return FileInfo(path=path, is_dir=False, file_size=st.st_size)
        return None  # sockets, FIFOs, devices are not artifacts

    @_path_errors
    def _list_dir(self, path: str) -> list[FileInfo]:
        root_real = self._root_real()
        real = self._resolve(path, root_real)
        try:
            entries = list(os.scandir(real))
        except (FileNotFoundError, NotADirectoryError):
            return []
        result = []
        for entry in entries:
            if entry.name.startswith(TEMP_PREFIX):
                continue  # a write in progress
            child = f"{path}/{entry.name}" if path else entry.name
            try:
                link = entry.is_symlink()
                if link:
                    target = os.path.realpath(entry.path)
                    if not _is_within(target, root_real):
                        continue  # never reveal what lies outside the root
                    st = os.stat(target)
                else:
                    st = entry.stat(follow_symlinks=False)
            except OSError:
                continue  # dangling link, or removed since scandir
            if stat.S_ISDIR(st.st_mode) and not link:
                # Directory symlinks are not listed (an explicit path through one
                # still works): a listing-driven walk can then never loop.
                result.append(FileInfo(path=child, is_dir=True, file_size=None))
            elif stat.S_ISREG(st.st_mode):
                result.append(FileInfo(path=child, is_dir=False, file_size=st.st_size))
        return result

    @_path_errors
    def _open_read(self, path: str) -> BinaryIO:
        real = self._resolve(path)
        try:
            fd = os.open(real, _READ_FLAGS)
        except (FileNotFoundError, NotADirectoryError):
            raise ResourceDoesNotExist(f"Artifact {path!r} does not exist") from None
        except IsADirectoryError:
            raise InvalidParameterValue(f"Artifact {path!r} is a directory, not a file") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # swapped for a symlink since _resolve
                raise InvalidParameterValue(f"Artifact path {path!r} is a symlink") from None
            if os.path.isdir(real):  # Windows refuses to open directories
                raise InvalidParameterValue(
                    f"Artifact {path!r} is a directory, not a file"
                ) from None
            raise
        try:
            mode = os.fstat(fd).st_mode
            if stat.S_ISDIR(mode):
                raise InvalidParameterValue(f"Artifact {path!r} is a directory, not a file")
            if not stat.S_ISREG(mode):
                raise InvalidParameterValue(f"Artifact {path!r} is not a regular file")
            if getattr(os, "O_NONBLOCK", 0):
                os.set_blocking(fd, True)
        except BaseException:
            os.close(fd)
            raise
        return os.fdopen(fd, "rb")

    # -- writing ------------------------------------------------------------

    def _prepare_write(self, path: str) -> str:
        """Create the parent directories of ``path`` inside the root; return the target path."""
        root_real = self._root_real()
        target = self._resolve(path, root_real)
        if os.path.isdir(target):
            raise InvalidParameterValue(
                f"Cannot write artifact {path!r}: a directory of that name exists"
            )
        parent = os.path.dirname(target)
        try:
            os.makedirs(parent, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise InvalidParameterValue(
                f"Cannot write artifact {path!r}: part of its parent path is a file"
            ) from None
        # ``parent`` was fully resolved before makedirs; if it resolves differently
        # now, a component was swapped for a symlink in between.
        if os.path.realpath(parent) != parent or not _is_within(parent, root_real):
            raise InvalidParameterValue(
                f"Artifact path {path!r} resolves outside the artifact root (through a symlink)"
            )
        return target

    @_path_errors
    def _put_file(self, local_file: str, path: str) -> None:
        atomic_copy_file(local_file, self._prepare_write(path))

    @_path_errors
    def _put_bytes(self, data: bytes, path: str) -> None:
        atomic_write_bytes(data, self._prepare_write(path))

    # -- deleting -----------------------------------------------------------

    @_path_errors
    def _delete(self, path: str) -> None:
        root_real = self._root_real()
        if path == "":
            if os.path.dirname(root_real) == root_real:
                raise InvalidParameterValue(
                    f"Refusing to delete the filesystem root {root_real!r} as an artifact root"
                )
            if os.path.isdir(root_real):
                shutil.rmtree(root_real)
            return
        parent_path, _, name = path.rpartition("/")
        target = os.path.join(self._resolve(parent_path, root_real), name)
        try:
            st = os.lstat(target)
        except (FileNotFoundError, NotADirectoryError):
            return
        if stat.S_ISLNK(st.st_mode):
            if not _is_within(os.path.realpath(target), root_real):
                raise InvalidParameterValue(
                    f"Artifact path {path!r} resolves outside the artifact root (through a symlink)"
                )
            os.unlink(target)  # the link itself, never what it points to
        elif stat.S_ISDIR(st.st_mode):
            shutil.rmtree(target)  # removes links inside without following them
        else:
            os.unlink(target)
