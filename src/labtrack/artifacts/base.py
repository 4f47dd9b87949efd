"""The interface every artifact repository implements.

:class:`ArtifactRepository` holds all the shared behaviour (path validation,
recursive upload and download, listing hygiene) and asks a concrete repository
for a handful of primitives only:

``_stat``, ``_list_dir``, ``_open_read``, ``_put_file``, ``_put_bytes`` and
``_delete`` (plus, optionally, ``_get_file`` and ``open_sized``).

Primitives always receive paths already passed through
:func:`~labtrack.artifacts._paths.normalize_artifact_path`: posix, relative to
the artifact root, ``""`` meaning the root itself.
"""

from __future__ import annotations

import io
import logging
import os
import posixpath
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import BinaryIO

from labtrack.artifacts._atomic import atomic_write_stream
from labtrack.artifacts._paths import join_artifact_path, normalize_artifact_path
from labtrack.entities import FileInfo
from labtrack.errors import InvalidParameterValue, ResourceDoesNotExist

__all__ = ["ArtifactRepository"]

_log = logging.getLogger(__name__)

PathArg = str | os.PathLike[str]


def _local_files(local_dir: str) -> Iterator[tuple[str, str]]:
    """``(local path, posix path relative to local_dir)`` of every file to upload.

    Symlinks are not reproduced: a symlink to a file uploads the file's bytes
    (a Hugging Face snapshot, say, is all symlinks into a blob cache); a
    symlink to a directory is not descended into (no cycles, no accidental
    upload of a whole tree); dangling links, sockets and FIFOs are skipped.
    """
    for current, dirnames, filenames in os.walk(local_dir, followlinks=False):
        dirnames.sort()
        for name in dirnames:
            full = os.path.join(current, name)
            if os.path.islink(full):
                _log.info("log_artifacts: not following directory symlink %s", full)
        rel_dir = os.path.relpath(current, local_dir)
        for name in sorted(filenames):
            full = os.path.join(current, name)
            if not os.path.isfile(full):
                _log.info("log_artifacts: skipping %s (not a regular file)", full)
                continue
            rel = name if rel_dir == os.curdir else os.path.join(rel_dir, name)
            yield full, rel.replace(os.sep, "/")


class ArtifactRepository(ABC):
    """Artifacts of one run (or one experiment) under the root ``artifact_uri``.

    Every artifact path a caller passes is relative to that root and is
    refused with :class:`InvalidParameterValue` if it could escape it.
    """

    def __init__(self, artifact_uri: str) -> None:
        self.artifact_uri = artifact_uri

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.artifact_uri!r})"

    # -- primitives ---------------------------------------------------------

    @abstractmethod
    def _stat(self, path: str) -> FileInfo | None:
        """What is at ``path`` (never ``""``): a file, a directory, or None if nothing."""

    @abstractmethod
    def _list_dir(self, path: str) -> list[FileInfo]:
        """Direct children of directory ``path``, in any order; ``[]`` if it is missing or a file.

        ``FileInfo.path`` is relative to the root (``"dir/name"``).
        """

    @abstractmethod
    def _open_read(self, path: str) -> BinaryIO:
        """Open file ``path`` (never ``""``) for streaming reads.

        Raises ResourceDoesNotExist if missing, InvalidParameterValue if not a file.
        """

    @abstractmethod
    def _put_file(self, local_file: str, path: str) -> None:
        """Store the local regular file ``local_file`` at ``path`` (never ``""``)."""

    @abstractmethod
    def _put_bytes(self, data: bytes, path: str) -> None:
        """Store ``data`` at ``path`` (never ``""``)."""

    @abstractmethod
    def _delete(self, path: str) -> None:
        """Delete the file or directory tree at ``path`` (``""``: everything); missing: no-op."""

    def _get_file(self, path: str, local_file: str) -> None:
        """Copy file ``path`` to ``local_file`` atomically. Override for a faster transfer."""
        with self._open_read(path) as stream:
            atomic_write_stream(stream, local_file)

    # -- writing ------------------------------------------------------------

    def log_artifact(self, local_file: PathArg, artifact_path: str | None = None) -> None:
        """Copy the local file ``local_file`` to ``<root>/<artifact_path>/<its basename>``."""
        source = os.fspath(local_file)
        if not os.path.exists(source):
            raise ResourceDoesNotExist(f"Local file {source!r} does not exist")
        if os.path.isdir(source):
            raise InvalidParameterValue(
                f"{source!r} is a directory; use log_artifacts to log a directory"
            )
        if not os.path.isfile(source):
            raise InvalidParameterValue(f"{source!r} is not a regular file")
        name = os.path.basename(os.path.abspath(source))
        self._put_file(source, join_artifact_path(artifact_path, name))

    def log_artifacts(self, local_dir: PathArg, artifact_path: str | None = None) -> None:
        """Copy the contents of the local directory ``local_dir`` under ``<root>/<artifact_path>``.

        Recursive. Symlinks to files are stored as the files' contents; symlinks
        to directories are not followed; empty directories are not stored.
        Every destination path is validated before anything is written.
        """
        source = os.fspath(local_dir)
        if not os.path.exists(source):
            raise ResourceDoesNotExist(f"Local directory {source!r} does not exist")
        if not os.path.isdir(source):
            raise InvalidParameterValue(
                f"{source!r} is not a directory; use log_artifact to log a file"
            )
        base = normalize_artifact_path(artifact_path)
        uploads = [(full, join_artifact_path(base, rel)) for full, rel in _local_files(source)]
        for full, dest in uploads:
            self._put_file(full, dest)

    def log_bytes(self, data: bytes | bytearray | memoryview, artifact_file: str) -> None:
        """Write ``data`` as the file ``<root>/<artifact_file>``, replacing any previous one."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidParameterValue(
                f"log_bytes expects bytes, got {type(data).__name__} for {artifact_file!r}"
            )
        path = normalize_artifact_path(artifact_file)
        if path == "":
            raise InvalidParameterValue("log_bytes needs a file name, got the artifact root")
        self._put_bytes(bytes(data), path)

    # -- reading ------------------------------------------------------------

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        """Direct children of directory ``path`` (default: the root), sorted by path.

        ``FileInfo.path`` is relative to the root with ``/`` separators;
        directories have ``file_size`` None. A missing path or a path naming
        a file gives ``[]``.
        """
        parent = normalize_artifact_path(path)
        result: list[FileInfo] = []
        for info in self._list_dir(parent):
            if not self._is_child(parent, info.path):
                _log.warning(
                    "Ignoring artifact %r listed under %r: not a valid child path",
                    info.path,
                    parent,
                )
                continue
            result.append(info)
        result.sort(key=lambda info: info.path)
        return result

    @staticmethod
    def _is_child(parent: str, child: str) -> bool:
        """True if ``child`` is a clean path directly inside ``parent``."""
        try:
            clean = normalize_artifact_path(child)
        except InvalidParameterValue:
            return False
        return clean == child and clean != "" and posixpath.dirname(clean) == parent

    def get_file_info(self, artifact_path: str | None) -> FileInfo:
        """The :class:`FileInfo` of ``artifact_path``; raises ResourceDoesNotExist if missing.

        The root (``None`` or ``""``) is always a directory, even before anything is logged.
        """
        path = normalize_artifact_path(artifact_path)
        if path == "":
            return FileInfo(path="", is_dir=True, file_size=None)
        info = self._stat(path)
        if info is None:
            raise ResourceDoesNotExist(f"Artifact {path!r} does not exist")
        return info

    def file_size(self, artifact_path: str) -> int:
        """Size in bytes of the file ``artifact_path``.

        Raises ResourceDoesNotExist if missing, InvalidParameterValue for a directory.
        Prefer :meth:`open_sized` when streaming, so size and content match.
        """
        info = self.get_file_info(artifact_path)
        if info.is_dir or info.file_size is None:
            raise InvalidParameterValue(f"Artifact {info.path!r} is a directory, not a file")
        return info.file_size

    def open(self, artifact_path: str) -> BinaryIO:
        """Open the file ``artifact_path`` for streaming reads (use as a context manager).

        Raises ResourceDoesNotExist if missing, InvalidParameterValue for a directory.
        """
        path = normalize_artifact_path(artifact_path)
        if path == "":
            raise InvalidParameterValue("Cannot open the artifact root: it is a directory")
        return self._open_read(path)

    def open_sized(self, artifact_path: str) -> tuple[BinaryIO, int]:
        """Open ``artifact_path`` and return ``(stream, size in bytes)`` of that same file.

        For a server's Content-Length: the size comes from the opened handle
        when possible, so a concurrent replacement cannot make them disagree.
        """
        stream = self.open(artifact_path)
        try:
            return stream, os.fstat(stream.fileno()).st_size
        except (OSError, AttributeError, io.UnsupportedOperation):
            pass
        try:
            return stream, self.file_size(artifact_path)
        except BaseException:
            stream.close()
            raise

    def download_artifacts(self, artifact_path: str, dst_path: PathArg | None = None) -> str:
        """Copy the file or directory ``artifact_path`` to the local directory ``dst_path``.

        The copy lands at ``<dst_path>/<artifact_path>`` (directories recursively)
        and that local path is returned. ``dst_path`` is created if missing; None
        means a new temporary directory. Raises ResourceDoesNotExist if missing.
        """
        path = normalize_artifact_path(artifact_path)
        info = self.get_file_info(path)
        if dst_path is None:
            dst = tempfile.mkdtemp(prefix="labtrack-artifacts-")
        else:
            dst = os.path.abspath(os.fspath(dst_path))
            if os.path.exists(dst) and not os.path.isdir(dst):
                raise InvalidParameterValue(f"Download destination {dst!r} is not a directory")
            os.makedirs(dst, exist_ok=True)
        local = self._local_target(dst, path)
        if not info.is_dir:
            os.makedirs(os.path.dirname(local), exist_ok=True)
            self._get_file(path, local)
            return local
        os.makedirs(local, exist_ok=True)
        pending = [path]
        while pending:
            for child in self.list_artifacts(pending.pop()):
                target = self._local_target(dst, child.path)
                if child.is_dir:
                    os.makedirs(target, exist_ok=True)
                    pending.append(child.path)
                else:
                    self._get_file(child.path, target)
        return local

    @staticmethod
    def _local_target(dst: str, path: str) -> str:
        """Local path for the clean artifact path ``path`` under ``dst``."""
        return os.path.join(dst, *path.split("/")) if path else dst

    # -- deleting -----------------------------------------------------------

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        """Delete the file or directory ``artifact_path``; None deletes every artifact.

        Deleting something that does not exist is not an error.
        """
        self._delete(normalize_artifact_path(artifact_path))
