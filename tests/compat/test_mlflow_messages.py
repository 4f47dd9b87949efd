"""The same bad requests to a real MLflow 3.17 server and to labtrack's: the same status,
error code and message, where MLflow's client, its tests or its users read the message.

Also what MLflow stores where labtrack once refused (empty values), the version MLflow's
client reads from ``/version``, and the endpoints MLflow serves outside its REST API.
Skipped when no MLflow server can be started (see test_wire.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from compat._support import MLFLOW_MISSING

pytest.importorskip("mlflow", reason=MLFLOW_MISSING)

from compat.test_wire import _find_mlflow_server, _mlflow_server

API = "/api/2.0/mlflow"
AJAX = "/ajax-api/2.0/mlflow"

Answer = tuple[int, Any]


@pytest.fixture(scope="module")
def mlflow_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    executable = _find_mlflow_server()
    if executable is None:
        pytest.skip("no MLflow server to compare with (set LABTRACK_TEST_MLFLOW_BIN)")
    with _mlflow_server(executable, tmp_path_factory.mktemp("mlflow-messages")) as url:
        yield url


def _answers(url: str) -> dict[str, Answer]:
    """Each labelled bad request against the server at ``url``: (status, error JSON)."""
    http = httpx.Client(base_url=url, timeout=30)
    name = f"messages-{uuid.uuid4().hex[:8]}"
    experiment = http.post(f"{API}/experiments/create", json={"name": name}).json()
    run = http.post(f"{API}/runs/create", json={"experiment_id": experiment["experiment_id"]})
    run_id = run.json()["run"]["info"]["run_id"]
    out: dict[str, Answer] = {}

    def send(label: str, method: str, path: str, **kwargs: Any) -> None:
        response = http.request(method, path if path.startswith("/") else f"{API}/{path}", **kwargs)
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):  # MLflow adds "sqlstate"/"error_class"; not compared
            body = {k: v for k, v in body.items() if k in ("error_code", "message")}
        out[label] = (response.status_code, body)

    def post(label: str, path: str, body: dict[str, Any]) -> None:
        send(label, "POST", path, json=body)

    def get(label: str, path: str, params: Any) -> None:
        send(label, "GET", path, params=params)

    bad_chars, escaping = "bad?key", "a/../b"
    post("param key", "runs/log-parameter", {"run_id": run_id, "key": bad_chars, "value": "1"})
    post("tag key", "runs/set-tag", {"run_id": run_id, "key": escaping, "value": "1"})
    post(
        "metric key", "runs/log-metric", {"run_id": run_id, "key": "m!", "value": 1, "timestamp": 1}
    )
    post(
        "metric value",
        "runs/log-metric",
        {"run_id": run_id, "key": "m", "value": "abc", "timestamp": 1},
    )
    post("missing timestamp", "runs/log-metric", {"run_id": run_id, "key": "m", "value": 1})
    post(
        "batch param key",
        "runs/log-batch",
        {"run_id": run_id, "params": [{"key": "x?", "value": "1"}]},
    )
    post(
        "batch tag key",
        "runs/log-batch",
        {"run_id": run_id, "tags": [{"key": "ok", "value": "1"}, {"key": "a/./b", "value": "1"}]},
    )
    get("experiment id", "experiments/get", {"experiment_id": "abc"})
    get("run id", "runs/get", {"run_id": "nope"})
    for label, path in (("..", "../x"), ("absolute", "/etc")):
        get(f"list {label}", "artifacts/list", {"run_id": run_id, "path": path})
        get(f"get-artifact {label}", "/get-artifact", {"run_id": run_id, "path": path})
        get(f"proxy list {label}", "/api/2.0/mlflow-artifacts/artifacts", {"path": path})
    interval = "metrics/get-history-bulk-interval"
    get("interval runs", interval, {"run_ids": [run_id] * 101, "metric_key": "m"})
    get("interval no runs", interval, {"metric_key": "m"})
    get(
        "interval steps",
        interval,
        {"run_ids": run_id, "metric_key": "m", "start_step": 5, "end_step": 1},
    )
    get("interval one step", interval, {"run_ids": run_id, "metric_key": "m", "start_step": 5})
    get("interval max", interval, {"run_ids": run_id, "metric_key": "m", "max_results": 3000})
    bulk = f"{AJAX}/metrics/get-history-bulk"
    get("bulk no runs", bulk, {"metric_key": "m"})
    get("bulk no key", bulk, {"run_id": run_id})
    get("bulk runs", bulk, {"run_id": [run_id] * 101, "metric_key": "m"})
    post("datasets none", f"{AJAX}/experiments/search-datasets", {})
    post(
        "datasets many",
        f"{AJAX}/experiments/search-datasets",
        {"experiment_ids": list("0123456789") * 3},
    )
    upload = f"{AJAX}/upload-artifact"
    send("upload no run", "POST", upload, params={"path": "x"}, content=b"1")
    send("upload no path", "POST", upload, params={"run_uuid": run_id}, content=b"1")
    send("upload no data", "POST", upload, params={"run_uuid": run_id, "path": "x"})
    send("upload ..", "POST", upload, params={"run_uuid": run_id, "path": "../x"}, content=b"1")
    logged = f"{AJAX}/logged-models/m-{'0' * 32}/artifacts/files"
    get("logged model no path", logged, {})
    # What MLflow stores (labtrack once refused the empty string as a missing value).
    post("empty param", "runs/log-parameter", {"run_id": run_id, "key": "p", "value": ""})
    post("empty tag", "runs/set-tag", {"run_id": run_id, "key": "t", "value": ""})
    post(
        "empty experiment tag",
        "experiments/set-experiment-tag",
        {"experiment_id": experiment["experiment_id"], "key": "e", "value": ""},
    )
    data = http.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]["data"]
    out["stored empties"] = (
        200,
        {
            "params": {p["key"]: p["value"] for p in data.get("params", [])},
            "t": {t["key"]: t["value"] for t in data.get("tags", [])}.get("t"),
        },
    )
    http.close()
    return out


@pytest.fixture(scope="module")
def answers(tracking_server: str, mlflow_url: str) -> tuple[dict[str, Answer], dict[str, Answer]]:
    return _answers(tracking_server), _answers(mlflow_url)


def _masked(answer: Answer, run_ids: Callable[[str], str]) -> Answer:
    status, body = answer
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        body = {**body, "message": run_ids(body["message"])}
    return status, body


def test_bad_requests_get_mlflows_answers(
    answers: tuple[dict[str, Answer], dict[str, Answer]],
) -> None:
    import re

    ours, theirs = answers
    assert ours.keys() == theirs.keys()

    def mask(text: str) -> str:
        return re.sub(r"[0-9a-f]{32}", "<id>", text)

    differences = [
        f"{label}: labtrack {_masked(ours[label], mask)} != MLflow {_masked(theirs[label], mask)}"
        for label in ours
        if _masked(ours[label], mask) != _masked(theirs[label], mask)
    ]
    assert differences == []


def test_the_mlflow_client_treats_the_server_as_current(tracking_server: str) -> None:
    """MLflow's client reads /version to decide what it may call (log_spans needs 3.4)."""
    from mlflow.store.tracking.rest_store import RestStore
    from mlflow.utils.rest_utils import MlflowHostCreds
    from packaging.version import Version

    RestStore._get_server_version.cache_clear()
    version = RestStore._get_server_version(MlflowHostCreds(tracking_server))
    assert version is not None
    assert version >= Version("3.4")
    assert str(version.local).startswith("labtrack.")


def test_a_refused_registration_leaves_nothing(tracking_server: str, tmp_path: Path) -> None:
    """MLflow's register_model refuses a runs:/ path without a model; labtrack's too, with
    MLflow's words (checked here through labtrack's client against the same server)."""
    from labtrack.errors import ResourceDoesNotExist
    from labtrack.tracking.client import TrackingClient

    client = TrackingClient(tracking_server)
    run_id = client.create_run("0").info.run_id
    name = f"nothing-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ResourceDoesNotExist) as refused:
        client.register_model(f"runs:/{run_id}/model", name)
    assert refused.value.message == (
        f"Unable to find a logged_model with artifact_path model under run {run_id}"
    )
    assert [m.name for m in client.search_registered_models(f"name = '{name}'")] == []
