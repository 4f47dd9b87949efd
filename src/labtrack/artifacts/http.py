"""Artifacts behind a tracking server's artifact proxy (``mlflow-artifacts:`` and ``http(s)`` URIs).

A run created through a server that proxies artifacts has an artifact URI like
``mlflow-artifacts:/1/<run>/artifacts``: the files live wherever the server keeps
them (a directory, S3) and the client reaches them through
``/api/2.0/mlflow-artifacts/artifacts/...`` on the tracking server.
"""

from __future__ import annotations

import io
import posixpath
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import quote

from labtrack.artifacts._uri import uri_scheme
from labtrack.artifacts.base import ArtifactRepository
from labtrack.entities import FileInfo
from labtrack.errors import InvalidParameterValue, ResourceDoesNotExist

if TYPE_CHECKING:
    import httpx

PROXY_API = "/api/2.0/mlflow-artifacts/artifacts"
_CHUNK = 1024 * 1024


def absolute_proxy_uri(artifact_uri: str, tracking_uri: str) -> str:
    """A proxied artifact URI (``mlflow-artifacts:/1/<run>/artifacts``) made absolute against
    the tracking server at ``tracking_uri``, so it names that server whatever the tracking
    URI setting says; any other URI, or a tracking URI that is no server, as given."""
    if uri_scheme(artifact_uri) != "mlflow-artifacts" or not tracking_uri.startswith(
        ("http://", "https://")
    ):
        return artifact_uri
    rest = artifact_uri.split(":", 1)[1]
    if rest.startswith("//"):  # mlflow-artifacts://host:port/path names its server
        return artifact_uri
    return f"{tracking_uri.rstrip('/')}{PROXY_API}/{rest.lstrip('/')}"


def split_artifact_uri(artifact_uri: str) -> tuple[str, str]:
    """(server base URL, root path under the proxy API) of an artifact URI."""
    scheme, _, rest = artifact_uri.partition(":")
    scheme = scheme.lower()
    if scheme == "mlflow-artifacts":
        # The tracking URI setting (as tracking._stores.resolve_tracking_uri() reads it;
        # artifacts sit below the tracking layer and do not import it).
        from labtrack.config import settings

        tracking = str(settings.get("tracking_uri"))
        tracking_scheme = tracking.split("://", 1)[0].lower()
        if rest.startswith("//"):  # mlflow-artifacts://host:port/path
            authority, _, path = rest[2:].partition("/")
            http_scheme = "https" if tracking_scheme == "https" else "http"
            return f"{http_scheme}://{authority}", path.strip("/")
        if tracking_scheme not in ("http", "https"):
            raise InvalidParameterValue(
                f"Artifact URI {artifact_uri!r} is served by a tracking server, but the tracking "
                f"URI is {tracking!r}: set it to the server's http(s) URL"
            )
        return tracking.rstrip("/"), rest.strip("/")
    if scheme in ("http", "https"):
        base, marker, root = artifact_uri.partition(PROXY_API)
        if not marker:
            raise InvalidParameterValue(
                f"Artifact URI {artifact_uri!r} does not point at a tracking server's artifact "
                f"API (expected .../{PROXY_API.lstrip('/')}/...)"
            )
        return base.rstrip("/"), root.strip("/")
    raise InvalidParameterValue(f"Not a proxied artifact URI: {artifact_uri!r}")


class _ResponseStream(io.RawIOBase):
    """A streamed response body as a readable binary file."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self._chunks: Iterator[bytes] = response.iter_bytes(_CHUNK)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        if not self.closed:
            self._response.close()
        super().close()


class HttpArtifactRepository(ArtifactRepository):
    """A run's artifacts through a tracking server's artifact proxy."""

    def __init__(self, artifact_uri: str) -> None:
        from labtrack._http import client_for

        super().__init__(artifact_uri)
        self.base_url, self.root = split_artifact_uri(artifact_uri)
        self._http = client_for(self.base_url)

    def _remote(self, path: str) -> str:
        return posixpath.join(self.root, path) if path else self.root

    def _url(self, path: str) -> str:
        return f"{PROXY_API}/{quote(self._remote(path))}"

    def _list_dir(self, path: str) -> list[FileInfo]:
        data = self._http.json("GET", PROXY_API, params={"path": self._remote(path)})
        found = []
        for f in data.get("files", ()):
            name = f.get("path", "")
            if not name or "/" in name or name in (".", ".."):
                continue  # the server names direct children only
            size = f.get("file_size")
            found.append(
                FileInfo(
                    posixpath.join(path, name) if path else name,
                    bool(f.get("is_dir", False)),
                    None if size is None else int(size),
                )
            )
        return found

    def _stat(self, path: str) -> FileInfo | None:
        parent, name = posixpath.split(path)
        for info in self._list_dir(parent):
            if posixpath.basename(info.path) == name:
                return info
        return None

    def _open_read(self, path: str) -> BinaryIO:
        response = self._http.request("GET", self._url(path), stream=True)
        return io.BufferedReader(_ResponseStream(response), _CHUNK)

    def _put_file(self, local_file: str, path: str) -> None:
        def body() -> Iterator[bytes]:
            with open(local_file, "rb") as f:
                while chunk := f.read(_CHUNK):
                    yield chunk

        self._http.request("PUT", self._url(path), content=body)

    def _put_bytes(self, data: bytes, path: str) -> None:
        self._http.request("PUT", self._url(path), content=data)

    def _delete(self, path: str) -> None:
        try:
            self._http.request("DELETE", self._url(path))
        except ResourceDoesNotExist:
            pass
