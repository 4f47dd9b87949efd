"""Several server processes share one PostgreSQL database and artifact store.

A client whose requests alternate between two servers (as behind a load balancer)
sees one consistent tracking store: nothing one process needs lives only in
another's memory.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from databases import fresh_database
from labtrack.entities import Metric, Param
from labtrack.errors import InvalidParameterValue, PermissionDenied
from labtrack.store.rest import RestStore
from livesrv import serve_in_process


class RoundRobin(httpx.BaseTransport):
    """Sends each request to the next server in turn."""

    def __init__(self, urls: list[str]) -> None:
        self._targets = itertools.cycle([httpx.URL(u) for u in urls])
        self._lock = threading.Lock()
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            target = next(self._targets)
        request.url = request.url.copy_with(host=target.host, port=target.port)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[RestStore]:
    with fresh_database("postgresql", tmp_path) as db:
        artifacts = tmp_path / "artifacts"
        # Behind a load balancer the servers are reached by its name: they must know it
        # (LABTRACK_SERVER_ALLOWED_HOSTS, read by `labtrack server` and its workers).
        env = {"LABTRACK_SERVER_ALLOWED_HOSTS": "balanced.invalid"}
        with (
            serve_in_process(db, artifacts, extra_env=env) as a,
            serve_in_process(db, artifacts, workers=2, extra_env=env) as b,
        ):
            transport = RoundRobin([a, b])
            store = RestStore("http://balanced.invalid", transport=transport)
            yield store
            store.http.close()


def test_two_servers_one_database(two_servers: RestStore) -> None:
    store = two_servers
    exp = store.create_experiment("shared")
    found = store.get_experiment_by_name("shared")
    assert found is not None
    assert found.experiment_id == exp
    runs = [store.create_run(exp, "u", 1, [], f"r{i}").info.run_id for i in range(6)]
    # Every server sees every run, however the requests were spread.
    for run_id in runs:
        assert store.get_run(run_id).info.experiment_id == exp
    assert len(store.search_runs([exp], None, 1, 100, None, None)) == 6


def test_concurrent_logging_through_both_servers(two_servers: RestStore) -> None:
    store = two_servers
    run_id = store.create_run("0", "u", 1, [], "busy").info.run_id
    errors: list[Exception] = []

    def writer(offset: int) -> None:
        try:
            for batch in range(20):
                base = offset * 10_000 + batch * 100
                store.log_batch(
                    run_id, [Metric("m", float(s), 1, s) for s in range(base, base + 100)]
                )
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    steps, _, _ = store.get_metric_history_columns(run_id, "m")
    assert len(steps) == 8 * 20 * 100
    assert store.get_run(run_id).data.metric_summaries["m"].count == 16_000


def test_a_retried_bulk_request_is_applied_once_whichever_server_gets_it(
    two_servers: RestStore,
) -> None:
    store = two_servers
    run_id = store.create_run("0", "u", 1, [], "retry").info.run_id
    for _ in range(4):  # the same request, answered by alternating servers
        store.log_batch(run_id, [Metric("m", 1.0, 1, 0)], request_id="same-request")
    steps, _, _ = store.get_metric_history_columns(run_id, "m")
    assert steps == [0]


def test_the_servers_answer_only_to_their_names(two_servers: RestStore) -> None:
    assert two_servers.get_experiment_by_name("Default")  # reached as balanced.invalid
    for _ in range(3):  # every process of both servers refuses another name
        with pytest.raises(PermissionDenied, match=r"--allowed-hosts rebound\.example"):
            two_servers.http.request(
                "GET",
                "/api/2.0/mlflow/experiments/get",
                params={"experiment_id": "0"},
                headers={"Host": "rebound.example"},
            )


def test_param_immutability_holds_across_servers(two_servers: RestStore) -> None:
    store = two_servers
    run_id = store.create_run("0", "u", 1, [], "params").info.run_id
    store.log_batch(run_id, params=[Param("alpha", "1")])
    with pytest.raises(InvalidParameterValue, match="Changing param values"):
        store.log_batch(run_id, params=[Param("alpha", "2")])


def test_several_workers_answer_keep_alive_requests_without_nagle_delay(tmp_path: Path) -> None:
    """With ``--workers 2`` uvicorn binds the socket itself; without TCP_NODELAY on each
    connection every answer on a kept-alive connection waited ~40 ms for a delayed ACK
    (see labtrack/server/_serving.py). A stall delays every answer; a busy machine only
    some: the fastest quarter must come within milliseconds."""
    import statistics
    import time

    db = f"sqlite:///{tmp_path / 'nagle.db'}"
    with serve_in_process(db, tmp_path / "artifacts", workers=2) as url, httpx.Client() as http:
        latencies = []
        for _ in range(25):
            start = time.perf_counter()
            response = http.post(
                f"{url}/api/2.0/mlflow/experiments/search", json={"max_results": 10}
            )
            latencies.append(time.perf_counter() - start)
            assert response.status_code == 200
    assert statistics.quantiles(latencies, n=4)[0] < 0.03, sorted(latencies)
