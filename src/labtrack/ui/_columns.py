"""Columns of the run table: how a column is named in the URL, sorted and read from a run.

A column id is ``metrics.<key>`` (latest value), ``metrics.<key>@min`` / ``@max``,
``params.<key>`` or ``tags.<key>``; ``@`` never occurs in a key, so ids are
unambiguous whatever dots a key holds. Run attributes sort as
``attributes.<name>``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from labtrack.entities import Run

ENTITIES = {"metrics": "metric", "params": "param", "tags": "tag"}
AGGREGATES = ("latest", "min", "max")
ATTRIBUTE_SORTS = {
    "attributes.run_name": "Name",
    "attributes.status": "Status",
    "attributes.start_time": "Started",
    "attributes.end_time": "Ended",
    "attributes.user_id": "User",
}
DEFAULT_SORT = "attributes.start_time"


def quote_key(key: str) -> str:
    if "`" not in key:
        return f"`{key}`"
    return '"' + key + '"'


@dataclass(frozen=True)
class Column:
    prefix: str  # metrics / params / tags
    key: str
    aggregate: str = "latest"

    @property
    def id(self) -> str:
        suffix = "" if self.aggregate == "latest" else f"@{self.aggregate}"
        return f"{self.prefix}.{self.key}{suffix}"

    @property
    def label(self) -> str:
        return self.key if self.aggregate == "latest" else f"{self.key} ({self.aggregate})"

    @property
    def entity(self) -> str:
        return ENTITIES[self.prefix]

    def order_by(self, ascending: bool) -> str:
        aggregate = "" if self.aggregate == "latest" else f".{self.aggregate}"
        direction = "ASC" if ascending else "DESC"
        return f"{self.prefix}.{quote_key(self.key)}{aggregate} {direction}"

    def value(self, run: Run) -> Any:
        data = run.data
        if self.prefix == "params":
            return data.params.get(self.key)
        if self.prefix == "tags":
            return data.tags.get(self.key)
        summary = data.metric_summaries.get(self.key)
        if summary is None:
            return data.metrics.get(self.key) if self.aggregate == "latest" else None
        return {"latest": summary.latest, "min": summary.min, "max": summary.max}[self.aggregate]


def parse_column(column_id: str) -> Column | None:
    prefix, dot, rest = column_id.partition(".")
    if not dot or prefix not in ENTITIES or not rest:
        return None
    key, at, aggregate = rest.rpartition("@")
    if not at:
        return Column(prefix, rest)
    if prefix != "metrics" or aggregate not in AGGREGATES or not key:
        return None
    return Column(prefix, key, aggregate)


def sort_clause(sort: str, ascending: bool) -> str | None:
    """The order_by item for a sortable column id (None if it cannot be sorted)."""
    if sort in ATTRIBUTE_SORTS:
        return f"{sort} {'ASC' if ascending else 'DESC'}"
    column = parse_column(sort)
    return column.order_by(ascending) if column else None


def numeric(value: Any) -> float | None:
    """A param or metric value as a number, if it is one (for charts)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
