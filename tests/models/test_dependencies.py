"""A missing serialization library fails log_model before anything is written.

``pip install labtrack scikit-learn`` (without the ``sklearn`` extra) has no skops. The
child interpreters here cannot import the library (``sys.modules[name] = None``), as on
such a machine; the parent then reads the store they logged into.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import labtrack as lt

pytest.importorskip("sklearn")

LOG = """
import json, sys
import labtrack as lt
{model}
for name in {hidden!r}:
    sys.modules[name] = None  # `import <name>` now fails, as when it is not installed
with lt.start_run() as run:
    try:
        {log}
    except Exception as exc:
        error = {{"type": type(exc).__name__, "mro": [c.__name__ for c in type(exc).__mro__],
                 "message": str(exc), "run_id": run.info.run_id}}
    else:
        error = {{"run_id": run.info.run_id}}
    status = lt.get_run(run.info.run_id).info.status
print(json.dumps({{**error, "status_inside": status}}))
"""

SKLEARN = (
    "from sklearn.linear_model import LogisticRegression\n"
    "model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])"
)
LIGHTGBM = (
    "import lightgbm\n"
    "model = lightgbm.LGBMClassifier(n_estimators=2, min_child_samples=1, verbose=-1)"
    ".fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])"
)
PYTHON_MODEL = (
    "class Echo(lt.pyfunc.PythonModel):\n"
    "    def predict(self, context, model_input, params=None):\n"
    "        return model_input\n"
    "model = Echo()"
)

SKOPS_HINT = "(or pip install skops)"


def _log_in_child(hidden: tuple[str, ...], model: str, log: str, cwd: Path) -> dict[str, object]:
    code = LOG.format(hidden=hidden, model=model, log=log)
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,  # outside any git checkout: the run records no git diff artifact
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _assert_nothing_written(run_id: str) -> None:
    client = lt.TrackingClient()
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"  # the run ended as any run without an error
    assert not run.outputs.model_outputs
    logged = client.service.search_logged_models([run.info.experiment_id])
    assert not list(logged)
    assert not list(client.search_registered_models())
    assert not client.list_artifacts(run_id)


@pytest.mark.parametrize(
    ("hidden", "model", "log", "message"),
    [
        pytest.param(
            ("skops",),
            SKLEARN,
            "lt.sklearn.log_model(model, name='model', registered_model_name='churn')",
            "Saving a model with skops (serialization_format='skops', the default) needs "
            'skops, which is not installed: pip install "labtrack[sklearn]" '
            "(or pip install skops)",
            id="sklearn-without-skops",
        ),
        pytest.param(
            ("cloudpickle",),
            SKLEARN,
            "lt.sklearn.log_model(model, name='model', serialization_format='cloudpickle')",
            "Saving a model with serialization_format='cloudpickle' needs cloudpickle, which "
            'is not installed: pip install "labtrack[models]" (or pip install cloudpickle)',
            id="sklearn-cloudpickle-without-cloudpickle",
        ),
        pytest.param(
            ("pandas",),
            SKLEARN,
            "lt.sklearn.log_model(model, name='model', input_example=[[1.0]])",
            "Saving a model with an input_example needs pandas, which is not installed: "
            'pip install "labtrack[pandas]" (or pip install pandas)',
            id="input-example-without-pandas",
        ),
        pytest.param(
            ("skops",),
            LIGHTGBM,
            "lt.lightgbm.log_model(model, name='model', registered_model_name='churn')",
            "Saving a model with skops (serialization_format='skops', the default) needs "
            'skops, which is not installed: pip install "labtrack[lightgbm]" '
            "(or pip install skops)",
            id="lightgbm-without-skops",
        ),
        pytest.param(
            ("cloudpickle",),
            PYTHON_MODEL,
            "lt.pyfunc.log_model(name='model', python_model=model, registered_model_name='e')",
            "Saving a python model needs cloudpickle, which is not installed: "
            'pip install "labtrack[models]" (or pip install cloudpickle)',
            id="python-model-without-cloudpickle",
        ),
    ],
)
def test_a_missing_library_fails_before_anything_is_written(
    hidden: tuple[str, ...], model: str, log: str, message: str, tmp_path: Path
) -> None:
    if "lightgbm" in model:
        pytest.importorskip("lightgbm")
    result = _log_in_child(hidden, model, log, tmp_path)
    assert result["type"] == "MissingDependency"
    assert "LabtrackError" in result["mro"]  # type: ignore[operator]
    assert result["message"] == message
    assert "\n" not in message
    assert result["status_inside"] == "RUNNING"  # log_model changed nothing on the run
    _assert_nothing_written(str(result["run_id"]))


def test_save_model_without_skops_creates_no_directory(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "sys.modules['skops'] = None\n"
        f"{SKLEARN}\n"
        "import labtrack as lt\n"
        "try:\n"
        f"    lt.sklearn.save_model(model, {str(tmp_path / 'model')!r})\n"
        "except lt.LabtrackError as exc:\n"
        "    print(type(exc).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "MissingDependency"
    assert not (tmp_path / "model").exists()


def test_loading_a_skops_model_without_skops_names_the_command(tmp_path: Path) -> None:
    pytest.importorskip("skops")
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    lt.sklearn.save_model(model, tmp_path / "model")
    code = (
        "import sys\n"
        "sys.modules['skops'] = None\n"
        "import labtrack as lt\n"
        "try:\n"
        f"    lt.sklearn.load_model({str(tmp_path / 'model')!r})\n"
        "except lt.LabtrackError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == (
        f"MissingDependency Loading {tmp_path / 'model' / 'model.skops'} (a skops file) needs "
        'skops, which is not installed: pip install "labtrack[sklearn]" (or pip install skops)'
    )
