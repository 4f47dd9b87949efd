"""Runs whose process died: heartbeats, and marking the runs that stopped sending them.

labtrack's clients tell the store, every so often, that a run they are running is alive
(``beat``: the run's ``last_heartbeat_time``). A RUNNING run whose last heartbeat is
older than the timeout is marked crashed (``mark_crashed``): status KILLED, as MLflow's
clients understand it, ended when it was last heard of, with the ``labtrack.crashed``
tag. A run that never sent a heartbeat (an MLflow client's, an older labtrack's) has
none and is never marked.

The marking is done lazily by whoever reads runs (the store's reads and searches, at
most once a second per store), with conditional updates, so any number of server
processes and embedded clients sharing a database agree and none needs a sweeper.
A heartbeat from a run marked crashed (its process was only out of touch) makes it
RUNNING again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update

from labtrack._tags import LABTRACK_CRASHED
from labtrack.entities import RunStatus, RunTag
from labtrack.store.sql import _writes
from labtrack.store.sql import schema as s

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

_r, _t = s.runs, s.tags


def beat(conn: Connection, run_pk: int, now: int) -> None:
    """Record that the run's process is alive (nothing for a run that has ended)."""
    running = conn.execute(
        update(_r)
        .where(_r.c.id == run_pk, _r.c.status == RunStatus.RUNNING)
        .values(last_heartbeat_time=now)
    ).rowcount
    if running:
        return
    revived = conn.execute(
        delete(_t).where(_t.c.run_id == run_pk, _t.c.key == LABTRACK_CRASHED)
    ).rowcount
    if revived:
        conn.execute(
            update(_r)
            .where(_r.c.id == run_pk)
            .values(status=RunStatus.RUNNING, end_time=None, last_heartbeat_time=now)
        )


def forget(conn: Connection, row: Any) -> dict[str, Any]:
    """A client sets the run's status (``row``: its run row): the heartbeats so far, and a
    crash mark, are void (a resumed run's new process sends its own). Returns the run
    columns to set with the status; a run without heartbeats costs nothing."""
    if row.status == RunStatus.KILLED:
        conn.execute(delete(_t).where(_t.c.run_id == row.id, _t.c.key == LABTRACK_CRASHED))
    return {} if row.last_heartbeat_time is None else {"last_heartbeat_time": None}


def stale_runs(conn: Connection, cutoff: int) -> list[int]:
    """RUNNING runs whose last heartbeat is before ``cutoff`` (ms): an index range. In id
    order, so stores marking at once lock the rows in the same order."""
    query = (
        select(_r.c.id)
        .where(_r.c.status == RunStatus.RUNNING, _r.c.last_heartbeat_time < cutoff)
        .order_by(_r.c.id)
    )
    return list(conn.execute(query).scalars())


def mark_crashed(conn: Connection, run_pk: int, cutoff: int) -> bool:
    """Mark the run crashed if it is still RUNNING without a heartbeat since ``cutoff``;
    whether this call did (another process may have, or a heartbeat came)."""
    marked = conn.execute(
        update(_r)
        .where(
            _r.c.id == run_pk,
            _r.c.status == RunStatus.RUNNING,
            _r.c.last_heartbeat_time < cutoff,
        )
        .values(status=RunStatus.KILLED, end_time=_r.c.last_heartbeat_time)
    ).rowcount
    if marked:
        _writes.write_tags(conn, run_pk, [RunTag(LABTRACK_CRASHED, "true")])
    return bool(marked)
