"""The model registry through the real ``mlflow`` client against a labtrack server.

Registering (``mlflow.register_model``, ``log_model(registered_model_name=...)``, which
MLflow 3 does with a ``model_id``), stages and archiving, aliases, latest versions,
search, deletes, and loading ``models:/<name>/<stage>`` and ``models:/<name>@<alias>``.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from compat._support import MLFLOW_MISSING

mlflow = pytest.importorskip("mlflow", reason=MLFLOW_MISSING)
from mlflow.exceptions import MlflowException  # noqa: E402

# MLflow deprecates stages (FutureWarning on every stage call); they still work.
STAGES_DEPRECATED = pytest.mark.filterwarnings(
    r"ignore:.*is deprecated since 2\.9\.0.*:FutureWarning"
)


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    from compat.conftest import unique_name

    return unique_name(request, "reg-")


def _run_with_model_dir() -> str:
    """A run with an ``MLmodel`` file under ``model/`` (what register_model looks for)."""
    with mlflow.start_run() as run:
        mlflow.log_text("artifact_path: model\nflavors: {}\n", "model/MLmodel")
    return str(run.info.run_id)


def test_register_model_twice_makes_two_versions(
    client: Any, experiment_id: str, name: str
) -> None:
    run_id = _run_with_model_dir()
    first = mlflow.register_model(f"runs:/{run_id}/model", name)
    second = mlflow.register_model(f"runs:/{run_id}/model", name, tags={"k": "v"})
    assert (first.name, str(first.version)) == (name, "1")
    assert str(second.version) == "2"
    assert second.tags == {"k": "v"}
    assert first.run_id == run_id
    assert first.current_stage == "None"
    assert first.status == "READY"
    run = client.get_run(run_id)
    assert first.source == f"{run.info.artifact_uri}/model"
    assert client.get_model_version_download_uri(name, 1) == first.source
    model = client.get_registered_model(name)
    assert [str(v.version) for v in model.latest_versions] == ["2"]


@STAGES_DEPRECATED
def test_stages_and_archiving(client: Any, experiment_id: str, name: str) -> None:
    run_id = _run_with_model_dir()
    for _ in range(3):
        mlflow.register_model(f"runs:/{run_id}/model", name)
    client.transition_model_version_stage(name, 1, "Production")
    client.transition_model_version_stage(name, 2, "staging")
    moved = client.transition_model_version_stage(
        name, 3, "Production", archive_existing_versions=True
    )
    assert moved.current_stage == "Production"
    stages = {v: client.get_model_version(name, v).current_stage for v in (1, 2, 3)}
    assert stages == {1: "Archived", 2: "Staging", 3: "Production"}
    latest = client.get_latest_versions(name, stages=["Production"])
    assert [str(v.version) for v in latest] == ["3"]
    every = {v.current_stage: str(v.version) for v in client.get_latest_versions(name)}
    assert every == {"Archived": "1", "Staging": "2", "Production": "3"}
    with pytest.raises(MlflowException, match="Invalid Model Version stage"):
        client.transition_model_version_stage(name, 1, "bogus")


def test_aliases(client: Any, experiment_id: str, name: str) -> None:
    run_id = _run_with_model_dir()
    for _ in range(2):
        mlflow.register_model(f"runs:/{run_id}/model", name)
    client.set_registered_model_alias(name, "champion", 2)
    by_alias = client.get_model_version_by_alias(name, "champion")
    assert str(by_alias.version) == "2"
    assert by_alias.aliases == ["champion"]
    assert client.get_registered_model(name).aliases == {"champion": "2"}
    client.set_registered_model_alias(name, "champion", "1")
    assert str(client.get_model_version_by_alias(name, "champion").version) == "1"
    client.delete_registered_model_alias(name, "champion")
    with pytest.raises(MlflowException, match="alias champion not found") as caught:
        client.get_model_version_by_alias(name, "champion")
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException, match="reserved"):
        client.set_registered_model_alias(name, "v1", 1)


def test_tags_descriptions_and_search(client: Any, experiment_id: str, name: str) -> None:
    client.create_registered_model(name, tags={"team": "ml"}, description="first")
    client.create_model_version(name, "s3://bucket/model", tags={"ok": "yes"})
    client.set_registered_model_tag(name, "owner", "ana")
    client.set_model_version_tag(name, "1", "validated", "true")
    client.update_registered_model(name, description="second")
    client.update_model_version(name, 1, description="v1")
    model = client.get_registered_model(name)
    assert model.tags == {"team": "ml", "owner": "ana"}
    assert model.description == "second"
    version = client.get_model_version(name, 1)
    assert version.tags == {"ok": "yes", "validated": "true"}
    assert version.description == "v1"

    found = client.search_registered_models(filter_string=f"name = '{name}'")
    assert [m.name for m in found] == [name]
    assert [m.name for m in client.search_registered_models(f"name LIKE '{name[:-3]}%'")] == [name]
    assert [m.name for m in client.search_registered_models("tags.team = 'ml'")] >= [name]
    versions = client.search_model_versions(f"name = '{name}'")
    assert [str(v.version) for v in versions] == ["1"]
    assert client.search_model_versions(f"name = '{name}' AND tags.ok = 'no'") == []
    client.delete_registered_model_tag(name, "owner")
    client.delete_model_version_tag(name, "1", "validated")
    assert client.get_registered_model(name).tags == {"team": "ml"}


def test_rename_and_delete(client: Any, experiment_id: str, name: str) -> None:
    client.create_registered_model(name)
    for i in range(3):
        client.create_model_version(name, f"s3://bucket/{i}")
    client.delete_model_version(name, 3)
    assert str(client.create_model_version(name, "s3://bucket/again").version) == "4"
    client.rename_registered_model(name, name + "-new")  # MlflowClient returns nothing
    assert client.get_registered_model(name + "-new").name == name + "-new"
    assert str(client.get_model_version(name + "-new", 1).version) == "1"
    with pytest.raises(MlflowException) as caught:
        client.get_registered_model(name)
    assert caught.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    client.delete_registered_model(name + "-new")
    with pytest.raises(MlflowException, match="not found"):
        client.get_model_version(name + "-new", 1)
    client.create_registered_model(name + "-dup")
    with pytest.raises(MlflowException) as exists:
        client.create_registered_model(name + "-dup")
    assert exists.value.error_code == "RESOURCE_ALREADY_EXISTS"


@STAGES_DEPRECATED
def test_load_registered_sklearn_model(
    client: Any, experiment_id: str, name: str, tracking_uri: str
) -> None:
    """``log_model(registered_model_name=...)`` registers with a model_id (MLflow 3); the
    version loads by stage and by alias."""
    pytest.importorskip("sklearn")
    pytest.importorskip("skops", reason="MLflow 3 saves scikit-learn models with skops")
    np = pytest.importorskip("numpy")
    from sklearn.linear_model import LinearRegression

    features = np.arange(20, dtype=float).reshape(10, 2)
    target = features @ np.array([1.0, 2.0]) + 3.0
    model = LinearRegression().fit(features, target)
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(model, name="reg", registered_model_name=name)
    version = client.get_model_version(name, 1)
    assert version.run_id == run.info.run_id  # from the logged model
    assert version.source == f"models:/{info.model_id}"
    logged = client.get_logged_model(info.model_id)
    assert client.get_model_version_download_uri(name, 1) == logged.artifact_location

    client.transition_model_version_stage(name, 1, "Production")
    client.set_registered_model_alias(name, "champion", 1)
    expected = model.predict(features)
    for uri in (f"models:/{name}/Production", f"models:/{name}@champion", f"models:/{name}/1"):
        loaded = mlflow.pyfunc.load_model(uri)
        assert list(loaded.predict(features)) == pytest.approx(list(expected)), uri
    # Registering the run's model by its runs:/ URI finds the logged model (MLflow 3).
    again = mlflow.register_model(f"runs:/{run.info.run_id}/reg", name)
    assert str(again.version) == "2"
    # labtrack keeps each version's model_id (MLflow's client does not read it back).
    for number in ("1", "2"):
        got = httpx.get(
            f"{tracking_uri}/api/2.0/mlflow/model-versions/get",
            params={"name": name, "version": number},
        ).json()
        assert got["model_version"]["model_id"] == info.model_id
    # The versions made from a logged model are listed on it: by the server (a number, as
    # MLflow's server writes it) and again by MLflow's client (a string), exactly as a real
    # MLflow 3.17 server and client leave the tag.
    tagged = client.get_logged_model(info.model_id).tags["mlflow.modelVersions"]
    assert [v["version"] for v in json.loads(tagged)] == [1, "1", 2, "2"]
