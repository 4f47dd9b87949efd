"""Three tests that must run in this order in one process (``test_isolation.py`` runs them).

The file's name does not match ``test_*.py``, so the suite does not collect it itself:
under xdist its tests could land on different workers and prove nothing.
"""

from __future__ import annotations

import os

import pytest

from compat._support import MLFLOW_MISSING

mlflow = pytest.importorskip("mlflow", reason=MLFLOW_MISSING)

_LEFT_BEHIND: dict[str, str] = {}


def test_a_test_that_leaves_state_behind(tracking_uri: str, experiment_id: str) -> None:
    run = mlflow.start_run()  # never ended here
    os.environ["MLFLOW_LEAK_CHECK"] = "1"
    assert os.environ["MLFLOW_TRACKING_URI"] == tracking_uri
    assert os.environ["MLFLOW_EXPERIMENT_ID"] == experiment_id
    _LEFT_BEHIND.update(run_id=run.info.run_id, uri=tracking_uri)


def test_the_next_test_starts_clean(client: object) -> None:
    from mlflow.tracking import fluent

    assert _LEFT_BEHIND, "the first test did not run before this one"
    assert mlflow.active_run() is None
    assert fluent._active_experiment_id is None
    assert "MLFLOW_LEAK_CHECK" not in os.environ
    assert "MLFLOW_EXPERIMENT_ID" not in os.environ
    # The run left open was ended, as mlflow ends runs left open at exit.
    assert mlflow.get_run(_LEFT_BEHIND["run_id"]).info.status == "FINISHED"


def test_no_tracking_uri_without_the_fixture() -> None:
    assert _LEFT_BEHIND, "the first test did not run before this one"
    assert "MLFLOW_TRACKING_URI" not in os.environ
    assert mlflow.get_tracking_uri() != _LEFT_BEHIND["uri"]
