"""The REST store's transport policy: retries, idempotency, auth, and MLflow-server fallback.

The contract (what each call does) is tested with every store in test_store_contract.py;
here the seams are the network's: a server that goes away, answers 503, or is MLflow's.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

import labtrack as lt
from labtrack.entities import Metric, Param, RunTag
from labtrack.errors import TemporarilyUnavailable
from labtrack.store.rest import RestStore
from labtrack.validation import (
    MAX_BULK_METRIC_KEYS,
    MAX_BULK_METRIC_POINTS,
    MAX_BULK_PARAMS,
    MAX_BULK_TAGS,
    MAX_BULK_TEXT,
)
from livesrv import free_port, serve_in_process


class Recorder:
    """A fake server: answers from a function and keeps every request it saw."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self.answer(request, len(self.requests))

    def bodies(self, path_end: str) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests if r.url.path.endswith(path_end)]


def mlflow_like(request: httpx.Request, _n: int) -> httpx.Response:
    """An MLflow server: no labtrack endpoints, log-batch accepted."""
    if request.url.path.startswith("/api/2.0/labtrack"):
        return httpx.Response(404, text="<html>Not Found</html>")
    return httpx.Response(200, json={})


def test_against_an_mlflow_server_batches_respect_mlflow_limits() -> None:
    fake = Recorder(mlflow_like)
    store = RestStore("http://mlflow.example", transport=httpx.MockTransport(fake))
    metrics = [Metric("m", float(i), 1, i) for i in range(2500)]
    params = [Param(f"p{i}", "v") for i in range(150)]
    tags = [RunTag(f"t{i}", "v") for i in range(30)]
    store.log_batch("abc", metrics, params, tags)
    batches = fake.bodies("/runs/log-batch")
    assert sum(len(b["metrics"]) for b in batches) == 2500
    assert sum(len(b["params"]) for b in batches) == 150
    assert sum(len(b["tags"]) for b in batches) == 30
    for b in batches:
        assert len(b["metrics"]) <= 1000
        assert len(b["params"]) <= 100
        assert len(b["tags"]) <= 100
        assert len(b["metrics"]) + len(b["params"]) + len(b["tags"]) <= 1000
        assert len(json.dumps(b)) < 1_000_000
    steps = [m["step"] for b in batches for m in b["metrics"]]
    assert steps == list(range(2500))  # order kept


def test_unavailable_answers_are_retried_with_backoff() -> None:
    def flaky(request: httpx.Request, n: int) -> httpx.Response:
        if n <= 2:
            return httpx.Response(503, headers={"Retry-After": "0"}, text="busy")
        return httpx.Response(200, json={"experiment_id": "7"})

    fake = Recorder(flaky)
    store = RestStore("http://x", transport=httpx.MockTransport(fake))
    assert store.create_experiment("e") == "7"
    assert len(fake.requests) == 3


def test_connection_lost_mid_request_retries_only_idempotent_calls() -> None:
    calls: list[str] = []

    def dropping(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        raise httpx.ReadError("connection reset by peer", request=request)

    store = RestStore("http://x", transport=httpx.MockTransport(dropping))
    with pytest.raises(TemporarilyUnavailable, match="Lost the connection"):
        store.create_experiment("e")  # may have been applied: not retried
    assert len(calls) == 1
    calls.clear()
    with pytest.raises(
        TemporarilyUnavailable,
        match="Lost the connection to the tracking server at http://x during GET",
    ):
        store.get_experiment("1")  # a read: retried
    assert len(calls) > 1


def test_bulk_retries_carry_the_same_request_id() -> None:
    def lossy(request: httpx.Request, n: int) -> httpx.Response:
        path = request.url.path
        if path.endswith("/server-info"):
            return httpx.Response(200, json={"capabilities": ["runs/log-bulk"]})
        if n == 2:  # the first bulk attempt is "lost"
            raise httpx.ReadError("reset", request=request)
        return httpx.Response(200, json={"metrics": 1, "params": 0, "tags": 0})

    fake = Recorder(lossy)
    store = RestStore("http://x", transport=httpx.MockTransport(fake))
    store.log_batch("abc", [Metric("m", 1.0, 1, 0)])
    ids = [b["request_id"] for b in fake.bodies("/runs/log-bulk")]
    assert len(ids) == 2
    assert ids[0] == ids[1]


def labtrack_like(request: httpx.Request, _n: int) -> httpx.Response:
    """A labtrack server that accepts every bulk request."""
    if request.url.path.endswith("/server-info"):
        return httpx.Response(200, json={"capabilities": ["runs/log-bulk"]})
    return httpx.Response(200, json={"metrics": 0, "params": 0, "tags": 0})


def test_a_large_batch_is_sent_in_requests_within_the_bulk_limits() -> None:
    fake = Recorder(labtrack_like)
    store = RestStore("http://labtrack.example", transport=httpx.MockTransport(fake))
    metrics = [Metric("loss", float(i), 1, i) for i in range(450_000)]
    metrics += [Metric(f"class{i}", 0.5, 1, 0) for i in range(2500)]
    params = [Param(f"p{i}", "v" * 500) for i in range(2500)]  # 1.26 M characters
    tags = [RunTag(f"t{i}", "v") for i in range(1200)]
    store.log_batch("abc", metrics, params, tags, request_id="batch")
    bodies = fake.bodies("/runs/log-bulk")
    for body in bodies:
        columns = body.get("metrics", {"keys": [], "key_index": []})
        some_params, some_tags = body.get("params", []), body.get("tags", [])
        assert len(columns["key_index"]) <= MAX_BULK_METRIC_POINTS
        assert len(set(columns["key_index"])) <= MAX_BULK_METRIC_KEYS
        assert len(some_params) <= MAX_BULK_PARAMS
        assert len(some_tags) <= MAX_BULK_TAGS
        text = sum(len(i["key"]) + len(i["value"]) for i in [*some_params, *some_tags])
        assert text <= MAX_BULK_TEXT
    assert [b["request_id"] for b in bodies] == [f"batch-{n}" for n in range(len(bodies))]
    sent = [
        (b["metrics"]["keys"][k], step)
        for b in bodies
        if "metrics" in b
        for k, step in zip(b["metrics"]["key_index"], b["metrics"]["steps"], strict=True)
    ]
    assert sent == [(m.key, m.step) for m in metrics]  # every point, in order
    assert [p["key"] for b in bodies for p in b.get("params", [])] == [p.key for p in params]
    assert [t["key"] for b in bodies for t in b.get("tags", [])] == [t.key for t in tags]
    assert len(bodies) == 5  # 450,000 points of one key, 2,500 of new keys, 1,000 at a time


def test_a_batch_over_every_bulk_limit_is_stored_whole_by_a_real_server(tmp_path: Path) -> None:
    from livesrv import serve_in_thread

    with serve_in_thread(f"sqlite:///{tmp_path / 'db.db'}", str(tmp_path / "artifacts")) as url:
        store = RestStore(url)
        run_id = store.create_run("0", "u", 1, [], "big").info.run_id
        metrics = [Metric(f"m{i}", float(i), 1, 0) for i in range(2100)]
        params = [Param(f"p{i}", "v" * 900) for i in range(1500)]  # 1.35 M characters
        tags = [RunTag(f"t{i}", "v") for i in range(1100)]
        store.log_batch(run_id, metrics, params, tags)
        data = store.get_run(run_id).data
    assert (len(data.metrics), len(data.params)) == (2100, 1500)
    assert {f"t{i}" for i in range(1100)} <= set(data.tags)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"MLFLOW_TRACKING_TOKEN": "tok"}, "Bearer tok"),
        ({"LABTRACK_TRACKING_TOKEN": "lt", "MLFLOW_TRACKING_TOKEN": "ml"}, "Bearer lt"),
        (
            {"MLFLOW_TRACKING_USERNAME": "ana", "MLFLOW_TRACKING_PASSWORD": "pw"},
            "Basic " + base64.b64encode(b"ana:pw").decode(),
        ),
        ({}, None),
    ],
)
def test_auth_headers_are_sent_as_mlflow_sends_them(monkeypatch, env, expected) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    fake = Recorder(lambda r, n: httpx.Response(200, json={"experiment_id": "1"}))
    RestStore("http://x", transport=httpx.MockTransport(fake)).create_experiment("e")
    assert fake.requests[0].headers.get("Authorization") == expected


def test_unreachable_server_is_a_clear_error() -> None:
    port = free_port()
    client = lt.TrackingClient(f"http://127.0.0.1:{port}")
    assert isinstance(client.store, RestStore)
    client.store.http.retries = 1
    client.store.http.backoff = 0.01
    with pytest.raises(
        TemporarilyUnavailable, match=f"Cannot reach the tracking server at http://127.0.0.1:{port}"
    ):
        client.get_experiment("0")


def test_training_survives_a_server_restart(tmp_path: Path) -> None:
    """The server goes away mid-training and comes back: every point arrives, once."""
    port = free_port()
    db = f"sqlite:///{tmp_path / 'db.db'}"
    url = f"http://127.0.0.1:{port}"
    with serve_in_process(db, tmp_path / "artifacts", port=port, forget_clients=False):
        lt.set_tracking_uri(url)
        run = lt.start_run()
        for i in range(1000):
            lt.log_metric("loss", float(i), step=i)
        lt.flush()
    # The server is down now. Logging goes on; the queue keeps retrying.
    done = threading.Event()

    def train() -> None:
        for i in range(1000, 3000):  # runs are per thread: name the run
            lt.log_metric("loss", float(i), step=i, run_id=run.info.run_id)
        done.set()

    trainer = threading.Thread(target=train)
    trainer.start()
    time.sleep(1.0)
    with serve_in_process(db, tmp_path / "artifacts", port=port):
        trainer.join(timeout=60)
        assert done.is_set()
        lt.end_run()
        history = lt.TrackingClient(url).get_metric_history(run.info.run_id, "loss")
        assert [m.step for m in history] == list(range(3000))
        assert lt.get_run(run.info.run_id).info.status == "FINISHED"
