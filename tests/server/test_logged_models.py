"""MLflow 3 logged models on a live labtrack server, driven by the real ``mlflow`` client
(and, for shapes and errors, by raw HTTP)."""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from livesrv import serve_in_thread

# MLflow 3 reports usage from a background thread unless told not to, deciding when it is
# first imported.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
mlflow = pytest.importorskip("mlflow", reason="the mlflow client is not installed")
with warnings.catch_warnings():
    # mlflow.pyfunc infers a schema from its own pydantic models when first imported.
    warnings.filterwarnings("ignore", ".*Any type hint is inferred as AnyType", UserWarning)
    import mlflow.pyfunc

from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import LoggedModelOutput, LoggedModelStatus  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402

API = "/api/2.0/mlflow"


class AddOne(mlflow.pyfunc.PythonModel):  # type: ignore[name-defined]
    """The smallest useful model: adds one to every value."""

    # No signature from type hints (mlflow warns about a predict() without them otherwise).
    _skip_type_hint_validation = True

    def predict(self, context, model_input, params=None):
        return model_input + 1


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server that proxies artifacts (models are uploaded through it)."""
    tmp = tmp_path_factory.mktemp("server")
    with serve_in_thread(f"sqlite:///{tmp / 'db.db'}", str(tmp / "artifacts")) as url:
        yield url


@pytest.fixture
def client(server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """mlflow pointed at the server; its process-wide state is undone afterwards."""
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    before = {name for name in os.environ if name.startswith("MLFLOW_")}
    mlflow.set_tracking_uri(server)
    try:
        yield MlflowClient(server)
    finally:
        from mlflow.tracking import fluent
        from mlflow.tracking._tracking_service import utils as tracking_utils

        with contextlib.suppress(Exception):
            while mlflow.active_run() is not None:
                mlflow.end_run()
        fluent._active_run_stack.set([])
        fluent._last_active_run_id.set(None)
        fluent._last_logged_model_id.set(None)
        fluent._active_experiment_id = None
        with contextlib.suppress(Exception):
            mlflow.clear_active_model()
        tracking_utils._tracking_uri = None
        for name in [n for n in os.environ if n.startswith("MLFLOW_") and n not in before]:
            del os.environ[name]  # set by mlflow itself (set_tracking_uri, set_experiment)


@pytest.fixture
def experiment_id(client: Any, request: pytest.FixtureRequest) -> str:
    return str(client.create_experiment(f"{request.node.name}-{os.urandom(4).hex()}"))


@pytest.fixture
def http(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=30) as c:
        yield c


# -- the client's logged model API -----------------------------------------------------------
def test_create_get_finalize_tags_params(client: Any, experiment_id: str) -> None:
    run = client.create_run(experiment_id)
    model = client.create_logged_model(
        experiment_id,
        name="clf",
        source_run_id=run.info.run_id,
        tags={"team": "ml"},
        params={"alpha": "0.1"},
        model_type="classifier",
    )
    assert model.model_id.startswith("m-")
    assert model.status == LoggedModelStatus.PENDING
    assert model.name == "clf"
    assert model.source_run_id == run.info.run_id
    assert model.model_type == "classifier"
    assert model.tags == {"team": "ml"}
    assert model.params == {"alpha": "0.1"}
    assert model.artifact_location == (
        f"mlflow-artifacts:/{experiment_id}/models/{model.model_id}/artifacts"
    )

    ready = client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    assert ready.status == LoggedModelStatus.READY
    client.set_logged_model_tags(model.model_id, {"stage": "dev", "mlflow.a/b c": "x"})
    client.delete_logged_model_tag(model.model_id, "team")
    client.delete_logged_model_tag(model.model_id, "mlflow.a/b c")
    client.log_model_params(model.model_id, {"beta": "2"})
    got = client.get_logged_model(model.model_id)
    assert got.status == LoggedModelStatus.READY
    assert got.tags == {"stage": "dev"}
    assert got.params == {"alpha": "0.1", "beta": "2"}
    assert got.last_updated_timestamp >= got.creation_timestamp

    client.delete_logged_model(model.model_id)
    with pytest.raises(MlflowException) as excinfo:
        client.get_logged_model(model.model_id)
    assert excinfo.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_search_logged_models(client: Any, experiment_id: str) -> None:
    a = client.create_logged_model(experiment_id, name="a", model_type="clf", params={"d": "1"})
    b = client.create_logged_model(experiment_id, name="b", model_type="reg", params={"d": "2"})
    run = client.create_run(experiment_id)
    for model, acc in ((a, 0.9), (b, 0.4)):
        client.log_metric(run.info.run_id, "acc", acc, model_id=model.model_id)
    client.finalize_logged_model(a.model_id, LoggedModelStatus.READY)

    def names(**kwargs: Any) -> list[str]:
        return [m.name for m in client.search_logged_models([experiment_id], **kwargs)]

    assert names() == ["b", "a"]  # newest first
    assert names(filter_string="name = 'a'") == ["a"]
    assert names(filter_string="model_type = 'reg'") == ["b"]
    assert names(filter_string="metrics.acc > 0.5") == ["a"]
    assert names(filter_string="params.d = '2'") == ["b"]
    assert names(filter_string="status = 'READY'") == ["a"]
    assert names(order_by=[{"field_name": "metrics.acc", "ascending": True}]) == ["b", "a"]
    assert names(order_by=[{"field_name": "name", "ascending": True}]) == ["a", "b"]
    page = client.search_logged_models([experiment_id], max_results=1)
    assert [m.name for m in page] == ["b"]
    rest = client.search_logged_models([experiment_id], max_results=1, page_token=page.token)
    assert [m.name for m in rest] == ["a"]
    assert rest.token is None
    with pytest.raises(MlflowException) as excinfo:
        names(filter_string="metrics.acc LIKE 'x'")
    assert excinfo.value.error_code == "INVALID_PARAMETER_VALUE"


def test_metrics_of_a_model_through_the_fluent_api(client: Any, experiment_id: str) -> None:
    with mlflow.start_run(experiment_id=experiment_id) as run:
        model = client.create_logged_model(experiment_id, name="m")
        mlflow.log_metric("acc", 0.75, step=2, model_id=model.model_id)
        mlflow.log_metrics({"f1": 0.5, "auc": 0.6}, model_id=model.model_id)
    linked = {m.key: m for m in client.get_logged_model(model.model_id).metrics}
    assert set(linked) == {"acc", "f1", "auc"}
    assert linked["acc"].value == 0.75
    assert linked["acc"].step == 2
    assert linked["acc"].run_id == run.info.run_id
    assert linked["acc"].model_id == model.model_id
    got = client.get_run(run.info.run_id)
    assert got.data.metrics == {"acc": 0.75, "f1": 0.5, "auc": 0.6}
    assert [i.model_id for i in got.inputs.model_inputs] == [model.model_id]


def test_log_outputs(client: Any, experiment_id: str) -> None:
    run = client.create_run(experiment_id)
    model = client.create_logged_model(experiment_id, name="out")
    client.log_outputs(run.info.run_id, [LoggedModelOutput(model.model_id, step=3)])
    [output] = client.get_run(run.info.run_id).outputs.model_outputs
    assert (output.model_id, output.step) == (model.model_id, 3)


# -- end to end: log a model, load it back -------------------------------------------------------
def test_pyfunc_log_model_and_load_it(client: Any, experiment_id: str) -> None:
    import pandas as pd

    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_param("alpha", "1")
        mlflow.log_metric("acc", 0.9)
        info = mlflow.pyfunc.log_model(name="m", python_model=AddOne(), pip_requirements=[])
    run_id = run.info.run_id
    assert info.model_id.startswith("m-")

    model = client.get_logged_model(info.model_id)
    assert model.status == LoggedModelStatus.READY
    assert model.name == "m"
    assert model.source_run_id == run_id
    assert model.params == {"alpha": "1"}  # the run's params, copied at creation
    assert [(m.key, m.value) for m in model.metrics] == [("acc", 0.9)]
    assert len(client.get_metric_history(run_id, "acc")) == 1  # linked, not logged twice
    [output] = client.get_run(run_id).outputs.model_outputs
    assert output.model_id == info.model_id
    files = {f.path for f in client.list_logged_model_artifacts(info.model_id)}
    assert "MLmodel" in files

    frame = pd.DataFrame({"x": [1, 2, 3]})
    for uri in (f"models:/{info.model_id}", f"runs:/{run_id}/m", info.model_uri):
        loaded = mlflow.pyfunc.load_model(uri)
        assert loaded.predict(frame)["x"].tolist() == [2, 3, 4]


# -- shapes and errors, as raw HTTP ----------------------------------------------------------------
def test_response_shapes(http: httpx.Client) -> None:
    created = http.post(
        f"{API}/logged-models",
        json={
            "experiment_id": "0",
            "name": "shape",
            "tags": [{"key": "t", "value": "1"}],
            "params": [{"key": "p", "value": "2"}],
        },
    )
    assert created.status_code == 200
    model = created.json()["model"]
    info = model["info"]
    model_id = info["model_id"]
    assert info["status"] == "LOGGED_MODEL_PENDING"
    assert info["name"] == "shape"
    assert info["experiment_id"] == "0"
    assert info["tags"] == [{"key": "t", "value": "1"}]
    assert isinstance(info["creation_timestamp_ms"], int)
    assert info["artifact_uri"].endswith(f"/0/models/{model_id}/artifacts")
    assert model["data"] == {"params": [{"key": "p", "value": "2"}]}

    # The status as an enum number, as protobuf JSON writers may send it.
    patched = http.patch(
        f"{API}/logged-models/{model_id}", json={"model_id": model_id, "status": 2}
    )
    assert patched.json()["model"]["info"]["status"] == "LOGGED_MODEL_READY"
    for base in (API, "/ajax-api/2.0/mlflow"):
        got = http.get(f"{base}/logged-models/{model_id}")
        assert got.json()["model"]["info"]["status"] == "LOGGED_MODEL_READY"
    listed = http.get(f"{API}/logged-models/{model_id}/artifacts/directories").json()
    assert listed == {"root_uri": info["artifact_uri"]}  # nothing uploaded yet
    found = http.post(f"{API}/logged-models/search", json={"experiment_ids": ["0"]}).json()
    assert model_id in [m["info"]["model_id"] for m in found["models"]]
    assert http.delete(f"{API}/logged-models/{model_id}").json() == {}
    deleted = http.get(f"{API}/logged-models/{model_id}", params={"allow_deleted": "true"})
    assert deleted.json()["model"]["info"]["lifecycle_stage"] == "deleted"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("GET", "/logged-models/m-" + "0" * 32, None, 404, "RESOURCE_DOES_NOT_EXIST"),
        ("DELETE", "/logged-models/m-" + "0" * 32, None, 404, "RESOURCE_DOES_NOT_EXIST"),
        ("POST", "/logged-models", {"name": "x"}, 400, "INVALID_PARAMETER_VALUE"),
        ("POST", "/logged-models", {"experiment_id": "987654"}, 404, "RESOURCE_DOES_NOT_EXIST"),
        (
            "POST",
            "/logged-models",
            {"experiment_id": "0", "name": "a/b"},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        ("POST", "/logged-models/search", {}, 400, "INVALID_PARAMETER_VALUE"),
        (
            "POST",
            "/logged-models/search",
            {"experiment_ids": ["0"], "filter": "x ="},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        ("POST", "/runs/outputs", {"models": []}, 400, "INVALID_PARAMETER_VALUE"),
    ],
)
def test_errors(
    http: httpx.Client, method: str, path: str, body: Any, status: int, code: str
) -> None:
    response = http.request(method, f"{API}{path}", json=body)
    assert response.status_code == status, response.text
    assert response.json()["error_code"] == code


def test_finalize_needs_a_final_status(http: httpx.Client) -> None:
    model_id = http.post(f"{API}/logged-models", json={"experiment_id": "0"}).json()["model"][
        "info"
    ]["model_id"]
    for status in ("LOGGED_MODEL_PENDING", "BOGUS", None):
        body = {"model_id": model_id} if status is None else {"status": status}
        response = http.patch(f"{API}/logged-models/{model_id}", json=body)
        assert response.status_code == 400, response.text
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_log_batch_mixing_linked_and_plain_metrics(http: httpx.Client) -> None:
    run_id = http.post(f"{API}/runs/create", json={"experiment_id": "0"}).json()["run"]["info"][
        "run_id"
    ]
    model_id = http.post(f"{API}/logged-models", json={"experiment_id": "0"}).json()["model"][
        "info"
    ]["model_id"]
    response = http.post(
        f"{API}/runs/log-batch",
        json={
            "run_id": run_id,
            "metrics": [
                {"key": "a", "value": 1, "timestamp": 5, "step": 0, "model_id": model_id},
                {"key": "b", "value": 2, "timestamp": 5, "step": 0},
            ],
            "params": [{"key": "p", "value": "1"}],
        },
    )
    assert response.status_code == 200, response.text
    run = http.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]
    assert {m["key"] for m in run["data"]["metrics"]} == {"a", "b"}
    assert run["data"]["params"] == [{"key": "p", "value": "1"}]
    model = http.get(f"{API}/logged-models/{model_id}").json()["model"]
    assert [(m["key"], m["run_id"]) for m in model["data"]["metrics"]] == [("a", run_id)]
    missing = http.post(
        f"{API}/runs/log-batch",
        json={
            "run_id": run_id,
            "metrics": [{"key": "c", "value": 1, "timestamp": 5, "model_id": "m-" + "0" * 32}],
        },
    )
    assert missing.status_code == 404
