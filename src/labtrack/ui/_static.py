"""The UI's own CSS and JS, and Plotly.js from the installed ``plotly`` package.

URLs carry a content hash (``/static/<hash>/app.css``), so files are cached for a
year and a new release is fetched at once. Only files shipped in ``static/`` are
served: the set is listed at startup, so no request path reaches the filesystem.
"""

from __future__ import annotations

import gzip
import hashlib
from functools import cache
from importlib import resources
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from labtrack.errors import ResourceDoesNotExist
from labtrack.server._routes import Route

STATIC = Path(__file__).parent / "static"
LONG_CACHE = "public, max-age=31536000, immutable"
_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}


@cache
def _files() -> dict[str, bytes]:
    found = {}
    for path in sorted(STATIC.rglob("*")):
        if path.is_file() and path.suffix in _TYPES:
            found[path.relative_to(STATIC).as_posix()] = path.read_bytes()
    return found


@cache
def version() -> str:
    digest = hashlib.sha256()
    for name, data in _files().items():
        digest.update(name.encode())
        digest.update(data)
    return digest.hexdigest()[:12]


def static_url(name: str) -> str:
    return f"/static/{version()}/{name}"


@cache
def _plotly() -> tuple[str, bytes]:
    """(version, bytes) of the ``plotly.min.js`` bundled with the plotly package."""
    import plotly

    bundled = resources.files("plotly") / "package_data" / "plotly.min.js"
    if bundled.is_file():
        data = bundled.read_bytes()
    else:  # another layout: ask plotly itself
        from plotly.offline import get_plotlyjs

        data = get_plotlyjs().encode("utf-8")
    return str(plotly.__version__), data


@cache
def _plotly_gzip() -> bytes:
    return gzip.compress(_plotly()[1], compresslevel=6, mtime=0)


def plotly_url() -> str:
    return f"/static/plotly/{_plotly()[0]}/plotly.min.js"


def accepts_gzip(request: Request) -> bool:
    return "gzip" in request.headers.get("accept-encoding", "").lower()


def routes() -> list[Route]:
    """The UI's static files: its scripts and styles, Plotly.js and the icon."""

    def plotly_js(release: str, request: Request) -> Response:
        headers = {"Cache-Control": LONG_CACHE, "Vary": "Accept-Encoding"}
        if accepts_gzip(request):
            headers["Content-Encoding"] = "gzip"
            body = _plotly_gzip()
        else:
            body = _plotly()[1]
        return Response(body, media_type=_TYPES[".js"], headers=headers)

    def static_file(release: str, name: str) -> Response:
        data = _files().get(name)
        if data is None:
            raise ResourceDoesNotExist(f"No static file {name!r}")
        return Response(
            data,
            media_type=_TYPES[Path(name).suffix],
            headers={"Cache-Control": LONG_CACHE if release == version() else "no-cache"},
        )

    def favicon() -> Response:
        return Response(
            _files()["favicon.svg"],
            media_type=_TYPES[".svg"],
            headers={"Cache-Control": LONG_CACHE},
        )

    return [
        Route("/static/plotly/{release}/plotly.min.js", ("GET",), plotly_js),
        Route("/static/{release}/{name:path}", ("GET",), static_file),
        Route("/favicon.ico", ("GET",), favicon),
    ]
