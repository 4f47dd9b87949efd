"""log_model as MLflow 3 does it, against an embedded SQLite store and a live server;
loading back through every URI form."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import labtrack as lt
from labtrack.entities import LoggedModelStatus
from labtrack.errors import InvalidParameterValue

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")
pytest.importorskip("sklearn")


@pytest.fixture(params=["sqlite", "server"])
def tracking(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The tracking URI: an embedded SQLite store, or a live labtrack server proxying
    artifacts (models land under mlflow-artifacts:/ locations)."""
    if request.param == "sqlite":
        yield lt.get_tracking_uri()
        return
    from livesrv import serve_in_thread

    with serve_in_thread(f"sqlite:///{tmp_path / 'server.db'}", str(tmp_path / "served")) as url:
        lt.set_tracking_uri(url)
        yield url


def test_log_model_creates_a_ready_logged_model(tracking: str, frame: Any, sk_model: Any) -> None:
    features, _ = frame
    with lt.start_run() as run:
        lt.log_param("C", 1.0)
        info = lt.sklearn.log_model(
            sk_model, name="classifier", input_example=features.head(3), tags={"team": "a"}
        )
    run_id = run.info.run_id
    assert info.run_id == run_id
    assert info.name == "classifier"
    assert info.model_id
    assert info.model_id.startswith("m-")
    assert info.model_uri == f"models:/{info.model_id}"
    assert info.model_uuid == info.model_id
    assert info.signature is not None
    assert info.signature.inputs is not None
    assert set(info.flavors) == {"python_function", "sklearn"}

    client = lt.TrackingClient()
    logged = client.service.get_logged_model(info.model_id)
    assert logged.status == LoggedModelStatus.READY
    assert logged.name == "classifier"
    assert logged.source_run_id == run_id
    assert logged.params == {"C": "1.0"}  # the run's params, as MLflow 3 copies them
    assert logged.tags["team"] == "a"
    assert info.artifact_path == logged.artifact_location
    outputs = client.get_run(run_id).outputs.model_outputs
    assert [(o.model_id, o.step) for o in outputs] == [(info.model_id, 0)]

    expected = sk_model.predict(features).tolist()
    for uri in (info.model_uri, f"runs:/{run_id}/classifier"):
        model = lt.pyfunc.load_model(uri)
        assert model.predict(features).tolist() == expected, uri
        assert model.metadata.run_id == run_id
        assert model.metadata.model_id == info.model_id
    assert lt.sklearn.load_model(info.model_uri).predict(features).tolist() == expected


def test_mlmodel_of_a_logged_model(tracking: str, sk_model: Any) -> None:
    with lt.start_run() as run:
        info = lt.sklearn.log_model(sk_model, name="m")
    local = lt.models.download_model(info.model_uri)
    meta = yaml.safe_load((local / "MLmodel").read_text())
    assert meta["run_id"] == run.info.run_id
    assert meta["model_id"] == info.model_id
    assert meta["model_uuid"] == info.model_id
    assert meta["artifact_path"] == info.artifact_path


def test_log_model_outside_a_run(tracking: str, sk_model: Any, frame: Any) -> None:
    features, _ = frame
    experiment = lt.set_experiment("no-run")
    info = lt.sklearn.log_model(sk_model, name="runless")
    assert info.run_id is None
    assert lt.active_run() is None
    logged = lt.TrackingClient().service.get_logged_model(info.model_id or "")
    assert logged.experiment_id == experiment.experiment_id
    assert lt.pyfunc.load_model(info.model_uri).predict(features).tolist() == (
        sk_model.predict(features).tolist()
    )


def test_a_failed_log_marks_the_model_failed(tracking: str) -> None:
    """A failure while saving (skops cannot save a lambda) leaves the model FAILED."""
    from sklearn.preprocessing import FunctionTransformer

    model = FunctionTransformer(lambda x: x)
    model.predict = model.transform
    with lt.start_run() as run, pytest.raises(InvalidParameterValue, match="cannot be saved"):
        lt.sklearn.log_model(model, name="broken")
    client = lt.TrackingClient()
    [output] = client.get_run(run.info.run_id).outputs.model_outputs
    assert client.service.get_logged_model(output.model_id).status == LoggedModelStatus.FAILED


def test_a_model_that_cannot_be_saved_is_refused_before_anything_is_written(
    tracking: str, sk_model: Any
) -> None:
    """What the flavor can tell from the model and the options alone (here: no predict)
    is checked before a logged model, a run output or a registry version exists."""
    with lt.start_run() as run:
        with pytest.raises(InvalidParameterValue, match="has no predict"):
            lt.sklearn.log_model(object(), name="broken", registered_model_name="broken")
        with pytest.raises(InvalidParameterValue, match="Unknown serialization_format 'joblib'"):
            lt.sklearn.log_model(sk_model, name="broken", serialization_format="joblib")
        with pytest.raises(InvalidParameterValue, match="unexpected keyword argument 'colour'"):
            lt.models.log_model(sk_model, name="broken", flavor="sklearn", colour="red")
    client = lt.TrackingClient()
    finished = client.get_run(run.info.run_id)
    assert finished.info.status == "FINISHED"
    assert not finished.outputs.model_outputs
    assert not list(client.service.search_logged_models([finished.info.experiment_id]))
    assert not list(client.search_registered_models())


def test_runs_uri_falls_back_to_the_run_artifacts(
    tracking: str, tmp_path: Path, sk_model: Any, frame: Any
) -> None:
    """A model saved with save_model and logged as plain artifacts (MLflow 2's layout)."""
    features, _ = frame
    lt.sklearn.save_model(sk_model, tmp_path / "exported")
    with lt.start_run() as run:
        lt.log_artifacts(tmp_path / "exported", "legacy/model")
    model = lt.pyfunc.load_model(f"runs:/{run.info.run_id}/legacy/model")
    assert model.predict(features).tolist() == sk_model.predict(features).tolist()


def test_each_flavor_logs_and_loads(tracking: str, frame: Any) -> None:
    xgb = pytest.importorskip("xgboost")
    lgb = pytest.importorskip("lightgbm")
    features, target = frame
    xgb_model = xgb.XGBRegressor(n_estimators=3).fit(features, target)
    lgb_model = lgb.LGBMRegressor(n_estimators=3, verbose=-1).fit(features, target)
    with lt.start_run():
        xgb_info = lt.xgboost.log_model(xgb_model, name="xgb", input_example=features.head(2))
        lgb_info = lt.lightgbm.log_model(lgb_model, name="lgb", step=3)
    assert lt.pyfunc.load_model(xgb_info.model_uri).predict(features).tolist() == (
        xgb_model.predict(features).tolist()
    )
    assert lt.lightgbm.load_model(lgb_info.model_uri).predict(features).tolist() == (
        lgb_model.predict(features).tolist()
    )


def test_unknown_uris(tracking: str) -> None:
    with pytest.raises(InvalidParameterValue, match="Unsupported model URI 'gopher://x'"):
        lt.pyfunc.load_model("gopher://x")
    with pytest.raises(
        lt.ResourceDoesNotExist,
        match="Logged model with ID 'm-0123456789abcdef0123456789abcdef' not found",
    ):
        lt.pyfunc.load_model("models:/m-0123456789abcdef0123456789abcdef")
    with pytest.raises(
        lt.ResourceDoesNotExist, match="Run with id=0123456789abcdef0123456789abcdef not found"
    ):
        lt.pyfunc.load_model("runs:/0123456789abcdef0123456789abcdef/model")
    with pytest.raises(InvalidParameterValue, match="expected runs:/<run_id>/<path"):
        lt.pyfunc.load_model("runs:/abc")


def test_missing_path_in_a_run(tracking: str) -> None:
    with lt.start_run() as run:
        pass
    with pytest.raises(lt.ResourceDoesNotExist, match="No model at"):
        lt.pyfunc.load_model(f"runs:/{run.info.run_id}/nothing-here")


# -- the registry ------------------------------------------------------------------------------
def test_registered_model_uris(tracking: str, frame: Any, sk_model: Any) -> None:
    features, _ = frame
    expected = sk_model.predict(features).tolist()
    with lt.start_run():
        info = lt.sklearn.log_model(sk_model, name="clf", registered_model_name="churn")
    assert info.registered_model_version == 1
    client = lt.TrackingClient()
    client.set_registered_model_alias("churn", "champion", 1)
    client.transition_model_version_stage("churn", 1, "Staging")
    for uri in (
        "models:/churn/1",
        "models:/churn@champion",
        "models:/churn/Staging",
        "models:/churn/staging",
        "models:/churn/latest",
    ):
        assert lt.pyfunc.load_model(uri).predict(features).tolist() == expected, uri
    with pytest.raises(
        lt.ResourceDoesNotExist,
        match="No versions of model with name 'churn' and stage 'Production' found",
    ):
        lt.pyfunc.load_model("models:/churn/Production")
    with pytest.raises(
        lt.ResourceDoesNotExist, match="Registered Model with name=no-such-model not found"
    ):
        lt.pyfunc.load_model("models:/no-such-model/1")


def test_register_after_logging(tracking: str, frame: Any, sk_model: Any) -> None:
    features, _ = frame
    with lt.start_run() as run:
        lt.sklearn.log_model(sk_model, name="clf")
    version = lt.register_model(f"runs:/{run.info.run_id}/clf", "by-run")
    loaded = lt.pyfunc.load_model(f"models:/by-run/{version.version}")
    assert loaded.predict(features).tolist() == sk_model.predict(features).tolist()


def test_downloads_of_immutable_models_are_cached(tracking: str, sk_model: Any) -> None:
    with lt.start_run():
        info = lt.sklearn.log_model(sk_model, name="m")
    first = lt.models.download_model(info.model_uri)
    assert lt.models.download_model(info.model_uri) == first
    assert json.loads(json.dumps(str(first)))  # a plain local path


def test_a_loaded_model_prints_mlflow_s_block(tracking: str, sk_model: Any) -> None:
    with lt.start_run() as run:
        info = lt.sklearn.log_model(sk_model, name="classifier")
    loaded = lt.pyfunc.load_model(info.model_uri)
    assert repr(loaded) == (
        "mlflow.pyfunc.loaded_model:\n"
        f"  artifact_path: {info.artifact_path}\n"
        "  flavor: mlflow.sklearn\n"
        f"  run_id: {run.info.run_id}\n"
    )
    assert str(loaded) == repr(loaded)


def test_a_saved_model_prints_its_flavor_only(tmp_path: Path, sk_model: Any) -> None:
    lt.sklearn.save_model(sk_model, tmp_path / "m")
    assert repr(lt.pyfunc.load_model(tmp_path / "m")) == (
        "mlflow.pyfunc.loaded_model:\n  flavor: mlflow.sklearn\n"
    )
