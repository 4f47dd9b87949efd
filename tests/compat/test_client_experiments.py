"""``MlflowClient``'s experiment calls against a labtrack server."""

from __future__ import annotations

import time
from typing import Any

import pytest

from compat._support import MLFLOW_MISSING

mlflow = pytest.importorskip("mlflow", reason=MLFLOW_MISSING)
from mlflow.entities import ViewType  # noqa: E402


def test_create_experiment_with_tags(client: Any, experiment_name: str) -> None:
    before = int(time.time() * 1000)
    experiment_id = client.create_experiment(
        experiment_name, artifact_location=None, tags={"team": "vision", "priority": "1"}
    )
    assert isinstance(experiment_id, str)
    assert experiment_id.isdigit()
    experiment = client.get_experiment(experiment_id)
    assert experiment.experiment_id == experiment_id
    assert experiment.name == experiment_name
    assert experiment.lifecycle_stage == "active"
    assert experiment.artifact_location == f"mlflow-artifacts:/{experiment_id}"
    assert experiment.tags == {"team": "vision", "priority": "1"}
    assert before - 1000 <= experiment.creation_time <= int(time.time() * 1000) + 1000
    assert experiment.last_update_time >= experiment.creation_time


def test_create_experiment_with_an_artifact_location(client: Any, experiment_name: str) -> None:
    experiment_id = client.create_experiment(
        experiment_name, artifact_location="mlflow-artifacts:/custom/place"
    )
    experiment = client.get_experiment(experiment_id)
    assert experiment.artifact_location == "mlflow-artifacts:/custom/place"
    run = client.create_run(experiment_id)
    assert run.info.artifact_uri == f"mlflow-artifacts:/custom/place/{run.info.run_id}/artifacts"


def test_default_experiment(client: Any) -> None:
    default = client.get_experiment("0")
    assert default.name == "Default"
    assert client.get_experiment_by_name("Default").experiment_id == "0"


def test_get_experiment_by_name(client: Any, experiment_name: str) -> None:
    experiment_id = client.create_experiment(experiment_name)
    found = client.get_experiment_by_name(experiment_name)
    assert found is not None
    assert found.experiment_id == experiment_id
    assert client.get_experiment_by_name(experiment_name + "-missing") is None


def test_search_experiments_filter_and_order(client: Any, experiment_name: str) -> None:
    prefix = experiment_name
    ids = {}
    for i, (suffix, team) in enumerate([("b", "vision"), ("a", "nlp"), ("c", "vision")]):
        ids[suffix] = client.create_experiment(f"{prefix}-{suffix}", tags={"team": team})
        if i < 2:
            time.sleep(0.005)  # distinct creation times
    found = client.search_experiments(filter_string=f"name LIKE '{prefix}-%'", order_by=["name"])
    assert [e.name for e in found] == [f"{prefix}-a", f"{prefix}-b", f"{prefix}-c"]
    found = client.search_experiments(
        filter_string=f"name LIKE '{prefix}-%' AND tags.team = 'vision'",
        order_by=["name DESC"],
    )
    assert [e.experiment_id for e in found] == [ids["c"], ids["b"]]
    found = client.search_experiments(
        filter_string=f"name ILIKE '{prefix.upper()}-%'", order_by=["creation_time ASC"]
    )
    assert [e.experiment_id for e in found] == [ids["b"], ids["a"], ids["c"]]
    found = client.search_experiments(filter_string=f"name = '{prefix}-a'")
    assert [e.tags for e in found] == [{"team": "nlp"}]
    assert client.search_experiments(filter_string=f"name = '{prefix}-none'") == []


def test_search_experiments_pages(client: Any, experiment_name: str) -> None:
    created = {client.create_experiment(f"{experiment_name}-{i}") for i in range(7)}
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = client.search_experiments(
            filter_string=f"name LIKE '{experiment_name}-%'",
            max_results=3,
            order_by=["name ASC"],
            page_token=token,
        )
        pages += 1
        assert len(page) <= 3
        seen.extend(e.experiment_id for e in page)
        token = page.token
        if not token:
            break
    assert pages == 3
    assert sorted(seen) == sorted(created)
    assert len(seen) == len(set(seen))


def test_rename_experiment(client: Any, experiment_name: str) -> None:
    experiment_id = client.create_experiment(experiment_name)
    client.rename_experiment(experiment_id, experiment_name + "-renamed")
    assert client.get_experiment(experiment_id).name == experiment_name + "-renamed"
    assert client.get_experiment_by_name(experiment_name) is None
    assert client.get_experiment_by_name(experiment_name + "-renamed").experiment_id == (
        experiment_id
    )


def test_delete_and_restore_experiment(client: Any, experiment_name: str) -> None:
    experiment_id = client.create_experiment(experiment_name)
    name_filter = f"name = '{experiment_name}'"
    client.delete_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "deleted"
    # A deleted experiment is still found by name (and keeps its name reserved).
    assert client.get_experiment_by_name(experiment_name).lifecycle_stage == "deleted"
    assert client.search_experiments(filter_string=name_filter) == []
    deleted = client.search_experiments(view_type=ViewType.DELETED_ONLY, filter_string=name_filter)
    assert [e.experiment_id for e in deleted] == [experiment_id]
    everything = client.search_experiments(view_type=ViewType.ALL, filter_string=name_filter)
    assert [e.experiment_id for e in everything] == [experiment_id]
    with pytest.raises(mlflow.MlflowException) as info:
        client.create_experiment(experiment_name)
    assert info.value.error_code == "RESOURCE_ALREADY_EXISTS"

    client.restore_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "active"
    assert [e.experiment_id for e in client.search_experiments(filter_string=name_filter)] == [
        experiment_id
    ]


def test_deleted_experiment_refuses_new_runs(client: Any, experiment_name: str) -> None:
    experiment_id = client.create_experiment(experiment_name)
    client.delete_experiment(experiment_id)
    with pytest.raises(mlflow.MlflowException) as info:
        client.create_run(experiment_id)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_experiment_tags(client: Any, experiment_name: str) -> None:
    experiment_id = client.create_experiment(experiment_name, tags={"keep": "1"})
    client.set_experiment_tag(experiment_id, "stage", "dev")
    client.set_experiment_tag(experiment_id, "stage", "prod")
    client.set_experiment_tag(experiment_id, "mlflow.note.content", "x" * 5000)
    assert client.get_experiment(experiment_id).tags == {
        "keep": "1",
        "stage": "prod",
        "mlflow.note.content": "x" * 5000,
    }
    client.delete_experiment_tag(experiment_id, "stage")
    assert client.get_experiment(experiment_id).tags == {
        "keep": "1",
        "mlflow.note.content": "x" * 5000,
    }
    found = client.search_experiments(
        filter_string=f"tags.keep = '1' AND name = '{experiment_name}'"
    )
    assert [e.experiment_id for e in found] == [experiment_id]


def test_fluent_experiment_calls(tracking_uri: str, experiment_name: str) -> None:
    experiment_id = mlflow.create_experiment(experiment_name, tags={"a": "b"})
    assert mlflow.get_experiment(experiment_id).tags == {"a": "b"}
    assert mlflow.get_experiment_by_name(experiment_name).experiment_id == experiment_id
    found = mlflow.search_experiments(filter_string=f"name = '{experiment_name}'")
    assert [e.experiment_id for e in found] == [experiment_id]
    mlflow.set_experiment(experiment_id=experiment_id)
    mlflow.set_experiment_tags({"x": "1", "y": "2"})
    assert mlflow.get_experiment(experiment_id).tags == {"a": "b", "x": "1", "y": "2"}
    mlflow.delete_experiment(experiment_id)
    assert mlflow.get_experiment(experiment_id).lifecycle_stage == "deleted"
