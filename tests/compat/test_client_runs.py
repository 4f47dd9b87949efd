"""``MlflowClient``'s run calls against a labtrack server."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pytest

from compat._support import MLFLOW_MISSING

mlflow = pytest.importorskip("mlflow", reason=MLFLOW_MISSING)
from mlflow.entities import Metric, Param, RunStatus, RunTag, ViewType  # noqa: E402


def test_create_and_get_run(client: Any, experiment_id: str) -> None:
    run = client.create_run(
        experiment_id, start_time=1_700_000_000_000, tags={"team": "vision"}, run_name="explicit"
    )
    info = run.info
    assert info.status == "RUNNING"
    assert info.run_name == "explicit"
    assert info.start_time == 1_700_000_000_000
    assert info.end_time is None
    assert info.experiment_id == experiment_id
    assert info.lifecycle_stage == "active"
    assert len(info.run_id) == 32
    assert run.data.tags["team"] == "vision"
    assert run.data.tags["mlflow.runName"] == "explicit"

    fetched = client.get_run(info.run_id)
    assert fetched.info == info
    assert fetched.data.tags == run.data.tags
    assert fetched.data.metrics == {}
    assert fetched.data.params == {}
    assert fetched.inputs.dataset_inputs == []


def test_create_run_generates_a_name(client: Any, experiment_id: str) -> None:
    run = client.create_run(experiment_id)
    assert run.info.run_name
    assert run.data.tags["mlflow.runName"] == run.info.run_name
    # The client sends the start time; a fresh run starts "now".
    assert abs(run.info.start_time - time.time() * 1000) < 60_000


def test_update_run(client: Any, experiment_id: str) -> None:
    run_id = client.create_run(experiment_id, run_name="before").info.run_id
    client.update_run(run_id, name="after")
    renamed = client.get_run(run_id)
    assert renamed.info.run_name == "after"
    assert renamed.data.tags["mlflow.runName"] == "after"
    client.update_run(run_id, status="SCHEDULED")
    assert client.get_run(run_id).info.status == "SCHEDULED"


def test_set_terminated(client: Any, experiment_id: str) -> None:
    run_id = client.create_run(experiment_id).info.run_id
    client.set_terminated(run_id, status="KILLED", end_time=1_800_000_000_000)
    info = client.get_run(run_id).info
    assert info.status == "KILLED"
    assert info.end_time == 1_800_000_000_000
    other = client.create_run(experiment_id).info.run_id
    client.set_terminated(other)
    info = client.get_run(other).info
    assert info.status == RunStatus.to_string(RunStatus.FINISHED)
    assert abs(info.end_time - time.time() * 1000) < 60_000


def test_log_batch(client: Any, experiment_id: str) -> None:
    run_id = client.create_run(experiment_id).info.run_id
    metrics = [Metric("loss", 1.0 / (i + 1), 1_000 + i, i) for i in range(500)]
    metrics += [Metric("acc", 0.5, 5_000, 0), Metric("nan", math.nan, 5_000, 0)]
    params = [Param(f"p{i}", str(i)) for i in range(100)]
    tags = [RunTag(f"t{i}", f"v{i}") for i in range(100)]
    client.log_batch(run_id, metrics=metrics[:900], params=params, tags=tags)
    data = client.get_run(run_id).data
    assert data.params == {f"p{i}": str(i) for i in range(100)}
    assert {k: v for k, v in data.tags.items() if k.startswith("t")} == {
        f"t{i}": f"v{i}" for i in range(100)
    }
    assert data.metrics["loss"] == pytest.approx(1 / 500)
    assert data.metrics["acc"] == 0.5
    assert math.isnan(data.metrics["nan"])
    history = client.get_metric_history(run_id, "loss")
    assert [(m.step, m.timestamp, m.value) for m in history] == [
        (i, 1_000 + i, 1.0 / (i + 1)) for i in range(500)
    ]
    # Re-sending the same params in a later batch is fine; an empty batch is too.
    client.log_batch(run_id, params=[Param("p0", "0")])
    client.log_batch(run_id)


def test_metric_history_pages_past_25000_points(client: Any, experiment_id: str) -> None:
    """The client asks for 25,000 points a page and follows next_page_token."""
    run_id = client.create_run(experiment_id).info.run_id
    total = 25_003
    for start in range(0, total, 1000):
        client.log_batch(
            run_id,
            metrics=[
                Metric("long", float(i), 10_000 + i, i)
                for i in range(start, min(start + 1000, total))
            ],
        )
    history = client.get_metric_history(run_id, "long")
    assert len(history) == total
    assert [m.step for m in history] == list(range(total))
    assert history[-1].value == float(total - 1)
    assert client.get_run(run_id).data.metrics["long"] == float(total - 1)
    assert client.get_metric_history(run_id, "never-logged") == []


def test_delete_and_restore_run(client: Any, experiment_id: str) -> None:
    keep = client.create_run(experiment_id).info.run_id
    gone = client.create_run(experiment_id).info.run_id
    client.delete_run(gone)
    assert client.get_run(gone).info.lifecycle_stage == "deleted"

    def ids(view_type: int) -> set[str]:
        return {r.info.run_id for r in client.search_runs([experiment_id], run_view_type=view_type)}

    assert ids(ViewType.ACTIVE_ONLY) == {keep}
    assert ids(ViewType.DELETED_ONLY) == {gone}
    assert ids(ViewType.ALL) == {keep, gone}
    client.restore_run(gone)
    assert client.get_run(gone).info.lifecycle_stage == "active"
    assert ids(ViewType.ACTIVE_ONLY) == {keep, gone}
    assert ids(ViewType.DELETED_ONLY) == set()


def test_client_artifacts(client: Any, experiment_id: str, tmp_path: Path) -> None:
    run_id = client.create_run(experiment_id).info.run_id
    (tmp_path / "one.txt").write_text("one")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "two.txt").write_text("two!")
    client.log_artifact(run_id, str(tmp_path / "one.txt"))
    client.log_artifacts(run_id, str(tmp_path / "dir"), artifact_path="nested")
    client.log_text(run_id, "text body", "texts/t.txt")
    client.log_dict(run_id, {"a": 1}, "d.json")
    listed = {(f.path, f.is_dir, f.file_size) for f in client.list_artifacts(run_id)}
    assert listed == {
        ("one.txt", False, 3),
        ("nested", True, None),
        ("texts", True, None),
        ("d.json", False, len('{\n  "a": 1\n}')),
    }
    out = Path(client.download_artifacts(run_id, "nested", str(tmp_path / "dl")))
    assert (out / "two.txt").read_text() == "two!"
    single = Path(client.download_artifacts(run_id, "one.txt", str(tmp_path / "dl2")))
    assert single.read_text() == "one"
    everything = Path(client.download_artifacts(run_id, "", str(tmp_path / "all")))
    assert sorted(p.relative_to(everything).as_posix() for p in everything.rglob("*")) == [
        "d.json",
        "nested",
        "nested/two.txt",
        "one.txt",
        "texts",
        "texts/t.txt",
    ]


def test_log_inputs_and_search_by_dataset(client: Any, experiment_id: str) -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0.5, 0.25, 0.125]})
    train = mlflow.data.from_pandas(frame, name="train-set", targets="y")
    evaluation = mlflow.data.from_pandas(frame.head(2), name="eval-set")
    with mlflow.start_run() as run:
        mlflow.log_input(train, context="training", tags={"version": "3"})
    with mlflow.start_run() as other:
        mlflow.log_input(evaluation, context="evaluation")
    from mlflow.entities import Dataset, DatasetInput, InputTag

    third = client.create_run(experiment_id).info.run_id
    client.log_inputs(
        third,
        [
            DatasetInput(
                Dataset(name="raw", digest="abc123", source_type="local", source='{"uri": "/x"}'),
                [InputTag("mlflow.data.context", "testing")],
            )
        ],
    )

    stored = client.get_run(run.info.run_id)
    (item,) = stored.inputs.dataset_inputs
    # What the client sent (mlflow.data datasets turn into this entity when logged).
    sent = train._to_mlflow_entity()
    assert item.dataset.name == "train-set"
    assert item.dataset.digest == train.digest
    assert (item.dataset.source_type, item.dataset.source) == (sent.source_type, sent.source)
    assert item.dataset.schema == sent.schema
    assert item.dataset.profile == sent.profile
    tags = {t.key: t.value for t in item.tags}
    assert tags["mlflow.data.context"] == "training"
    assert tags["version"] == "3"

    def found(filter_string: str) -> set[str]:
        return {r.info.run_id for r in client.search_runs([experiment_id], filter_string)}

    assert found("datasets.name = 'train-set'") == {run.info.run_id}
    assert found("datasets.name LIKE '%-set'") == {run.info.run_id, other.info.run_id}
    assert found(f"datasets.digest = '{evaluation.digest}'") == {other.info.run_id}
    assert found("datasets.context = 'testing'") == {third}
    assert found("datasets.name IN ('raw', 'eval-set')") == {third, other.info.run_id}
    assert found("datasets.name = 'nothing'") == set()


def test_long_values_are_truncated(client: Any, experiment_id: str) -> None:
    """MLflow's server keeps the first 6,000 characters of a param, 8,000 of a tag."""
    run_id = client.create_run(experiment_id).info.run_id
    client.log_param(run_id, "long_param", "p" * 6001)
    client.set_tag(run_id, "long_tag", "t" * 8001)
    data = client.get_run(run_id).data
    assert data.params["long_param"] == "p" * 6000
    assert data.tags["long_tag"] == "t" * 8000
    with pytest.raises(mlflow.MlflowException) as info:
        client.set_experiment_tag(experiment_id, "long", "e" * 20_001)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
