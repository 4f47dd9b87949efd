"""The web UI: server-rendered pages (Jinja2) with small ES-module scripts and Plotly charts.

Every page has a JSON twin (the same URL with ``?format=json``) and keeps its state in
its URL. ``routes(context)`` lists the pages for the server's route table (the server
also adds ``_security.SecurityHeaders``); see ``docs/ui.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from labtrack.errors import LabtrackError
    from labtrack.server._context import ServerContext
    from labtrack.server._routes import Route

__all__ = ["error_page", "is_ui_path", "routes"]


def routes(context: ServerContext) -> list[Route]:
    """The UI's pages and static files, for the server's route table."""
    from labtrack.ui import (
        _static,
        api_docs,
        artifacts,
        compare,
        experiments,
        logged_model_files,
        models,
        run,
        run_models,
        runs,
    )

    return [
        *_static.routes(),
        *experiments.routes(context),
        *runs.routes(context),
        *artifacts.routes(context),
        *logged_model_files.routes(context),
        *run.routes(context),
        *compare.routes(context),
        *models.routes(context),
        *run_models.routes(context),
        *api_docs.routes(),
    ]


def is_ui_path(path: str) -> bool:
    """Whether a request path belongs to the UI (errors there are HTML pages)."""
    from labtrack.server._cross_site import is_ui_path as check

    return check(path)


def error_page(request: Request, error: LabtrackError, status: int | None = None) -> Response:
    """The HTML page for an error on a UI route (or its JSON, if the client asked for it)."""
    from labtrack.ui._render import json_response, render, wants_json

    status = status or error.http_status
    if wants_json(request):
        return json_response(error.to_json(), status)
    model = {"status": status, "error_code": error.error_code, "message": error.message}
    return render(request, "error.html", model, title=_TITLES.get(status, "Error"), status=status)


_TITLES = {
    400: "Bad request",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    413: "Too large",
    500: "Server error",
    501: "Not implemented",
    503: "Unavailable",
}
