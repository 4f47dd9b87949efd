"""What MLflow's server answers besides its REST API (labtrack/server/mlflow_ui_api.py):
artifact downloads by run, version and logged model, the upload the UI uses, the bulk
metric history and an experiment's datasets, with MLflow's paths and messages."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from labtrack.entities import Dataset, DatasetInput, InputTag, Metric
from labtrack.tracking.client import TrackingClient
from livesrv import serve_in_thread

AJAX = "/ajax-api/2.0/mlflow"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("server")
    with serve_in_thread(f"sqlite:///{tmp / 'db.db'}", str(tmp / "artifacts")) as url:
        yield url


@pytest.fixture
def http(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=30) as client:
        yield client


@pytest.fixture
def client(server: str) -> TrackingClient:
    # The tracking URI setting names another store (tests/conftest.py): the client's own
    # URI is what its proxied artifacts are reached through.
    return TrackingClient(server)


def error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["error_code"], body["message"]


def test_get_artifact_serves_a_runs_file(http: httpx.Client, client: TrackingClient) -> None:
    run_id = client.create_run("0").info.run_id
    client.log_text(run_id, "hello", "notes/readme.txt")
    for key in ("run_id", "run_uuid"):
        got = http.get("/get-artifact", params={key: run_id, "path": "notes/readme.txt"})
        assert (got.status_code, got.text) == (200, "hello")
        assert got.headers["content-disposition"].startswith("attachment")
        assert got.headers["x-content-type-options"] == "nosniff"
    for path in ("../notes/readme.txt", "/etc/passwd", "notes/../../x"):
        refused = http.get("/get-artifact", params={"run_id": run_id, "path": path})
        assert error(refused) == (400, "INVALID_PARAMETER_VALUE", "Invalid path"), path
    missing = http.get("/get-artifact", params={"run_id": run_id, "path": "nope.txt"})
    assert missing.status_code == 404
    assert http.get("/get-artifact", params={"run_id": run_id}).status_code == 400


def test_model_version_artifact(http: httpx.Client, client: TrackingClient) -> None:
    run_id = client.create_run("0").info.run_id
    client.log_text(run_id, "flavors: {}\n", "model/MLmodel")
    client.create_registered_model("files")
    client.create_model_version("files", f"runs:/{run_id}/model", run_id=run_id)
    got = http.get(
        "/model-versions/get-artifact", params={"name": "files", "version": "1", "path": "MLmodel"}
    )
    assert (got.status_code, got.text) == (200, "flavors: {}\n")
    refused = http.get(
        "/model-versions/get-artifact", params={"name": "files", "version": "1", "path": "../x"}
    )
    assert error(refused) == (400, "INVALID_PARAMETER_VALUE", "Invalid path")
    missing = http.get(
        "/model-versions/get-artifact", params={"name": "files", "version": "9", "path": "MLmodel"}
    )
    assert missing.status_code == 404


def test_logged_model_file(http: httpx.Client, client: TrackingClient) -> None:
    model = client.service.create_logged_model("0", "clf")
    client.service.set_logged_model_tags(model.model_id, {"k": "v"})
    from labtrack.artifacts import get_artifact_repository
    from labtrack.artifacts.http import absolute_proxy_uri

    location = absolute_proxy_uri(model.artifact_location, client.tracking_uri)
    get_artifact_repository(location).log_bytes(b"name: clf\n", "MLmodel")
    url = f"{AJAX}/logged-models/{model.model_id}/artifacts/files"
    got = http.get(url, params={"artifact_file_path": "MLmodel"})
    assert (got.status_code, got.text) == (200, "name: clf\n")
    assert error(http.get(url)) == (
        400,
        "BAD_REQUEST",
        'Request must include the "artifact_file_path" query parameter.',
    )
    refused = http.get(url, params={"artifact_file_path": "../../x"})
    assert error(refused) == (400, "INVALID_PARAMETER_VALUE", "Invalid path")


def test_upload_artifact(http: httpx.Client, client: TrackingClient) -> None:
    run_id = client.create_run("0").info.run_id
    sent = http.post(
        f"{AJAX}/upload-artifact",
        params={"run_uuid": run_id, "path": "up/data.csv"},
        content=b"a,b",
    )
    assert (sent.status_code, sent.json()) == (200, {})
    assert [f.path for f in client.list_artifacts(run_id, "up")] == ["up/data.csv"]
    got = http.get("/get-artifact", params={"run_id": run_id, "path": "up/data.csv"})
    assert got.content == b"a,b"
    cases: list[tuple[dict[str, Any], bytes, str]] = [
        ({"path": "x"}, b"1", "Request must specify run_uuid."),
        ({"run_uuid": run_id}, b"1", "Request must specify path."),
        ({"run_uuid": run_id, "path": "x"}, b"", "Request must specify data."),
        ({"run_uuid": run_id, "path": "../x"}, b"1", "Invalid path"),
        (
            {"run_uuid": run_id, "path": "big"},
            b"0" * (10 * 1024 * 1024 + 1),
            "Artifact size is too large. Max size is 10MB.",
        ),
    ]
    for params, body, message in cases:
        refused = http.post(f"{AJAX}/upload-artifact", params=params, content=body)
        assert error(refused) == (400, "INVALID_PARAMETER_VALUE", message), message
    # Only under the UI's base path, as in MLflow.
    assert http.post("/api/2.0/mlflow/upload-artifact", content=b"1").status_code == 404


def test_get_history_bulk(http: httpx.Client, client: TrackingClient) -> None:
    first = client.create_run("0").info.run_id
    second = client.create_run("0").info.run_id
    client.log_batch(first, metrics=[Metric("loss", 1.0, 10, 0), Metric("loss", 0.5, 20, 1)])
    client.log_batch(second, metrics=[Metric("loss", 2.0, 5, 0)])
    got = http.get(
        f"{AJAX}/metrics/get-history-bulk",
        params=[("run_id", second), ("run_id", first), ("metric_key", "loss")],
    ).json()["metrics"]
    expected = sorted(
        [
            {"key": "loss", "value": 1.0, "timestamp": 10, "step": 0, "run_id": first},
            {"key": "loss", "value": 0.5, "timestamp": 20, "step": 1, "run_id": first},
            {"key": "loss", "value": 2.0, "timestamp": 5, "step": 0, "run_id": second},
        ],
        key=lambda m: (m["run_id"], m["timestamp"]),
    )
    assert got == expected
    capped = http.get(
        f"{AJAX}/metrics/get-history-bulk",
        params={"run_id": [first, second], "metric_key": "loss", "max_results": 2},
    ).json()["metrics"]
    assert capped == expected[:2]
    for params, message in (
        ({"metric_key": "loss"}, "GetMetricHistoryBulk request must specify at least one run_id."),
        ({"run_id": first}, "GetMetricHistoryBulk request must specify a metric_key."),
        (
            {"run_id": [first] * 101, "metric_key": "loss"},
            "GetMetricHistoryBulk request cannot specify more than 100 run_ids. "
            "Received 101 run_ids.",
        ),
    ):
        refused = http.get(f"{AJAX}/metrics/get-history-bulk", params=params)
        assert error(refused) == (400, "INVALID_PARAMETER_VALUE", message)


def test_search_datasets(http: httpx.Client, client: TrackingClient) -> None:
    experiment_id = client.create_experiment("with-datasets")
    run_id = client.create_run(experiment_id).info.run_id
    train = Dataset("train", "abc123", "local", '{"uri": "/data/train.csv"}')
    client.log_inputs(
        run_id,
        [
            DatasetInput(train, (InputTag("mlflow.data.context", "training"),)),
            DatasetInput(Dataset("raw", "ffff", "local", "{}")),
        ],
    )
    got = http.post(f"{AJAX}/experiments/search-datasets", json={"experiment_ids": [experiment_id]})
    assert got.json() == {
        "dataset_summaries": [
            {"experiment_id": experiment_id, "name": "raw", "digest": "ffff"},
            {
                "experiment_id": experiment_id,
                "name": "train",
                "digest": "abc123",
                "context": "training",
            },
        ]
    }
    empty = http.post(f"{AJAX}/experiments/search-datasets", json={"experiment_ids": ["0"]})
    assert empty.json() == {}
    for body, message in (
        ({}, "SearchDatasets request must specify at least one experiment_id."),
        (
            {"experiment_ids": [str(i) for i in range(21)]},
            "SearchDatasets request cannot specify more than 20 experiment_ids. "
            "Received 21 experiment_ids.",
        ),
    ):
        refused = http.post(f"{AJAX}/experiments/search-datasets", json=body)
        assert error(refused) == (400, "INVALID_PARAMETER_VALUE", message)


def test_a_client_reaches_proxied_artifacts_on_its_own_server(
    client: TrackingClient, tmp_path: Path
) -> None:
    assert not os.environ["LABTRACK_TRACKING_URI"].startswith("http")
    run_id = client.create_run("0").info.run_id
    assert client.get_run(run_id).info.artifact_uri.startswith("mlflow-artifacts:")
    client.log_text(run_id, "hello", "notes/readme.txt")
    assert [f.path for f in client.list_artifacts(run_id, "notes")] == ["notes/readme.txt"]
    local = client.download_artifacts(run_id, "notes/readme.txt", tmp_path)
    assert Path(local).read_text() == "hello"
