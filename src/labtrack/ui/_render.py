"""Pages and their JSON twins: one view model per page, rendered by Jinja2 or sent as JSON.

A handler builds a plain dict (the view model) and returns ``render(request, template,
model)``. The same URL with ``?format=json`` (or ``Accept: application/json``) answers
that dict as JSON, so whatever a page shows can also be fetched by a script.
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from labtrack._text import duration_text, moment
from labtrack.ui import _security, _static

if TYPE_CHECKING:
    from jinja2 import Environment
    from starlette.requests import Request
    from starlette.responses import Response

TEMPLATES = Path(__file__).parent / "templates"
FLASH_COOKIE = "labtrack_flash"


def wants_json(request: Request) -> bool:
    """Whether the client asked for a page's JSON twin."""
    if request.query_params.get("format") == "json":
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def jsonable(value: Any) -> Any:
    """The view model with NaN and infinities as MLflow writes them ("NaN", "Infinity")."""
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def json_response(model: Any, status: int = 200) -> Response:
    from starlette.responses import Response

    body = json.dumps(jsonable(model), ensure_ascii=False, separators=(",", ":"))
    return Response(
        body,
        status_code=status,
        media_type="application/json",
        headers={"Vary": "Accept", "Cache-Control": "no-store"},
    )


def render(
    request: Request,
    template: str,
    model: dict[str, Any],
    *,
    title: str,
    status: int = 200,
    charts: bool = False,
    inline_styles: bool = False,
) -> Response:
    """The page (or its JSON twin) for ``model``.

    ``charts`` marks pages that load Plotly.js, whose injected styles need a CSP that
    allows inline styles (as ``inline_styles`` does for another page's scripts); every
    other page gets a CSP with no inline styles at all.
    """
    if wants_json(request):
        return json_response(model, status)
    from starlette.responses import HTMLResponse

    token, fresh = _security.csrf_token(request)
    flash = _read_flash(request)
    current = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    html = (
        environment()
        .get_template(template)
        .render(
            **model,
            view_model=model,
            page_title=title,
            csrf_token=token,
            flash=flash,
            charts=charts,
            request_path=request.url.path,
            current_url=current,
            json_url=current + ("&" if request.url.query else "?") + "format=json",
        )
    )
    response = HTMLResponse(html, status_code=status)
    response.headers["Vary"] = "Accept"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = _security.page_csp(
        inline_styles=charts or inline_styles
    )
    if fresh:
        _security.set_csrf_cookie(request, response, token)
    if flash is not None:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def _read_flash(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    from urllib.parse import unquote

    try:
        data = json.loads(unquote(raw))
        return {"kind": str(data["kind"]), "text": str(data["text"])[:2000]}
    except (ValueError, KeyError, TypeError):
        return None


def redirect_with_flash(request: Request, url: str, text: str, kind: str = "info") -> Response:
    """See-other to ``url``; the next page shows ``text`` once (a short-lived cookie)."""
    from urllib.parse import quote

    from starlette.responses import RedirectResponse

    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        FLASH_COOKIE,
        quote(json.dumps({"kind": kind, "text": text[:2000]})),
        max_age=60,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


# -- Jinja2 -----------------------------------------------------------------------------
@cache
def environment() -> Environment:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
    from jinja2.utils import htmlsafe_json_dumps

    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(static_url=_static.static_url, plotly_url=_static.plotly_url, url=url)
    env.filters.update(
        time=format_time,
        iso=iso_time,
        duration=format_duration,
        num=format_number,
        short=lambda v, n=8: (v or "")[:n],
        thousands=lambda n: f"{n:,}",
        bytes=format_bytes,
        json=lambda value: htmlsafe_json_dumps(jsonable(value)),
    )
    return env


def url(path: str, /, **params: Any) -> str:
    """``path`` with a query string from ``params``; None and empty values are left out,
    lists become repeated parameters."""
    items: list[tuple[str, str]] = []
    for key, value in params.items():
        if value is None or value == "" or value is False:
            continue
        if isinstance(value, (list, tuple)):
            items.extend((key, str(v)) for v in value)
        else:
            items.append((key, "1" if value is True else str(value)))
    return f"{path}?{urlencode(items)}" if items else path


def iso_time(ms: int | None) -> str:
    if ms is None:
        return ""
    stamp = moment(ms)
    return stamp.isoformat(timespec="seconds") if stamp else str(ms)


def format_time(ms: int | None) -> str:
    if ms is None:
        return "-"
    stamp = moment(ms)
    return stamp.strftime("%Y-%m-%d %H:%M:%S UTC") if stamp else f"{ms} ms"


def format_duration(ms: int | None) -> str:
    return "-" if ms is None or ms < 0 else duration_text(ms)


def format_number(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "∞" if value > 0 else "-∞"
        if value == int(value) and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.6g}"
    return str(value)


def format_bytes(n: int | None) -> str:
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"
