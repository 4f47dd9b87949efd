"""Heavy requests are served in turn (labtrack/server/_heavy_requests.py), on a real server.

A turn is held by a bulk-logging request whose client has not finished sending its body
(the turn covers the whole exchange), so the tests decide exactly when it ends. Requests
beyond the queue, or waiting longer than allowed, get MLflow's 503 JSON with Retry-After,
and labtrack's client waits that long and tries again.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from labtrack.entities import ViewType
from labtrack.server._heavy_requests import RETRY_AFTER_SECONDS, HeavyRequestLimit
from labtrack.server.app import ServerConfig, create_app
from labtrack.store.rest import RestStore
from livesrv import serve_app_in_thread

API = "/api/2.0/mlflow"
SEARCH = {"experiment_ids": ["0"], "max_results": 10}


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Until the server reaches a state (a turn taken, a request queued)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the server did not reach the expected state")
        time.sleep(0.01)


class Server:
    def __init__(self, url: str, limit: HeavyRequestLimit) -> None:
        self.url = url
        self.limit = limit
        self.pool = ThreadPoolExecutor(8)
        self.releases: list[threading.Event] = []
        self.run_id = httpx.post(f"{url}{API}/runs/create", json={"experiment_id": "0"}).json()[
            "run"
        ]["info"]["run_id"]

    def hold_a_turn(self) -> Future[httpx.Response]:
        """A bulk-logging request that keeps its turn until :meth:`release`."""
        release = threading.Event()
        self.releases.append(release)
        body = json.dumps({"run_id": self.run_id, "params": [{"key": "p", "value": "v"}]})

        def slow_body() -> Iterator[bytes]:
            yield body[:10].encode()
            release.wait(30)
            yield body[10:].encode()

        return self.pool.submit(
            httpx.post,
            f"{self.url}/api/2.0/labtrack/runs/log-bulk",
            content=slow_body(),
            headers={"content-type": "application/json"},
            timeout=60,
        )

    def search(self) -> httpx.Response:
        return httpx.post(f"{self.url}{API}/runs/search", json=SEARCH, timeout=60)

    def release(self) -> None:
        for release in self.releases:
            release.set()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Serve with heavy-request limits of a test's choosing."""
    with contextlib.ExitStack() as stack:
        servers: list[Server] = []

        def start(**limits: Any) -> Server:
            config = ServerConfig(
                backend_store_uri=f"sqlite:///{tmp_path / 'db.db'}",
                artifacts_destination=str(tmp_path / "artifacts"),
                **limits,
            )
            app = create_app(config)
            url = stack.enter_context(serve_app_in_thread(app, config))
            servers.append(Server(url, app.state.context.heavy_requests))
            return servers[-1]

        try:
            yield start
        finally:
            for server in servers:
                server.release()
                server.pool.shutdown(wait=True)


def assert_busy(response: httpx.Response, in_progress: int = 1, waiting: int = 0) -> None:
    assert response.status_code == 503
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    body = response.json()
    assert set(body) == {"error_code", "message"}
    assert body["error_code"] == "TEMPORARILY_UNAVAILABLE"
    assert body["message"] == (
        "The server is busy with heavy requests (searches, metric histories, artifact "
        f"listings, bulk logging): {in_progress} in progress, {waiting} waiting. "
        f"Try again in {RETRY_AFTER_SECONDS} seconds"
    )


def test_beyond_the_queue_a_heavy_request_is_answered_503_at_once(
    serve: Callable[..., Server],
) -> None:
    server = serve(max_heavy_requests=1, heavy_request_queue=1, heavy_request_wait=30.0)
    holder = server.hold_a_turn()
    wait_until(lambda: server.limit.busy == 1)
    queued = server.pool.submit(server.search)
    wait_until(lambda: server.limit.waiting == 1)

    started = time.monotonic()
    assert_busy(server.search(), waiting=1)
    assert time.monotonic() - started < 10  # at once, not after the 30 s wait
    # Light requests are not held up by heavy ones.
    run = httpx.get(f"{server.url}{API}/runs/get", params={"run_id": server.run_id})
    assert run.status_code == 200
    assert not queued.done()

    server.release()
    assert holder.result(30).json() == {"metrics": 0, "params": 1, "tags": 0}
    answer = queued.result(30)  # its turn came once the holder's ended
    assert answer.status_code == 200
    assert [r["info"]["run_id"] for r in answer.json()["runs"]] == [server.run_id]
    wait_until(lambda: server.limit.busy == 0)
    assert server.limit.refused == 1


def test_a_heavy_request_waits_for_its_turn_at_most_the_queue_wait(
    serve: Callable[..., Server],
) -> None:
    server = serve(max_heavy_requests=1, heavy_request_queue=4, heavy_request_wait=0.5)
    holder = server.hold_a_turn()
    wait_until(lambda: server.limit.busy == 1)
    started = time.monotonic()
    assert_busy(server.search())
    assert time.monotonic() - started >= 0.5
    assert server.limit.waiting == 0
    server.release()
    assert holder.result(30).status_code == 200
    assert server.search().status_code == 200


def test_several_heavy_requests_run_at_once_up_to_the_limit(
    serve: Callable[..., Server],
) -> None:
    server = serve(max_heavy_requests=2, heavy_request_queue=0)
    holders = [server.hold_a_turn(), server.hold_a_turn()]
    wait_until(lambda: server.limit.busy == 2)
    assert_busy(server.search(), in_progress=2)
    server.release()
    assert [h.result(30).status_code for h in holders] == [200, 200]
    assert server.search().status_code == 200


def test_labtrack_client_waits_as_long_as_retry_after_says_and_retries(
    serve: Callable[..., Server],
) -> None:
    server = serve(max_heavy_requests=1, heavy_request_queue=0)
    holder = server.hold_a_turn()
    wait_until(lambda: server.limit.busy == 1)
    store = RestStore(server.url)
    started = time.monotonic()
    found = server.pool.submit(store.search_runs, ["0"], None, ViewType.ACTIVE_ONLY, 10, None, None)
    wait_until(lambda: server.limit.refused >= 1)
    server.release()
    assert [r.info.run_id for r in found.result(60)] == [server.run_id]
    # It waited Retry-After (2 s), not its own backoff (well under a second).
    assert time.monotonic() - started >= RETRY_AFTER_SECONDS
    assert holder.result(30).status_code == 200
