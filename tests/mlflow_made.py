"""Stores made by the real MLflow (its SQL database, its ``mlruns`` file store), for tests
that check what labtrack says when pointed at one.

They are made once per session by the MLflow of bench/.work/mlflow-venv (the benchmark's,
so the project venv's mlflow-skinny is not asked to create MLflow's full schema), and
copied per test so no test sees another's changes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[1]
_PYTHONS = [
    os.environ.get("LABTRACK_TEST_MLFLOW_PYTHON"),
    str(_REPO / "bench/.work/mlflow-venv/bin/python"),
    "/tmp/mlref/bin/python",
]
MISSING = (
    "MLflow's own venv is missing (bench/.work/mlflow-venv: see bench/README.md; "
    "or set LABTRACK_TEST_MLFLOW_PYTHON)"
)

_SCRIPT = """
import sys, warnings
warnings.simplefilter("ignore")
import mlflow
db, mlruns = sys.argv[1], sys.argv[2]
mlflow.set_tracking_uri("sqlite:///" + db)
mlflow.create_experiment("made-by-mlflow")
mlflow.set_tracking_uri("file:" + mlruns)
mlflow.create_experiment("made-by-mlflow")
"""


@dataclass(frozen=True)
class MlflowStores:
    database: Path
    """An SQLite file MLflow created (its tracking and registry schema)."""
    mlruns: Path
    """A directory of MLflow's file store."""


def make_mlflow_stores(where: Path) -> MlflowStores:
    """Create both stores under ``where`` with the real MLflow (skip if it is missing)."""
    python = next((p for p in _PYTHONS if p and os.access(p, os.X_OK)), None)
    if python is None:
        pytest.skip(MISSING)
    where.mkdir(parents=True, exist_ok=True)
    stores = MlflowStores(where / "mlflow.db", where / "mlruns")
    # MLflow 3.17 refuses to create a file store unless told the user wants one.
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_ALLOW_FILE_STORE": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    subprocess.run(
        [python, "-c", _SCRIPT, str(stores.database), str(stores.mlruns)],
        check=True,
        capture_output=True,
        env=env,
        cwd=where,
        timeout=300,
    )
    return stores


def copy_mlflow_stores(made: MlflowStores, where: Path) -> MlflowStores:
    """A copy of ``made`` under ``where``, for one test."""
    where.mkdir(parents=True, exist_ok=True)
    copy = MlflowStores(where / "mlflow.db", where / "mlruns")
    shutil.copyfile(made.database, copy.database)
    shutil.copytree(made.mlruns, copy.mlruns)
    return copy


_MADE: dict[str, MlflowStores] = {}


def mlflow_stores_for_test(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> MlflowStores:
    """This test's copy of the stores MLflow made (made once per test process)."""
    made = _MADE.get("stores")
    if made is None:
        made = _MADE["stores"] = make_mlflow_stores(tmp_path_factory.mktemp("made-by-mlflow"))
    return copy_mlflow_stores(made, tmp_path / "from-mlflow")
