"""The reads behind the UI's metric charts: a series' extent, its raw points in a step
window, or the window downsampled in SQL.

The points of a series are grouped into buckets of consecutive steps and each bucket comes
back as (first/last step and time, min, max, mean, count), so a chart of a million points
reads a thousand rows. :class:`~labtrack.store.sql.store.SqlStore` exposes each function
as a method; they take an open connection and the store's value codec.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select, text

from labtrack.errors import ResourceDoesNotExist
from labtrack.store.sql import schema as s

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from labtrack.store.sql._writes import ValueCodec


@dataclass(frozen=True)
class SeriesInfo:
    """A metric series of a run: its id, how many points it has and its step range."""

    series_id: int
    count: int
    first_step: int
    last_step: int


def series_info(conn: Connection, run_id: str, key: str) -> SeriesInfo | None:
    """The series ``key`` of the run; None if the run logged no such metric.

    Raises ResourceDoesNotExist for an unknown run.
    """
    ms, m, r = s.metric_series, s.metrics, s.runs
    row = conn.execute(
        select(ms.c.id, ms.c.count.label("points"))
        .join(r, r.c.id == ms.c.run_id)
        .where(r.c.run_uuid == run_id, ms.c.key == key)
    ).first()
    if row is None:
        if conn.execute(select(r.c.id).where(r.c.run_uuid == run_id)).first() is None:
            raise ResourceDoesNotExist(f"Run with id={run_id} not found")
        return None
    # Each is one probe of the (series, step, timestamp) index.
    first = conn.execute(
        select(m.c.step).where(m.c.series_id == row.id).order_by(m.c.step).limit(1)
    ).scalar()
    last = conn.execute(
        select(m.c.step).where(m.c.series_id == row.id).order_by(m.c.step.desc()).limit(1)
    ).scalar()
    if first is None or last is None:
        return None
    return SeriesInfo(row.id, int(row.points), int(first), int(last))


def count_points(conn: Connection, series_id: int, lo: int, hi: int) -> int:
    """How many points of the series have ``lo <= step <= hi``."""
    m = s.metrics
    return int(
        conn.execute(
            select(func.count()).where(m.c.series_id == series_id, m.c.step >= lo, m.c.step <= hi)
        ).scalar_one()
    )


def points(
    conn: Connection, codec: ValueCodec, series_id: int, lo: int, hi: int
) -> dict[str, list[Any]]:
    """Every point with ``lo <= step <= hi``, as columns."""
    m = s.metrics
    query = (
        select(m.c.step, m.c.timestamp, m.c.value)
        .where(m.c.series_id == series_id, m.c.step >= lo, m.c.step <= hi)
        .order_by(m.c.step, m.c.timestamp, m.c.id)
    )
    rows = conn.execute(query).all()
    decode = codec.decode
    return {
        "step": [row[0] for row in rows],
        "timestamp": [row[1] for row in rows],
        "value": [decode(row[2]) for row in rows],
    }


def buckets(
    conn: Connection, codec: ValueCodec, series_id: int, lo: int, hi: int, n: int
) -> dict[str, list[Any]]:
    """Points with ``lo <= step <= hi`` in ``n`` buckets of equal step width, as columns.

    Each bucket gives its step range, first timestamp, min, max and mean value and how
    many points it holds; empty buckets are left out.
    """
    width = max(1, -(-(hi - lo + 1) // n))
    if codec.dialect == "sqlite":
        rows = _sqlite_buckets(conn, series_id, lo, hi, width, -(-(hi - lo + 1) // width))
    else:
        rows = _grouped_buckets(conn, codec.dialect, series_id, lo, hi, width)
    decode = codec.decode
    out: dict[str, list[Any]] = {
        k: [] for k in ("step_first", "step_last", "timestamp", "min", "max", "mean", "count")
    }
    for first, last, ts, mn, mx, mean, count in rows:
        if not count:
            continue
        out["step_first"].append(int(first))
        out["step_last"].append(int(last))
        out["timestamp"].append(int(ts))
        out["min"].append(decode(mn))
        out["max"].append(decode(mx))
        out["mean"].append(decode(mean))
        out["count"].append(int(count))
    return out


def _sqlite_buckets(
    conn: Connection, series_id: int, lo: int, hi: int, width: int, n: int
) -> list[Any]:
    # One index range scan per bucket, in step order, with no sort of the points: on
    # SQLite this is twice as fast as GROUP BY (which sorts every point by bucket).
    # Reading each point's value from the table is most of the cost, so only the
    # aggregates the chart needs are computed; a bucket's step range is its bounds.
    sql = text(
        "WITH RECURSIVE b(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM b WHERE i < :n - 1) "
        "SELECT b.i, (SELECT json_array(min(timestamp), min(value), max(value), "
        "avg(value), count(*)) FROM metrics "
        "WHERE series_id = :series AND step >= :lo + b.i * :w AND step < :lo + (b.i + 1) * :w "
        "AND step <= :hi) "
        "FROM b"
    )
    params = {"n": n, "series": series_id, "lo": lo, "hi": hi, "w": width}
    cells = conn.execute(sql, params).all()
    rows = []
    for i, cell in cells:
        ts, mn, mx, mean, count = json.loads(cell)
        first = lo + i * width
        rows.append((first, min(hi, first + width - 1), ts, mn, mx, mean, count))
    return rows


def _grouped_buckets(
    conn: Connection, dialect: str, series_id: int, lo: int, hi: int, width: int
) -> list[Any]:
    m = s.metrics
    offset = m.c.step - lo
    bucket = (
        offset.op("DIV", precedence=8)(width)
        if dialect in ("mysql", "mariadb")
        else func.floor(offset / width)
    )
    points = (
        select(bucket.label("bucket"), m.c.step, m.c.timestamp, m.c.value)
        .where(and_(m.c.series_id == series_id, m.c.step >= lo, m.c.step <= hi))
        .subquery()
    )
    query = (
        select(
            func.min(points.c.step),
            func.max(points.c.step),
            func.min(points.c.timestamp),
            func.min(points.c.value),
            func.max(points.c.value),
            func.avg(points.c.value),
            func.count(),
        )
        .group_by(points.c.bucket)
        .order_by(points.c.bucket)
    )
    return [tuple(row) for row in conn.execute(query)]
