"""Reading a page's state from its URL: every page is shareable as a link."""

from __future__ import annotations

from typing import TYPE_CHECKING

from labtrack.entities import ViewType
from labtrack.errors import InvalidParameterValue
from labtrack.validation import validate_search_experiment_ids

if TYPE_CHECKING:
    from starlette.requests import Request

VIEWS = {"active": ViewType.ACTIVE_ONLY, "deleted": ViewType.DELETED_ONLY, "all": ViewType.ALL}


def text(request: Request, name: str, default: str = "") -> str:
    return request.query_params.get(name, default).strip()


def many(request: Request, name: str) -> list[str]:
    """A repeated parameter (``col=a&col=b``); comma-separated values are split too."""
    out: list[str] = []
    for value in request.query_params.getlist(name):
        out.extend(v.strip() for v in value.split(",") if v.strip())
    return list(dict.fromkeys(out))


def integer(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidParameterValue(f"{name} must be a whole number, got {raw!r}") from None
    return min(max(value, lo), hi)


def view(request: Request) -> tuple[str, int]:
    name = text(request, "view", "active")
    if name not in VIEWS:
        raise InvalidParameterValue(f"view must be one of {', '.join(VIEWS)}, got {name!r}")
    return name, VIEWS[name]


def experiment_ids(request: Request, name: str = "experiments") -> list[str]:
    ids = validate_search_experiment_ids(many(request, name))
    for value in ids:
        if not value.isdigit():
            raise InvalidParameterValue(f"Invalid experiment ID {value!r}")
    return ids
