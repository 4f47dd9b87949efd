"""The fluent API, used as a training script uses it."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import pytest

import labtrack as lt
from labtrack.errors import InvalidParameterValue, LoggingError


@pytest.fixture
def uri(tmp_path: Path) -> str:
    uri = f"sqlite:///{tmp_path / 'fluent.db'}"
    lt.set_tracking_uri(uri)
    return uri


def test_the_quickstart_of_the_issue(uri: str, tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    report.write_text("<h1>report</h1>")
    lt.set_experiment("nyc-taxi")
    with lt.start_run(run_name="lasso") as run:
        lt.set_tag("developer", "ana")
        lt.log_params({"alpha": 0.01, "train-data-path": "data/train.parquet"})
        for step in range(1000):
            lt.log_metric("loss", 1 / (step + 1), step=step)
        lt.log_metric("rmse", 6.3)
        lt.log_artifact(str(report), artifact_path="reports")
        with lt.start_run(nested=True) as child:
            lt.log_metric("rmse", 6.9)
    best = lt.search_runs(
        filter_string="metrics.rmse < 7 and params.alpha = '0.01'",
        order_by=["metrics.rmse ASC"],
    )
    assert list(best["run_id"]) == [run.info.run_id]
    assert best["metrics.rmse"][0] == 6.3
    assert best["tags.developer"][0] == "ana"
    stored = lt.get_run(run.info.run_id)
    assert stored.info.status == "FINISHED"
    assert stored.info.end_time is not None
    assert stored.data.metric_summaries["loss"].count == 1000
    assert lt.get_run(child.info.run_id).data.tags["mlflow.parentRunId"] == run.info.run_id
    files = lt.TrackingClient().list_artifacts(run.info.run_id, "reports")
    assert [f.path for f in files] == ["reports/report.html"]


def test_default_tracking_uri_is_a_local_sqlite_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("LABTRACK_TRACKING_URI")
    monkeypatch.delenv("LABTRACK_ARTIFACT_ROOT")
    monkeypatch.chdir(tmp_path)
    assert lt.get_tracking_uri() == "sqlite:///labtrack.db"
    with lt.start_run() as run:
        lt.log_metric("m", 1.0)
        lt.log_text("hi", "hello.txt")
    assert (tmp_path / "labtrack.db").is_file()
    artifact = tmp_path / "labtrack-artifacts" / "0" / run.info.run_id / "artifacts" / "hello.txt"
    assert artifact.read_text() == "hi"


def test_mlflow_tracking_uri_is_honoured(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("LABTRACK_TRACKING_URI")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'ml.db'}")
    assert lt.get_tracking_uri().endswith("ml.db")
    monkeypatch.setenv("LABTRACK_TRACKING_URI", f"sqlite:///{tmp_path / 'lt.db'}")
    assert lt.get_tracking_uri().endswith("lt.db")


def test_statuses_of_with_blocks(uri: str) -> None:
    with lt.start_run() as ok:
        pass
    with pytest.raises(ValueError, match="boom"), lt.start_run() as failed:  # noqa: PT012
        lt.log_metric("before", 1.0)
        raise ValueError("boom")
    with pytest.raises(KeyboardInterrupt), lt.start_run() as killed:
        raise KeyboardInterrupt
    assert lt.get_run(ok.info.run_id).info.status == "FINISHED"
    failed_run = lt.get_run(failed.info.run_id)
    assert failed_run.info.status == "FAILED"
    assert failed_run.data.metrics == {"before": 1.0}  # logged before the error: kept
    assert lt.get_run(killed.info.run_id).info.status == "KILLED"
    assert lt.active_run() is None


def test_only_one_top_level_run_at_a_time(uri: str) -> None:
    with lt.start_run(), pytest.raises(InvalidParameterValue, match="already active"):
        lt.start_run()


def test_logging_without_a_run_starts_one(uri: str) -> None:
    lt.log_metric("m", 2.0)
    run = lt.active_run()
    assert run is not None
    lt.end_run()
    assert lt.get_run(run.info.run_id).data.metrics == {"m": 2.0}
    last = lt.last_active_run()
    assert last is not None
    assert last.info.run_id == run.info.run_id


def test_resume_a_run(uri: str) -> None:
    with lt.start_run() as run:
        lt.log_param("a", 1)
    with lt.start_run(run_id=run.info.run_id):
        lt.log_param("b", 2)
        assert lt.get_run(run.info.run_id).info.status == "RUNNING"
    resumed = lt.get_run(run.info.run_id)
    assert resumed.data.params == {"a": "1", "b": "2"}
    assert resumed.info.status == "FINISHED"


def test_run_name_description_and_tags(uri: str) -> None:
    with lt.start_run(run_name="named", tags={"team": "x"}, description="a note") as run:
        pass
    stored = lt.get_run(run.info.run_id)
    assert stored.info.run_name == "named"
    assert stored.data.tags["team"] == "x"
    assert stored.data.tags["mlflow.note.content"] == "a note"
    with lt.start_run() as unnamed:
        pass
    assert unnamed.info.run_name.count("-") == 2  # e.g. "bright-heron-42"


def test_automatic_metadata(uri: str) -> None:
    with lt.start_run() as run:
        pass
    tags = lt.get_run(run.info.run_id).data.tags
    for key in (
        "mlflow.source.name",
        "mlflow.source.type",
        "mlflow.user",
        "labtrack.command",
        "labtrack.python.version",
    ):
        assert tags.get(key), key


def test_metadata_can_be_turned_off(uri: str, monkeypatch) -> None:
    for group in ("SOURCE", "GIT", "USER", "COMMAND", "ENVIRONMENT"):
        monkeypatch.setenv(f"LABTRACK_CAPTURE_{group}", "false")
    with lt.start_run() as run:
        pass
    assert set(lt.get_run(run.info.run_id).data.tags) == {"mlflow.runName"}


def test_environment_snapshot_is_an_artifact(uri: str, monkeypatch) -> None:
    monkeypatch.setenv("LABTRACK_CAPTURE_ENVIRONMENT", "true")
    with lt.start_run() as run:
        pass
    path = lt.TrackingClient().download_artifacts(run.info.run_id, "labtrack/environment.txt")
    assert "pytest==" in Path(path).read_text().lower()


def test_param_conflict_is_raised_and_other_data_kept(uri: str) -> None:
    with lt.start_run() as run:
        lt.log_param("alpha", 0.1)
        lt.flush()
        lt.log_param("alpha", 0.2)  # refused when written
        lt.log_metric("m", 1.0)
        lt.set_tag("t", "v")
        with pytest.raises(LoggingError, match="Changing param values is not allowed"):
            lt.flush()
        lt.flush()  # the error is reported once
    data = lt.get_run(run.info.run_id).data
    assert data.params == {"alpha": "0.1"}
    assert data.metrics == {"m": 1.0}
    assert data.tags["t"] == "v"


def test_write_error_is_raised_on_the_next_call(uri: str) -> None:
    with lt.start_run() as run:
        lt.log_param("alpha", 1)
        lt.flush()
        lt.log_param("alpha", 2)
        queue = lt.tracking._batching.get_queue()
        while queue.pending:
            threading.Event().wait(0.01)
        with pytest.raises(
            LoggingError,
            match=r"Could not log 1 params to run \w+: Changing param values is not allowed",
        ):
            lt.log_metric("after", 3.0)
    assert lt.get_run(run.info.run_id).data.metrics == {"after": 3.0}  # that call's data is kept


def test_bounded_queue_loses_nothing(uri: str, monkeypatch) -> None:
    monkeypatch.setattr(lt.tracking._batching, "_queue", lt.tracking._batching.LogQueue(7))
    with lt.start_run() as run:
        for i in range(2000):
            lt.log_metric("m", float(i), step=i)
    client = lt.TrackingClient()
    assert [m.step for m in client.get_metric_history(run.info.run_id, "m")] == list(range(2000))


def test_synchronous_mode_writes_before_returning(uri: str, monkeypatch) -> None:
    from labtrack.store.sql.store import SqlStore

    reader = SqlStore(uri, "file:///unused")
    with lt.start_run() as run:
        lt.log_metric("m", 1.0, synchronous=True)
        assert reader.count_metric_points(run.info.run_id) == 1
    monkeypatch.setenv("LABTRACK_ASYNC_LOGGING", "false")
    with lt.start_run() as run:
        lt.log_metric("m", 1.0)
        lt.log_param("p", "v")
        assert reader.count_metric_points(run.info.run_id) == 1
        assert reader.get_run(run.info.run_id).data.params == {"p": "v"}


def test_locked_database_is_waited_for_not_lost(tmp_path: Path, monkeypatch) -> None:
    """Another process holds the write lock past the busy timeout: the queue retries."""
    import sqlite3

    monkeypatch.setenv("LABTRACK_SQLITE_BUSY_TIMEOUT", "0.05")
    db = tmp_path / "locked.db"
    lt.set_tracking_uri(f"sqlite:///{db}")
    with lt.start_run() as run:
        blocker = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        blocker.execute("BEGIN IMMEDIATE")
        for i in range(100):
            lt.log_metric("m", float(i), step=i)
        threading.Timer(0.8, blocker.rollback).start()
        lt.flush()
    assert lt.get_run(run.info.run_id).data.metric_summaries["m"].count == 100


def test_active_runs_are_per_thread(uri: str) -> None:
    seen: dict[str, str | None] = {}
    with lt.start_run() as main_run:

        def worker() -> None:
            current = lt.active_run()
            seen["worker"] = current.info.run_id if current else None

        t = threading.Thread(target=worker)
        t.start()
        t.join()
    assert seen["worker"] is None
    assert main_run.info.run_id


def test_set_experiment(uri: str) -> None:
    exp = lt.set_experiment("first")
    assert lt.set_experiment("first").experiment_id == exp.experiment_id
    with lt.start_run() as run:
        pass
    assert run.info.experiment_id == exp.experiment_id
    lt.delete_experiment(exp.experiment_id)
    with pytest.raises(InvalidParameterValue, match="deleted experiment"):
        lt.set_experiment("first")
    lt.restore_experiment(exp.experiment_id)
    assert lt.set_experiment(experiment_id=exp.experiment_id).name == "first"


def test_experiment_from_environment(uri: str, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "from-env")
    with lt.start_run() as run:
        pass
    assert lt.get_experiment(run.info.experiment_id).name == "from-env"


def test_search_runs_formats(uri: str) -> None:
    for alpha in (0.1, 0.2):
        with lt.start_run():
            lt.log_param("alpha", alpha)
            lt.log_metric("rmse", alpha * 10)
    frame = lt.search_runs(order_by=["metrics.rmse DESC"])
    assert list(frame.columns[:6]) == [
        "run_id",
        "experiment_id",
        "status",
        "artifact_uri",
        "start_time",
        "end_time",
    ]
    assert list(frame["metrics.rmse"]) == [2.0, 1.0]
    assert str(frame["start_time"].dtype).startswith("datetime64")
    runs = lt.search_runs(output_format="list", max_results=1, order_by=["metrics.rmse ASC"])
    assert [r.data.params["alpha"] for r in runs] == ["0.1"]
    assert len(lt.search_runs(search_all_experiments=True)) == 2
    assert len(lt.search_runs(experiment_names=["Default"])) == 2


def test_artifact_helpers(uri: str, tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    with lt.start_run() as run:
        lt.log_text("hello", "notes/hello.txt")
        lt.log_dict({"a": 1}, "config.json")
        lt.log_dict({"a": 1}, "config.yaml")
        fig, ax = plt.subplots()
        ax.plot([1, 2, 3])
        lt.log_figure(fig, "plots/line.png")
        plt.close(fig)
        lt.log_image(np.zeros((4, 4, 3), dtype=np.uint8), "images/black.png")
        lt.log_image(np.ones((2, 2)), key="mask", step=3)
        lt.log_table({"x": [1, 2], "y": ["a", "b"]}, "table.json")
    client = lt.TrackingClient()
    rid = run.info.run_id
    out = Path(client.download_artifacts(rid, "", tmp_path / "out"))
    assert (out / "notes" / "hello.txt").read_text() == "hello"
    assert json.loads((out / "config.json").read_text()) == {"a": 1}
    assert (out / "config.yaml").read_text().strip() == "a: 1"
    assert (out / "plots" / "line.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "images" / "black.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "images" / "mask" / "step_3.png").is_file()
    table = json.loads((out / "table.json").read_text())
    assert table == {"columns": ["x", "y"], "data": [[1, "a"], [2, "b"]]}
    assert json.loads(lt.get_run(rid).data.tags["mlflow.loggedArtifacts"]) == [
        {"path": "table.json", "type": "table"}
    ]


def test_bad_input_is_refused_at_the_call(uri: str) -> None:
    with lt.start_run():
        with pytest.raises(InvalidParameterValue, match="must be a number"):
            lt.log_metric("m", "high")  # type: ignore[arg-type]
        with pytest.raises(
            InvalidParameterValue, match="Invalid value \"bad key!\" for parameter 'name'"
        ):
            lt.log_metric("bad key!", 1.0)
        with pytest.raises(InvalidParameterValue, match="must not resolve to other names"):
            lt.log_param("../escape", 1)
        with pytest.raises(InvalidParameterValue, match="no such file"):
            lt.log_artifact("/does/not/exist")
        lt.log_metric("nan", math.nan)
        lt.log_metric("inf", math.inf)


def test_get_artifact_uri(uri: str) -> None:
    with lt.start_run() as run:
        assert lt.get_artifact_uri() == run.info.artifact_uri
        assert lt.get_artifact_uri("model") == run.info.artifact_uri + "/model"


def test_log_input_from_pandas_and_numpy(uri: str, tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd

    df = pd.DataFrame({"x": [1.0, 2.0, 3.0], "city": ["a", "b", "c"], "y": [0, 1, 0]})
    train = lt.data.from_pandas(df, source=tmp_path / "train.parquet", name="train", targets="y")
    same = lt.data.from_pandas(df.copy(), source="elsewhere", name="train")
    changed = lt.data.from_pandas(df.assign(x=[1.0, 2.0, 4.0]), name="train")
    assert train.digest == same.digest != changed.digest
    arrays = lt.data.from_numpy(np.ones((4, 2)), targets=np.zeros(4), name="arrays")
    with lt.start_run() as run:
        lt.log_input(train, context="training", tags={"split": "80%"})
        lt.log_input(arrays, context="eval")
        with pytest.raises(InvalidParameterValue, match="Dataset"):
            lt.log_input(df)
    inputs = lt.get_run(run.info.run_id).inputs.dataset_inputs
    assert [i.dataset.name for i in inputs] == ["train", "arrays"]
    stored = inputs[0]
    assert stored.dataset.schema is not None
    assert stored.dataset.profile is not None
    assert json.loads(stored.dataset.source) == {"uri": str(tmp_path / "train.parquet")}
    columns = json.loads(stored.dataset.schema)["mlflow_colspec"]
    assert columns[1] == {"type": "string", "name": "city"}
    assert json.loads(stored.dataset.profile)["num_rows"] == 3
    tags = {t.key: t.value for t in stored.tags}
    assert tags == {"split": "80%", "mlflow.data.context": "training"}
    found = lt.search_runs(
        filter_string="datasets.name = 'train' AND datasets.context = 'training'"
    )
    assert list(found["run_id"]) == [run.info.run_id]
