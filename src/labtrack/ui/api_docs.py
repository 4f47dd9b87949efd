"""``/api/docs``: the reference of labtrack's own API (Swagger UI over its OpenAPI document).

Nothing the server serves loads script from another origin, so Swagger UI's files come
from an installed package, ``fastapi-offline`` (``pip install "labtrack[api-docs]"``),
and are served by this server under ``/api/docs/assets/<hash>/``. Without that package
the page says how to get it and links the OpenAPI document itself
(``/api/2.0/labtrack/openapi.json``), which is always served.
"""

from __future__ import annotations

import gzip
import hashlib
from functools import cache
from importlib import resources
from typing import Any

from starlette.requests import Request  # at run time: FastAPI reads the annotations
from starlette.responses import Response

from labtrack.errors import ResourceDoesNotExist
from labtrack.server._routes import Route
from labtrack.ui._render import render
from labtrack.ui._static import LONG_CACHE, accepts_gzip

DOCS_PATH = "/api/docs"
OPENAPI_PATH = "/api/2.0/labtrack/openapi.json"
ASSETS_PACKAGE = "fastapi_offline"
INSTALL = 'pip install "labtrack[api-docs]"'
#: Swagger UI's files, by the name they are served under.
_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
}


@cache
def _assets() -> dict[str, bytes] | None:
    """Swagger UI's files from the installed package, or None when it is not installed
    (or no longer ships them where this labtrack looks)."""
    try:
        folder = resources.files(ASSETS_PACKAGE) / "static"
        found = {name: (folder / name).read_bytes() for name in _ASSETS}
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        return None
    return found


@cache
def _release() -> str:
    digest = hashlib.sha256()
    for name, data in sorted((_assets() or {}).items()):
        digest.update(name.encode())
        digest.update(data)
    return digest.hexdigest()[:12]


@cache
def _gzipped(name: str) -> bytes:
    return gzip.compress((_assets() or {})[name], compresslevel=6, mtime=0)


def asset_url(name: str) -> str:
    return f"{DOCS_PATH}/assets/{_release()}/{name}"


def docs_model() -> dict[str, Any]:
    available = _assets() is not None
    return {
        "openapi_url": OPENAPI_PATH,
        "swagger_ui": available,
        "install": None if available else INSTALL,
        "script_url": asset_url("swagger-ui-bundle.js") if available else None,
        "stylesheet_url": asset_url("swagger-ui.css") if available else None,
    }


def routes() -> list[Route]:
    """The API reference page and Swagger UI's files."""

    def docs(request: Request) -> Response:
        # Swagger UI styles its elements inline as it draws (as Plotly does).
        return render(request, "api_docs.html", docs_model(), title="API", inline_styles=True)

    def asset(release: str, name: str, request: Request) -> Response:
        files = _assets()
        if files is None or name not in files:
            raise ResourceDoesNotExist(f"No API docs file {name!r}")
        headers = {
            "Cache-Control": LONG_CACHE if release == _release() else "no-cache",
            "Vary": "Accept-Encoding",
        }
        body = files[name]
        if accepts_gzip(request):
            headers["Content-Encoding"] = "gzip"
            body = _gzipped(name)
        return Response(body, media_type=_ASSETS[name], headers=headers)

    return [
        Route(DOCS_PATH, ("GET",), docs),
        Route(DOCS_PATH + "/assets/{release}/{name}", ("GET",), asset),
    ]
