"""The write path of a batch: params (immutable), tags (upserted), metrics (history + summary).

All of it runs inside the caller's write transaction, so a batch is stored
whole or not at all.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select

from labtrack._clock import now_ms
from labtrack._gc import paused_gc
from labtrack._tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME
from labtrack.entities import Metric, Param, RunTag, is_latest
from labtrack.errors import InvalidParameterValue
from labtrack.store.sql import _statements as st
from labtrack.store.sql import schema as s
from labtrack.store.sql._bulk import insert_metric_rows

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


_CHUNK = 500  # rows per IN (...) list: well under every backend's bound-parameter limit
_DBL_MAX = 1.7976931348623157e308


def chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class ValueCodec:
    """How a float is stored: NaN as NULL; on MySQL, which has no infinities, +-DBL_MAX."""

    def __init__(self, dialect_name: str) -> None:
        self.dialect = dialect_name
        self.finite_only = dialect_name in ("mysql", "mariadb")

    def encode(self, value: float) -> float | None:
        if value != value:  # NaN
            return None
        if self.finite_only and math.isinf(value):
            return _DBL_MAX if value > 0 else -_DBL_MAX
        return value

    def decode(self, value: float | None) -> float:
        if value is None:
            return math.nan
        if self.finite_only and abs(value) >= _DBL_MAX:
            return math.inf if value > 0 else -math.inf
        return value


def write_params(conn: Connection, run_pk: int, run_id: str, params: Sequence[Param]) -> None:
    wanted: dict[str, str] = {}
    for p in params:
        if wanted.setdefault(p.key, p.value) != p.value:
            raise InvalidParameterValue(
                f"Duplicate parameter keys have been submitted: ['{p.key}'] with different "
                "values. Please ensure the request contains only one param value per param key."
            )
    existing: dict[str, str] = {}
    for keys in chunks(list(wanted)):
        existing.update(
            conn.execute(st.PARAMS_OF_RUN, {"run_pk": run_pk, "keys": list(keys)}).all()
        )
    for key, value in wanted.items():
        old = existing.get(key)
        if old is not None and old != value:
            raise InvalidParameterValue(
                f"Changing param values is not allowed. Param with key='{key}' was already "
                f"logged with value='{old}' for run ID='{run_id}'. Attempted logging new "
                f"value '{value}'."
            )
    new_rows = [
        {"run_id": run_pk, "key": k, "value": v} for k, v in wanted.items() if k not in existing
    ]
    if new_rows:
        conn.execute(st.INSERT_PARAMS, new_rows)


def write_tags(conn: Connection, run_pk: int, tags: Sequence[RunTag]) -> None:
    wanted = {t.key: t.value for t in tags}  # the last value of a key wins, as when set in order
    existing: dict[str, str] = {}
    for keys in chunks(list(wanted)):
        existing.update(conn.execute(st.TAGS_OF_RUN, {"run_pk": run_pk, "keys": list(keys)}).all())
    new_rows = [
        {"run_id": run_pk, "key": k, "value": v} for k, v in wanted.items() if k not in existing
    ]
    if new_rows:
        conn.execute(st.INSERT_TAGS, new_rows)
    for key, value in wanted.items():
        if key in existing and existing[key] != value:
            conn.execute(st.UPDATE_TAG, {"run_pk": run_pk, "tag_key": key, "value": value})
    # Two tags mirror run columns, as in MLflow: renaming by tag renames the run.
    if MLFLOW_RUN_NAME in wanted:
        conn.execute(st.UPDATE_RUN, {"run_pk": run_pk, "name": wanted[MLFLOW_RUN_NAME][:250]})
    if MLFLOW_PARENT_RUN_ID in wanted:
        conn.execute(
            st.UPDATE_RUN, {"run_pk": run_pk, "parent_run_uuid": wanted[MLFLOW_PARENT_RUN_ID][:32]}
        )


class _Summary:
    """Latest point, min, max and count of a metric series, merged point by point."""

    __slots__ = ("count", "latest", "max", "min")

    def __init__(self, latest: tuple[int, int, float], mn: float, mx: float, count: int) -> None:
        self.latest = latest
        self.min = mn
        self.max = mx
        self.count = count

    @classmethod
    def of_points(cls, points: list[tuple[int, int, float]]) -> _Summary:
        finite = [p[2] for p in points if p[2] == p[2]]  # NaN does not move min or max
        latest = max(points)  # tuples order by (step, timestamp, value)
        if latest[2] != latest[2]:  # NaN compares unordered: settle ties with the NaN rule
            for point in points:
                if point[:2] == latest[:2] and is_latest(point, latest):
                    latest = point
        return cls(
            latest,
            min(finite) if finite else math.nan,
            max(finite) if finite else math.nan,
            len(points),
        )

    def _extrema(self, value: float) -> None:
        if value != value:  # NaN does not move min or max
            return
        if self.min != self.min or value < self.min:
            self.min = value
        if self.max != self.max or value > self.max:
            self.max = value

    def merge(self, other: _Summary) -> None:
        self.count += other.count
        for value in (other.min, other.max):
            self._extrema(value)
        if is_latest(other.latest, self.latest):
            self.latest = other.latest


def write_metrics(
    conn: Connection, run_pk: int, metrics: Sequence[Metric], codec: ValueCodec
) -> None:
    by_key: dict[str, list[tuple[int, int, float]]] = {}
    for m in metrics:
        by_key.setdefault(m.key, []).append((m.step, m.timestamp, m.value))

    series_ids = _update_summaries(conn, run_pk, by_key, codec)

    with paused_gc():
        if codec.finite_only:
            encode = codec.encode
            rows = [
                (series_ids[key], step, ts, encode(value))
                for key, points in by_key.items()
                for step, ts, value in points
            ]
        else:  # NaN becomes NULL; everything else is stored as it is
            rows = [
                (series_ids[key], step, ts, value if value == value else None)
                for key, points in by_key.items()
                for step, ts, value in points
            ]
    insert_metric_rows(conn, rows)


def _update_summaries(
    conn: Connection,
    run_pk: int,
    by_key: dict[str, list[tuple[int, int, float]]],
    codec: ValueCodec,
) -> dict[str, int]:
    decode = codec.decode
    query = st.SERIES_OF_RUN if conn.dialect.name == "sqlite" else st.SERIES_OF_RUN_LOCKED
    # (SQLite writers already hold the database lock; elsewhere the rows are locked.)
    existing: dict[str, tuple[int, _Summary]] = {}
    for keys in chunks(list(by_key)):
        for sid, key, step, ts, latest, mn, mx, count in conn.execute(
            query, {"run_pk": run_pk, "keys": list(keys)}
        ):
            summary = _Summary((step, ts, decode(latest)), decode(mn), decode(mx), count)
            existing[key] = (sid, summary)

    series_ids: dict[str, int] = {}
    for key, points in by_key.items():
        batch = _Summary.of_points(points)
        if key in existing:
            sid, summary = existing[key]
            summary.merge(batch)
            conn.execute(st.UPDATE_SERIES, {"series_pk": sid, **_summary_row(summary, codec)})
        else:
            values = {"run_id": run_pk, "key": key, **_summary_row(batch, codec)}
            sid = conn.execute(st.INSERT_SERIES, values).inserted_primary_key[0]  # type: ignore[index]
        series_ids[key] = sid
    return series_ids


def _summary_row(summary: _Summary, codec: ValueCodec) -> dict[str, Any]:
    step, ts, value = summary.latest
    return {
        "latest_step": step,
        "latest_timestamp": ts,
        "latest_value": codec.encode(value),
        "min_value": codec.encode(summary.min),
        "max_value": codec.encode(summary.max),
        "count": summary.count,
    }


REQUEST_MEMORY_MS = 24 * 3600 * 1000  # how long a request id is remembered


def claim_request(conn: Connection, request_id: str) -> bool:
    """Record ``request_id`` as applied; False if it was already (the caller then skips)."""
    import random

    ar = s.applied_requests
    if conn.execute(select(ar.c.request_id).where(ar.c.request_id == request_id)).first():
        return False
    now = now_ms()
    conn.execute(insert(ar).values(request_id=request_id, created_time=now))
    if random.random() < 0.01:  # now and then, forget ids older than a day
        conn.execute(ar.delete().where(ar.c.created_time < now - REQUEST_MEMORY_MS))
    return True
