"""Artifact downloads: content types, single byte ranges, and a streamed file response
that is served as an attachment a browser will not run."""

from __future__ import annotations

import mimetypes
import posixpath
import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.responses import Response, StreamingResponse

from labtrack.server._artifact_files import CHUNK_BYTES

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.types import Receive, Scope, Send

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


def content_disposition(name: str) -> str:
    """``attachment`` naming ``name``; non-ASCII or unusual names as RFC 5987 ``filename*``."""
    if all(0x20 <= ord(c) < 0x7F for c in name) and '"' not in name and "\\" not in name:
        return f'attachment; filename="{name}"'
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "_" for c in name)
    encoded = quote(name, safe="")
    return f"attachment; filename=\"{fallback or 'download'}\"; filename*=UTF-8''{encoded}"


def byte_range(header: str | None, size: int) -> tuple[int, int] | bool | None:
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


class FileResponse(StreamingResponse):
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


async def file_response(request: Request, stream: BinaryIO, size: int, path: str) -> Response:
    """The response serving the open artifact ``stream`` (``size`` bytes) at ``path``: whole,
    or the single range the request asks for when the stream is seekable (416 if none of
    it is satisfiable). Closes the stream if it is not sent."""
    try:
        headers = {
            **_SAFETY_HEADERS,
            "Content-Type": guess_content_type(path),
            "Content-Disposition": content_disposition(posixpath.basename(path)),
        }
        seekable = await run_in_threadpool(stream.seekable)
        span = byte_range(request.headers.get("range"), size) if seekable else None
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
    return FileResponse(stream, length, status, headers)
