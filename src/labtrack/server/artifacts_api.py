"""MLflow's proxied-artifact API (``/api/2.0/mlflow-artifacts/...``) over the artifact destination.

A run created through the server has the artifact URI ``mlflow-artifacts:/<exp>/<run>/artifacts``;
MLflow's client turns that into calls such as
``PUT /api/2.0/mlflow-artifacts/artifacts/<exp>/<run>/artifacts/model/MLmodel``. Every path in
this API is relative to the server's artifact destination (``ServerContext.artifacts_destination``,
a ``file://`` or ``s3://`` URI), served by one repository rooted there. Endpoints (each also under
``/ajax-api/2.0/mlflow-artifacts``), with MLflow's request and response shapes:

``GET artifacts/<path>``
    The file's bytes, streamed, with a ``Content-Length``; single ``Range`` requests are honoured
    when the stored file is seekable (local files). Served as an attachment with
    ``X-Content-Type-Options: nosniff`` and ``Content-Security-Policy: sandbox``, so a user's
    HTML or SVG never runs scripts on the server's origin.
``PUT artifacts/<path>``
    Stores the request body (streamed to disk, never held in memory) -> ``{}``. The file appears
    at its path only once complete: an interrupted upload leaves nothing behind.
``GET artifacts?path=<dir>``
    One level of ``<dir>``: ``{"files": [{"path": <name>, "is_dir": ..., "file_size": ...}]}``
    with each ``path`` relative to the listed directory (a bare name, as MLflow's server sends
    and its client expects); ``{}`` when empty or missing.
``DELETE artifacts/<path>``
    Deletes the file or directory tree -> ``{}`` (nothing there is not an error).
``POST mpu/create/<dir>``, ``POST mpu/complete/<dir>``, ``POST mpu/abort/<dir>``
    Multipart upload as MLflow's client drives it (``MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD``): the
    URL names the artifact *directory* and the body's ``path`` the client's local file, whose
    base name is the artifact's name. ``create`` answers ``{"upload_id", "credentials": [{"url",
    "part_number"}]}``; the client ``PUT``s part *i* to credential *i*'s ``url`` and reads the
    response's ``ETag``; ``complete`` gets ``{"path", "upload_id", "parts": [{"part_number",
    "etag", "url"}]}``; ``abort`` gets ``{"path", "upload_id"}``. Both answer ``{}``.
``PUT mpu/part/<upload_id>/<part_number>``
    labtrack's own part URL, handed out as the credentials' ``url`` for a local destination.
``GET presigned/<path>``
    ``{"url", "headers", "file_size"}``: a URL to fetch the file from directly (object stores
    only; a local destination answers MLflow's 501 NOT_IMPLEMENTED, on which the client falls
    back to an ordinary download through this server).

Multipart uploads to a local destination are staged inside the destination, in the hidden
directory ``.labtrack-tmp-server/mpu-<upload_id>/`` (hidden because listings skip names starting
with ``.labtrack-tmp-``; shared by every worker and host serving the same destination). Each part
is written to a temp file and renamed to ``part-<n>-<md5>``, the md5 being the part's ETag;
``complete`` checks that exactly parts 1..N were uploaded with the ETags the client names,
concatenates them into a temp file beside the target and renames it into place (the file appears
whole or not at all), then removes the staging directory; ``abort`` removes it. Uploads abandoned
for two days are swept. Object-store destinations use the repository's native multipart upload
when it offers one (``multipart_upload_create`` / ``_complete`` / ``_abort``), else answer MLflow's
"not supported" error, on which the client falls back to a single ``PUT`` through this server.

Security: every path passes :func:`~labtrack.artifacts.normalize_artifact_path` (no ``..``, no
absolute paths, no backslashes or NUL, not even after repeated percent-decoding), and no segment
may start with ``.labtrack-tmp-`` (in-progress writes and the staging area); the repository then
confines the resolved path to the destination (symlinks pointing outside are refused). Errors are
MLflow's JSON (400 INVALID_PARAMETER_VALUE for a refused path), never a 500.
"""

from __future__ import annotations

import errno
import hashlib
import json
import mimetypes
import os
import posixpath
import re
import secrets
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar
from urllib.parse import quote, unquote

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response, StreamingResponse

from labtrack import _protocol as wire
from labtrack.artifacts import get_artifact_repository, normalize_artifact_path
from labtrack.artifacts._atomic import TEMP_PREFIX, create_temp_file
from labtrack.artifacts.base import ArtifactRepository
from labtrack.artifacts.local import LocalArtifactRepository
from labtrack.entities import FileInfo
from labtrack.errors import (
    BadRequest,
    InternalError,
    InvalidParameterValue,
    LabtrackError,
    NotImplementedYet,
    PayloadTooLarge,
    ResourceDoesNotExist,
)

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

    from labtrack.server.app import ServerContext

__all__ = ["BASE_PATHS", "STAGING_DIR", "clean_artifact_path", "router", "server_info_fields"]

T = TypeVar("T")

BASE_PATHS = ("/api/2.0/mlflow-artifacts", "/ajax-api/2.0/mlflow-artifacts")
#: Where a local destination stages uploads; hidden from listings by its prefix.
STAGING_DIR = f"{TEMP_PREFIX}server"
#: S3's bounds on a multipart upload, which MLflow's client follows.
MAX_PARTS = 10_000
#: Bytes read or written per step when streaming a file.
CHUNK_BYTES = 1024 * 1024
#: Multipart uploads untouched for this long are removed from the staging area.
STALE_UPLOAD_SECONDS = 2 * 24 * 3600
_SWEEP_EVERY_SECONDS = 3600
#: Lifetime of presigned download URLs (MLflow's MLFLOW_PRESIGNED_DOWNLOAD_URL_TTL_SECONDS default).
PRESIGNED_URL_SECONDS = 300

# MLflow's exact messages: its client recognises the first and falls back to a plain upload.
MULTIPART_UPLOAD_UNSUPPORTED = (
    "Multipart upload is not supported for the current artifact repository"
)
MULTIPART_DOWNLOAD_UNSUPPORTED = (
    "Multipart download is not supported for the current artifact repository"
)

_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")
_ETAG = re.compile(r'(?:W/)?"?([0-9a-f]{32})"?')
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
# Files MLflow serves as text/plain although mimetypes does not know them.
_TEXT_NAMES = frozenset({"mlmodel", "mlproject"})
_TEXT_EXTENSIONS = frozenset(
    {
        "txt", "log", "err", "cfg", "conf", "cnf", "cf", "ini", "properties", "prop", "hocon",
        "toml", "yaml", "yml", "json", "js", "py", "py3", "csv", "tsv", "md", "rst", "ipynb",
    }
)  # fmt: skip
_COMPRESSED_TYPES = {
    "gzip": "application/gzip",
    "bzip2": "application/x-bzip2",
    "xz": "application/x-xz",
    "br": "application/x-brotli",
    "compress": "application/x-compress",
}
_SAFETY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # No scripts, forms, plugins or same-origin access even if a browser renders the file.
    "Content-Security-Policy": "sandbox; default-src 'none'",
    "Cache-Control": "no-cache",
}


# -- paths ----------------------------------------------------------------------------------
def _decoded_forms(path: str) -> Iterable[str]:
    yield path
    while "%" in path:
        decoded = unquote(path, errors="surrogateescape")
        if decoded == path:
            return
        path = decoded
        yield path


def clean_artifact_path(raw: str | None, *, what: str = "Artifact path") -> str:
    """``raw`` as a clean path relative to the destination, or InvalidParameterValue.

    On top of :func:`normalize_artifact_path`, refuses any segment starting with
    ``.labtrack-tmp-`` (case-insensitively, also once percent-decoded): that namespace holds
    writes in progress and the multipart staging area, which no API path may reach.
    """
    path = normalize_artifact_path(raw)
    reserved = TEMP_PREFIX.casefold()
    for form in _decoded_forms(path):
        for segment in form.split("/"):
            if segment.casefold().startswith(reserved):
                raise InvalidParameterValue(
                    f"Invalid {what.lower()} {_shown(path)}: names starting with "
                    f"{TEMP_PREFIX!r} are reserved for the server's temporary files"
                )
    return path


def _file_path(raw: str | None) -> str:
    path = clean_artifact_path(raw)
    if path == "":
        raise InvalidParameterValue("The artifact path must name a file, not the artifact root")
    return path


def _shown(text: str) -> str:
    return repr(text if len(text) <= 200 else text[:200] + "...")


def _base_name(local_file: str) -> str:
    """The artifact name of the client's local file ``local_file`` (a POSIX or Windows path)."""
    name = re.split(r"[/\\]", local_file.rstrip("/\\"))[-1]
    if name in ("", ".", ".."):
        raise InvalidParameterValue(
            f"Invalid value {_shown(local_file)} for parameter 'path': expected the path of a "
            "local file, whose base name becomes the artifact's name"
        )
    return name


# -- errors from the filesystem -----------------------------------------------------------------
def _os_error(exc: OSError, path: str) -> LabtrackError | None:
    """The error to report for a filesystem failure on ``path``; None if it is unexpected."""
    code = exc.errno
    if code == errno.ENAMETOOLONG:
        return InvalidParameterValue(f"Artifact path {_shown(path)} is too long")
    if code == errno.EISDIR:
        return InvalidParameterValue(f"Artifact {_shown(path)} is a directory, not a file")
    if code in (errno.ENOTDIR, errno.EEXIST):
        return InvalidParameterValue(
            f"Invalid artifact path {_shown(path)}: part of its parent path is a file"
        )
    if code == errno.ELOOP:
        return InvalidParameterValue(f"Invalid artifact path {_shown(path)}: too many symlinks")
    if code in (errno.EINVAL, errno.EILSEQ):
        return InvalidParameterValue(
            f"Invalid artifact path {_shown(path)}: not a valid file name on the server"
        )
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return InternalError("The server's artifact storage is full")
    return None


async def _offload(path: str, fn: Callable[..., T], *args: Any) -> T:
    """Run the blocking ``fn(*args)`` in a thread, reporting filesystem errors on ``path``."""
    try:
        return await run_in_threadpool(fn, *args)
    except OSError as exc:
        mapped = _os_error(exc, path)
        if mapped is None:
            raise
        raise mapped from None


# -- request bodies ---------------------------------------------------------------------------
def _declared_length(request: Request) -> int | None:
    declared = request.headers.get("content-length")
    if declared is None:
        return None
    try:
        size = int(declared)
    except ValueError:
        size = -1
    if size < 0:
        raise BadRequest(f"Invalid Content-Length header {declared!r}")
    return size


def _write_all(out: BinaryIO, chunks: list[bytes], digest: Any) -> None:
    data = b"".join(chunks)
    out.write(data)
    if digest is not None:
        digest.update(data)


async def _receive_body(request: Request, out: BinaryIO, path: str, digest: Any = None) -> int:
    """Copy the request body to ``out`` about a megabyte at a time; return its size.

    Raises BadRequest if the client disconnects or sends less than its Content-Length.
    """
    declared = _declared_length(request)
    pending: list[bytes] = []
    pending_bytes = 0
    total = 0
    try:
        async for chunk in request.stream():
            pending.append(chunk)
            pending_bytes += len(chunk)
            total += len(chunk)
            if pending_bytes >= CHUNK_BYTES:
                await _offload(path, _write_all, out, pending, digest)
                pending, pending_bytes = [], 0
    except ClientDisconnect:
        raise BadRequest(
            f"The upload of {_shown(path)} was interrupted: the client disconnected after "
            f"{total} bytes"
        ) from None
    if pending:
        await _offload(path, _write_all, out, pending, digest)
    if declared is not None and total != declared:
        raise BadRequest(
            f"The upload of {_shown(path)} is incomplete: got {total} of the {declared} bytes "
            "announced by Content-Length"
        )
    return total


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


# -- downloads ----------------------------------------------------------------------------
def guess_content_type(name: str) -> str:
    """The Content-Type to serve the artifact ``name`` with (octet-stream when unknown)."""
    base = posixpath.basename(name)
    ext = posixpath.splitext(base)[1]
    if (ext[1:] if ext else base).lower() in _TEXT_EXTENSIONS | _TEXT_NAMES:
        return "text/plain"
    mime, encoding = mimetypes.guess_type(base, strict=False)
    if encoding is not None:  # data.csv.gz is gzip data, not CSV text
        return _COMPRESSED_TYPES.get(encoding, "application/octet-stream")
    return mime or "application/octet-stream"


def _content_disposition(name: str) -> str:
    """``attachment`` naming ``name``; non-ASCII or unusual names as RFC 5987 ``filename*``."""
    if all(0x20 <= ord(c) < 0x7F for c in name) and '"' not in name and "\\" not in name:
        return f'attachment; filename="{name}"'
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "_" for c in name)
    encoded = quote(name, safe="")
    return f"attachment; filename=\"{fallback or 'download'}\"; filename*=UTF-8''{encoded}"


def _byte_range(header: str | None, size: int) -> tuple[int, int] | bool | None:
    """``(first, last)`` of a single satisfiable range, None to send everything, False for 416."""
    if header is None:
        return None
    match = _RANGE.fullmatch(header.strip().replace(" ", ""))
    if match is None:  # other units, several ranges, malformed: send the whole file
        return None
    first_text, last_text = match.groups()
    if not first_text:
        if not last_text:
            return None
        length = int(last_text)
        if length == 0 or size == 0:
            return False
        return max(0, size - length), size - 1
    first = int(first_text)
    if last_text and int(last_text) < first:
        return None
    if first >= size:
        return False
    return first, min(int(last_text), size - 1) if last_text else size - 1


class _FileResponse(StreamingResponse):
    """Streams ``length`` bytes of an open artifact, closing it whatever happens."""

    def __init__(
        self, stream: BinaryIO, length: int, status_code: int, headers: dict[str, str]
    ) -> None:
        self._stream = stream
        self._remaining = length
        super().__init__(self._chunks(), status_code=status_code, headers=headers)

    async def _chunks(self) -> AsyncIterator[bytes]:
        while self._remaining > 0:
            chunk = await run_in_threadpool(self._stream.read, min(CHUNK_BYTES, self._remaining))
            if not chunk:  # the file shrank since it was opened
                break
            self._remaining -= len(chunk)
            yield chunk

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except ClientDisconnect:
            pass  # the client went away mid-download: nothing to tell it
        finally:
            self._stream.close()


# -- multipart uploads --------------------------------------------------------------------------
@dataclass(frozen=True)
class _Part:
    number: int
    etag: str


def _missing(name: str) -> InvalidParameterValue:
    return InvalidParameterValue(
        f"Missing value for required parameter '{name}'. "
        "See the API docs for more information about request parameters."
    )


def _invalid(name: str, value: Any, expected: str) -> InvalidParameterValue:
    return InvalidParameterValue(
        f"Invalid value {_shown(repr(value))} for parameter '{name}' supplied: "
        f"expected {expected}. See the API docs for more information about request parameters."
    )


def _int_field(data: dict[str, Any], name: str, low: int, high: int) -> int | None:
    """An integer field; protobuf JSON writers may send it as a digit string."""
    value = data.get(name)
    if value is None:
        return None
    number = int(value) if isinstance(value, str) and value.isascii() and value.isdigit() else value
    if not isinstance(number, int) or isinstance(number, bool) or not low <= number <= high:
        raise _invalid(name, value, f"an integer in {low}..{high}")
    return number


def _str_field(data: dict[str, Any], name: str) -> str:
    """A required, non-empty string field."""
    value = data.get(name)
    if value is None or value == "":
        raise _missing(name)
    if not isinstance(value, str):
        raise _invalid(name, value, "a string")
    return value


def _parts_field(data: dict[str, Any]) -> list[_Part]:
    value = data.get("parts")
    if value is None:
        raise _missing("parts")
    if not isinstance(value, list) or len(value) > MAX_PARTS:
        raise _invalid("parts", value, f"a list of at most {MAX_PARTS} parts")
    parts = []
    for item in value:
        if not isinstance(item, dict):
            raise _invalid("parts", item, "an object with 'part_number' and 'etag'")
        number = _int_field(item, "part_number", 1, MAX_PARTS)
        etag = item.get("etag")
        if number is None:
            raise _missing("parts.part_number")
        if etag is not None and not isinstance(etag, str):
            raise _invalid("parts.etag", etag, "a string")
        parts.append(_Part(number, etag or ""))
    return parts


async def _json_body(request: Request, limit: int) -> dict[str, Any]:
    """The request's JSON object body, refused beyond ``limit`` bytes."""
    declared = _declared_length(request)
    if declared is not None and declared > limit:
        raise PayloadTooLarge(
            f"Request body of {declared} bytes is larger than the limit of {limit}"
        )
    chunks: list[bytes] = []
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise PayloadTooLarge(
                    f"Request body of {received} bytes is larger than the limit of {limit}"
                )
            chunks.append(chunk)
    except ClientDisconnect:
        raise BadRequest("The client disconnected before sending the whole request") from None
    body = b"".join(chunks)
    if not body.strip():
        return {}
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"Malformed JSON in request body: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest(f"The request body must be a JSON object, got {type(data).__name__}")
    return data


class _LocalStaging:
    """Uploads in progress for a local destination, under ``<root>/.labtrack-tmp-server``."""

    def __init__(self, repo: LocalArtifactRepository) -> None:
        self.repo = repo
        self._last_sweep = 0.0
        self._sweep_lock = threading.Lock()

    def directory(self) -> str:
        """The staging directory, created if needed and checked to be a real directory inside."""
        root = os.path.realpath(self.repo.root)
        os.makedirs(root, exist_ok=True)
        staging = os.path.join(root, STAGING_DIR)
        try:
            os.mkdir(staging)
        except FileExistsError:
            pass
        if not stat.S_ISDIR(os.lstat(staging).st_mode):
            raise InternalError(
                f"The server's staging area {STAGING_DIR!r} in the artifact destination is not "
                "a directory (a symlink?); an administrator must remove it"
            )
        self._maybe_sweep(staging)
        return staging

    def _maybe_sweep(self, staging: str) -> None:
        now = time.time()
        if now - self._last_sweep < _SWEEP_EVERY_SECONDS or not self._sweep_lock.acquire(False):
            return
        try:
            self._last_sweep = now
            for entry in os.scandir(staging):
                if not entry.name.startswith(("mpu-", "gone-", "put-")):
                    continue
                try:
                    if now - _newest_mtime(entry) > STALE_UPLOAD_SECONDS:
                        _remove_entry(entry.path)
                except OSError:  # removed meanwhile by its own upload: fine
                    continue
        finally:
            self._sweep_lock.release()

    # -- whole-file uploads

    def new_upload_file(self) -> tuple[str, BinaryIO]:
        return create_temp_file(self.directory(), "put-")

    def commit(self, temp: str, path: str) -> None:
        """Move the complete upload ``temp`` to the artifact ``path`` in one step."""
        target = self.repo._prepare_write(path)
        try:
            os.replace(temp, target)
        except OSError as exc:
            if exc.errno != errno.EXDEV:  # a mount point inside the destination
                raise
            with open(temp, "rb") as source:
                _write_atomically(target, lambda out: shutil.copyfileobj(source, out, CHUNK_BYTES))

    # -- multipart uploads

    def _upload_dir(self, upload_id: str) -> str:
        if not _UPLOAD_ID.fullmatch(upload_id):
            raise InvalidParameterValue(f"Invalid multipart upload id {_shown(upload_id)}")
        return os.path.join(self.directory(), f"mpu-{upload_id}")

    def _meta(self, upload_id: str) -> tuple[str, dict[str, Any]]:
        directory = self._upload_dir(upload_id)
        try:
            with open(os.path.join(directory, "meta.json"), encoding="utf-8") as f:
                meta = json.load(f)
        except (FileNotFoundError, NotADirectoryError):
            raise ResourceDoesNotExist(
                f"No multipart upload with id {upload_id!r} (completed, aborted or never created)"
            )
        return directory, meta

    def create(self, path: str, num_parts: int) -> str:
        info = _stat_or_none(self.repo, path)
        if info is not None and info.is_dir:
            raise InvalidParameterValue(
                f"Cannot upload to {_shown(path)}: a directory of that name exists"
            )
        upload_id = secrets.token_hex(16)
        directory = self._upload_dir(upload_id)
        os.mkdir(directory)
        meta = {"path": path, "num_parts": num_parts, "created": time.time()}
        _write_atomically(
            os.path.join(directory, "meta.json"),
            lambda out: out.write(json.dumps(meta).encode("utf-8")),
        )
        return upload_id

    def new_part_file(self, upload_id: str, part_number: int) -> tuple[str, BinaryIO]:
        directory, meta = self._meta(upload_id)
        if not 1 <= part_number <= int(meta["num_parts"]):
            raise InvalidParameterValue(
                f"Invalid part number {part_number} for multipart upload {upload_id!r}: "
                f"expected 1..{meta['num_parts']}"
            )
        return create_temp_file(directory, "tmp-")

    def commit_part(self, upload_id: str, part_number: int, temp: str, etag: str) -> None:
        directory = self._upload_dir(upload_id)
        try:
            os.replace(temp, os.path.join(directory, f"part-{part_number:05d}-{etag}"))
        except FileNotFoundError:  # aborted or completed meanwhile
            raise ResourceDoesNotExist(f"Multipart upload {upload_id!r} no longer exists")

    def _check_target(self, meta: dict[str, Any], upload_id: str, path: str) -> None:
        if meta.get("path") != path:
            raise InvalidParameterValue(
                f"Multipart upload {upload_id!r} is for artifact {_shown(str(meta.get('path')))}, "
                f"not {_shown(path)}"
            )

    def complete(self, path: str, upload_id: str, parts: list[_Part]) -> None:
        directory, meta = self._meta(upload_id)
        self._check_target(meta, upload_id, path)
        expected = int(meta["num_parts"])
        numbers = [p.number for p in parts]
        if numbers != list(range(1, expected + 1)):
            raise InvalidParameterValue(
                f"Multipart upload {upload_id!r} has {expected} parts: 'parts' must list part "
                f"numbers 1..{expected} in order, got {numbers[:20]}"
            )
        names = []
        for part in parts:
            match = _ETAG.fullmatch(part.etag)
            name = f"part-{part.number:05d}-{match.group(1) if match else ''}"
            if match is None or not os.path.isfile(os.path.join(directory, name)):
                raise InvalidParameterValue(
                    f"Part {part.number} of multipart upload {upload_id!r} was not uploaded, "
                    f"or not with ETag {_shown(part.etag)}"
                )
            names.append(name)
        target = self.repo._prepare_write(path)
        claimed = self._claim(directory, upload_id)
        try:

            def fill(out: BinaryIO) -> None:
                for name in names:
                    with open(os.path.join(claimed, name), "rb") as source:
                        shutil.copyfileobj(source, out, CHUNK_BYTES)

            _write_atomically(target, fill)
        finally:
            shutil.rmtree(claimed, ignore_errors=True)

    def abort(self, path: str, upload_id: str) -> None:
        try:
            directory, meta = self._meta(upload_id)
        except ResourceDoesNotExist:
            return  # already gone: aborting twice, or after a failed complete, is fine
        self._check_target(meta, upload_id, path)
        try:
            claimed = self._claim(directory, upload_id)
        except ResourceDoesNotExist:
            return
        shutil.rmtree(claimed, ignore_errors=True)

    def _claim(self, directory: str, upload_id: str) -> str:
        """Take the upload away from concurrent parts, completes and aborts (one winner)."""
        claimed = os.path.join(
            os.path.dirname(directory), f"gone-{upload_id}-{secrets.token_hex(4)}"
        )
        try:
            os.rename(directory, claimed)
        except FileNotFoundError:
            raise ResourceDoesNotExist(f"Multipart upload {upload_id!r} no longer exists")
        return claimed


def _newest_mtime(entry: os.DirEntry[str]) -> float:
    newest = entry.stat(follow_symlinks=False).st_mtime
    if entry.is_dir(follow_symlinks=False):
        for child in os.scandir(entry.path):
            newest = max(newest, child.stat(follow_symlinks=False).st_mtime)
    return newest


def _remove_entry(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        _unlink_quietly(path)


def _write_atomically(target: str, fill: Callable[[BinaryIO], Any]) -> None:
    """Write ``target`` through a hidden temp file beside it, renamed into place when full."""
    temp, out = create_temp_file(os.path.dirname(target), TEMP_PREFIX)
    try:
        with out:
            fill(out)
        os.replace(temp, target)
    except BaseException:
        _unlink_quietly(temp)
        raise


def _stat_or_none(repo: ArtifactRepository, path: str) -> FileInfo | None:
    try:
        return repo.get_file_info(path)
    except ResourceDoesNotExist:
        return None


# -- the endpoints ----------------------------------------------------------------------------
class _ArtifactsApi:
    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self._repo: ArtifactRepository | None = None
        self._staging: _LocalStaging | None = None
        self._lock = threading.Lock()

    def repository(self) -> ArtifactRepository:
        """The repository rooted at the destination, built once per process."""
        if self._repo is None:
            with self._lock:
                if self._repo is None:
                    repo = get_artifact_repository(self.ctx.artifacts_destination)
                    if isinstance(repo, LocalArtifactRepository):
                        self._staging = _LocalStaging(repo)
                    self._repo = repo
        return self._repo

    async def repo(self) -> tuple[ArtifactRepository, _LocalStaging | None]:
        repo = self._repo if self._repo is not None else await run_in_threadpool(self.repository)
        return repo, self._staging

    # -- artifacts

    async def download(self, request: Request, artifact_path: str) -> Response:
        path = _file_path(artifact_path)
        repo, _ = await self.repo()
        stream, size = await _offload(path, repo.open_sized, path)
        try:
            headers = {
                **_SAFETY_HEADERS,
                "Content-Type": guess_content_type(path),
                "Content-Disposition": _content_disposition(posixpath.basename(path)),
            }
            seekable = await run_in_threadpool(stream.seekable)
            span = _byte_range(request.headers.get("range"), size) if seekable else None
            if request.headers.get("if-range") is not None:
                span = None  # no validators to compare with: send the current file whole
            if seekable:
                headers["Accept-Ranges"] = "bytes"
            if span is False:
                stream.close()
                headers.pop("Content-Type")
                headers["Content-Range"] = f"bytes */{size}"
                return Response(status_code=416, headers=headers)
            status, length = 200, size
            if isinstance(span, tuple):
                first, last = span
                await run_in_threadpool(stream.seek, first)
                status, length = 206, last - first + 1
                headers["Content-Range"] = f"bytes {first}-{last}/{size}"
            headers["Content-Length"] = str(length)
        except BaseException:
            stream.close()
            raise
        return _FileResponse(stream, length, status, headers)

    async def upload(self, request: Request, artifact_path: str) -> Response:
        path = _file_path(artifact_path)
        repo, staging = await self.repo()
        info = await _offload(path, _stat_or_none, repo, path)
        if info is not None and info.is_dir:
            raise InvalidParameterValue(
                f"Cannot upload to {_shown(path)}: a directory of that name exists"
            )
        if staging is not None:
            temp, out = await _offload(path, staging.new_upload_file)
            try:
                with out:
                    await _receive_body(request, out, path)
                await _offload(path, staging.commit, temp, path)
            finally:
                await run_in_threadpool(_unlink_quietly, temp)
        else:
            directory = await run_in_threadpool(tempfile.mkdtemp, None, "labtrack-upload-")
            try:
                local = os.path.join(directory, posixpath.basename(path))
                with open(local, "wb") as out:
                    await _receive_body(request, out, path)
                parent = posixpath.dirname(path) or None
                await _offload(path, repo.log_artifact, local, parent)
            finally:
                await run_in_threadpool(shutil.rmtree, directory, True)
        return JSONResponse({})

    async def list(self, request: Request) -> Response:
        path = clean_artifact_path(request.query_params.get("path"))
        repo, _ = await self.repo()
        infos = await _offload(path, repo.list_artifacts, path or None)
        files = [
            wire.file_info_to_json(
                FileInfo(posixpath.basename(f.path), f.is_dir, None if f.is_dir else f.file_size)
            )
            for f in infos
            if not posixpath.basename(f.path).startswith(TEMP_PREFIX)
        ]
        return JSONResponse({"files": files} if files else {})

    async def delete(self, request: Request, artifact_path: str) -> Response:
        path = clean_artifact_path(artifact_path)
        if path == "":
            raise InvalidParameterValue(
                "Refusing to delete the whole artifact destination: name a file or directory"
            )
        repo, _ = await self.repo()
        await _offload(path, repo.delete_artifacts, path)
        return JSONResponse({})

    async def presigned(self, request: Request, artifact_path: str) -> Response:
        path = _file_path(artifact_path)
        repo, _ = await self.repo()
        sign = getattr(repo, "presigned_download_url", None)
        if sign is None:
            raise NotImplementedYet(MULTIPART_DOWNLOAD_UNSUPPORTED)
        info = await _offload(path, repo.get_file_info, path)
        if info.is_dir:
            raise InvalidParameterValue(f"Artifact {_shown(path)} is a directory, not a file")
        url = await _offload(path, sign, path, PRESIGNED_URL_SECONDS)
        return JSONResponse({"url": url, "headers": {}, "file_size": info.file_size})

    # -- multipart uploads

    async def _mpu_request(
        self, request: Request, artifact_path: str
    ) -> tuple[str, dict[str, Any]]:
        """The artifact a multipart request is about, and the request's fields.

        The URL names the directory; the artifact's name is the base name of the client's
        local file, sent as ``path``.
        """
        directory = clean_artifact_path(artifact_path)
        data = await _json_body(request, self.ctx.config.max_body_bytes)
        name = _base_name(_str_field(data, "path"))
        return clean_artifact_path(posixpath.join(directory, name) if directory else name), data

    async def mpu_create(self, request: Request, artifact_path: str) -> Response:
        path, data = await self._mpu_request(request, artifact_path)
        num_parts = _int_field(data, "num_parts", 0, MAX_PARTS) or 0
        repo, staging = await self.repo()
        if staging is not None:
            upload_id = await _offload(path, staging.create, path, num_parts)
            base = str(request.base_url).rstrip("/") + BASE_PATHS[0]
            urls = [f"{base}/mpu/part/{upload_id}/{n}" for n in range(1, num_parts + 1)]
        else:
            create = getattr(repo, "multipart_upload_create", None)
            if create is None:
                raise NotImplementedYet(MULTIPART_UPLOAD_UNSUPPORTED)
            upload_id, urls = await _offload(path, create, path, num_parts)
        credentials = [{"url": url, "part_number": n} for n, url in enumerate(urls, start=1)]
        return JSONResponse({"upload_id": upload_id, "credentials": credentials})

    async def mpu_part(self, request: Request, upload_id: str, part_number: str) -> Response:
        staging = (await self.repo())[1]
        if staging is None:
            raise NotImplementedYet(
                "Multipart upload parts go to the object store's own URLs for this server"
            )
        if not (part_number.isascii() and part_number.isdigit()):
            raise InvalidParameterValue(f"Invalid part number {_shown(part_number)}")
        number = int(part_number)
        what = f"part {number} of upload {upload_id}"
        temp, out = await _offload(what, staging.new_part_file, upload_id, number)
        try:
            digest = hashlib.md5(usedforsecurity=False)
            with out:
                await _receive_body(request, out, what, digest)
            etag = digest.hexdigest()
            await _offload(what, staging.commit_part, upload_id, number, temp, etag)
        finally:
            await run_in_threadpool(_unlink_quietly, temp)
        return Response(status_code=200, headers={"ETag": f'"{etag}"'})

    async def mpu_complete(self, request: Request, artifact_path: str) -> Response:
        path, data = await self._mpu_request(request, artifact_path)
        upload_id = _str_field(data, "upload_id")
        parts = _parts_field(data)
        repo, staging = await self.repo()
        if staging is not None:
            await _offload(path, staging.complete, path, upload_id, parts)
        else:
            complete = getattr(repo, "multipart_upload_complete", None)
            if complete is None:
                raise NotImplementedYet(MULTIPART_UPLOAD_UNSUPPORTED)
            pairs = [(p.number, p.etag) for p in parts]
            await _offload(path, complete, path, upload_id, pairs)
        return JSONResponse({})

    async def mpu_abort(self, request: Request, artifact_path: str) -> Response:
        path, data = await self._mpu_request(request, artifact_path)
        upload_id = _str_field(data, "upload_id")
        repo, staging = await self.repo()
        if staging is not None:
            await _offload(path, staging.abort, path, upload_id)
        else:
            abort = getattr(repo, "multipart_upload_abort", None)
            if abort is None:
                raise NotImplementedYet(MULTIPART_UPLOAD_UNSUPPORTED)
            await _offload(path, abort, path, upload_id)
        return JSONResponse({})


def server_info_fields(ctx: ServerContext) -> dict[str, bool]:
    """The artifact capabilities MLflow's ``/api/3.0/mlflow/server-info`` advertises.

    A client that has not set ``MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD`` uses multipart uploads
    (and presigned downloads) only when the server advertises them. They are advertised for
    object stores whose repository supports them, never for a local destination: there the
    part URLs point back at this server, which a reverse proxy with a path prefix can break,
    so local multipart stays opt-in on the client side.
    """
    try:
        repo = get_artifact_repository(ctx.artifacts_destination)
    except LabtrackError:
        return {"multipart_uploads_enabled": False, "multipart_downloads_enabled": False}
    local = isinstance(repo, LocalArtifactRepository)
    return {
        "multipart_uploads_enabled": not local and hasattr(repo, "multipart_upload_create"),
        "multipart_downloads_enabled": not local and hasattr(repo, "presigned_download_url"),
    }


def router(ctx: ServerContext) -> APIRouter:
    """The proxied-artifact endpoints, under both of MLflow's base paths."""
    api = _ArtifactsApi(ctx)
    routes: list[tuple[str, str, Callable[..., Any]]] = [
        ("/artifacts", "GET", api.list),
        ("/artifacts/{artifact_path:path}", "GET", api.download),
        ("/artifacts/{artifact_path:path}", "PUT", api.upload),
        ("/artifacts/{artifact_path:path}", "DELETE", api.delete),
        ("/mpu/create/{artifact_path:path}", "POST", api.mpu_create),
        ("/mpu/complete/{artifact_path:path}", "POST", api.mpu_complete),
        ("/mpu/abort/{artifact_path:path}", "POST", api.mpu_abort),
        ("/mpu/part/{upload_id}/{part_number}", "PUT", api.mpu_part),
        ("/presigned/{artifact_path:path}", "GET", api.presigned),
    ]
    result = APIRouter()
    for base in BASE_PATHS:
        for path, method, endpoint in routes:
            result.add_api_route(base + path, endpoint, methods=[method], include_in_schema=False)
    return result
