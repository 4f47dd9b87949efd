"""The HTTP transport shared by the REST store and the HTTP artifact repository.

One pooled keep-alive ``httpx.Client`` per server per process, MLflow's auth
headers, timeouts, and retries with exponential backoff on connection errors,
429 and 503 (honouring ``Retry-After``). A request is retried after it may have
reached the server only when it is idempotent; one that surely never left
(connection refused) is always retried. Tests swap the transport
(``httpx.MockTransport``, ``httpx.ASGITransport``), not the policy.
"""

from __future__ import annotations

import base64
import os
import random
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from labtrack.errors import (
    EndpointNotFound,
    InternalError,
    LabtrackError,
    TemporarilyUnavailable,
    Unauthenticated,
    error_from_code,
)

if TYPE_CHECKING:
    import httpx

RETRY_STATUSES = frozenset({429, 503})
_MAX_BACKOFF = 10.0


def auth_headers() -> dict[str, str]:
    """Authorization as MLflow's client sends it: a bearer token, else basic auth (the
    ``tracking_token``, ``tracking_username`` and ``tracking_password`` settings)."""
    from labtrack.config import settings

    token = settings.get("tracking_token")
    if token:
        return {"Authorization": f"Bearer {token}"}
    user = settings.get("tracking_username")
    password = settings.get("tracking_password")
    if user and password:
        basic = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {basic}"}
    return {}


# Printable ASCII but "%" passes as is; anything else is percent-encoded (headers are ASCII).
_USER_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")


def user_header() -> str:
    """This client's user (as the ``mlflow.user`` tag has it), for the X-Labtrack-User header:
    the server records who made registry changes from it."""
    from urllib.parse import quote

    from labtrack.tracking.context import current_user

    return quote(current_user(), safe=_USER_SAFE)


def _verify() -> bool | str:
    from labtrack.config import settings

    if settings.get("tracking_insecure_tls"):
        return False
    cert_path: str | None = settings.get("tracking_server_cert_path")
    return cert_path or True


class HttpClient:
    """Requests to one server, with the retry policy above. Thread-safe."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        retries: int = 5,
        backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        import httpx

        from labtrack._version import __version__

        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff = backoff
        headers = {
            "User-Agent": f"labtrack/{__version__}",
            **auth_headers(),
            "X-Labtrack-User": user_header(),
        }
        self._client = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            verify=_verify(),
            transport=transport,
            limits=httpx.Limits(max_keepalive_connections=4, keepalive_expiry=60.0),
            follow_redirects=True,
        )

    def close(self) -> None:
        self._client.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """Send a request and return a successful response; raise the server's error otherwise.

        ``idempotent`` defaults to True for GET, HEAD, PUT and DELETE. ``content`` may be a
        function returning the body, called again for each attempt (a streamed upload).
        """
        import httpx

        if idempotent is None:
            idempotent = method in ("GET", "HEAD", "PUT", "DELETE")
        attempt = 0
        while True:
            try:
                body = content() if callable(content) else content
                request = self._client.build_request(
                    method, path, params=params, json=json, content=body, headers=headers
                )
                response = self._client.send(request, stream=stream)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # The request never reached the server: always safe to try again.
                if attempt >= self.retries:
                    raise TemporarilyUnavailable(
                        f"Cannot reach the tracking server at {self.base_url}: {exc}"
                    ) from exc
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                if not idempotent or attempt >= self.retries:
                    raise TemporarilyUnavailable(
                        f"Lost the connection to the tracking server at {self.base_url} "
                        f"during {method} {path}: {exc}"
                    ) from exc
            else:
                if response.status_code < 400:
                    return response
                if response.status_code not in RETRY_STATUSES or attempt >= self.retries:
                    if stream:
                        response.read()
                    raise error_for(response, method, path)
                wait = _retry_after(response)
                response.close()
                if wait is not None:
                    # A little later than asked, so clients turned away together do not
                    # all come back at the same moment.
                    time.sleep(min(wait, 60.0) * (1 + random.random() / 4))
                    attempt += 1
                    continue
            time.sleep(min(_MAX_BACKOFF, self.backoff * 2**attempt) * (0.5 + random.random()))
            attempt += 1

    def json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.request(method, path, **kwargs)
        if not response.content:
            return {}
        try:
            data = response.json()
        except ValueError:
            raise InternalError(
                f"The tracking server's answer to {method} {path} is not JSON: "
                f"{response.text[:200]!r}"
            ) from None
        if not isinstance(data, dict):
            raise InternalError(f"The tracking server's answer to {method} {path} is not an object")
        return data


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def error_for(response: httpx.Response, method: str, path: str) -> LabtrackError:
    """The labtrack error for a failed response: the server's own, when it sent MLflow JSON."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "error_code" in body:
        return error_from_code(str(body["error_code"]), str(body.get("message", "")))
    snippet = " ".join(response.text.split())[:200]
    status = response.status_code
    if status == 404:
        return EndpointNotFound(f"{method} {path}: not found on the server (HTTP 404)")
    if status == 401:
        return Unauthenticated(f"The tracking server refused the credentials ({status}): {snippet}")
    if status in (502, 503, 504):
        return TemporarilyUnavailable(
            f"The tracking server is unavailable ({status}) for {method} {path}: {snippet}"
        )
    error = error_from_code(
        "INTERNAL_ERROR" if status >= 500 else "BAD_REQUEST",
        f"{method} {path} failed with HTTP {status}: {snippet}",
    )
    return error


_CLIENTS: dict[tuple[str, float, int], HttpClient] = {}
_LOCK = threading.Lock()


def client_for(base_url: str) -> HttpClient:
    """The shared client of a server (created on first use; a forked child makes its own)."""
    from labtrack.config import settings

    key = (
        base_url.rstrip("/"),
        float(settings.get("http_timeout")),
        int(settings.get("http_retries")),
    )
    with _LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            client = HttpClient(key[0], timeout=key[1], retries=key[2])
            _CLIENTS[key] = client
        return client


def _forget_clients() -> None:
    _CLIENTS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_clients)
