"""Models move between labtrack and MLflow, both ways, checked with the real mlflow package.

- labtrack -> MLflow: ``mlflow.pyfunc.load_model`` (and the flavor's own ``load_model``)
  loads what labtrack saved, from a path and from a labtrack server (``runs:/``,
  ``models:/m-<id>``, ``models:/<name>/<version>``), and predicts the same.
- MLflow -> labtrack: labtrack loads what MLflow saved, in a process where ``import
  mlflow`` fails, and predicts the same.
- The MLmodel files match field by field, but for the differences listed here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import labtrack as lt

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")
pytest.importorskip("sklearn")
pytest.importorskip("skops")
xgb = pytest.importorskip("xgboost")
lgb = pytest.importorskip("lightgbm")


def _models(frame: Any) -> dict[str, tuple[str, Any]]:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    features, target = frame
    booster = lgb.train(
        {"objective": "binary", "verbose": -1},
        lgb.Dataset(features, label=target),
        num_boost_round=3,
    )
    return {
        "sklearn": ("sklearn", LogisticRegression(max_iter=500).fit(features, target)),
        "sklearn-trees": (
            "sklearn",
            RandomForestClassifier(n_estimators=3, random_state=0).fit(features, target),
        ),
        "xgboost": (
            "xgboost",
            xgb.XGBClassifier(n_estimators=3, max_depth=2).fit(features, target),
        ),
        "lightgbm": (
            "lightgbm",
            lgb.LGBMClassifier(n_estimators=3, verbose=-1).fit(features, target),
        ),
        "lightgbm-booster": ("lightgbm", booster),
    }


KINDS = ["sklearn", "sklearn-trees", "xgboost", "lightgbm", "lightgbm-booster"]

# What labtrack writes differently, on purpose.
TOP_LEVEL_DIFFERENCES = {
    "mlflow_version",  # labtrack writes labtrack_version instead
    "labtrack_version",
    "is_signature_from_type_hint",  # MLflow-internal flags about how it inferred the signature
    "type_hint_from_example",
    "prompts",  # MLflow's GenAI prompts (null)
}


def _mlmodel(path: Path) -> dict[str, Any]:
    return yaml.safe_load((path / "MLmodel").read_text())


@pytest.mark.parametrize("kind", KINDS)
def test_mlmodel_matches_mlflow(mlflow: Any, tmp_path: Path, frame: Any, kind: str) -> None:
    features, _ = frame
    flavor, model = _models(frame)[kind]
    example = features.head(3)
    skops_types = ["sklearn.tree._tree.Tree"] if kind == "sklearn-trees" else None
    mlflow_kwargs = {"skops_trusted_types": skops_types} if skops_types else {}
    getattr(mlflow, flavor).save_model(
        model, str(tmp_path / "theirs"), input_example=example, **mlflow_kwargs
    )
    getattr(lt, flavor).save_model(model, tmp_path / "ours", input_example=example)
    theirs, ours = _mlmodel(tmp_path / "theirs"), _mlmodel(tmp_path / "ours")

    assert set(ours) - TOP_LEVEL_DIFFERENCES == set(theirs) - TOP_LEVEL_DIFFERENCES - {"model_id"}
    assert theirs["model_id"] is None  # MLflow writes a null model_id when saving; we omit it
    assert ours["labtrack_version"] == lt.__version__
    assert ours["saved_input_example_info"] == theirs["saved_input_example_info"]
    assert {k: json.loads(v) if v else v for k, v in ours["signature"].items()} == {
        k: json.loads(v) if v else v for k, v in theirs["signature"].items()
    }
    assert set(ours["flavors"]) == set(theirs["flavors"])
    for name, conf in theirs["flavors"].items():
        mine = ours["flavors"][name]
        assert set(mine) == set(conf), name
        for key, value in conf.items():
            if key == "skops_trusted_types" and value is not None:
                assert set(mine[key] or ()) <= set(value), (name, key)
            else:
                assert mine[key] == value, (name, key)
    for file in ("input_example.json", "serving_input_example.json"):
        assert json.loads((tmp_path / "ours" / file).read_text()) == json.loads(
            (tmp_path / "theirs" / file).read_text()
        ), file
    assert {p.name for p in (tmp_path / "ours").iterdir()} == {
        p.name for p in (tmp_path / "theirs").iterdir()
    }
    # The flavor's libraries are pinned as MLflow pins them (MLflow adds mlflow itself and
    # whatever its import probe saw; labtrack lists what the model needs).
    their_requirements = set((tmp_path / "theirs" / "requirements.txt").read_text().splitlines())
    our_requirements = (tmp_path / "ours" / "requirements.txt").read_text().splitlines()
    assert our_requirements[0] in their_requirements


@pytest.mark.parametrize("kind", KINDS)
def test_mlflow_loads_labtrack_models(mlflow: Any, tmp_path: Path, frame: Any, kind: str) -> None:
    features, _ = frame
    flavor, model = _models(frame)[kind]
    getattr(lt, flavor).save_model(model, tmp_path / "m", input_example=features.head(2))
    expected = lt.pyfunc.load_model(tmp_path / "m").predict(features)
    theirs = mlflow.pyfunc.load_model(str(tmp_path / "m"))
    np.testing.assert_array_equal(np.asarray(theirs.predict(features)), np.asarray(expected))
    native = getattr(mlflow, flavor).load_model(str(tmp_path / "m"))
    assert type(native) is type(model)


class Doubler(lt.pyfunc.PythonModel):
    def load_context(self, context: Any) -> None:
        self.factor = float(Path(context.artifacts["factor"]).read_text())

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        return model_input * self.factor


def test_mlflow_loads_a_labtrack_python_model(
    mlflow: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "factor.txt").write_text("2")
    lt.pyfunc.save_model(
        Doubler(), tmp_path / "m", artifacts={"factor": str(tmp_path / "factor.txt")}
    )
    data = pd.DataFrame({"x": [1.0, 2.0]})
    # labtrack's loader refuses the pickle unless trusted, also when MLflow calls it
    with pytest.raises(lt.models.UntrustedModelError, match="it is a cloudpickle file"):
        mlflow.pyfunc.load_model(str(tmp_path / "m"))
    monkeypatch.setenv("LABTRACK_TRUST_PICKLE", "1")
    loaded = mlflow.pyfunc.load_model(str(tmp_path / "m"))
    assert loaded.predict(data)["x"].tolist() == [2.0, 4.0]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    from livesrv import serve_in_thread

    with serve_in_thread(f"sqlite:///{tmp_path / 'server.db'}", str(tmp_path / "served")) as url:
        yield url


def test_mlflow_loads_from_a_labtrack_server(mlflow: Any, server: str, frame: Any) -> None:
    features, _ = frame
    _, model = _models(frame)["sklearn"]
    lt.set_tracking_uri(server)
    with lt.start_run() as run:
        info = lt.sklearn.log_model(
            model, name="clf", input_example=features.head(2), registered_model_name="compat"
        )
    expected = model.predict(features).tolist()
    mlflow.set_tracking_uri(server)
    for uri in (f"runs:/{run.info.run_id}/clf", info.model_uri, "models:/compat/1"):
        assert mlflow.pyfunc.load_model(uri).predict(features).tolist() == expected, uri
    assert mlflow.sklearn.load_model(info.model_uri).predict(features).tolist() == expected
    logged = mlflow.MlflowClient().get_logged_model(info.model_id)
    assert str(logged.status).endswith("READY")
    assert logged.source_run_id == run.info.run_id


def test_a_loaded_model_prints_as_in_mlflow(mlflow: Any, server: str, frame: Any) -> None:
    """``print(model)`` gives MLflow's block, for a logged model and a saved one."""
    _, model = _models(frame)["sklearn"]
    lt.set_tracking_uri(server)
    with lt.start_run():
        info = lt.sklearn.log_model(model, name="clf")
    mlflow.set_tracking_uri(server)
    ours = repr(lt.pyfunc.load_model(info.model_uri))
    assert ours == repr(mlflow.pyfunc.load_model(info.model_uri))
    assert ours.startswith("mlflow.pyfunc.loaded_model:\n  artifact_path: ")


def test_labtrack_loads_what_mlflow_logged_to_a_labtrack_server(
    mlflow: Any, server: str, frame: Any
) -> None:
    features, _ = frame
    _, model = _models(frame)["xgboost"]
    mlflow.set_tracking_uri(server)
    with mlflow.start_run() as run:
        info = mlflow.xgboost.log_model(model, name="booster", input_example=features.head(2))
    lt.set_tracking_uri(server)
    expected = model.predict(features).tolist()
    for uri in (f"runs:/{run.info.run_id}/booster", info.model_uri):
        assert lt.pyfunc.load_model(uri).predict(features).tolist() == expected, uri
    assert type(lt.xgboost.load_model(info.model_uri)) is type(model)


WITHOUT_MLFLOW = """
import json, sys
sys.modules["mlflow"] = None  # `import mlflow` now fails
import pandas as pd
import labtrack as lt
features = pd.read_json(sys.argv[1], orient="split")
out = {}
for path, kind in json.loads(sys.argv[2]).items():
    trust = {"trust_pickle": True} if kind == "pickle" else {}
    out[path] = lt.pyfunc.load_model(path, **trust).predict(features).tolist()
try:
    import mlflow
except ImportError:
    out["mlflow importable"] = False
print(json.dumps(out))
"""


def test_labtrack_loads_mlflow_models_without_mlflow(
    mlflow: Any, tmp_path: Path, frame: Any
) -> None:
    features, _ = frame
    models = _models(frame)
    saved: dict[str, str] = {}
    expected: dict[str, Any] = {}
    for kind in KINDS:
        flavor, model = models[kind]
        path = str(tmp_path / kind)
        kwargs: dict[str, Any] = {"pip_requirements": [flavor]}  # skips MLflow's slow probe
        if kind == "sklearn-trees":
            kwargs["skops_trusted_types"] = ["sklearn.tree._tree.Tree"]
        getattr(mlflow, flavor).save_model(model, path, input_example=features.head(2), **kwargs)
        saved[path] = "skops"
        expected[path] = mlflow.pyfunc.load_model(path).predict(features).tolist()
    pickled = str(tmp_path / "sklearn-pickle")
    mlflow.sklearn.save_model(
        models["sklearn"][1], pickled, serialization_format="cloudpickle", pip_requirements=["x"]
    )
    saved[pickled] = "pickle"
    expected[pickled] = models["sklearn"][1].predict(features).tolist()

    (tmp_path / "features.json").write_text(features.to_json(orient="split"))
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(WITHOUT_MLFLOW),
            str(tmp_path / "features.json"),
            json.dumps(saved),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result.pop("mlflow importable") is False
    assert set(result) == set(expected)
    for path, predictions in expected.items():
        np.testing.assert_allclose(result[path], predictions, err_msg=path)


def test_mlflow_pickled_sklearn_model_needs_trust(mlflow: Any, tmp_path: Path, frame: Any) -> None:
    _, model = _models(frame)["sklearn"]
    mlflow.sklearn.save_model(
        model, str(tmp_path / "m"), serialization_format="pickle", pip_requirements=["x"]
    )
    with pytest.raises(lt.models.UntrustedModelError, match=r"model\.pkl"):
        lt.pyfunc.load_model(tmp_path / "m")
