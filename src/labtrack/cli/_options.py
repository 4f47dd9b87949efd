"""Options shared by labtrack commands, and the tracking client a command works with."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from labtrack.tracking.client import TrackingClient

F = TypeVar("F", bound=Callable[..., Any])

_URI_KEY = "labtrack.tracking_uri"

VIEWS = {"active": "ACTIVE_ONLY", "deleted": "DELETED_ONLY", "all": "ALL"}

TRACKING_URI_HELP = (
    "Where runs are stored: a database URL (sqlite:///labtrack.db, postgresql://..., "
    "mysql+pymysql://...) or a server URL. Default: $LABTRACK_TRACKING_URI, else "
    "$MLFLOW_TRACKING_URI, else the config file, else sqlite:///labtrack.db."
)


def _remember_tracking_uri(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    # ctx.meta is shared by a command and its parent groups: the innermost value given wins.
    if value is not None:
        ctx.meta[_URI_KEY] = value


def tracking_uri_option(f: F) -> F:
    """``--tracking-uri``, accepted on the root group and on every command."""
    return click.option(
        "--tracking-uri",
        metavar="URI",
        expose_value=False,
        callback=_remember_tracking_uri,
        help=TRACKING_URI_HELP,
    )(f)


def current_tracking_uri() -> str | None:
    """The ``--tracking-uri`` given on the command line (None: use the settings)."""
    value = click.get_current_context().meta.get(_URI_KEY)
    return value if isinstance(value, str) else None


def open_client() -> TrackingClient:
    """A client of the tracking URI from the command line, else from the settings."""
    from labtrack.tracking.client import TrackingClient

    return TrackingClient(current_tracking_uri())


def pass_client(f: F) -> F:
    """Call the command with a :class:`TrackingClient` as its first argument."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return f(open_client(), *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def output_option(*formats: str) -> Callable[[F], F]:
    """``--output/-o`` choosing among ``formats`` (the first is the default)."""
    descriptions = {
        "table": "an aligned table",
        "json": "JSON",
        "csv": "CSV with a header row",
    }
    text = ", ".join(f"{name} ({descriptions[name]})" for name in formats)
    return click.option(
        "--output",
        "-o",
        type=click.Choice(formats),
        default=formats[0],
        show_default=True,
        help=f"Output format: {text}.",
    )


def view_option(what: str) -> Callable[[F], F]:
    """``--view active|deleted|all`` (which lifecycle stages to list)."""
    return click.option(
        "--view",
        type=click.Choice(list(VIEWS)),
        default="active",
        show_default=True,
        help=f"Which {what} to list: active ones, deleted ones (restorable), or all.",
    )
