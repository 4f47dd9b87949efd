"""Custom python models: load_context, artifacts copied in, code_paths on sys.path at load."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

import labtrack as lt
from labtrack.errors import InvalidParameterValue

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")


class Scaled(lt.pyfunc.PythonModel):
    def load_context(self, context: Any) -> None:
        self.factor = float(Path(context.artifacts["factor"]).read_text())
        self.words = sorted(p.name for p in Path(context.artifacts["words"]).iterdir())
        self.config = context.model_config

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        offset = (params or {}).get("offset", 0)
        return model_input["x"] * self.factor + offset


def _artifacts(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "factor.txt").write_text("3")
    words = tmp_path / "words"
    words.mkdir()
    (words / "a.txt").write_text("a")
    (words / "b.txt").write_text("b")
    return {"factor": str(tmp_path / "factor.txt"), "words": str(words)}


def test_artifacts_are_copied_and_given_to_load_context(tmp_path: Path) -> None:
    path = tmp_path / "model"
    lt.pyfunc.save_model(
        Scaled(),
        path,
        artifacts=_artifacts(tmp_path),
        model_config={"mode": "fast"},
        input_example=(pd.DataFrame({"x": [1.0, 2.0]}), {"offset": 0.5}),
    )
    (tmp_path / "factor.txt").write_text("100")  # the model has its own copy
    conf = yaml.safe_load((path / "MLmodel").read_text())["flavors"]["python_function"]
    assert conf["loader_module"] == "labtrack.pyfunc"
    assert conf["python_model"] == "python_model.pkl"
    assert conf["artifacts"]["factor"] == {
        "path": "artifacts/factor.txt",
        "uri": str(tmp_path / "factor.txt"),
    }
    assert conf["artifacts"]["words"]["path"] == "artifacts/words"
    assert "cloudpickle_version" in conf
    model = lt.pyfunc.load_model(path, trust_pickle=True)
    python_model = model.unwrap_python_model()
    assert python_model.factor == 3.0
    assert python_model.words == ["a.txt", "b.txt"]
    assert python_model.config == {"mode": "fast"}
    # the signature was inferred from the example, params included
    assert model.params_schema is not None
    assert [p.name for p in model.params_schema] == ["offset"]
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    assert model.predict(frame).tolist() == [3.5, 6.5]  # the example's params are defaults
    assert model.predict(frame, params={"offset": 1}).tolist() == [4.0, 7.0]


def test_artifacts_from_a_run(tmp_path: Path) -> None:
    (tmp_path / "factor.txt").write_text("5")
    with lt.start_run() as run:
        lt.log_artifact(tmp_path / "factor.txt", "inputs")
    (tmp_path / "other").mkdir()
    words = _artifacts(tmp_path / "other")["words"]
    artifacts = {"factor": f"runs:/{run.info.run_id}/inputs/factor.txt", "words": words}
    lt.pyfunc.save_model(Scaled(), tmp_path / "m", artifacts=artifacts)
    model = lt.pyfunc.load_model(tmp_path / "m", trust_pickle=True)
    assert model.unwrap_python_model().factor == 5.0


def test_artifact_names_must_not_clash(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "f.txt").write_text("1")
    (tmp_path / "b" / "f.txt").write_text("2")
    with pytest.raises(InvalidParameterValue, match="distinct base names"):
        lt.pyfunc.save_model(
            Scaled(),
            tmp_path / "m",
            artifacts={"one": str(tmp_path / "a" / "f.txt"), "two": str(tmp_path / "b" / "f.txt")},
        )


def test_only_python_models(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterValue, match=r"must be a labtrack\.pyfunc\.PythonModel"):
        lt.pyfunc.save_model(object(), tmp_path / "m")  # type: ignore[arg-type]


MODULE = """
import labtrack as lt
from helpers import triple

class Tripler(lt.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return [triple(v) for v in model_input["x"]]
"""


def test_code_paths_are_on_sys_path_at_load(tmp_path: Path) -> None:
    """The model's class and its helper module live in code_paths: a fresh interpreter,
    where neither is importable, loads and runs the model."""
    code = tmp_path / "src"
    code.mkdir()
    (code / "tripler_model.py").write_text(MODULE)
    helpers = code / "helpers"
    helpers.mkdir()
    (helpers / "__init__.py").write_text("def triple(v):\n    return 3 * v\n")
    sys.path.insert(0, str(code))
    try:
        import tripler_model

        lt.pyfunc.save_model(
            tripler_model.Tripler(),
            tmp_path / "m",
            code_paths=[code / "tripler_model.py", helpers],
        )
    finally:
        sys.path.remove(str(code))
        sys.modules.pop("tripler_model", None)
        sys.modules.pop("helpers", None)
    assert sorted(p.name for p in (tmp_path / "m" / "code").iterdir()) == [
        "helpers",
        "tripler_model.py",
    ]
    script = textwrap.dedent(
        f"""
        import json, sys
        import pandas as pd
        import labtrack as lt
        model = lt.pyfunc.load_model({str(tmp_path / "m")!r}, trust_pickle=True)
        print(json.dumps(list(model.predict(pd.DataFrame({{"x": [1, 2]}})))))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [3, 6]
