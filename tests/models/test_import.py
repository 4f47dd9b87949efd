"""The model namespaces cost nothing until used: no NumPy, pandas or ML library on import."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = (
    "numpy",
    "pandas",
    "sklearn",
    "xgboost",
    "lightgbm",
    "skops",
    "cloudpickle",
    "mlflow",
    "sqlalchemy",
    "httpx",
)


@pytest.mark.parametrize(
    "statement",
    [
        "import labtrack",
        "import labtrack as lt; lt.pyfunc; lt.sklearn; lt.xgboost; lt.lightgbm; lt.models",
        "import labtrack.models.flavors.sklearn, labtrack.models.flavors.xgboost",
    ],
)
def test_importing_loads_no_heavy_module(statement: str) -> None:
    code = f"import sys; {statement}; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_namespaces_are_reachable_from_labtrack() -> None:
    import labtrack as lt

    assert lt.sklearn.log_model is not None
    assert lt.pyfunc.PythonModel is not None
    assert lt.models.infer_signature is not None
    assert lt.pyfunc.PyFuncModel.__name__ == "PyFuncModel"
