"""Save and load round trips per flavor: predictions equal, files where MLflow puts them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

import labtrack as lt
from labtrack.errors import InvalidParameterValue

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")


def _mlmodel(path: Path) -> dict[str, Any]:
    return yaml.safe_load((path / "MLmodel").read_text())


def test_sklearn_round_trip(tmp_path: Path, frame: Any, sk_model: Any) -> None:
    features, _ = frame
    path = tmp_path / "m"
    lt.sklearn.save_model(sk_model, path, input_example=features.head(3))
    assert {p.name for p in path.iterdir()} == {
        "MLmodel",
        "model.skops",
        "requirements.txt",
        "python_env.yaml",
        "conda.yaml",
        "input_example.json",
        "serving_input_example.json",
    }
    loaded = lt.sklearn.load_model(path)
    assert type(loaded) is type(sk_model)
    assert loaded.predict(features).tolist() == sk_model.predict(features).tolist()
    pyfunc = lt.pyfunc.load_model(path)
    assert pyfunc.predict(features).tolist() == sk_model.predict(features).tolist()
    assert pyfunc.get_raw_model().coef_.tolist() == sk_model.coef_.tolist()


def test_sklearn_pipeline_with_trees(tmp_path: Path, frame: Any) -> None:
    """Tree models hold sklearn.tree._tree.Tree, a class skops does not trust by default;
    labtrack trusts scikit-learn's classes and records them for MLflow's loader."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features, target = frame
    model = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=5, random_state=0))
    model.fit(features, target)
    lt.sklearn.save_model(model, tmp_path / "m")
    conf = _mlmodel(tmp_path / "m")["flavors"]["sklearn"]
    assert conf["skops_trusted_types"] == ["sklearn.tree._tree.Tree"]
    loaded = lt.sklearn.load_model(tmp_path / "m")
    assert loaded.predict(features).tolist() == model.predict(features).tolist()


def test_sklearn_predict_fn(tmp_path: Path, frame: Any, sk_model: Any) -> None:
    features, _ = frame
    lt.sklearn.save_model(sk_model, tmp_path / "m", pyfunc_predict_fn="predict_proba")
    assert _mlmodel(tmp_path / "m")["flavors"]["python_function"]["predict_fn"] == "predict_proba"
    probs = lt.pyfunc.load_model(tmp_path / "m").predict(features)
    assert probs.tolist() == sk_model.predict_proba(features).tolist()


def test_sklearn_cloudpickle_round_trip(tmp_path: Path, frame: Any, sk_model: Any) -> None:
    features, _ = frame
    lt.sklearn.save_model(sk_model, tmp_path / "m", serialization_format="cloudpickle")
    assert (tmp_path / "m" / "model.pkl").is_file()
    loaded = lt.sklearn.load_model(tmp_path / "m", trust_pickle=True)
    assert loaded.predict(features).tolist() == sk_model.predict(features).tolist()


@pytest.mark.parametrize("model_format", ["ubj", "json"])
def test_xgboost_sklearn_api_round_trip(tmp_path: Path, frame: Any, model_format: str) -> None:
    xgb = pytest.importorskip("xgboost")
    features, target = frame
    model = xgb.XGBClassifier(n_estimators=5, max_depth=2).fit(features, target)
    path = tmp_path / "m"
    lt.xgboost.save_model(model, path, model_format=model_format, input_example=features.head(2))
    assert (path / f"model.{model_format}").is_file()
    loaded = lt.xgboost.load_model(path)
    assert type(loaded) is xgb.XGBClassifier
    assert loaded.predict(features).tolist() == model.predict(features).tolist()
    pyfunc = lt.pyfunc.load_model(path)
    assert pyfunc.predict(features).tolist() == model.predict(features).tolist()


def test_xgboost_booster_round_trip(tmp_path: Path, frame: Any) -> None:
    xgb = pytest.importorskip("xgboost")
    features, target = frame
    booster = xgb.train({"max_depth": 2}, xgb.DMatrix(features, label=target), num_boost_round=4)
    lt.xgboost.save_model(booster, tmp_path / "m")
    assert _mlmodel(tmp_path / "m")["flavors"]["xgboost"]["model_class"] == "xgboost.core.Booster"
    expected = booster.predict(xgb.DMatrix(features))
    assert lt.xgboost.load_model(tmp_path / "m").predict(xgb.DMatrix(features)).tolist() == (
        expected.tolist()
    )
    assert lt.pyfunc.load_model(tmp_path / "m").predict(features).tolist() == expected.tolist()


def test_xgboost_refuses_a_foreign_model_class(tmp_path: Path, frame: Any) -> None:
    xgb = pytest.importorskip("xgboost")
    features, target = frame
    lt.xgboost.save_model(xgb.XGBRegressor(n_estimators=2).fit(features, target), tmp_path / "m")
    meta = _mlmodel(tmp_path / "m")
    meta["flavors"]["xgboost"]["model_class"] = "subprocess.Popen"
    (tmp_path / "m" / "MLmodel").write_text(yaml.safe_dump(meta))
    with pytest.raises(InvalidParameterValue, match="not an XGBoost model class"):
        lt.xgboost.load_model(tmp_path / "m")


def test_lightgbm_sklearn_api_round_trip(tmp_path: Path, frame: Any) -> None:
    lgb = pytest.importorskip("lightgbm")
    features, target = frame
    model = lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(features, target)
    lt.lightgbm.save_model(model, tmp_path / "m", input_example=features.head(2))
    conf = _mlmodel(tmp_path / "m")["flavors"]["lightgbm"]
    assert conf["data"] == "model.skops"
    assert conf["serialization_format"] == "skops"
    loaded = lt.lightgbm.load_model(tmp_path / "m")
    assert type(loaded) is lgb.LGBMClassifier
    assert loaded.predict(features).tolist() == model.predict(features).tolist()
    assert lt.pyfunc.load_model(tmp_path / "m").predict(features).tolist() == (
        model.predict(features).tolist()
    )


def test_lightgbm_booster_round_trip(tmp_path: Path, frame: Any) -> None:
    lgb = pytest.importorskip("lightgbm")
    features, target = frame
    booster = lgb.train(
        {"objective": "binary", "verbose": -1},
        lgb.Dataset(features, label=target),
        num_boost_round=4,
    )
    lt.lightgbm.save_model(booster, tmp_path / "m")
    assert (tmp_path / "m" / "model.lgb").is_file()
    assert lt.lightgbm.load_model(tmp_path / "m").predict(features).tolist() == (
        booster.predict(features).tolist()
    )
    assert lt.pyfunc.load_model(tmp_path / "m").predict(features).tolist() == (
        booster.predict(features).tolist()
    )


# -- MLmodel, environment, example --------------------------------------------------------
def test_mlmodel_fields(tmp_path: Path, frame: Any, sk_model: Any) -> None:
    import platform

    features, _ = frame
    lt.sklearn.save_model(
        sk_model, tmp_path / "m", input_example=features.head(2), metadata={"k": "v"}
    )
    meta = _mlmodel(tmp_path / "m")
    assert meta["labtrack_version"] == lt.__version__
    assert "mlflow_version" not in meta
    assert len(meta["model_uuid"]) == 32
    assert meta["metadata"] == {"k": "v"}
    assert meta["model_size_bytes"] > 0
    pyfunc = meta["flavors"]["python_function"]
    assert pyfunc["python_version"] == platform.python_version()
    assert pyfunc["env"] == {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}
    assert json.loads(meta["signature"]["outputs"]) == [{"type": "long", "required": True}]
    assert "run_id" not in meta  # saved, not logged
    assert "model_id" not in meta


def test_requirements_are_what_the_model_needs(tmp_path: Path, frame: Any, sk_model: Any) -> None:
    from importlib.metadata import version

    features, _ = frame
    lt.sklearn.save_model(sk_model, tmp_path / "m", input_example=features.head(2))
    requirements = (tmp_path / "m" / "requirements.txt").read_text().splitlines()
    assert requirements == [
        f"scikit-learn=={version('scikit-learn')}",
        f"skops=={version('skops')}",
        f"numpy=={version('numpy')}",
        f"pandas=={version('pandas')}",
    ]
    env = yaml.safe_load((tmp_path / "m" / "python_env.yaml").read_text())
    assert env["dependencies"] == ["-r requirements.txt"]
    conda = yaml.safe_load((tmp_path / "m" / "conda.yaml").read_text())
    assert conda["dependencies"][-1] == {"pip": requirements}


def test_xgboost_requirements_name_the_installed_distribution(tmp_path: Path, frame: Any) -> None:
    xgb = pytest.importorskip("xgboost")
    from labtrack.models._environment import distribution_of

    features, target = frame
    lt.xgboost.save_model(xgb.XGBRegressor(n_estimators=2).fit(features, target), tmp_path / "m")
    first = (tmp_path / "m" / "requirements.txt").read_text().splitlines()[0]
    dist = distribution_of("xgboost")  # xgboost, or xgboost-cpu where that is installed
    assert first == f"{dist}=={xgb.__version__}"


def test_pip_requirements_and_extras(tmp_path: Path, sk_model: Any) -> None:
    lt.sklearn.save_model(
        sk_model, tmp_path / "a", pip_requirements=["scikit-learn", "# note", "x==1"]
    )
    assert (tmp_path / "a" / "requirements.txt").read_text().splitlines() == [
        "scikit-learn",
        "x==1",
    ]
    lt.sklearn.save_model(sk_model, tmp_path / "b", extra_pip_requirements=["numpy>=2", "boto3"])
    lines = (tmp_path / "b" / "requirements.txt").read_text().splitlines()
    assert lines[-2:] == ["numpy>=2", "boto3"]
    assert not any(line.startswith("numpy==") for line in lines)
    with pytest.raises(InvalidParameterValue, match="not both"):
        lt.sklearn.save_model(
            sk_model, tmp_path / "c", pip_requirements=[], extra_pip_requirements=[]
        )


def test_input_example_files(tmp_path: Path, frame: Any, sk_model: Any) -> None:
    features, _ = frame
    example = features.head(2)
    lt.sklearn.save_model(sk_model, tmp_path / "m", input_example=example)
    saved = json.loads((tmp_path / "m" / "input_example.json").read_text())
    assert saved["columns"] == ["a", "b", "c", "n"]
    assert saved["data"] == example.values.tolist()
    serving = json.loads((tmp_path / "m" / "serving_input_example.json").read_text())
    assert serving == {"dataframe_split": saved}
    info = _mlmodel(tmp_path / "m")["saved_input_example_info"]
    assert info == {
        "artifact_path": "input_example.json",
        "pandas_orient": "split",
        "serving_input_path": "serving_input_example.json",
        "type": "dataframe",
    }
    loaded = lt.pyfunc.load_model(tmp_path / "m").input_example
    pd.testing.assert_frame_equal(loaded, example.reset_index(drop=True))


def test_numpy_input_example(tmp_path: Path, frame: Any) -> None:
    from sklearn.linear_model import LogisticRegression

    features, target = frame
    sk_model = LogisticRegression(max_iter=500).fit(features.to_numpy(), target)
    example = features.head(2).to_numpy()
    lt.sklearn.save_model(sk_model, tmp_path / "m", input_example=example)
    meta = _mlmodel(tmp_path / "m")
    assert meta["saved_input_example_info"]["type"] == "ndarray"
    assert json.loads((tmp_path / "m" / "serving_input_example.json").read_text()) == {
        "inputs": example.tolist()
    }
    assert json.loads(meta["signature"]["inputs"]) == [
        {"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 4]}}
    ]
    np.testing.assert_array_equal(lt.pyfunc.load_model(tmp_path / "m").input_example, example)


def test_signature_false_means_none(tmp_path: Path, frame: Any, sk_model: Any) -> None:
    features, _ = frame
    lt.sklearn.save_model(sk_model, tmp_path / "m", input_example=features.head(2), signature=False)
    assert "signature" not in _mlmodel(tmp_path / "m")


def test_pyfunc_checks_the_signature(tmp_path: Path, frame: Any, sk_model: Any) -> None:
    features, _ = frame
    lt.sklearn.save_model(sk_model, tmp_path / "m", input_example=features.head(2))
    model = lt.pyfunc.load_model(tmp_path / "m")
    with pytest.raises(lt.models.SchemaError, match="Column 'a' must be double, got string values"):
        model.predict(features.assign(a="x"))
    # ints where doubles are expected, columns in another order, an extra column: fine
    shuffled = features[["n", "c", "b", "a"]].assign(a=1, extra="ignored")
    assert len(model.predict(shuffled)) == len(features)


def test_saving_over_a_model_is_refused(tmp_path: Path, sk_model: Any) -> None:
    lt.sklearn.save_model(sk_model, tmp_path / "m")
    with pytest.raises(InvalidParameterValue, match="exists and is not empty"):
        lt.sklearn.save_model(sk_model, tmp_path / "m")


def test_a_failed_save_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterValue, match="has no predict"):
        lt.sklearn.save_model(object(), tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_unknown_flavor_option(tmp_path: Path, sk_model: Any) -> None:
    with pytest.raises(InvalidParameterValue, match="unexpected keyword argument 'color'"):
        lt.models.save_model(sk_model, tmp_path / "m", flavor="sklearn", color="red")


def test_loading_a_directory_without_mlmodel(tmp_path: Path) -> None:
    with pytest.raises(lt.ResourceDoesNotExist, match="No MLmodel file"):
        lt.pyfunc.load_model(tmp_path)


def test_an_example_the_model_cannot_score(tmp_path: Path, sk_model: Any) -> None:
    with pytest.raises(InvalidParameterValue, match="predicting on its input example failed"):
        lt.sklearn.save_model(sk_model, tmp_path / "m", input_example=pd.DataFrame({"z": [1.0]}))
    assert not (tmp_path / "m").exists()
