"""The course notes' workflows (shared/seeds: MLOps Zoomcamp chapter 2) run on labtrack
with one changed line: ``import labtrack as mlflow``.

The code below keeps the notes' calls as they are written there (MLflow 2 spellings
included, such as ``log_model(..., artifact_path=...)`` and
``from mlflow.tracking import MlflowClient``); only the data is made up, small and local.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

pd = pytest.importorskip("pandas")
np = pytest.importorskip("numpy")
xgb = pytest.importorskip("xgboost")
pytest.importorskip("sklearn")
pytest.importorskip("skops")

import labtrack as mlflow  # noqa: E402
from labtrack.errors import InvalidParameterValue  # noqa: E402
from labtrack.tracking import MlflowClient  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:log_model's artifact_path is deprecated")


@pytest.fixture
def notebook_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A notebook's working directory with its own ``sqlite:///mlflow.db``."""
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri("sqlite:///mlflow.db")
    return tmp_path


def _taxi_data() -> tuple[object, object, object, object]:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(300, 4))
    y = X @ np.array([3.0, -1.0, 0.5, 2.0]) + rng.normal(scale=0.1, size=300)
    return X[:200], y[:200], X[200:], y[200:]


def test_tracking_a_lasso_run_and_registering_it(notebook_dir: Path) -> None:
    from sklearn.linear_model import Lasso
    from sklearn.metrics import mean_squared_error

    X_train, y_train, X_val, y_val = _taxi_data()
    mlflow.set_experiment("nyc-taxi-experiment")
    with mlflow.start_run():
        mlflow.set_tag("developer", "danial")
        mlflow.log_param("train-data-path", "./data/green_tripdata_2021-01.parquet")
        mlflow.log_param("valid-data-path", "./data/green_tripdata_2021-02.parquet")
        alpha = 0.1
        mlflow.log_param("alpha", alpha)
        lr = Lasso(alpha)
        lr.fit(X_train, y_train)
        y_pred = lr.predict(X_val)
        rmse = mean_squared_error(y_val, y_pred) ** 0.5
        mlflow.log_metric("rmse", rmse)
        mlflow.sklearn.log_model(lr, registered_model_name="Lasso_Regression_Model")

    client = MlflowClient(tracking_uri="sqlite:///mlflow.db")
    (run,) = client.search_runs(
        experiment_ids="1", filter_string="metrics.rmse < 7", order_by=["metrics.rmse ASC"]
    )
    assert run.data.params["alpha"] == "0.1"
    assert run.data.tags["developer"] == "danial"
    (version,) = client.search_model_versions("name='Lasso_Regression_Model'")
    assert version.run_id == run.info.run_id
    loaded = mlflow.pyfunc.load_model("models:/Lasso_Regression_Model/1")
    np.testing.assert_allclose(loaded.predict(pd.DataFrame(X_val)), y_pred)


def test_xgboost_with_a_preprocessor_artifact_loaded_back_by_run_uri(notebook_dir: Path) -> None:
    from sklearn.feature_extraction import DictVectorizer

    X_train, y_train, X_val, _ = _taxi_data()
    train = xgb.DMatrix(X_train, label=y_train)
    valid = xgb.DMatrix(X_val)
    mlflow.set_experiment("nyc-taxi-experiment")
    Path("models").mkdir()
    with mlflow.start_run() as active:
        best_params = {"learning_rate": 0.29, "max_depth": 6, "seed": 42}
        mlflow.log_params(best_params)
        booster = xgb.train(
            params={**best_params, "objective": "reg:squarederror"},
            dtrain=train,
            num_boost_round=30,
            evals=[(train, "validation")],
            early_stopping_rounds=5,
            verbose_eval=False,
        )
        y_pred = booster.predict(valid)
        mlflow.log_metric("rmse", 1.5)
        dv = DictVectorizer().fit([{"PU_DO": "1_2"}])
        with open("models/preprocessor.b", "wb") as f_out:
            pickle.dump(dv, f_out)
        mlflow.log_artifact("models/preprocessor.b", artifact_path="preprocessor")
        mlflow.xgboost.log_model(booster, artifact_path="models_mlflow")

    logged_model = f"runs:/{active.info.run_id}/models_mlflow"
    loaded_model = mlflow.pyfunc.load_model(logged_model)
    np.testing.assert_allclose(loaded_model.predict(pd.DataFrame(X_val)), y_pred, rtol=1e-6)
    xgboost_model = mlflow.xgboost.load_model(logged_model)
    np.testing.assert_allclose(xgboost_model.predict(valid), y_pred)
    client = MlflowClient()
    names = [f.path for f in client.list_artifacts(active.info.run_id, "preprocessor")]
    assert names == ["preprocessor/preprocessor.b"]

    # The registry chapter: register the run's model, promote it, load it by stage.
    mv = mlflow.register_model(model_uri=logged_model, name="nyc-taxi-regressor")
    client.transition_model_version_stage(
        name="nyc-taxi-regressor", version=mv.version, stage="Staging"
    )
    (latest,) = client.get_latest_versions("nyc-taxi-regressor", stages=["Staging"])
    assert latest.run_id == active.info.run_id
    staged = mlflow.pyfunc.load_model("models:/nyc-taxi-regressor/Staging")
    np.testing.assert_allclose(staged.predict(pd.DataFrame(X_val)), y_pred, rtol=1e-6)


def test_log_model_refuses_two_different_names(notebook_dir: Path) -> None:
    from sklearn.linear_model import Lasso

    X_train, y_train, _, _ = _taxi_data()
    with mlflow.start_run(), pytest.raises(InvalidParameterValue, match="only name"):
        mlflow.sklearn.log_model(Lasso().fit(X_train, y_train), name="a", artifact_path="b")
