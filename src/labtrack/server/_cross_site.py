"""Refusing requests that a web page on another site makes a browser send to this server.

A page on any site can make its visitor's browser POST to a server on the visitor's own
network (a "simple" cross-site request: a form, or ``fetch`` with a ``text/plain`` body,
which needs no CORS preflight). The server must not act on it, or a link could delete
experiments. Browsers mark such requests: they send ``Origin`` (the page's site) with
every POST, and ``Sec-Fetch-Site`` with most. A request that comes from no browser (the
``mlflow`` client, ``curl``, labtrack's own client) carries neither and passes.

Behind a reverse proxy that rewrites ``Host``, the proxy's ``X-Forwarded-Host`` names the
site the browser saw; a cross-site page cannot set that header on a simple request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from collections.abc import Mapping

    from starlette.types import ASGIApp, Receive, Scope, Send

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
API_PREFIXES = ("/api/", "/ajax-api/")


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
    """Answers 403 (MLflow's error JSON) to a state-changing API request from another site.

    GET requests change nothing and pass; the UI's own forms are checked more strictly
    (origin and a CSRF token) by ``labtrack.ui._security``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] not in SAFE_METHODS
            and scope["path"].startswith(API_PREFIXES)
        ):
            from starlette.datastructures import Headers

            if not same_origin(Headers(scope=scope)):
                await _refuse(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _refuse(scope: Scope, receive: Receive, send: Send) -> None:
    from starlette.responses import JSONResponse

    from labtrack.errors import PermissionDenied

    error = PermissionDenied(
        f"Cross-site request refused: {scope['method']} {scope['path']} was sent by a page "
        "on another site (its Origin is not this server)"
    )
    await JSONResponse(error.to_json(), status_code=error.http_status)(scope, receive, send)
