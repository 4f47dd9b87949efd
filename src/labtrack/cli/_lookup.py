"""Finding what a command names: experiments by id or name, and results across pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from labtrack.entities import Experiment, PagedList
    from labtrack.tracking.client import TrackingClient

T = TypeVar("T")

PAGE_SIZE = 1000
"""How many items one request to the tracking store asks for."""


def find_experiment(client: TrackingClient, ref: str) -> Experiment:
    """The experiment ``ref`` names: its id if ``ref`` is all digits and such an id exists,
    else its name. Deleted experiments are found too."""
    from labtrack.errors import ResourceDoesNotExist

    if ref.isascii() and ref.isdigit():
        try:
            return client.get_experiment(ref)
        except ResourceDoesNotExist:
            pass
    found = client.get_experiment_by_name(ref)
    if found is None:
        raise ResourceDoesNotExist(
            f"No experiment with ID or name {ref!r} (see: labtrack experiments list --view all)"
        )
    return found


def collect_pages(
    fetch: Callable[[int, str | None], PagedList[T]],
    limit: int | None,
) -> tuple[list[T], bool]:
    """Items of successive pages, ``fetch(max_results, page_token)``, up to ``limit`` (None:
    all); and whether more were left."""
    size = PAGE_SIZE
    items: list[T] = []
    token: str | None = None
    while True:
        wanted = size if limit is None else min(size, limit - len(items))
        page = fetch(wanted, token)
        items.extend(page)
        token = page.token
        if token is None:
            return items, False
        if limit is not None and len(items) >= limit:
            return items, True
