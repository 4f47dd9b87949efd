"""Flavors are plugins: labtrack's own through its entry points, a third party's the same way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest

from labtrack.models.flavors import BUILTIN_FLAVORS, ENTRY_POINT_GROUP, flavor_names, get_flavor

FLAVOR_MODULE = '''
import json
from labtrack.models.flavors.base import Flavor


class LinearModel:
    """y = sum(w * x) + b over named columns: the kind of model a small library defines."""

    def __init__(self, weights, bias):
        self.weights, self.bias = weights, bias

    def predict(self, frame):
        return [self.bias + sum(w * row[c] for c, w in self.weights.items())
                for _, row in frame.iterrows()]


class TinyFlavor(Flavor):
    name = "tiny"

    def save(self, model, path, *, precision=6):
        data = {"weights": model.weights, "bias": model.bias}
        (path / "linear.json").write_text(json.dumps(data))
        return {"data": "linear.json", "tiny_version": "0.1", "precision": precision}

    def load(self, path, conf, trust):
        data = json.loads((path / conf["data"]).read_text())
        return LinearModel(data["weights"], data["bias"])

    def requirements(self, model, conf):
        return ["tinyflavor==0.1"]
'''

SCRIPT = """
import json, sys
import pandas as pd
import labtrack as lt
from tinyflavor import LinearModel

assert "tiny" in lt.models.flavor_names()
frame = pd.DataFrame({"a": [1.0, 2.0], "b": [0.5, 0.0]})
model = LinearModel({"a": 2.0, "b": 4.0}, 1.0)
path = sys.argv[1]
lt.models.save_model(model, path, flavor="tiny", input_example=frame, precision=3)
native = lt.models.load_model(path, flavor="tiny")
out = {
    "native": native.predict(frame),
    "pyfunc": list(lt.pyfunc.load_model(path).predict(frame)),
    "requirements": open(path + "/requirements.txt").read().splitlines(),
}
with lt.start_run():
    info = lt.models.log_model(model, "tiny-model", flavor="tiny")
out["logged"] = list(lt.pyfunc.load_model(info.model_uri).predict(frame))
import mlflow  # MLflow loads it too, through labtrack.pyfunc
out["mlflow"] = list(mlflow.pyfunc.load_model(path).predict(frame))
print(json.dumps(out))
"""


def _install_tiny_flavor(site: Path) -> None:
    """A distribution 'tinyflavor' on ``site``, as pip would leave it: a module and a
    dist-info declaring the flavor in the labtrack.flavors entry point group."""
    site.mkdir()
    (site / "tinyflavor.py").write_text(FLAVOR_MODULE)
    info = site / "tinyflavor-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tinyflavor\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\ntiny = tinyflavor:TinyFlavor\n")
    (info / "top_level.txt").write_text("tinyflavor\n")


def test_third_party_flavor_through_its_entry_point(tmp_path: Path) -> None:
    pytest.importorskip("pandas")
    pytest.importorskip("mlflow")
    site = tmp_path / "site"
    _install_tiny_flavor(site)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", textwrap.dedent(SCRIPT), str(tmp_path / "model")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.splitlines()[-1])
    assert result["native"] == [5.0, 5.0]
    assert result["pyfunc"] == [5.0, 5.0]
    assert result["logged"] == [5.0, 5.0]
    assert result["mlflow"] == [5.0, 5.0]
    assert result["requirements"][0] == "tinyflavor==0.1"
    mlmodel = (tmp_path / "model" / "MLmodel").read_text()
    assert "loader_module: labtrack.pyfunc" in mlmodel
    assert "flavor: tiny" in mlmodel
    assert "precision: 3" in mlmodel


def test_builtin_flavors_are_declared_as_entry_points() -> None:
    """pyproject.toml registers labtrack's flavors like any other package's."""
    declared = {ep.name: ep.value for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    assert {k: declared.get(k) for k in BUILTIN_FLAVORS} == BUILTIN_FLAVORS
    assert set(BUILTIN_FLAVORS) <= set(flavor_names())


def test_unknown_flavor() -> None:
    from labtrack.errors import InvalidParameterValue

    with pytest.raises(InvalidParameterValue, match="Unknown model flavor 'nope'; available: "):
        get_flavor("nope")


def test_loader_modules_map_to_flavors() -> None:
    from labtrack.models.flavors import flavor_for_loader

    assert flavor_for_loader("mlflow.sklearn", {}).name == "sklearn"
    assert flavor_for_loader("mlflow.xgboost", {}).name == "xgboost"
    assert flavor_for_loader("mlflow.lightgbm", {}).name == "lightgbm"
    assert flavor_for_loader("labtrack.pyfunc", {}).name == "python_model"
    from labtrack.errors import InvalidParameterValue

    with pytest.raises(InvalidParameterValue, match="an MLflow PythonModel"):
        flavor_for_loader("mlflow.pyfunc.model", {})
