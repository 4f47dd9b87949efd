"""The reads behind the UI's tables and charts, compiled straight against the SQL schema.

The run table pages and sorts in the database (``search_sql.run_query`` plus a
"top-level runs only" condition for nested runs), counts with one query, and
loads only the runs of the page. Metric charts are downsampled in SQL: the
points of a series are grouped into buckets of consecutive steps and each
bucket comes back as (first/last step and time, min, max, mean), so a chart of
a million points reads a thousand rows.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, exists, func, literal, or_, select, text
from sqlalchemy.sql.util import ClauseAdapter

from labtrack.entities import Run, ViewType
from labtrack.errors import ResourceDoesNotExist
from labtrack.store.sql import _reads
from labtrack.store.sql import schema as s
from labtrack.store.sql._writes import ValueCodec
from labtrack.store.sql.engine import translate_errors
from labtrack.store.sql.search_sql import _RunFilterCompiler, run_query

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from labtrack.store.sql.store import SqlStore

PARENT_TAG = "mlflow.parentRunId"
# The column chooser lists the keys logged by this many of the newest runs; any other key
# can be typed in, and "all runs" asks for the exact list (one scan of the experiment).
KEY_SAMPLE_RUNS = 1000
NEWEST_FIRST = "attributes.start_time DESC"


@dataclass(frozen=True)
class RunPage:
    runs: list[Run]
    total: int


@dataclass(frozen=True)
class SeriesInfo:
    series_id: int
    count: int
    first_step: int
    last_step: int


class Queries:
    """Read-only queries of the UI over a :class:`SqlStore`'s database."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.engine = store.engine
        self.dialect = store.dialect
        self.codec = ValueCodec(store.dialect)

    @contextlib.contextmanager
    def _read(self) -> Iterator[Connection]:
        with translate_errors(), self.engine.connect() as conn:
            yield conn
            conn.rollback()

    # -- the run table -------------------------------------------------------------
    def _base(
        self,
        experiment_ids: Sequence[int],
        view_type: int,
        filter_string: str | None,
        order_by: Sequence[str] | None,
    ) -> Any:
        query = run_query(experiment_ids, view_type, filter_string, order_by, self.codec)
        if self.dialect in ("sqlite", "mysql", "mariadb") and list(order_by or []) in (
            [],
            [NEWEST_FIRST],
        ):
            # The default order, newest first, as the (experiment, stage, start_time) index
            # reads: these databases sort NULLs lowest, so DESC already puts runs without a
            # start time last, and the "IS NULL" term run_query adds (for every database and
            # direction) would make them sort all the runs to find the first page.
            query = query.order_by(None).order_by(s.runs.c.start_time.desc(), s.runs.c.run_uuid)
        return query

    def _root_condition(
        self, experiment_ids: Sequence[int], view_type: int, filter_string: str | None
    ) -> Any:
        """Runs shown at the top level: no parent, or a parent the same search does not find."""
        from labtrack.search import parse_run_filter

        parent = s.runs.alias("parent")
        found = [
            parent.c.run_uuid == s.runs.c.parent_run_uuid,
            parent.c.experiment_id.in_(list(experiment_ids)),
            parent.c.lifecycle_stage.in_(ViewType.stages(view_type)),
        ]
        node = parse_run_filter(filter_string)
        if node is not None:
            clause = _RunFilterCompiler(self.codec).compile(node)
            found.append(ClauseAdapter(parent).traverse(clause))
        return or_(
            s.runs.c.parent_run_uuid.is_(None),
            ~exists(select(literal(1)).select_from(parent).where(*found)),
        )

    def run_page(
        self,
        experiment_ids: Sequence[int],
        view_type: int,
        filter_string: str | None,
        order_by: Sequence[str] | None,
        offset: int,
        limit: int,
        nested: bool,
    ) -> RunPage:
        """One page of runs (top-level ones when ``nested``) and how many there are in all."""
        query = self._base(experiment_ids, view_type, filter_string, order_by)
        counting = self._base(experiment_ids, view_type, filter_string, None).order_by(None)
        if nested:
            root = self._root_condition(experiment_ids, view_type, filter_string)
            query = query.where(root)
            counting = counting.where(root)
        counting = counting.with_only_columns(func.count(), maintain_column_froms=False)
        with self._read() as conn:
            rows = conn.execute(query.offset(offset).limit(limit)).all()
            total = int(conn.execute(counting).scalar_one())
            runs = _reads.load_runs(conn, rows, self.codec)
        return RunPage(runs, total)

    def children(
        self,
        parent_id: str,
        experiment_ids: Sequence[int],
        view_type: int,
        filter_string: str | None,
        order_by: Sequence[str] | None,
        limit: int,
    ) -> list[Run]:
        query = self._base(experiment_ids, view_type, filter_string, order_by).where(
            s.runs.c.parent_run_uuid == parent_id
        )
        with self._read() as conn:
            rows = conn.execute(query.limit(limit)).all()
            return _reads.load_runs(conn, rows, self.codec)

    def child_counts(
        self,
        run_ids: Sequence[str],
        experiment_ids: Sequence[int],
        view_type: int,
        filter_string: str | None,
    ) -> dict[str, int]:
        """How many runs the search finds under each of ``run_ids`` (only those with any)."""
        if not run_ids:
            return {}
        if not filter_string:
            return self._child_counts(run_ids, experiment_ids, view_type)
        query = (
            self._base(experiment_ids, view_type, filter_string, None)
            .order_by(None)
            .where(s.runs.c.parent_run_uuid.in_(list(run_ids)))
            .with_only_columns(s.runs.c.parent_run_uuid, func.count(), maintain_column_froms=False)
            .group_by(s.runs.c.parent_run_uuid)
        )
        with self._read() as conn:
            return {parent: int(n) for parent, n in conn.execute(query)}

    def _child_counts(
        self, run_ids: Sequence[str], experiment_ids: Sequence[int], view_type: int
    ) -> dict[str, int]:
        # Grouped by experiment and stage too and those kept here: a WHERE on them would
        # lead databases to the (experiment, stage) index, a scan of the whole experiment,
        # instead of the parent index.
        r = s.runs
        query = (
            select(r.c.parent_run_uuid, r.c.experiment_id, r.c.lifecycle_stage, func.count())
            .where(r.c.parent_run_uuid.in_(list(run_ids)))
            .group_by(r.c.parent_run_uuid, r.c.experiment_id, r.c.lifecycle_stage)
        )
        wanted, stages = set(experiment_ids), set(ViewType.stages(view_type))
        counts: dict[str, int] = {}
        with self._read() as conn:
            for parent, experiment, stage, n in conn.execute(query):
                if experiment in wanted and stage in stages:
                    counts[parent] = counts.get(parent, 0) + int(n)
        return counts

    def runs_by_id(self, run_ids: Sequence[str]) -> list[Run]:
        """Runs in the order given (unknown ids are left out)."""
        if not run_ids:
            return []
        from labtrack.store.sql._statements import RUN_COLUMNS

        with self._read() as conn:
            rows = conn.execute(
                select(*RUN_COLUMNS).where(s.runs.c.run_uuid.in_(list(run_ids)))
            ).all()
            by_id = {row.run_uuid: row for row in rows}
            ordered = [by_id[r] for r in dict.fromkeys(run_ids) if r in by_id]
            return _reads.load_runs(conn, ordered, self.codec)

    def parent_ids(self, run_ids: Sequence[str]) -> dict[str, str]:
        if not run_ids:
            return {}
        r = s.runs
        with self._read() as conn:
            return {
                uuid: parent
                for uuid, parent in conn.execute(
                    select(r.c.run_uuid, r.c.parent_run_uuid).where(
                        r.c.run_uuid.in_(list(run_ids)), r.c.parent_run_uuid.is_not(None)
                    )
                )
            }

    # -- keys for the column chooser ---------------------------------------------------
    def known_keys(
        self, experiment_ids: Sequence[int], view_type: int, sample: int | None = KEY_SAMPLE_RUNS
    ) -> dict[str, list[str]]:
        """Metric, param and tag keys of the newest ``sample`` runs (all runs when None)."""
        r = s.runs
        runs = select(r.c.id).where(
            r.c.experiment_id.in_(list(experiment_ids)),
            r.c.lifecycle_stage.in_(ViewType.stages(view_type)),
        )
        if sample is not None:
            runs = runs.order_by(r.c.start_time.desc()).limit(sample)
        ids = runs.subquery()
        found: dict[str, list[str]] = {}
        with self._read() as conn:
            for name, table in (
                ("metrics", s.metric_series),
                ("params", s.params),
                ("tags", s.tags),
            ):
                # A join, not IN: MySQL allows no LIMIT in an IN subquery.
                query = select(table.c.key).join(ids, ids.c.id == table.c.run_id).distinct()
                found[name] = sorted(conn.execute(query).scalars())
        return found

    # -- experiments ------------------------------------------------------------------
    def experiment_activity(self, experiment_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
        """(active runs, newest run start) per experiment."""
        if not experiment_ids:
            return {}
        r = s.runs
        query = (
            select(r.c.experiment_id, func.count(), func.max(r.c.start_time))
            .where(r.c.experiment_id.in_(list(experiment_ids)), r.c.lifecycle_stage == "active")
            .group_by(r.c.experiment_id)
        )
        with self._read() as conn:
            return {pk: (int(n), last) for pk, n, last in conn.execute(query)}

    # -- metric histories ----------------------------------------------------------
    def series(self, run_id: str, key: str) -> SeriesInfo | None:
        ms, m, r = s.metric_series, s.metrics, s.runs
        with self._read() as conn:
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

    def count_points(self, series_id: int, lo: int, hi: int) -> int:
        m = s.metrics
        with self._read() as conn:
            return int(
                conn.execute(
                    select(func.count()).where(
                        m.c.series_id == series_id, m.c.step >= lo, m.c.step <= hi
                    )
                ).scalar_one()
            )

    def points(self, series_id: int, lo: int, hi: int) -> dict[str, list[Any]]:
        """Every point with ``lo <= step <= hi``, as columns."""
        m = s.metrics
        query = (
            select(m.c.step, m.c.timestamp, m.c.value)
            .where(m.c.series_id == series_id, m.c.step >= lo, m.c.step <= hi)
            .order_by(m.c.step, m.c.timestamp, m.c.id)
        )
        with self._read() as conn:
            rows = conn.execute(query).all()
        decode = self.codec.decode
        return {
            "step": [row[0] for row in rows],
            "timestamp": [row[1] for row in rows],
            "value": [decode(row[2]) for row in rows],
        }

    def buckets(self, series_id: int, lo: int, hi: int, n: int) -> dict[str, list[Any]]:
        """Points with ``lo <= step <= hi`` in ``n`` buckets of equal step width, as columns.

        Each bucket gives its step range, first timestamp, min, max and mean value and how
        many points it holds; empty buckets are left out.
        """
        width = max(1, -(-(hi - lo + 1) // n))
        if self.dialect == "sqlite":
            rows = self._sqlite_buckets(series_id, lo, hi, width, -(-(hi - lo + 1) // width))
        else:
            rows = self._grouped_buckets(series_id, lo, hi, width)
        decode = self.codec.decode
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

    def _sqlite_buckets(self, series_id: int, lo: int, hi: int, width: int, n: int) -> list[Any]:
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
        with self._read() as conn:
            params = {"n": n, "series": series_id, "lo": lo, "hi": hi, "w": width}
            cells = conn.execute(sql, params).all()
        rows = []
        for i, cell in cells:
            ts, mn, mx, mean, count = json.loads(cell)
            first = lo + i * width
            rows.append((first, min(hi, first + width - 1), ts, mn, mx, mean, count))
        return rows

    def _grouped_buckets(self, series_id: int, lo: int, hi: int, width: int) -> list[Any]:
        m = s.metrics
        offset = m.c.step - lo
        bucket = (
            offset.op("DIV", precedence=8)(width)
            if self.dialect in ("mysql", "mariadb")
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
        with self._read() as conn:
            return [tuple(row) for row in conn.execute(query)]
