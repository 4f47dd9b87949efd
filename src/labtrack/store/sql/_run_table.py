"""The reads behind the UI's run table: pages of top-level runs, their children, the keys
for the column chooser and the activity of experiments.

The run table pages and sorts in the database (``search_sql.run_query`` plus a
"top-level runs only" condition for nested runs), counts with one query, and loads only
the runs of the page. :class:`~labtrack.store.sql.store.SqlStore` exposes each function
as a method; they take an open connection and the store's value codec.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, func, literal, or_, select
from sqlalchemy.sql.util import ClauseAdapter

from labtrack.entities import Run, ViewType
from labtrack.store.sql import _reads
from labtrack.store.sql import schema as s
from labtrack.store.sql.search_sql import _RunFilterCompiler, run_query

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from labtrack.store.sql._writes import ValueCodec

# The column chooser lists the keys logged by this many of the newest runs; any other key
# can be typed in, and "all runs" asks for the exact list (one scan of the experiment).
KEY_SAMPLE_RUNS = 1000
NEWEST_FIRST = "attributes.start_time DESC"


@dataclass(frozen=True)
class RunPage:
    """One page of the run table and how many runs the search finds in all."""

    runs: list[Run]
    total: int


def _base(
    codec: ValueCodec,
    experiment_ids: Sequence[int],
    view_type: int,
    filter_string: str | None,
    order_by: Sequence[str] | None,
) -> Any:
    query = run_query(experiment_ids, view_type, filter_string, order_by, codec)
    if codec.dialect in ("sqlite", "mysql", "mariadb") and list(order_by or []) in (
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
    codec: ValueCodec, experiment_ids: Sequence[int], view_type: int, filter_string: str | None
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
        clause = _RunFilterCompiler(codec).compile(node)
        found.append(ClauseAdapter(parent).traverse(clause))
    return or_(
        s.runs.c.parent_run_uuid.is_(None),
        ~exists(select(literal(1)).select_from(parent).where(*found)),
    )


def run_page(
    conn: Connection,
    codec: ValueCodec,
    experiment_ids: Sequence[int],
    view_type: int,
    filter_string: str | None,
    order_by: Sequence[str] | None,
    offset: int,
    limit: int,
    nested: bool,
) -> RunPage:
    """One page of runs (top-level ones when ``nested``) and how many there are in all."""
    query = _base(codec, experiment_ids, view_type, filter_string, order_by)
    counting = _base(codec, experiment_ids, view_type, filter_string, None).order_by(None)
    if nested:
        root = _root_condition(codec, experiment_ids, view_type, filter_string)
        query = query.where(root)
        counting = counting.where(root)
    counting = counting.with_only_columns(func.count(), maintain_column_froms=False)
    rows = conn.execute(query.offset(offset).limit(limit)).all()
    total = int(conn.execute(counting).scalar_one())
    runs = _reads.load_runs(conn, rows, codec)
    return RunPage(runs, total)


def child_runs(
    conn: Connection,
    codec: ValueCodec,
    parent_id: str,
    experiment_ids: Sequence[int],
    view_type: int,
    filter_string: str | None,
    order_by: Sequence[str] | None,
    limit: int,
) -> list[Run]:
    """The first ``limit`` runs under ``parent_id`` that the search finds."""
    query = _base(codec, experiment_ids, view_type, filter_string, order_by).where(
        s.runs.c.parent_run_uuid == parent_id
    )
    rows = conn.execute(query.limit(limit)).all()
    return _reads.load_runs(conn, rows, codec)


def child_counts(
    conn: Connection,
    codec: ValueCodec,
    run_ids: Sequence[str],
    experiment_ids: Sequence[int],
    view_type: int,
    filter_string: str | None,
) -> dict[str, int]:
    """How many runs the search finds under each of ``run_ids`` (only those with any)."""
    if not run_ids:
        return {}
    if not filter_string:
        return _unfiltered_child_counts(conn, run_ids, experiment_ids, view_type)
    query = (
        _base(codec, experiment_ids, view_type, filter_string, None)
        .order_by(None)
        .where(s.runs.c.parent_run_uuid.in_(list(run_ids)))
        .with_only_columns(s.runs.c.parent_run_uuid, func.count(), maintain_column_froms=False)
        .group_by(s.runs.c.parent_run_uuid)
    )
    return {parent: int(n) for parent, n in conn.execute(query)}


def _unfiltered_child_counts(
    conn: Connection, run_ids: Sequence[str], experiment_ids: Sequence[int], view_type: int
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
    for parent, experiment, stage, n in conn.execute(query):
        if experiment in wanted and stage in stages:
            counts[parent] = counts.get(parent, 0) + int(n)
    return counts


def runs_by_id(conn: Connection, codec: ValueCodec, run_ids: Sequence[str]) -> list[Run]:
    """Runs in the order given (unknown ids are left out)."""
    if not run_ids:
        return []
    from labtrack.store.sql._statements import RUN_COLUMNS

    rows = conn.execute(select(*RUN_COLUMNS).where(s.runs.c.run_uuid.in_(list(run_ids)))).all()
    by_id = {row.run_uuid: row for row in rows}
    ordered = [by_id[r] for r in dict.fromkeys(run_ids) if r in by_id]
    return _reads.load_runs(conn, ordered, codec)


def parent_ids(conn: Connection, run_ids: Sequence[str]) -> dict[str, str]:
    """``{run id: parent run id}`` of those of ``run_ids`` that have a parent."""
    if not run_ids:
        return {}
    r = s.runs
    return {
        uuid: parent
        for uuid, parent in conn.execute(
            select(r.c.run_uuid, r.c.parent_run_uuid).where(
                r.c.run_uuid.in_(list(run_ids)), r.c.parent_run_uuid.is_not(None)
            )
        )
    }


def known_keys(
    conn: Connection, experiment_ids: Sequence[int], view_type: int, sample: int | None
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
    for name, table in (
        ("metrics", s.metric_series),
        ("params", s.params),
        ("tags", s.tags),
    ):
        # A join, not IN: MySQL allows no LIMIT in an IN subquery.
        query = select(table.c.key).join(ids, ids.c.id == table.c.run_id).distinct()
        found[name] = sorted(conn.execute(query).scalars())
    return found


def experiment_activity(
    conn: Connection, experiment_ids: Sequence[int]
) -> dict[int, tuple[int, int]]:
    """(active runs, newest run start) per experiment."""
    if not experiment_ids:
        return {}
    r = s.runs
    query = (
        select(r.c.experiment_id, func.count(), func.max(r.c.start_time))
        .where(r.c.experiment_id.in_(list(experiment_ids)), r.c.lifecycle_stage == "active")
        .group_by(r.c.experiment_id)
    )
    return {pk: (int(n), last) for pk, n, last in conn.execute(query)}
