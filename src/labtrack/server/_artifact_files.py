"""Files of the artifact API on the server: blocking calls in threads, with filesystem
failures reported as the client's or the server's error (never a bare OSError), and
writes that appear whole or not at all."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

from starlette.concurrency import run_in_threadpool

from labtrack.artifacts._atomic import TEMP_PREFIX, create_temp_file
from labtrack.artifacts._paths import _shown, clean_artifact_path
from labtrack.artifacts.local import path_error
from labtrack.errors import (
    InternalError,
    InvalidParameterValue,
    LabtrackError,
    ResourceDoesNotExist,
)
from labtrack.server._body import body_chunks

if TYPE_CHECKING:
    from starlette.requests import Request

    from labtrack.artifacts.base import ArtifactRepository
    from labtrack.entities import FileInfo

T = TypeVar("T")

#: Bytes read or written per step when streaming a file.
CHUNK_BYTES = 1024 * 1024
#: What MLflow's server answers for an artifact path a request may not use (``..``, an
#: absolute path, ...), which its clients and tests read.
INVALID_PATH = "Invalid path"


def request_path(raw: str | None) -> str:
    """An artifact path from a request, clean (see ``clean_artifact_path``), or refused
    with MLflow's message (the reason is labtrack's own, embedded mode gives it)."""
    try:
        return clean_artifact_path(raw)
    except InvalidParameterValue:
        raise InvalidParameterValue(INVALID_PATH) from None


def request_file_path(raw: str | None) -> str:
    """:func:`request_path` of a path that must name a file, not the root."""
    path = request_path(raw)
    if path == "":
        raise InvalidParameterValue("The artifact path must name a file, not the artifact root")
    return path


def os_error(exc: OSError, path: str) -> LabtrackError | None:
    """The error to report for a filesystem failure on ``path``; None if it is unexpected.

    The path's own refusals are the local artifact repository's (``path_error``).
    """
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return InternalError("The server's artifact storage is full")
    return path_error(exc, path)


async def offload(path: str, fn: Callable[..., T], *args: Any) -> T:
    """Run the blocking ``fn(*args)`` in a thread, reporting filesystem errors on ``path``."""
    try:
        return await run_in_threadpool(fn, *args)
    except OSError as exc:
        mapped = os_error(exc, path)
        if mapped is None:
            raise
        raise mapped from None


def _write_all(out: BinaryIO, chunks: list[bytes], digest: Any) -> None:
    data = b"".join(chunks)
    out.write(data)
    if digest is not None:
        digest.update(data)


async def receive_body(request: Request, out: BinaryIO, path: str, digest: Any = None) -> int:
    """Copy the request body to ``out`` about a megabyte at a time; return its size.

    The body is read by the server's one reader (any size): BadRequest if the client
    disconnects or sends less than its Content-Length.
    """
    pending: list[bytes] = []
    pending_bytes = 0
    total = 0
    async for chunk in body_chunks(request, what=f"The upload of {_shown(path)}"):
        pending.append(chunk)
        pending_bytes += len(chunk)
        total += len(chunk)
        if pending_bytes >= CHUNK_BYTES:
            await offload(path, _write_all, out, pending, digest)
            pending, pending_bytes = [], 0
    if pending:
        await offload(path, _write_all, out, pending, digest)
    return total


def unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def write_atomically(target: str, fill: Callable[[BinaryIO], Any]) -> None:
    """Write ``target`` through a hidden temp file beside it, renamed into place when full."""
    temp, out = create_temp_file(os.path.dirname(target), TEMP_PREFIX)
    try:
        with out:
            fill(out)
        os.replace(temp, target)
    except BaseException:
        unlink_quietly(temp)
        raise


def stat_or_none(repo: ArtifactRepository, path: str) -> FileInfo | None:
    try:
        return repo.get_file_info(path)
    except ResourceDoesNotExist:
        return None
