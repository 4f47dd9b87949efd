"""Logging and loading models with MLflow 3's flavors against a labtrack server.

``mlflow.<flavor>.log_model`` creates a logged model (``POST logged-models``), uploads
its files to the model's artifact location, finalizes it (``PATCH logged-models/<id>``)
and links it to the run (``runs/outputs``); loading ``runs:/<run>/<name>`` finds the
model again through ``logged-models/search``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from compat._support import MLFLOW_MISSING

mlflow = pytest.importorskip("mlflow", reason=MLFLOW_MISSING)
np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")


@pytest.fixture
def data() -> tuple[Any, Any]:
    rng = np.random.default_rng(0)
    features = pd.DataFrame(rng.normal(size=(40, 3)), columns=["a", "b", "c"])
    target = (features["a"] + 2 * features["b"] - features["c"] > 0).astype(int)
    return features, target


def test_sklearn_log_and_load(
    client: Any, experiment_id: str, data: tuple[Any, Any], tmp_path: Path
) -> None:
    pytest.importorskip("sklearn")
    pytest.importorskip("skops", reason="MLflow 3 saves scikit-learn models with skops")
    from sklearn.linear_model import LogisticRegression

    features, target = data
    model = LogisticRegression().fit(features, target)
    with mlflow.start_run() as run:
        mlflow.log_param("C", model.C)
        info = mlflow.sklearn.log_model(model, name="classifier", input_example=features.head(3))
    run_id = run.info.run_id
    assert info.run_id == run_id
    assert info.model_id
    assert info.model_uri == f"models:/{info.model_id}"
    assert info.signature is not None

    expected = model.predict(features)
    by_run = mlflow.pyfunc.load_model(f"runs:/{run_id}/classifier")
    assert list(by_run.predict(features)) == list(expected)
    assert by_run.metadata.run_id == run_id
    assert list(mlflow.sklearn.load_model(f"runs:/{run_id}/classifier").predict(features)) == (
        list(expected)
    )
    by_id = mlflow.pyfunc.load_model(info.model_uri)
    assert list(by_id.predict(features)) == list(expected)
    assert list(mlflow.sklearn.load_model(info.model_uri).predict_proba(features)[:, 1]) == (
        pytest.approx(list(model.predict_proba(features)[:, 1]))
    )

    logged = client.get_logged_model(info.model_id)
    assert logged.name == "classifier"
    assert logged.source_run_id == run_id
    assert logged.experiment_id == experiment_id
    assert str(logged.status) in ("READY", "LoggedModelStatus.READY")
    # The run records the model among its outputs.
    outputs = client.get_run(run_id).outputs
    assert [o.model_id for o in outputs.model_outputs] == [info.model_id]
    # The model's files are listed through the run, as MLflow 3 lists a run's models.
    names = {Path(f.path).name for f in client.list_artifacts(run_id, "classifier")}
    assert {"MLmodel", "model.skops", "input_example.json"} <= names
    local = Path(
        mlflow.artifacts.download_artifacts(f"runs:/{run_id}/classifier", dst_path=str(tmp_path))
    )
    assert (local / "MLmodel").is_file()
    found = client.search_logged_models(
        experiment_ids=[experiment_id], filter_string="name = 'classifier'"
    )
    assert [m.model_id for m in found] == [info.model_id]


def test_xgboost_log_and_load(client: Any, experiment_id: str, data: tuple[Any, Any]) -> None:
    xgb = pytest.importorskip("xgboost")
    features, target = data
    model = xgb.XGBClassifier(n_estimators=5, max_depth=2).fit(features, target)
    with mlflow.start_run() as run:
        info = mlflow.xgboost.log_model(model, name="booster", input_example=features.head(2))
    run_id = run.info.run_id
    expected = model.predict(features)
    loaded = mlflow.xgboost.load_model(f"runs:/{run_id}/booster")
    assert list(loaded.predict(features)) == list(expected)
    pyfunc = mlflow.pyfunc.load_model(info.model_uri)
    assert list(np.asarray(pyfunc.predict(features)).astype(int)) == list(expected)


def test_log_model_outside_a_run(client: Any, experiment_id: str, data: tuple[Any, Any]) -> None:
    """MLflow 3 logs a model with no run: it belongs to the active experiment only."""
    pytest.importorskip("sklearn")
    pytest.importorskip("skops", reason="MLflow 3 saves scikit-learn models with skops")
    from sklearn.linear_model import LogisticRegression

    features, target = data
    model = LogisticRegression(C=0.5).fit(features, target)
    info = mlflow.sklearn.log_model(model, name="runless")
    assert info.run_id is None
    assert mlflow.active_run() is None
    loaded = mlflow.pyfunc.load_model(info.model_uri)
    assert list(loaded.predict(features)) == list(model.predict(features))
    assert client.get_logged_model(info.model_id).experiment_id == experiment_id
