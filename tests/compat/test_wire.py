"""The raw JSON of labtrack's server, field by field, as MLflow's server sends it.

The expected shapes below were taken from MLflow 3.17's own server (``mlflow server``,
SQLite store, proxied artifacts) for the same requests; the ``test_side_by_side_*``
tests repeat that comparison live, for some 60 requests, when an MLflow server can be
started (slow; set ``LABTRACK_TEST_MLFLOW_BIN`` to its ``mlflow`` executable if it is
not found in bench/.work/mlflow-venv or /tmp/mlref).

A shape is a response with every value replaced by its JSON type, lists by the set of
their items' shapes. The known differences: ``MLFLOW_ONLY_FIELDS``,
``LABTRACK_ONLY_FIELDS``, a logged model's ``info.lifecycle_stage`` (a labtrack
addition) and infinities (MLflow's SQL store keeps the largest finite double instead).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from compat._support import MLFLOW_MISSING

pytest.importorskip("mlflow", reason=MLFLOW_MISSING)

API = "/api/2.0/mlflow"
# Fields MLflow 3.17's server adds that labtrack does not send: experiments' "workspace"
# (MLflow's multi-workspace mode) and errors' "sqlstate"/"error_class" (which the client
# otherwise derives from error_code). Reported; nothing in the client needs them.
MLFLOW_ONLY_FIELDS = frozenset({"workspace", "sqlstate", "error_class"})
# labtrack's documented extension: each metric's min, max and count in a run's data.
LABTRACK_ONLY_FIELDS = frozenset({"metric_summaries"})
MISSING_RUN = "0123456789abcdef0123456789abcdef"

TAG = {"key": "str", "value": "str"}
EXPERIMENT = {
    "artifact_location": "str",
    "creation_time": "int",
    "experiment_id": "str",
    "last_update_time": "int",
    "lifecycle_stage": "str",
    "name": "str",
}
RUN_INFO = {
    "artifact_uri": "str",
    "experiment_id": "str",
    "lifecycle_stage": "str",
    "run_id": "str",
    "run_name": "str",
    "run_uuid": "str",
    "start_time": "int",
    "status": "str",
    "user_id": "str",
}
METRIC = {"key": "str", "step": "int", "timestamp": "int", "value": "float"}
NAN_METRIC = {**METRIC, "value": "NaN"}
TAG_AB = {"key": "a", "value": "b"}


def shape(value: Any) -> Any:
    """``value`` with every scalar replaced by its JSON type (NaN and infinities kept)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return _distinct([shape(item) for item in value])
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return value if value in ("NaN", "Infinity", "-Infinity") else "str"
    return "null" if value is None else type(value).__name__


def _distinct(shapes: list[Any]) -> list[Any]:
    unique = {json.dumps(s, sort_keys=True): s for s in shapes}
    return [unique[k] for k in sorted(unique)]


def without(value: Any, fields: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {k: without(v, fields) for k, v in value.items() if k not in fields}
    if isinstance(value, list):
        return [without(v, fields) for v in value]
    return value


def _items(*shapes: Any) -> list[Any]:
    return _distinct(list(shapes))


# -- a small client that records what each server answered ---------------------------------------
class Wire:
    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=30)

    def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        response = self.http.request(
            method, path if path.startswith("/") else f"{API}/{path}", **kwargs
        )
        return response.status_code, response.json()

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        status, body = self.call(method, path, **kwargs)
        assert status == 200, body
        return body


@pytest.fixture
def wire(tracking_server: str) -> Iterator[Wire]:
    w = Wire(tracking_server)
    yield w
    w.http.close()


@pytest.fixture
def exp(wire: Wire) -> str:
    name = f"wire-{uuid.uuid4().hex}"
    return str(wire.ok("POST", "experiments/create", json={"name": name})["experiment_id"])


def _new_run(wire: Wire, exp: str, **extra: Any) -> str:
    body = {"experiment_id": exp, "start_time": 1_700_000_000_000, **extra}
    return str(wire.ok("POST", "runs/create", json=body)["run"]["info"]["run_id"])


def _shape_of(body: Any) -> Any:
    """The shape of a response, without the fields only one of the two servers sends."""
    return shape(without(body, LABTRACK_ONLY_FIELDS | MLFLOW_ONLY_FIELDS))


# -- shapes ---------------------------------------------------------------------------------
def test_experiments_create_get(wire: Wire) -> None:
    name = f"wire-{uuid.uuid4().hex}"
    created = wire.ok("POST", "experiments/create", json={"name": name, "tags": [TAG_AB]})
    assert _shape_of(created) == {"experiment_id": "str"}
    experiment_id = created["experiment_id"]
    got = wire.ok("GET", "experiments/get", params={"experiment_id": experiment_id})
    assert _shape_of(got) == {"experiment": {**EXPERIMENT, "tags": [TAG]}}
    assert got["experiment"]["artifact_location"] == f"mlflow-artifacts:/{experiment_id}"
    assert got["experiment"]["tags"] == [TAG_AB]
    assert got["experiment"]["lifecycle_stage"] == "active"
    by_name = wire.ok("GET", "experiments/get-by-name", params={"experiment_name": name})
    assert by_name == got


def test_experiments_search(wire: Wire) -> None:
    prefix = f"wire-{uuid.uuid4().hex}"
    for i in range(2):
        wire.ok("POST", "experiments/create", json={"name": f"{prefix}-{i}"})
    body = {"filter": f"name LIKE '{prefix}-%'", "max_results": 1, "order_by": ["name"]}
    first = wire.ok("POST", "experiments/search", json=body)
    assert _shape_of(first) == {"experiments": [EXPERIMENT], "next_page_token": "str"}
    second = wire.ok(
        "POST", "experiments/search", json={**body, "page_token": first["next_page_token"]}
    )
    assert [e["name"] for e in first["experiments"] + second["experiments"]] == [
        f"{prefix}-0",
        f"{prefix}-1",
    ]
    # GET takes the same fields as query parameters.
    params = {"filter": f"name LIKE '{prefix}-%'", "max_results": 5}
    assert _shape_of(wire.ok("GET", "experiments/search", params=params)) == {
        "experiments": [EXPERIMENT]
    }
    # Nothing found: protobuf JSON leaves the empty list out.
    nothing = {"filter": f"name = '{prefix}-none'", "max_results": 5}
    assert wire.ok("POST", "experiments/search", json=nothing) == {}


def test_runs_create(wire: Wire, exp: str) -> None:
    body = {
        "experiment_id": exp,
        "user_id": "someone",
        "run_name": "named",
        "start_time": 1_700_000_000_000,
        "tags": [{"key": "t", "value": "v"}],
    }
    created = wire.ok("POST", "runs/create", json=body)
    # No "outputs" here, unlike runs/get and runs/search: MLflow's server leaves it out.
    assert _shape_of(created) == {"run": {"data": {"tags": [TAG]}, "info": RUN_INFO, "inputs": {}}}
    info = created["run"]["info"]
    run_id = info["run_id"]
    assert info == {
        "run_id": run_id,
        "run_uuid": run_id,
        "run_name": "named",
        "experiment_id": exp,
        "user_id": "someone",
        "status": "RUNNING",
        "start_time": 1_700_000_000_000,
        "artifact_uri": f"mlflow-artifacts:/{exp}/{run_id}/artifacts",
        "lifecycle_stage": "active",
    }
    tags = {t["key"]: t["value"] for t in created["run"]["data"]["tags"]}
    assert tags == {"t": "v", "mlflow.runName": "named"}


def test_runs_get(wire: Wire, exp: str) -> None:
    run_id = _new_run(wire, exp)
    for request in (
        (
            "runs/log-metric",
            {"run_id": run_id, "key": "m", "value": 1.5, "timestamp": 5, "step": 0},
        ),
        ("runs/log-metric", {"run_id": run_id, "key": "n", "value": "NaN", "timestamp": 5}),
        ("runs/log-parameter", {"run_id": run_id, "key": "p", "value": "1"}),
        ("runs/set-tag", {"run_id": run_id, "key": "t", "value": "v"}),
    ):
        assert wire.ok("POST", request[0], json=request[1]) == {}
    got = wire.ok("GET", "runs/get", params={"run_id": run_id})
    assert _shape_of(got) == {
        "run": {
            "data": {"metrics": _items(METRIC, NAN_METRIC), "params": [TAG], "tags": [TAG]},
            "info": RUN_INFO,
            "inputs": {},
            "outputs": {},
        }
    }
    metrics = {m["key"]: m for m in got["run"]["data"]["metrics"]}
    assert metrics["m"] == {"key": "m", "value": 1.5, "timestamp": 5, "step": 0}
    assert metrics["n"] == {"key": "n", "value": "NaN", "timestamp": 5, "step": 0}
    # run_uuid, the older name of run_id, is accepted too.
    assert wire.ok("GET", "runs/get", params={"run_uuid": run_id}) == got


def test_runs_update(wire: Wire, exp: str) -> None:
    run_id = _new_run(wire, exp)
    body = {"run_id": run_id, "status": "FINISHED", "end_time": 1_700_000_000_500}
    updated = wire.ok("POST", "runs/update", json=body)
    assert _shape_of(updated) == {"run_info": {**RUN_INFO, "end_time": "int"}}
    assert updated["run_info"]["status"] == "FINISHED"
    assert updated["run_info"]["end_time"] == 1_700_000_000_500


def test_runs_search(wire: Wire, exp: str) -> None:
    for i in range(3):
        run_id = _new_run(wire, exp)
        wire.ok(
            "POST",
            "runs/log-metric",
            json={"run_id": run_id, "key": "m", "value": i, "timestamp": 1},
        )
    body = {"experiment_ids": [exp], "max_results": 2, "order_by": ["metrics.m DESC"]}
    first = wire.ok("POST", "runs/search", json=body)
    run_shape = {
        "data": {"metrics": [METRIC], "tags": [TAG]},
        "info": RUN_INFO,
        "inputs": {},
        "outputs": {},
    }
    assert _shape_of(first) == {"runs": [run_shape], "next_page_token": "str"}
    assert [r["data"]["metrics"][0]["value"] for r in first["runs"]] == [2.0, 1.0]
    second = wire.ok("POST", "runs/search", json={**body, "page_token": first["next_page_token"]})
    assert _shape_of(second) == {"runs": [run_shape]}
    assert wire.ok("POST", "runs/search", json={**body, "filter": "metrics.m > 5"}) == {}


def test_metrics_get_history(wire: Wire, exp: str) -> None:
    run_id = _new_run(wire, exp)
    metrics = [{"key": "h", "value": float(i), "timestamp": 10 + i, "step": i} for i in range(5)]
    metrics.append({"key": "h", "value": "NaN", "timestamp": 20, "step": 5})
    assert wire.ok("POST", "runs/log-batch", json={"run_id": run_id, "metrics": metrics}) == {}
    params = {"run_id": run_id, "metric_key": "h"}
    history = wire.ok("GET", "metrics/get-history", params=params)
    assert _shape_of(history) == {"metrics": _items(METRIC, NAN_METRIC)}
    assert history["metrics"] == metrics
    page = wire.ok("GET", "metrics/get-history", params={**params, "max_results": 4})
    assert _shape_of(page) == {"metrics": [METRIC], "next_page_token": "str"}
    rest = wire.ok(
        "GET",
        "metrics/get-history",
        params={**params, "max_results": 4, "page_token": page["next_page_token"]},
    )
    assert page["metrics"] + rest["metrics"] == metrics
    assert "next_page_token" not in rest
    assert wire.ok("GET", "metrics/get-history", params={**params, "metric_key": "none"}) == {}


def test_metrics_bulk_interval(wire: Wire, exp: str) -> None:
    """What MLflow's UI asks (MLflow serves it under /ajax-api/ only; labtrack also under
    /api/2.11/, where the endpoint table puts it)."""
    run_ids = [_new_run(wire, exp) for _ in range(2)]
    for run_id in run_ids:
        metrics = [{"key": "b", "value": i, "timestamp": 1, "step": i} for i in range(10)]
        wire.ok("POST", "runs/log-batch", json={"run_id": run_id, "metrics": metrics})
    params = {"run_ids": run_ids, "metric_key": "b", "max_results": 3}
    got = wire.ok("GET", "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval", params=params)
    assert _shape_of(got) == {"metrics": [{**METRIC, "run_id": "str"}]}
    for run_id in run_ids:
        steps = [m["step"] for m in got["metrics"] if m["run_id"] == run_id]
        assert len(steps) == 3
        assert (steps[0], steps[-1]) == (0, 9)  # the ends are always kept
    everything = wire.ok(
        "GET",
        "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval",
        params={"run_ids": run_ids[0], "metric_key": "b", "start_step": 2, "end_step": 4},
    )
    assert [m["step"] for m in everything["metrics"]] == [2, 3, 4]
    # max_results goes up to 2,500 (MLflow's MAX_RESULTS_PER_RUN).
    wire.ok(
        "GET",
        "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval",
        params={"run_ids": run_ids[0], "metric_key": "b", "max_results": 2500},
    )
    status, error = wire.call(
        "GET",
        "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval",
        params={"run_ids": run_ids[0], "metric_key": "b", "max_results": 2501},
    )
    assert (status, error["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert (
        wire.ok(
            "GET",
            "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval",
            params={"run_ids": run_ids[0], "metric_key": "none"},
        )
        == {}
    )


def test_artifacts_list(wire: Wire, exp: str) -> None:
    run_id = _new_run(wire, exp)
    root = f"mlflow-artifacts:/{exp}/{run_id}/artifacts"
    assert wire.ok("GET", "artifacts/list", params={"run_id": run_id}) == {"root_uri": root}
    upload = f"/api/2.0/mlflow-artifacts/artifacts/{exp}/{run_id}/artifacts/dir/file.txt"
    wire.http.put(upload, content=b"12345").raise_for_status()
    listed = wire.ok("GET", "artifacts/list", params={"run_id": run_id})
    assert listed == {"root_uri": root, "files": [{"path": "dir", "is_dir": True}]}
    inner = wire.ok("GET", "artifacts/list", params={"run_id": run_id, "path": "dir"})
    assert inner == {
        "root_uri": root,
        "files": [{"path": "dir/file.txt", "is_dir": False, "file_size": 5}],
    }


def test_error_missing_run(wire: Wire) -> None:
    status, body = wire.call("GET", "runs/get", params={"run_id": MISSING_RUN})
    assert status == 404
    assert without(body, MLFLOW_ONLY_FIELDS) == {
        "error_code": "RESOURCE_DOES_NOT_EXIST",
        "message": f"Run with id={MISSING_RUN} not found",
    }


def test_error_param_overwrite(wire: Wire, exp: str) -> None:
    run_id = _new_run(wire, exp)
    wire.ok("POST", "runs/log-parameter", json={"run_id": run_id, "key": "p", "value": "1"})
    status, body = wire.call(
        "POST", "runs/log-parameter", json={"run_id": run_id, "key": "p", "value": "2"}
    )
    assert status == 400
    assert without(body, MLFLOW_ONLY_FIELDS) == {
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": (
            "Changing param values is not allowed. Param with key='p' was already logged with "
            f"value='1' for run ID='{run_id}'. Attempted logging new value '2'."
        ),
    }


def test_error_missing_field(wire: Wire, exp: str) -> None:
    run_id = _new_run(wire, exp)
    status, body = wire.call("GET", "metrics/get-history", params={"run_id": run_id})
    assert status == 400
    assert without(body, MLFLOW_ONLY_FIELDS) == {
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": (
            "Missing value for required parameter 'metric_key'. "
            "See the API docs for more information about request parameters."
        ),
    }


def test_error_batch_limit(wire: Wire, exp: str) -> None:
    run_id = _new_run(wire, exp)
    metrics = [{"key": "k", "value": 1, "timestamp": 1}] * 1001
    status, body = wire.call("POST", "runs/log-batch", json={"run_id": run_id, "metrics": metrics})
    assert status == 400
    assert without(body, MLFLOW_ONLY_FIELDS) == {
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": (
            "A batch logging request can contain at most 1000 metrics. Got 1001 metrics. "
            "Please split up metrics across multiple requests and try again."
        ),
    }


# -- side by side with MLflow's own server ----------------------------------------------------
def _find_mlflow_server() -> str | None:
    candidates = [os.environ.get("LABTRACK_TEST_MLFLOW_BIN")]
    repo = Path(__file__).resolve().parents[2]
    candidates += [str(repo / "bench/.work/mlflow-venv/bin/mlflow"), "/tmp/mlref/bin/mlflow"]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


@contextlib.contextmanager
def _mlflow_server(executable: str, workdir: Path) -> Iterator[str]:
    from livesrv import free_port, wait_healthy

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "_MLFLOW_"))}
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    log = open(workdir / "mlflow-server.log", "wb")  # noqa: SIM115
    cmd = [
        executable,
        "server",
        "--backend-store-uri",
        f"sqlite:///{workdir / 'mlflow.db'}",
        "--artifacts-destination",
        str(workdir / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    # Its own session: `mlflow server` starts uvicorn as a child, ended with it below.
    proc = subprocess.Popen(
        cmd, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, timeout=180, proc=proc)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        # Its job runner and huey consumers (same group) may outlive it by a moment.
        deadline = time.monotonic() + 15
        with contextlib.suppress(ProcessLookupError):
            while time.monotonic() < deadline:
                os.killpg(proc.pid, 0)
                time.sleep(0.1)
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    executable = _find_mlflow_server()
    if executable is None:
        pytest.skip("no MLflow server to compare with (set LABTRACK_TEST_MLFLOW_BIN)")
    with _mlflow_server(executable, tmp_path_factory.mktemp("mlflow-server")) as url:
        yield url


Exchange = dict[str, tuple[int, Any]]
MODEL_STEP = "model: "  # labels of the logged-model steps


def _exchange(url: str) -> Exchange:
    """The same requests, in the same order, against the server at ``url``."""
    w = Wire(url)
    out: Exchange = {}

    def record(label: str, method: str, path: str, **kwargs: Any) -> Any:
        out[label] = w.call(method, path, **kwargs)
        return out[label][1]

    def post(label: str, path: str, body: dict[str, Any]) -> Any:
        return record(label, "POST", path, json=body)

    def get(label: str, path: str, **params: Any) -> Any:
        return record(label, "GET", path, params=params)

    name = "side-by-side"
    created = post("experiments/create", "experiments/create", {"name": name, "tags": [TAG_AB]})
    exp = created["experiment_id"]
    post("experiments/create duplicate", "experiments/create", {"name": name})
    get("experiments/get", "experiments/get", experiment_id=exp)
    get("experiments/get-by-name", "experiments/get-by-name", experiment_name=name)
    get("experiments/get-by-name missing", "experiments/get-by-name", experiment_name="nope")
    search = {"filter": f"name = '{name}'", "max_results": 10}
    post("experiments/search", "experiments/search", search)
    post("experiments/search none", "experiments/search", {**search, "filter": "name = 'x'"})
    post(
        "experiments/set-tag",
        "experiments/set-experiment-tag",
        {"experiment_id": exp, "key": "k", "value": "v"},
    )
    post(
        "experiments/delete-tag",
        "experiments/delete-experiment-tag",
        {"experiment_id": exp, "key": "a"},
    )
    post(
        "experiments/update", "experiments/update", {"experiment_id": exp, "new_name": name + "-2"}
    )
    get("experiments/get updated", "experiments/get", experiment_id=exp)

    new_run = {
        "experiment_id": exp,
        "start_time": 1_700_000_000_000,
        "run_name": "r",
        "tags": [{"key": "mlflow.user", "value": "u"}],
        "user_id": "u",
    }
    run = post("runs/create", "runs/create", new_run)["run"]["info"]["run_id"]
    for i, value in enumerate([1.0, "NaN", "Infinity", 2]):
        point = {"run_id": run, "key": "m", "value": value, "timestamp": 100 + i, "step": i}
        post(f"runs/log-metric {i}", "runs/log-metric", point)
    param = {"run_id": run, "key": "p", "value": "1"}
    post("runs/log-parameter", "runs/log-parameter", param)
    post("runs/log-parameter overwrite", "runs/log-parameter", {**param, "value": "2"})
    post("runs/set-tag", "runs/set-tag", {"run_id": run, "key": "t", "value": "v"})
    post("runs/set-tag 2", "runs/set-tag", {"run_id": run, "key": "t2", "value": "v"})
    post("runs/delete-tag", "runs/delete-tag", {"run_id": run, "key": "t2"})
    metric = {"key": "b", "value": 1, "timestamp": 1, "step": 0}
    post("runs/log-batch", "runs/log-batch", {"run_id": run, "metrics": [metric]})
    post("runs/log-batch too many", "runs/log-batch", {"run_id": run, "metrics": [metric] * 1001})
    dataset = {
        "name": "d",
        "digest": "abc123",
        "source_type": "local",
        "source": '{"uri": "/data"}',
        "schema": '{"mlflow_colspec": []}',
        "profile": '{"num_rows": 3}',
    }
    context = {"key": "mlflow.data.context", "value": "train"}
    post(
        "runs/log-inputs",
        "runs/log-inputs",
        {"run_id": run, "datasets": [{"dataset": dataset, "tags": [context]}]},
    )
    get("runs/get", "runs/get", run_id=run)
    get("runs/get missing", "runs/get", run_id=MISSING_RUN)
    get("runs/get no id", "runs/get")
    runs = {"experiment_ids": [exp], "max_results": 10}
    post("runs/search", "runs/search", runs)
    post("runs/search none", "runs/search", {**runs, "filter": "metrics.m > 100"})
    post("runs/search bad filter", "runs/search", {**runs, "filter": "metrics.m >"})
    post("runs/search datasets", "runs/search", {**runs, "filter": "datasets.name = 'd'"})
    get("metrics/get-history", "metrics/get-history", run_id=run, metric_key="m")
    get(
        "metrics/get-history paged",
        "metrics/get-history",
        run_id=run,
        metric_key="m",
        max_results=2,
    )
    get("metrics/get-history none", "metrics/get-history", run_id=run, metric_key="x")
    get(
        "bulk-interval",
        "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval",
        run_ids=run,
        metric_key="m",
        max_results=2,
    )
    get("artifacts/list", "artifacts/list", run_id=run)
    end = {"run_id": run, "status": "FINISHED", "end_time": 1_700_000_001_000}
    post("runs/update", "runs/update", end)
    post("runs/delete", "runs/delete", {"run_id": run})
    post("runs/set-tag deleted", "runs/set-tag", {"run_id": run, "key": "x", "value": "y"})
    post("runs/restore", "runs/restore", {"run_id": run})

    # MLflow 3's logged models, as mlflow.<flavor>.log_model drives them.
    model = post(
        MODEL_STEP + "create",
        "logged-models",
        {
            "experiment_id": exp,
            "name": "model",
            "model_type": "sklearn",
            "source_run_id": run,
            "params": [{"key": "alpha", "value": "0.5"}],
            "tags": [{"key": "mlflow.source.type", "value": "LOCAL"}],
        },
    )
    model_id = model.get("model", {}).get("info", {}).get("model_id", "m-missing")
    ready = {"model_id": model_id, "status": "LOGGED_MODEL_READY"}
    record(MODEL_STEP + "finalize", "PATCH", f"logged-models/{model_id}", json=ready)
    tags = {"model_id": model_id, "tags": [{"key": "k", "value": "v"}]}
    record(MODEL_STEP + "set tags", "PATCH", f"logged-models/{model_id}/tags", json=tags)
    outputs = {"run_id": run, "models": [{"model_id": model_id, "step": 0}]}
    post(MODEL_STEP + "runs/outputs", "runs/outputs", outputs)
    point = {"run_id": run, "key": "mm", "value": 0.5, "timestamp": 5, "step": 0}
    post(MODEL_STEP + "log-metric", "runs/log-metric", {**point, "model_id": model_id})
    get(MODEL_STEP + "get", f"logged-models/{model_id}")
    models = {"experiment_ids": [exp], "filter": "name = 'model'", "max_results": 10}
    post(MODEL_STEP + "search", "logged-models/search", models)
    post(MODEL_STEP + "search none", "logged-models/search", {**models, "filter": "name = 'x'"})
    get(MODEL_STEP + "artifacts", f"logged-models/{model_id}/artifacts/directories")
    get(MODEL_STEP + "get missing", "logged-models/m-0123456789abcdef0123456789abcdef")
    get(MODEL_STEP + "runs/get", "runs/get", run_id=run)

    post("experiments/delete", "experiments/delete", {"experiment_id": exp})
    get("experiments/get deleted", "experiments/get", experiment_id=exp)
    get("experiments/get missing", "experiments/get", experiment_id="99999")
    w.http.close()
    return out


def _as_mlflow_stores_it(value: Any) -> Any:
    """MLflow's SQL store turns infinities into the largest finite doubles; labtrack keeps
    them (a deliberate difference: test_fluent.py::test_infinities_are_kept)."""
    if isinstance(value, dict):
        return {k: _as_mlflow_stores_it(v) for k, v in value.items()}
    if isinstance(value, list):
        return _distinct([_as_mlflow_stores_it(v) for v in value])
    return "float" if value in ("Infinity", "-Infinity") else value


def _without_labtrack_extensions(body: Any) -> Any:
    body = without(body, LABTRACK_ONLY_FIELDS)
    if isinstance(body, dict):
        # A logged model's info.lifecycle_stage: labtrack's documented addition.
        for model in [body.get("model"), *(body.get("models") or [])]:
            if isinstance(model, dict) and isinstance(model.get("info"), dict):
                model["info"].pop("lifecycle_stage", None)
    return body


@pytest.fixture(scope="module")
def exchanges(tracking_server: str, mlflow_server: str) -> tuple[Exchange, Exchange]:
    return _exchange(tracking_server), _exchange(mlflow_server)


def _differences(exchanges: tuple[Exchange, Exchange], models: bool) -> list[str]:
    ours, theirs = exchanges
    assert ours.keys() == theirs.keys()
    found = []
    for label in ours:
        if label.startswith(MODEL_STEP) != models:
            continue
        (our_status, our_body), (their_status, their_body) = ours[label], theirs[label]
        our_shape = _as_mlflow_stores_it(shape(_without_labtrack_extensions(our_body)))
        their_shape = shape(without(their_body, MLFLOW_ONLY_FIELDS))
        if our_status != their_status or our_shape != their_shape:
            found.append(
                f"{label}:\n  labtrack {our_status} {json.dumps(our_shape, sort_keys=True)}\n"
                f"  MLflow   {their_status} {json.dumps(their_shape, sort_keys=True)}"
            )
        elif our_status != 200 and our_body["error_code"] != their_body["error_code"]:
            found.append(
                f"{label}: labtrack {our_body['error_code']}, MLflow {their_body['error_code']}"
            )
    return found


@pytest.mark.slow
@pytest.mark.labtrack_only
def test_side_by_side_tracking(exchanges: tuple[Exchange, Exchange]) -> None:
    differences = _differences(exchanges, models=False)
    assert not differences, "\n".join(differences)


@pytest.mark.slow
@pytest.mark.labtrack_only
def test_side_by_side_logged_models(exchanges: tuple[Exchange, Exchange]) -> None:
    differences = _differences(exchanges, models=True)
    assert not differences, "\n".join(differences)
