"""Write actions: a form POST that passes the CSRF checks, then redirects (post/redirect/get).

A failed action (a name already taken, say) goes back where the user was and says why
there; scripts that ask for JSON get the outcome (or MLflow's error JSON) instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from labtrack.errors import InvalidParameterValue, LabtrackError
from labtrack.ui._render import json_response, redirect_with_flash, wants_json
from labtrack.ui._security import write_form

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

# An action gets the form and returns (where to go next, what to tell the user).
Action = Callable[[dict[str, Any]], tuple[str, str]]


def safe_next(value: Any, fallback: str) -> str:
    """A redirect target from a form: only a path on this site (no open redirects)."""
    if (
        isinstance(value, str)
        and value.startswith("/")
        and not value.startswith("//")
        and "\\" not in value
        and not any(ord(c) < 32 for c in value)
    ):
        return value
    return fallback


def field(form: dict[str, Any], name: str, *, required: bool = True) -> str:
    value = form.get(name, "")
    if isinstance(value, list):
        value = value[-1]
    value = value.strip() if isinstance(value, str) else ""
    if required and not value:
        raise InvalidParameterValue(f"Missing {name.replace('_', ' ')}")
    return value


def fields(form: dict[str, Any], name: str) -> list[str]:
    value = form.get(name, [])
    values = value if isinstance(value, list) else [value]
    return [v for v in values if isinstance(v, str) and v]


async def perform(request: Request, action: Action, fallback: str) -> Response:
    from starlette.concurrency import run_in_threadpool

    form = await write_form(request)
    back = safe_next(form.get("next"), fallback)
    try:
        target, message = await run_in_threadpool(action, form)
    except LabtrackError as exc:
        if wants_json(request):
            raise
        return redirect_with_flash(request, back, exc.message, "error")
    if wants_json(request):
        return json_response({"ok": True, "next": target, "message": message})
    return redirect_with_flash(request, target, message)
