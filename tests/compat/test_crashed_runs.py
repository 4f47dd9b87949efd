"""MLflow's client and labtrack's crashed runs: a labtrack run whose process was killed
reads as KILLED, and the mlflow client's own runs (which send no heartbeats) are never
marked."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from compat._support import MLFLOW_MISSING
from doomed import HEARTBEAT_TIMEOUT, alive_then_killed

mlflow = pytest.importorskip("mlflow", reason=MLFLOW_MISSING)

pytestmark = pytest.mark.labtrack_only


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A server with a short heartbeat timeout, and its SQLite file."""
    from livesrv import serve_in_process

    work = tmp_path_factory.mktemp("crashes")
    db = work / "labtrack.db"
    with serve_in_process(
        f"sqlite:///{db}",
        work / "artifacts",
        extra_env={"LABTRACK_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT)},
    ) as url:
        yield url, db


def test_mlflow_reads_a_crashed_run_as_killed(server: tuple[str, Path], tmp_path: Path) -> None:
    url, db = server
    mlflow.set_tracking_uri(url)
    with mlflow.start_run(run_name="mlflow's") as own:
        mlflow.log_metric("loss", 0.25)
        client: Any = mlflow.MlflowClient(url)
        crashed, _ = alive_then_killed(tmp_path, db, url, client.get_run)
        assert crashed.info.status == "KILLED"
        assert crashed.data.tags["labtrack.crashed"] == "true"
        assert crashed.data.metrics == {"loss": 0.5}
        # mlflow's run, in this live process, is older than twice the timeout: not marked.
        assert time.time() * 1000 - own.info.start_time > 2 * HEARTBEAT_TIMEOUT * 1000
        assert client.get_run(own.info.run_id).info.status == "RUNNING"
        killed = client.search_runs(["0"], filter_string="attributes.status = 'KILLED'")
        assert [r.info.run_id for r in killed] == [crashed.info.run_id]
    assert client.get_run(own.info.run_id).info.status == "FINISHED"
