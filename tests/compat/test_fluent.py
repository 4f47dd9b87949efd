"""MLflow's fluent API (``mlflow.start_run``, ``mlflow.log_*``) against a labtrack server."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from compat._support import MLFLOW_MISSING

mlflow = pytest.importorskip("mlflow", reason=MLFLOW_MISSING)


def test_set_experiment_creates_then_reuses(tracking_uri: str, experiment_name: str) -> None:
    created = mlflow.set_experiment(experiment_name)
    assert created.name == experiment_name
    assert created.lifecycle_stage == "active"
    # The server proxies artifacts: experiments it creates store them under its own scheme.
    assert created.artifact_location == f"mlflow-artifacts:/{created.experiment_id}"

    again = mlflow.set_experiment(experiment_name)
    assert again.experiment_id == created.experiment_id
    by_id = mlflow.set_experiment(experiment_id=created.experiment_id)
    assert by_id.name == experiment_name
    with mlflow.start_run() as run:
        pass
    assert run.info.experiment_id == created.experiment_id


def test_set_experiment_refuses_a_deleted_one(client: Any, experiment_name: str) -> None:
    experiment_id = client.create_experiment(experiment_name)
    client.delete_experiment(experiment_id)
    with pytest.raises(mlflow.MlflowException, match="deleted"):
        mlflow.set_experiment(experiment_name)


def test_start_run_and_end_run(client: Any, experiment_id: str) -> None:
    before = int(time.time() * 1000)
    run = mlflow.start_run(run_name="first-run", description="what this run is for")
    try:
        assert mlflow.active_run().info.run_id == run.info.run_id
        assert run.info.status == "RUNNING"
        assert run.info.run_name == "first-run"
        assert run.info.experiment_id == experiment_id
        assert run.info.lifecycle_stage == "active"
        assert run.info.artifact_uri == (
            f"mlflow-artifacts:/{experiment_id}/{run.info.run_id}/artifacts"
        )
        assert before - 1000 <= run.info.start_time <= int(time.time() * 1000) + 1000
    finally:
        mlflow.end_run()
    assert mlflow.active_run() is None

    stored = client.get_run(run.info.run_id)
    assert stored.info.status == "FINISHED"
    assert stored.info.end_time >= stored.info.start_time
    tags = stored.data.tags
    assert tags["mlflow.runName"] == "first-run"
    assert tags["mlflow.note.content"] == "what this run is for"
    assert tags["mlflow.user"]
    assert tags["mlflow.source.type"] == "LOCAL"
    assert "mlflow.source.name" in tags


def test_end_run_with_status(client: Any, experiment_id: str) -> None:
    run = mlflow.start_run()
    mlflow.end_run(status="KILLED")
    assert client.get_run(run.info.run_id).info.status == "KILLED"


def test_nested_runs_carry_the_parent_tag(client: Any, experiment_id: str) -> None:
    with mlflow.start_run() as parent:
        with mlflow.start_run(nested=True) as child:
            assert mlflow.active_run().info.run_id == child.info.run_id
            with mlflow.start_run(nested=True) as grandchild:
                pass
        assert mlflow.active_run().info.run_id == parent.info.run_id
    assert client.get_run(child.info.run_id).data.tags["mlflow.parentRunId"] == (parent.info.run_id)
    assert client.get_run(grandchild.info.run_id).data.tags["mlflow.parentRunId"] == (
        child.info.run_id
    )
    assert "mlflow.parentRunId" not in client.get_run(parent.info.run_id).data.tags
    children = client.search_runs(
        [experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert [r.info.run_id for r in children] == [child.info.run_id]


def test_start_run_without_nested_refuses_a_second_run(experiment_id: str) -> None:
    # mlflow.start_run raises a plain Exception here (client-side; no request is made).
    with mlflow.start_run(), pytest.raises(Exception, match="is already active"):
        mlflow.start_run()


def test_resume_a_run_by_id(client: Any, experiment_id: str) -> None:
    with mlflow.start_run() as run:
        mlflow.log_param("before", "1")
    with mlflow.start_run(run_id=run.info.run_id) as resumed:
        assert resumed.data.params == {"before": "1"}
        mlflow.log_param("after", "2")
    assert client.get_run(run.info.run_id).data.params == {"before": "1", "after": "2"}


def test_log_param_and_params(client: Any, experiment_id: str) -> None:
    with mlflow.start_run() as run:
        assert mlflow.log_param("lr", 0.01) == 0.01
        mlflow.log_params({"layers": 3, "optimizer": "adam", "dropout": None, "flag": True})
        # Logging the same value again is allowed (params are immutable, not write-once).
        mlflow.log_param("lr", 0.01)
        mlflow.log_param("long", "x" * 6000)
    params = client.get_run(run.info.run_id).data.params
    assert params == {
        "lr": "0.01",
        "layers": "3",
        "optimizer": "adam",
        "dropout": "None",
        "flag": "True",
        "long": "x" * 6000,
    }


def test_log_metric_steps_and_timestamps(client: Any, experiment_id: str) -> None:
    with mlflow.start_run() as run:
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step, timestamp=1_000 + step)
        # An older step logged later does not become the latest value.
        mlflow.log_metric("loss", 99.0, step=1, timestamp=2_000)
        mlflow.log_metric("no_step", 7)
    history = client.get_metric_history(run.info.run_id, "loss")
    assert sorted((m.step, m.timestamp, m.value) for m in history) == sorted(
        [(s, 1_000 + s, 1.0 / (s + 1)) for s in range(5)] + [(1, 2_000, 99.0)]
    )
    data = client.get_run(run.info.run_id).data
    assert data.metrics["loss"] == pytest.approx(0.2)
    assert data.metrics["no_step"] == 7.0
    (point,) = client.get_metric_history(run.info.run_id, "no_step")
    assert point.step == 0
    assert abs(point.timestamp - time.time() * 1000) < 60_000


def test_nan_and_infinite_metrics(client: Any, experiment_id: str) -> None:
    with mlflow.start_run() as run:
        mlflow.log_metric("nan", float("nan"))
        mlflow.log_metric("inf", float("inf"))
        mlflow.log_metric("ninf", float("-inf"))
        mlflow.log_metric("series", 1.0, step=0)
        mlflow.log_metric("series", float("nan"), step=1)
    metrics = client.get_run(run.info.run_id).data.metrics
    assert math.isnan(metrics["nan"])
    # MLflow's SQL store keeps infinities as the largest finite doubles; labtrack keeps them
    # (test_infinities_are_kept); both read back as at least that large.
    assert metrics["inf"] >= sys.float_info.max
    assert metrics["ninf"] <= -sys.float_info.max
    assert math.isnan(metrics["series"])
    history = sorted(client.get_metric_history(run.info.run_id, "series"), key=lambda m: m.step)
    assert history[0].value == 1.0
    assert math.isnan(history[1].value)


@pytest.mark.labtrack_only
def test_infinities_are_kept(client: Any, experiment_id: str) -> None:
    with mlflow.start_run() as run:
        mlflow.log_metric("inf", float("inf"))
        mlflow.log_metric("ninf", float("-inf"))
    assert client.get_run(run.info.run_id).data.metrics == {"inf": math.inf, "ninf": -math.inf}
    assert [m.value for m in client.get_metric_history(run.info.run_id, "inf")] == [math.inf]


def test_log_metrics(client: Any, experiment_id: str) -> None:
    with mlflow.start_run() as run:
        mlflow.log_metrics({"a": 1, "b": 2.5, "c": -3}, step=4)
        mlflow.log_metrics({"a": 10}, step=5)
    data = client.get_run(run.info.run_id).data
    assert data.metrics == {"a": 10.0, "b": 2.5, "c": -3.0}
    assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "a")] == [
        (4, 1.0),
        (5, 10.0),
    ]


def test_asynchronous_logging(client: Any, experiment_id: str) -> None:
    """``synchronous=False`` batches calls into runs/log-batch from a background thread."""
    with mlflow.start_run() as run:
        operations = [
            mlflow.log_metric("async", float(i), step=i, synchronous=False) for i in range(50)
        ]
        operations.append(mlflow.log_param("async_param", "v", synchronous=False))
        operations.append(mlflow.set_tag("async_tag", "t", synchronous=False))
        for op in operations:
            op.wait()
    data = client.get_run(run.info.run_id).data
    assert len(client.get_metric_history(run.info.run_id, "async")) == 50
    assert data.metrics["async"] == 49.0
    assert data.params["async_param"] == "v"
    assert data.tags["async_tag"] == "t"


def test_tags(client: Any, experiment_id: str) -> None:
    with mlflow.start_run() as run:
        mlflow.set_tag("team", "vision")
        mlflow.set_tags({"stage": "dev", "owner": "alice", "number": 3})
        mlflow.set_tag("stage", "prod")  # tags, unlike params, may change
        mlflow.delete_tag("owner")
    tags = client.get_run(run.info.run_id).data.tags
    assert tags["team"] == "vision"
    assert tags["stage"] == "prod"
    assert tags["number"] == "3"
    assert "owner" not in tags


def test_artifacts_through_the_proxy(client: Any, experiment_id: str, tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    (source / "a.txt").write_text("file a")
    (source / "sub" / "b.bin").write_bytes(bytes(range(256)) * 100)
    single = tmp_path / "single.csv"
    single.write_text("x,y\n1,2\n")
    with mlflow.start_run() as run:
        mlflow.log_dict({"k": [1, 2, 3]}, "config/params.json")
        mlflow.log_dict({"k": "v"}, "config/params.yaml")
        mlflow.log_text("hello\nworld\n", "notes.txt")
        mlflow.log_artifact(str(single))
        mlflow.log_artifact(str(single), artifact_path="data")
        mlflow.log_artifacts(str(source), artifact_path="tree")
    run_id = run.info.run_id
    top = {(f.path, f.is_dir) for f in client.list_artifacts(run_id)}
    assert top == {
        ("config", True),
        ("data", True),
        ("notes.txt", False),
        ("single.csv", False),
        ("tree", True),
    }
    assert mlflow.artifacts.load_dict(f"runs:/{run_id}/config/params.json") == {"k": [1, 2, 3]}
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/notes.txt") == "hello\nworld\n"
    local = Path(mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=str(tmp_path / "dl")))
    assert (local / "tree" / "sub" / "b.bin").read_bytes() == bytes(range(256)) * 100
    assert (local / "data" / "single.csv").read_text() == "x,y\n1,2\n"
    assert json.loads((local / "config" / "params.json").read_text()) == {"k": [1, 2, 3]}
    assert "k: v" in (local / "config" / "params.yaml").read_text()


def test_list_artifacts_in_a_directory(client: Any, experiment_id: str, tmp_path: Path) -> None:
    """Listing below the root also asks logged-models/search: MLflow 3's client looks for a
    logged model named like the directory's first component (``runs:/<id>/<model name>``)."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("file a")
    (tmp_path / "sub" / "b.bin").write_bytes(b"\0" * 1000)
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(tmp_path), artifact_path="tree")
    run_id = run.info.run_id
    tree = {(f.path, f.is_dir, f.file_size) for f in client.list_artifacts(run_id, "tree")}
    assert tree == {("tree/a.txt", False, 6), ("tree/sub", True, None)}
    assert [(f.path, f.file_size) for f in client.list_artifacts(run_id, "tree/sub")] == [
        ("tree/sub/b.bin", 1000)
    ]
    assert client.list_artifacts(run_id, "tree/a.txt") == []


def test_last_active_run(client: Any, experiment_id: str) -> None:
    with mlflow.start_run() as run:
        mlflow.log_metric("m", 1.5)
        mlflow.log_param("p", "x")
    last = mlflow.last_active_run()
    assert last is not None
    assert last.info.run_id == run.info.run_id
    assert last.info.status == "FINISHED"
    assert last.data.metrics == {"m": 1.5}
    assert last.data.params == {"p": "x"}


def test_exception_inside_a_run_marks_it_failed(client: Any, experiment_id: str) -> None:
    started = []

    def fail_inside_a_run() -> None:
        with mlflow.start_run() as run:
            started.append(run.info.run_id)
            mlflow.log_metric("before_failure", 1)
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        fail_inside_a_run()
    assert mlflow.active_run() is None
    stored = client.get_run(started[0])
    assert stored.info.status == "FAILED"
    assert stored.info.end_time is not None
    assert stored.data.metrics == {"before_failure": 1.0}


def test_search_runs_as_a_dataframe(experiment_id: str) -> None:
    for i in range(3):
        with mlflow.start_run(run_name=f"r{i}"):
            mlflow.log_metric("score", i)
            mlflow.log_param("index", i)
            mlflow.set_tag("parity", "even" if i % 2 == 0 else "odd")
    frame = mlflow.search_runs(
        experiment_ids=[experiment_id],
        filter_string="tags.parity = 'even'",
        order_by=["metrics.score DESC"],
    )
    assert list(frame["metrics.score"]) == [2.0, 0.0]
    assert list(frame["params.index"]) == ["2", "0"]
    assert list(frame["tags.mlflow.runName"]) == ["r2", "r0"]
    assert set(frame["status"]) == {"FINISHED"}
    with mlflow.start_run() as marked:
        mlflow.log_param("marker", experiment_id)
    runs = mlflow.search_runs(
        search_all_experiments=True,
        filter_string=f"params.marker = '{experiment_id}'",
        output_format="list",
    )
    assert [r.info.run_id for r in runs] == [marked.info.run_id]
