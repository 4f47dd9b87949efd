"""Failures reach the real client as MLflow's exceptions with MLflow's error codes."""

from __future__ import annotations

from typing import Any

import pytest

from compat._support import MLFLOW_MISSING

mlflow = pytest.importorskip("mlflow", reason=MLFLOW_MISSING)
from mlflow.entities import Metric, Param, RunTag  # noqa: E402
from mlflow.exceptions import MlflowException, RestException  # noqa: E402

MISSING_RUN = "0123456789abcdef0123456789abcdef"


def _rest_store(url: str) -> Any:
    """The client's REST store: its calls reach the server as the client sends them, without
    the client-side splitting MlflowClient.log_batch does."""
    from mlflow.tracking._tracking_service.utils import _get_store

    return _get_store(url)


def test_missing_run(client: Any, experiment_id: str) -> None:
    with pytest.raises(MlflowException) as info:
        client.get_run(MISSING_RUN)
    assert isinstance(info.value, RestException)
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert info.value.get_http_status_code() == 404
    assert MISSING_RUN in info.value.message
    for call in (
        lambda: client.log_metric(MISSING_RUN, "m", 1.0),
        lambda: client.log_param(MISSING_RUN, "p", "v"),
        lambda: client.set_tag(MISSING_RUN, "t", "v"),
        lambda: client.set_terminated(MISSING_RUN),
        lambda: client.delete_run(MISSING_RUN),
    ):
        with pytest.raises(MlflowException) as info:
            call()
        assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_missing_experiment(client: Any) -> None:
    with pytest.raises(MlflowException) as info:
        client.get_experiment("987654321")
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as info:
        client.create_run("987654321")
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_invalid_experiment_id(client: Any) -> None:
    with pytest.raises(MlflowException) as info:
        client.get_experiment("not-a-number")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_param_overwrite_with_another_value(client: Any, experiment_id: str) -> None:
    with mlflow.start_run() as run:
        mlflow.log_param("lr", "0.1")
        with pytest.raises(MlflowException) as info:
            mlflow.log_param("lr", "0.2")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert info.value.get_http_status_code() == 400
    message = info.value.message
    assert "Changing param values is not allowed" in message
    assert "key='lr'" in message
    assert "'0.1'" in message
    assert "'0.2'" in message
    with pytest.raises(MlflowException) as info:
        client.log_batch(run.info.run_id, params=[Param("lr", "0.3")])
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert client.get_run(run.info.run_id).data.params == {"lr": "0.1"}


def test_duplicate_param_keys_in_one_batch(client: Any, experiment_id: str) -> None:
    run_id = client.create_run(experiment_id).info.run_id
    with pytest.raises(MlflowException) as info:
        client.log_batch(run_id, params=[Param("a", "1"), Param("a", "2")])
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "Duplicate parameter keys" in info.value.message


@pytest.mark.parametrize("key", ["bad key!", "../escape", "/absolute", "a" * 251])
def test_invalid_metric_key(client: Any, experiment_id: str, key: str) -> None:
    run_id = client.create_run(experiment_id).info.run_id
    with pytest.raises(MlflowException) as info:
        client.log_metric(run_id, key, 1.0)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert client.get_run(run_id).data.metrics == {}


def test_invalid_param_and_tag_keys(client: Any, experiment_id: str) -> None:
    run_id = client.create_run(experiment_id).info.run_id
    with pytest.raises(MlflowException) as info:
        client.log_param(run_id, "bad?key", "v")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as info:
        client.set_tag(run_id, "bad?key", "v")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_too_many_metrics_in_one_batch(client: Any, experiment_id: str, tracking_uri: str) -> None:
    run_id = client.create_run(experiment_id).info.run_id
    metrics = [Metric("m", float(i), 1_000, i) for i in range(1001)]
    with pytest.raises(MlflowException) as info:
        _rest_store(tracking_uri).log_batch(run_id, metrics=metrics, params=[], tags=[])
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert info.value.message == (
        "INVALID_PARAMETER_VALUE: A batch logging request can contain at most 1000 metrics. "
        "Got 1001 metrics. Please split up metrics across multiple requests and try again."
    )
    assert client.get_metric_history(run_id, "m") == []
    # MlflowClient.log_batch splits what it is given into requests the server accepts.
    client.log_batch(run_id, metrics=metrics)
    assert len(client.get_metric_history(run_id, "m")) == 1001


def test_too_many_params_or_tags_in_one_batch(
    client: Any, experiment_id: str, tracking_uri: str
) -> None:
    run_id = client.create_run(experiment_id).info.run_id
    store = _rest_store(tracking_uri)
    with pytest.raises(MlflowException) as info:
        store.log_batch(
            run_id, metrics=[], params=[Param(f"p{i}", "v") for i in range(101)], tags=[]
        )
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "at most 100 params" in info.value.message
    with pytest.raises(MlflowException) as info:
        store.log_batch(
            run_id, metrics=[], params=[], tags=[RunTag(f"t{i}", "v") for i in range(101)]
        )
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "at most 100 tags" in info.value.message


def test_duplicate_experiment_name(client: Any, experiment_name: str) -> None:
    client.create_experiment(experiment_name)
    with pytest.raises(MlflowException) as info:
        client.create_experiment(experiment_name)
    assert info.value.error_code == "RESOURCE_ALREADY_EXISTS"
    assert info.value.get_http_status_code() == 400
    assert experiment_name in info.value.message


def test_rename_to_an_existing_name(client: Any, experiment_name: str) -> None:
    client.create_experiment(experiment_name)
    other = client.create_experiment(experiment_name + "-2")
    with pytest.raises(MlflowException) as info:
        client.rename_experiment(other, experiment_name)
    # MLflow's server answers BAD_REQUEST here; labtrack's code names the cause.
    assert info.value.error_code in ("RESOURCE_ALREADY_EXISTS", "BAD_REQUEST")
    assert info.value.get_http_status_code() == 400
    assert client.get_experiment(other).name == experiment_name + "-2"


@pytest.mark.parametrize(
    "filter_string",
    [
        "metrics.acc >",
        "metrics.acc > 'high'",
        "params.lr = unquoted",
        "nonsense.key = 'x'",
        "attributes.status > 'RUNNING'",
        "metrics.acc LIKE '1%'",
    ],
)
def test_bad_filter(client: Any, experiment_id: str, filter_string: str) -> None:
    with pytest.raises(MlflowException) as info:
        client.search_runs([experiment_id], filter_string)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_bad_experiment_filter(client: Any) -> None:
    with pytest.raises(MlflowException) as info:
        client.search_experiments(filter_string="name === 'x'")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize("order_by", ["metrics.acc sideways", "nothing.x ASC", "params.a ASC DESC"])
def test_bad_order_by(client: Any, experiment_id: str, order_by: str) -> None:
    with pytest.raises(MlflowException) as info:
        client.search_runs([experiment_id], order_by=[order_by])
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_too_many_results_requested(client: Any, experiment_id: str) -> None:
    with pytest.raises(MlflowException) as info:
        client.search_runs([experiment_id], max_results=50_001)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_bad_page_token(client: Any, experiment_id: str) -> None:
    with pytest.raises(MlflowException) as info:
        client.search_runs([experiment_id], page_token="not a token")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_writes_to_a_deleted_run(client: Any, experiment_id: str) -> None:
    run_id = client.create_run(experiment_id).info.run_id
    client.delete_run(run_id)
    with pytest.raises(MlflowException) as info:
        client.log_metric(run_id, "m", 1.0)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "must be in the 'active' state" in info.value.message


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.get_registered_model("no-such-model"),
        lambda c: c.get_model_version("no-such-model", "1"),
        lambda c: c.create_model_version("no-such-model", "s3://bucket/model"),
        lambda c: c.delete_registered_model("no-such-model"),
    ],
)
def test_registry_errors(client: Any, call: Any) -> None:
    """The model registry answers a missing model as MLflow does (see test_registry.py)."""
    with pytest.raises(MlflowException) as info:
        call(client)
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert info.value.get_http_status_code() == 404
    assert info.value.message.endswith("Registered Model with name=no-such-model not found")
