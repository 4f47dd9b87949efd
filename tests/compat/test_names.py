"""What an MLflow script reaches after ``import mlflow`` alone, reached after
``import labtrack as mlflow`` too; and MLflow's exception read the same way on both.

Each path is resolved in a fresh interpreter (so no other import has loaded the
submodule first), once with the real ``mlflow`` and once with labtrack.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

import labtrack
from compat._support import MLFLOW_MISSING

mlflow = pytest.importorskip("mlflow", reason=MLFLOW_MISSING)

MISSING_RUN = "0123456789abcdef0123456789abcdef"

# Attribute paths MLflow scripts use without importing the submodule.
PATHS = [
    "MlflowClient",
    "MlflowException",
    "tracking.MlflowClient",
    "entities.ViewType",
    "entities.RunStatus",
    "entities.Run",
    "entities.Experiment",
    "exceptions.MlflowException",
    "pyfunc.load_model",
    "sklearn.log_model",
]


def _unresolved(module: str, paths: list[str]) -> list[str]:
    """Those of ``paths`` that do not resolve after ``import <module>`` in a fresh
    interpreter (one interpreter for all of them)."""
    code = (
        "import os, sys\n"
        "os.environ['MLFLOW_DISABLE_TELEMETRY'] = 'true'\n"
        f"import {module} as m\n"
        f"for path in {paths!r}:\n"
        "    value = m\n"
        "    try:\n"
        "        for part in path.split('.'):\n"
        "            value = getattr(value, part)\n"
        "    except AttributeError:\n"
        "        print(path)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_the_names_are_mlflow_s() -> None:
    assert _unresolved("mlflow", PATHS) == []


@pytest.mark.parametrize("path", PATHS)
def test_names_reached_without_importing_them(path: str) -> None:
    """Each in its own interpreter: reaching one name must not be what loads another."""
    assert _unresolved("labtrack", [path]) == []


def test_mlflow_exception_reads_the_same(client: Any, tracking_uri: str) -> None:
    """The same failing call through the real client and labtrack's: one error code, one
    HTTP status, a message, each an instance of its package's MlflowException."""
    from labtrack.exceptions import MlflowException

    with pytest.raises(mlflow.exceptions.MlflowException) as theirs:
        client.get_run(MISSING_RUN)
    with pytest.raises(MlflowException) as ours:
        labtrack.MlflowClient(tracking_uri).get_run(MISSING_RUN)
    assert ours.value.error_code == theirs.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert ours.value.get_http_status_code() == theirs.value.get_http_status_code() == 404
    assert MISSING_RUN in ours.value.message
    assert MISSING_RUN in theirs.value.message


def test_raising_mlflow_exception_with_a_code_reads_the_same() -> None:
    """``MlflowException(message, error_code=...)`` as scripts raise it themselves."""
    import json

    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    theirs = mlflow.exceptions.MlflowException("bad", error_code=INVALID_PARAMETER_VALUE)
    ours = labtrack.exceptions.MlflowException("bad", error_code="INVALID_PARAMETER_VALUE")
    assert (ours.error_code, ours.message, ours.get_http_status_code()) == (
        theirs.error_code,
        theirs.message,
        theirs.get_http_status_code(),
    )
    mine, real = json.loads(ours.serialize_as_json()), json.loads(theirs.serialize_as_json())
    assert {k: real[k] for k in ("error_code", "message")} == mine
    plain = (mlflow.exceptions.MlflowException("x"), labtrack.exceptions.MlflowException("x"))
    assert plain[0].error_code == plain[1].error_code == "INTERNAL_ERROR"
    assert plain[0].get_http_status_code() == plain[1].get_http_status_code() == 500
    invalid = (
        mlflow.exceptions.MlflowException.invalid_parameter_value("x"),
        labtrack.exceptions.MlflowException.invalid_parameter_value("x"),
    )
    assert invalid[0].error_code == invalid[1].error_code == "INVALID_PARAMETER_VALUE"
