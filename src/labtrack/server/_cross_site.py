"""Refusing requests that a web page on another site makes a browser send to this server.

A page on any site can make its visitor's browser POST to a server on the visitor's own
network (a "simple" cross-site request: a form, or ``fetch`` with a ``text/plain`` body,
which needs no CORS preflight). The server must not act on it, or a link could delete
experiments. Browsers mark such requests: they send ``Origin`` (the page's site) with
every POST, and ``Sec-Fetch-Site`` with most. A request that comes from no browser (the
``mlflow`` client, ``curl``, labtrack's own client) carries neither and passes.

Behind a reverse proxy that rewrites ``Host``, the proxy's ``X-Forwarded-Host`` names the
site the browser saw; a cross-site page cannot set that header on a simple request.

A page can also *become* same-origin with the server by DNS rebinding: its own name
(``evil.example``) is made to resolve to the server's address, and the browser then
reads and writes the server as ``evil.example``. Only the ``Host`` header still names
the attacker, so the server answers only to the names it is known by (``HostGuard``):
``localhost``, any IP address (a page cannot rebind a name that is a number), and the
names given with ``--allowed-hosts``.

Web applications on other sites that should use the API from the browser (a notebook
front end, a team dashboard) are named with ``--cors-allowed-origins``: their requests
pass ``CrossSiteGuard`` and get CORS headers (Starlette's ``CORSMiddleware``), so the
browser lets them read the answers. The UI's own forms never accept them
(``labtrack.ui._security``).
"""

from __future__ import annotations

import ipaddress
import re
from fnmatch import fnmatchcase, translate
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from collections.abc import Mapping

    from starlette.datastructures import Headers
    from starlette.types import ASGIApp, Receive, Scope, Send

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
API_PREFIXES = ("/api/", "/ajax-api/")
# Answered whatever the Host: they hold no data, and load balancers probe them by address
# or by a name of their own.
UNGUARDED_PATHS = frozenset({"/health", "/version"})


# MLflow's artifact downloads outside its API prefixes (labtrack/server/mlflow_ui_api.py).
API_PATHS = frozenset({"/get-artifact", "/model-versions/get-artifact"})


def is_ui_path(path: str) -> bool:
    """Everything the server answers that is not the API or a service endpoint is the UI."""
    return not (path.startswith(API_PREFIXES) or path in UNGUARDED_PATHS or path in API_PATHS)


def origin_allowed(origin: str, allowed: tuple[str, ...]) -> bool:
    """Whether ``origin`` (``https://app.example:8443``) is one of the ``allowed`` origins
    or patterns (``https://*.corp.example``, ``http://localhost:*``, ``*`` for any)."""
    origin = origin.strip().lower()
    if not origin or origin == "null" or not allowed:
        return False
    return re.fullmatch(origin_regex(allowed), origin) is not None


def origin_regex(allowed: tuple[str, ...]) -> str:
    """One regular expression matching exactly the ``allowed`` origin patterns (the same
    matching for the cross-site guard and for Starlette's CORS middleware)."""
    patterns = (p.strip().lower().rstrip("/") for p in allowed if p.strip())
    return "|".join(translate(p) for p in patterns)


def cors(app: ASGIApp, allowed_origins: tuple[str, ...]) -> ASGIApp:
    """Starlette's CORS middleware for the ``allowed_origins``; a preflight from any other
    origin gets MLflow's error JSON (403) instead of Starlette's plain-text 400."""
    from starlette.middleware.cors import CORSMiddleware
    from starlette.responses import JSONResponse, Response

    from labtrack.errors import PermissionDenied

    class _Cors(CORSMiddleware):
        def preflight_response(self, request_headers: Headers) -> Response:
            response = super().preflight_response(request_headers)
            if response.status_code < 400:
                return response
            error = PermissionDenied(
                f"CORS preflight refused ({bytes(response.body).decode()}): the origin "
                f"{request_headers.get('origin')!r} is not one of --cors-allowed-origins"
            )
            return JSONResponse(error.to_json(), status_code=error.http_status)

    any_origin = "*" in allowed_origins
    return _Cors(
        app,
        allow_origins=["*"] if any_origin else [],
        allow_origin_regex=None if any_origin else origin_regex(allowed_origins),
        allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["*"],
        max_age=600,
    )


def same_origin(headers: Mapping[str, str]) -> bool:
    """Whether a request, judged by its headers, comes from this server's own pages (or
    from no browser at all)."""
    hosts = {headers.get("host", "").lower()}
    forwarded = headers.get("x-forwarded-host")
    if forwarded:
        hosts.add(forwarded.split(",")[0].strip().lower())
    origin = headers.get("origin")
    if origin is not None:
        return origin != "null" and urlsplit(origin).netloc.lower() in hosts
    site = headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    referer = headers.get("referer")
    if referer is not None:
        return urlsplit(referer).netloc.lower() in hosts
    return True


class CrossSiteGuard:
    """Answers 403 (MLflow's error JSON) to a state-changing API request from another site,
    unless that site is one of ``allowed_origins``.

    GET requests change nothing and pass; the UI's own forms are checked more strictly
    (origin and a CSRF token) by ``labtrack.ui._security``.
    """

    def __init__(self, app: ASGIApp, allowed_origins: tuple[str, ...] = ()) -> None:
        self.app = app
        self.allowed_origins = allowed_origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] not in SAFE_METHODS
            and scope["path"].startswith(API_PREFIXES)
        ):
            from starlette.datastructures import Headers

            headers = Headers(scope=scope)
            if not same_origin(headers) and not (
                self.allowed_origins
                and origin_allowed(headers.get("origin", ""), self.allowed_origins)
            ):
                await _refuse(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _refuse(scope: Scope, receive: Receive, send: Send) -> None:
    from starlette.responses import JSONResponse

    from labtrack.errors import PermissionDenied

    error = PermissionDenied(
        f"Cross-site request refused: {scope['method']} {scope['path']} was sent by a page "
        "on another site (its Origin is not this server). If that site is yours, start the "
        "server with --cors-allowed-origins naming it (or LABTRACK_SERVER_CORS_ALLOWED_ORIGINS)"
    )
    await JSONResponse(error.to_json(), status_code=error.http_status)(scope, receive, send)


def split_host(header: str) -> tuple[str, str | None]:
    """``(name, port)`` of a Host header: ``example.org:5000``, ``[::1]:5000``, ``::1``."""
    header = header.strip().lower()
    if header.startswith("["):
        name, _, rest = header[1:].partition("]")
        return name, rest[1:] if rest.startswith(":") else None
    if header.count(":") == 1:
        name, port = header.split(":")
        return name, port
    return header, None


def host_allowed(header: str, allowed: tuple[str, ...]) -> bool:
    """Whether a request's Host header names this server.

    Always allowed: ``localhost`` (and ``*.localhost``) and IP addresses. ``allowed``
    holds more names or patterns (``tracking.example.org``, ``*.corp.example``,
    ``tracker:5000`` for one port only, ``*`` for any host).
    """
    name, port = split_host(header)
    if not name:
        return False
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        pass
    full = f"{name}:{port}" if port else name
    for pattern in allowed:
        pattern = pattern.strip().lower()
        if pattern == "*" or fnmatchcase(name, pattern) or fnmatchcase(full, pattern):
            return True
    return False


class HostGuard:
    """Answers 403 to a request whose Host is not a name of this server (DNS rebinding)."""

    def __init__(self, app: ASGIApp, allowed: tuple[str, ...] = ()) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in UNGUARDED_PATHS:
            from starlette.datastructures import Headers

            host = Headers(scope=scope).get("host", "")
            if not host_allowed(host, self.allowed):
                await _refuse_host(host, scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _refuse_host(host: str, scope: Scope, receive: Receive, send: Send) -> None:
    from starlette.requests import Request

    from labtrack.errors import PermissionDenied
    from labtrack.server.errors import error_response

    name = split_host(host)[0] or "(none)"
    error = PermissionDenied(
        f"This server does not answer to the host name {name!r}. If that is its name, "
        f"start it with --allowed-hosts {name} (or LABTRACK_SERVER_ALLOWED_HOSTS); "
        "otherwise a web page may be trying to reach it through DNS rebinding"
    )
    await error_response(error, Request(scope))(scope, receive, send)
