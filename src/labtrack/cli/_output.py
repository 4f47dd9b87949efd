"""How commands print: aligned text tables, JSON and CSV, plus readable times and sizes.

Tables are for people: cells are cut to a column's width with an ellipsis, times
are local and durations short. JSON and CSV are for programs: nothing is cut,
numbers keep full precision, and JSON stays valid (NaN and infinities become the
strings "NaN", "Infinity" and "-Infinity").
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import click

from labtrack._text import duration_text, moment

ELLIPSIS = "…"
DEFAULT_WIDTH = 40
_SEPARATOR = "  "


@dataclass(frozen=True)
class Column:
    """A table column: its header, the widest a cell may get (None: never cut), alignment."""

    header: str
    width: int | None = DEFAULT_WIDTH
    align_right: bool = False


def truncate(text: str, width: int | None) -> str:
    """``text`` cut to ``width`` characters, the last one an ellipsis when anything was cut."""
    if width is None or len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    return text[: width - 1] + ELLIPSIS


def cell_text(value: Any) -> str:
    """A value as it reads in a table cell: one line, numbers short, None empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return format_number(value)
    text = str(value)
    if any(ch in text for ch in "\n\r\t\v\f"):
        return " ".join(text.split())
    return text


def format_number(value: float, digits: int = 6) -> str:
    """A metric value for a table, to ``digits`` significant digits (JSON/CSV keep them all)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return f"{value:.{digits}g}"


def render_table(columns: Sequence[Column], rows: Iterable[Sequence[Any]]) -> str:
    """Rows under a header and a rule of dashes, columns separated by two spaces."""
    headers = [truncate(c.header, c.width) for c in columns]
    body = [
        [
            truncate(cell_text(value), column.width)
            for column, value in zip(columns, row, strict=True)
        ]
        for row in rows
    ]
    widths = [max([len(h)] + [len(r[i]) for r in body]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(width) if column.align_right else cell.ljust(width)
            for column, cell, width in zip(columns, cells, widths, strict=True)
        ]
        return _SEPARATOR.join(parts).rstrip()

    lines = [line(headers), line(["-" * w for w in widths])]
    lines.extend(line(r) for r in body)
    return "\n".join(lines)


def render_fields(fields: Sequence[tuple[str, Any]]) -> str:
    """``label: value`` lines with the values aligned (for one entity's details)."""
    if not fields:
        return ""
    width = max(len(label) for label, _ in fields) + 1
    return "\n".join(
        f"{(label + ':').ljust(width)} {cell_text(value)}".rstrip() for label, value in fields
    )


def to_json(value: Any) -> str:
    """Pretty, valid JSON; non-finite floats become strings."""
    return json.dumps(_finite(value), indent=2, ensure_ascii=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return format_number(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """CSV text with a header row; None is an empty cell, floats keep full precision."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if value is None else value for value in row])
    return buffer.getvalue()


def echo_note(message: str) -> None:
    """A remark for the reader (on stderr, so piped output stays clean)."""
    click.echo(message, err=True)


# -- times and sizes -----------------------------------------------------------------


def format_time(ms: int | None) -> str:
    """Milliseconds since the epoch as local time, to the second; empty for None."""
    if ms is None:
        return ""
    stamp = moment(ms, local=True)
    return stamp.strftime("%Y-%m-%d %H:%M:%S") if stamp else str(ms)


def iso_time(ms: int | None) -> str | None:
    """Milliseconds since the epoch as ISO 8601 in UTC (for CSV); None for None."""
    if ms is None:
        return None
    stamp = moment(ms)
    return stamp.isoformat(timespec="milliseconds") if stamp else str(ms)


def format_duration(start_ms: int | None, end_ms: int | None) -> str:
    """How long a run took: ``850ms``, ``12.3s``, ``4m 05s``, ``2h 03m``, ``3d 04h``."""
    if start_ms is None or end_ms is None or end_ms < start_ms:
        return ""
    return duration_text(end_ms - start_ms, compact=True)


def format_size(size: int | None) -> str:
    """A file size in bytes, KB, MB, GB or TB (powers of 1024); empty for None."""
    if size is None:
        return ""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KB", "MB", "GB", "TB"):
        value /= 1024
        if value < 1024 or unit == "TB":
            break
    return f"{value:.1f} {unit}"
