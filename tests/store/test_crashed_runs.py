"""Runs whose process died: heartbeats, and the runs marked crashed when they stop. On
every store: SqlStore on each database, and RestStore through a live server."""

from __future__ import annotations

import time

import pytest

from labtrack._tags import LABTRACK_CRASHED
from labtrack.entities import Metric, RunStatus
from labtrack.errors import ResourceDoesNotExist

TIMEOUT = 0.3  # seconds without a heartbeat before a run shows as crashed, once it expires


@pytest.fixture(autouse=True)
def _timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Until a test lets time pass (``silence``), no run can miss its heartbeats: however
    slow the machine, a run that has just had one reads as RUNNING."""
    monkeypatch.setenv("LABTRACK_HEARTBEAT_TIMEOUT", "3600")


def new_run(store, name: str = "r"):
    return store.create_run("0", "ana", int(time.time() * 1000), [], name).info.run_id


def silence(monkeypatch: pytest.MonkeyPatch) -> None:
    """No heartbeat for longer than a short timeout (and than a store's wait between two
    looks, timeout / 4). The server of the RestStore runs in this process: it reads the
    same environment."""
    monkeypatch.setenv("LABTRACK_HEARTBEAT_TIMEOUT", str(TIMEOUT))
    time.sleep(TIMEOUT * 2)


def patient(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABTRACK_HEARTBEAT_TIMEOUT", "3600")


def test_a_run_whose_heartbeat_stops_shows_as_crashed(store, monkeypatch) -> None:
    run_id = new_run(store)
    store.log_batch(run_id, [Metric("loss", 0.5, 1, 0)])
    store.heartbeat([run_id])
    assert store.get_run(run_id).info.status == RunStatus.RUNNING
    silence(monkeypatch)
    run = store.get_run(run_id)
    assert run.info.status == RunStatus.KILLED
    assert run.data.tags[LABTRACK_CRASHED] == "true"
    assert run.crashed
    assert run.info.start_time <= run.info.end_time <= int(time.time() * 1000) - TIMEOUT * 1000
    assert run.data.metrics["loss"] == 0.5  # what it logged is kept
    for found in (
        "attributes.status = 'KILLED'",
        f"tags.{LABTRACK_CRASHED} = 'true'",
    ):
        hits = store.search_runs(["0"], found, 1, 10, None, None)
        assert [r.info.run_id for r in hits] == [run_id], found
    assert store.search_runs(["0"], "attributes.status = 'RUNNING'", 1, 10, None, None) == []


def test_a_run_that_never_sent_a_heartbeat_is_never_marked(store, monkeypatch) -> None:
    """As an MLflow client's runs, or an older labtrack's."""
    quiet = new_run(store, "quiet")
    store.log_batch(quiet, [Metric("loss", 0.5, 1, 0)])
    silence(monkeypatch)
    assert store.get_run(quiet).info.status == RunStatus.RUNNING
    assert not store.get_run(quiet).crashed


def test_a_heartbeat_can_ride_on_logged_data(store, monkeypatch) -> None:
    beating, quiet = new_run(store, "beating"), new_run(store, "quiet")
    store.log_batch(beating, [Metric("loss", 0.5, 1, 0)], heartbeat=True)
    store.log_batch(quiet, [Metric("loss", 0.5, 1, 0)])
    silence(monkeypatch)
    assert store.get_run(beating).crashed
    assert store.get_run(quiet).info.status == RunStatus.RUNNING


def test_a_heartbeat_after_the_mark_runs_the_run_again(store, monkeypatch) -> None:
    """Its process was only out of touch (a laptop asleep, a network cut)."""
    run_id = new_run(store)
    store.heartbeat([run_id])
    silence(monkeypatch)
    assert store.get_run(run_id).crashed
    patient(monkeypatch)
    store.heartbeat([run_id])
    run = store.get_run(run_id)
    assert (run.info.status, run.info.end_time) == (RunStatus.RUNNING, None)
    assert LABTRACK_CRASHED not in run.data.tags


def test_ending_or_resuming_a_crashed_run_clears_the_mark(store, monkeypatch) -> None:
    run_id = new_run(store)
    store.heartbeat([run_id])
    silence(monkeypatch)
    assert store.get_run(run_id).crashed
    store.update_run_info(run_id, RunStatus.FINISHED, int(time.time() * 1000), None)
    run = store.get_run(run_id)
    assert run.info.status == RunStatus.FINISHED
    assert LABTRACK_CRASHED not in run.data.tags
    # Resumed (by a client that may send no heartbeats): not marked on the old ones.
    store.update_run_info(run_id, RunStatus.RUNNING, None, None)
    silence(monkeypatch)
    assert store.get_run(run_id).info.status == RunStatus.RUNNING


def test_heartbeats_of_ended_and_unknown_runs(store, monkeypatch) -> None:
    run_id = new_run(store)
    store.heartbeat([run_id])
    store.update_run_info(run_id, RunStatus.FINISHED, int(time.time() * 1000), None)
    store.heartbeat([run_id])  # a late one, as the process ends: ignored
    silence(monkeypatch)
    assert store.get_run(run_id).info.status == RunStatus.FINISHED
    with pytest.raises(ResourceDoesNotExist):
        store.heartbeat(["0123456789abcdef0123456789abcdef"])


def test_stores_sharing_a_database_mark_a_run_once(
    db_uri: str, artifact_root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whoever reads runs marks them (no sweeper): several stores at once, as several
    server processes or embedded clients would, agree, and none fails."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from labtrack.store.sql.store import SqlStore

    stores = [SqlStore(db_uri, artifact_root) for _ in range(4)]
    run_ids = [new_run(stores[0], f"r{i}") for i in range(5)]
    stores[1].heartbeat(run_ids)
    silence(monkeypatch)
    start = threading.Barrier(len(stores))

    def read(store: SqlStore) -> list[bool]:
        start.wait()
        return [r.crashed for r in store.search_runs(["0"], None, 1, 10, None, None)]

    with ThreadPoolExecutor(len(stores)) as pool:
        seen = list(pool.map(read, stores))
    assert seen == [[True] * len(run_ids)] * len(stores)
