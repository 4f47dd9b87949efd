"""Logging and loading models with MLflow 3's flavors against a labtrack server.

``mlflow.<flavor>.log_model`` creates a logged model (``POST logged-models``), uploads
its files to the model's artifact location, finalizes it (``PATCH logged-models/<id>``)
and links it to the run (``runs/outputs``); loading ``runs:/<run>/<name>`` finds the
model again through ``logged-models/search``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx
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


# -- a logged model's files, side by side with MLflow's own server ---------------------------
@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from compat.test_wire import _find_mlflow_server, _mlflow_server

    executable = _find_mlflow_server()
    if executable is None:
        pytest.skip("no MLflow server to compare with (set LABTRACK_TEST_MLFLOW_BIN)")
    with _mlflow_server(executable, tmp_path_factory.mktemp("mlflow-models")) as url:
        yield url


API = "/api/2.0/mlflow"
AJAX = "/ajax-api/2.0/mlflow"
Listing = dict[str, bool]  # path -> is_dir (with a size for each file, checked on the way)


def _walk(list_files: Callable[[str | None], list[dict[str, Any]]], prefix: str) -> Listing:
    """Every file and directory under a listing's root, recursively; paths without ``prefix``."""
    found: Listing = {}
    pending: list[str | None] = [None]
    while pending:
        directory = pending.pop()
        for item in list_files(directory):
            path = item["path"]
            assert path.startswith(prefix), path
            relative = path[len(prefix) :]
            is_dir = bool(item.get("is_dir", False))
            found[relative] = is_dir
            if is_dir:
                pending.append(path)
            else:
                assert isinstance(item.get("file_size"), int), item  # every file has a size
    return found


class ModelFiles(NamedTuple):
    """One logged model's files as each way of listing them shows them."""

    run_path: Listing  # REST artifacts/list on the run's model path
    logged_model: Listing  # REST logged-models/<id>/artifacts/directories
    client: Listing  # MlflowClient.list_artifacts(run_id, "<name>")
    downloads: dict[str, int]  # each file's status from logged-models/<id>/artifacts/files


def _logged_classifier_files(url: str, data: tuple[Any, Any], code: Path) -> ModelFiles:
    """Log a classifier (with a code directory) by the mlflow client to ``url``; its files."""
    from sklearn.linear_model import LogisticRegression

    features, target = data
    model = LogisticRegression().fit(features, target)
    mlflow.set_tracking_uri(url)
    client = mlflow.MlflowClient(url)
    experiment_id = client.create_experiment(f"files-{uuid.uuid4().hex[:8]}")
    with mlflow.start_run(experiment_id=experiment_id) as run:
        info = mlflow.sklearn.log_model(
            model, name="classifier", input_example=features.head(3), code_paths=[str(code)]
        )
    run_id = run.info.run_id
    with httpx.Client(base_url=url, timeout=30) as http:

        def run_files(path: str | None) -> list[dict[str, Any]]:
            params = {"run_id": run_id, "path": path or "classifier"}
            response = http.get(f"{API}/artifacts/list", params=params)
            assert response.status_code == 200, response.text
            return list(response.json().get("files", []))

        model_path = f"logged-models/{info.model_id}/artifacts"

        def model_files(path: str | None) -> list[dict[str, Any]]:
            params = {} if path is None else {"artifact_directory_path": path}
            response = http.get(f"{API}/{model_path}/directories", params=params)
            assert response.status_code == 200, response.text
            return list(response.json().get("files", []))

        def client_files(path: str | None) -> list[dict[str, Any]]:
            listed = client.list_artifacts(run_id, path or "classifier")
            return [{"path": f.path, "is_dir": f.is_dir, "file_size": f.file_size} for f in listed]

        logged_model = _walk(model_files, "")
        downloads = {
            path: http.get(
                f"{AJAX}/{model_path}/files", params={"artifact_file_path": path}
            ).status_code
            for path, is_dir in logged_model.items()
            if not is_dir
        }
        return ModelFiles(
            run_path=_walk(run_files, "classifier/"),
            logged_model=logged_model,
            client=_walk(client_files, "classifier/"),
            downloads=downloads,
        )


@pytest.mark.slow
@pytest.mark.labtrack_only
def test_a_logged_models_files_are_listed_as_mlflow_lists_them(
    tracking_server: str, mlflow_server: str, data: tuple[Any, Any], tmp_path: Path
) -> None:
    """The same sklearn model logged by the mlflow client to both servers: the same files
    and directories, through the run and through the logged model (sizes may differ)."""
    pytest.importorskip("sklearn", reason="the model compared is a scikit-learn one")
    pytest.importorskip("skops", reason="MLflow 3 saves scikit-learn models with skops")
    code = tmp_path / "features.py"
    code.write_text("SCALE = 2\n")
    theirs = _logged_classifier_files(mlflow_server, data, code)
    ours = _logged_classifier_files(tracking_server, data, code)
    # What MLflow's server shows (a sanity check that the comparison has something in it):
    # the files under the logged model, none under the run's path (MLflow 3 keeps a model's
    # files with the model; its client lists them for a run through the model).
    assert {"MLmodel", "model.skops", "code", "code/features.py"} <= theirs.logged_model.keys()
    assert theirs.logged_model["code"] is True
    assert theirs.run_path == {}
    assert theirs.client == theirs.logged_model
    assert set(theirs.downloads.values()) == {200}
    assert ours == theirs
