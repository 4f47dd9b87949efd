"""The store contract: SqlStore on SQLite, PostgreSQL and MySQL/MariaDB, and RestStore
through a live server. The behaviour every client relies on, whichever store it uses."""

from __future__ import annotations

import math
import re
import time

import pytest

from labtrack.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LifecycleStage,
    Metric,
    Param,
    RunStatus,
    RunTag,
    ViewType,
)
from labtrack.errors import (
    InvalidParameterValue,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
)


def now() -> int:
    return int(time.time() * 1000)


def new_run(store, experiment_id: str = "0", name: str = "r", tags=()):
    return store.create_run(experiment_id, "ana", now(), list(tags), name)


# -- experiments ---------------------------------------------------------------------
def test_default_experiment_exists(store, artifact_root):
    exp = store.get_experiment("0")
    assert exp.name == "Default"
    assert exp.artifact_location == f"{artifact_root}/0"
    assert exp.lifecycle_stage == LifecycleStage.ACTIVE


def test_create_and_get_experiment(store, artifact_root):
    exp_id = store.create_experiment("nyc-taxi", tags=[("team", "ds")])
    exp = store.get_experiment(exp_id)
    assert exp.name == "nyc-taxi"
    assert exp.tags == {"team": "ds"}
    assert exp.artifact_location == f"{artifact_root}/{exp_id}"
    assert store.get_experiment_by_name("nyc-taxi") == exp
    assert store.get_experiment_by_name("NYC-TAXI") is None  # names are case-sensitive


def test_explicit_artifact_location_is_kept(store):
    exp_id = store.create_experiment("e", artifact_location="s3://bucket/prefix")
    assert store.get_experiment(exp_id).artifact_location == "s3://bucket/prefix"
    run = new_run(store, exp_id)
    assert run.info.artifact_uri == f"s3://bucket/prefix/{run.info.run_id}/artifacts"


def test_duplicate_experiment_name(store):
    store.create_experiment("dup")
    with pytest.raises(ResourceAlreadyExists, match="'dup' already exists"):
        store.create_experiment("dup")


def test_deleted_experiment_name_is_still_taken(store):
    exp_id = store.create_experiment("gone")
    store.delete_experiment(exp_id)
    with pytest.raises(ResourceAlreadyExists, match="deleted state"):
        store.create_experiment("gone")


def test_missing_experiment(store):
    with pytest.raises(ResourceDoesNotExist, match="No Experiment with id=12345"):
        store.get_experiment("12345")
    with pytest.raises(InvalidParameterValue, match="Experiment ID must be a valid integer"):
        store.get_experiment("abc")


def test_delete_and_restore_experiment_cascades_to_runs(store):
    exp_id = store.create_experiment("e")
    run = new_run(store, exp_id)
    store.delete_experiment(exp_id)
    assert store.get_experiment(exp_id).lifecycle_stage == LifecycleStage.DELETED
    assert store.get_run(run.info.run_id).info.lifecycle_stage == LifecycleStage.DELETED
    with pytest.raises(InvalidParameterValue, match="must be in the 'active' state"):
        new_run(store, exp_id)
    store.restore_experiment(exp_id)
    assert store.get_run(run.info.run_id).info.lifecycle_stage == LifecycleStage.ACTIVE


def test_runs_deleted_before_the_experiment_stay_deleted(store):
    exp_id = store.create_experiment("e")
    kept, dropped = new_run(store, exp_id), new_run(store, exp_id)
    store.delete_run(dropped.info.run_id)
    store.delete_experiment(exp_id)
    store.restore_experiment(exp_id)
    assert store.get_run(kept.info.run_id).info.lifecycle_stage == LifecycleStage.ACTIVE
    # a run deleted before the experiment comes back with it: deletion is not versioned
    assert store.get_run(dropped.info.run_id).info.lifecycle_stage == LifecycleStage.ACTIVE


def test_default_experiment_cannot_be_deleted(store):
    with pytest.raises(InvalidParameterValue, match="cannot be deleted"):
        store.delete_experiment("0")


def test_rename_experiment(store):
    a = store.create_experiment("a")
    store.create_experiment("b")
    store.rename_experiment(a, "c")
    assert store.get_experiment(a).name == "c"
    with pytest.raises(ResourceAlreadyExists, match="Experiment 'b' already exists"):
        store.rename_experiment(a, "b")


def test_experiment_tags(store):
    exp_id = store.create_experiment("e")
    store.set_experiment_tag(exp_id, "k", "v1")
    store.set_experiment_tag(exp_id, "k", "v2")
    assert store.get_experiment(exp_id).tags == {"k": "v2"}
    store.delete_experiment_tag(exp_id, "k")
    assert store.get_experiment(exp_id).tags == {}
    with pytest.raises(ResourceDoesNotExist, match="No tag with name: k"):
        store.delete_experiment_tag(exp_id, "k")


def test_long_experiment_tag_value(store):
    exp_id = store.create_experiment("e")
    store.set_experiment_tag(exp_id, "note", "x" * 20000)
    assert len(store.get_experiment(exp_id).tags["note"]) == 20000


def test_search_experiments_pages_and_view_types(store):
    ids = [store.create_experiment(f"exp-{i}") for i in range(5)]
    store.delete_experiment(ids[0])
    active = store.search_experiments(ViewType.ACTIVE_ONLY, 1000, None, None, None)
    assert {e.name for e in active} == {"Default", "exp-1", "exp-2", "exp-3", "exp-4"}
    deleted = store.search_experiments(ViewType.DELETED_ONLY, 1000, None, None, None)
    assert [e.name for e in deleted] == ["exp-0"]
    seen: list[str] = []
    token: str | None = None
    while True:
        page = store.search_experiments(ViewType.ALL, 2, None, ["name ASC"], token)
        seen.extend(e.name for e in page)
        token = page.token
        if not token:
            break
    assert seen == ["Default", "exp-0", "exp-1", "exp-2", "exp-3", "exp-4"]
    found = store.search_experiments(ViewType.ALL, 10, "name LIKE 'exp-%'", None, None)
    assert len(found) == 5


# -- runs ----------------------------------------------------------------------------
def test_create_run(store, artifact_root):
    t = now()
    run = store.create_run("0", "ana", t, [RunTag("developer", "ana")], "lasso")
    info = run.info
    assert len(info.run_id) == 32
    assert (info.run_name, info.user_id, info.status) == ("lasso", "ana", RunStatus.RUNNING)
    assert info.start_time == t
    assert info.end_time is None
    assert info.artifact_uri == f"{artifact_root}/0/{info.run_id}/artifacts"
    assert run.data.tags == {"developer": "ana", "mlflow.runName": "lasso"}
    assert store.get_run(info.run_id) == run


def test_missing_run(store):
    with pytest.raises(ResourceDoesNotExist, match="Run with id=abc not found"):
        store.get_run("abc")
    with pytest.raises(ResourceDoesNotExist, match="Run with id=abc not found"):
        store.log_batch("abc", metrics=[Metric("m", 1.0, now(), 0)])


def test_update_run_info_and_rename_by_tag(store):
    run = new_run(store)
    rid = run.info.run_id
    info = store.update_run_info(rid, RunStatus.FINISHED, 123, "renamed")
    assert (info.status, info.end_time, info.run_name) == (RunStatus.FINISHED, 123, "renamed")
    assert store.get_run(rid).data.tags["mlflow.runName"] == "renamed"
    store.log_batch(rid, tags=[RunTag("mlflow.runName", "by-tag")])
    assert store.get_run(rid).info.run_name == "by-tag"


def test_deleted_run_refuses_writes_and_can_be_restored(store):
    rid = new_run(store).info.run_id
    store.delete_run(rid)
    assert store.get_run(rid).info.lifecycle_stage == LifecycleStage.DELETED
    with pytest.raises(InvalidParameterValue, match="must be in the 'active' state"):
        store.log_batch(rid, params=[Param("a", "1")])
    store.restore_run(rid)
    store.log_batch(rid, params=[Param("a", "1")])
    assert store.get_run(rid).data.params == {"a": "1"}


# -- params and tags ----------------------------------------------------------------------
def test_params_are_immutable(store):
    rid = new_run(store).info.run_id
    store.log_batch(rid, params=[Param("alpha", "0.1")])
    store.log_batch(rid, params=[Param("alpha", "0.1")])  # same value: fine
    with pytest.raises(InvalidParameterValue, match="Changing param values is not allowed"):
        store.log_batch(rid, params=[Param("alpha", "0.2")])
    assert store.get_run(rid).data.params == {"alpha": "0.1"}


def test_failed_batch_writes_nothing(store):
    rid = new_run(store).info.run_id
    store.log_batch(rid, params=[Param("alpha", "0.1")])
    with pytest.raises(
        InvalidParameterValue,
        match=re.escape("Changing param values is not allowed. Param with key='alpha'"),
    ):
        store.log_batch(
            rid,
            metrics=[Metric("m", 1.0, now(), 0)],
            params=[Param("beta", "1"), Param("alpha", "0.2")],
            tags=[RunTag("t", "v")],
        )
    data = store.get_run(rid).data
    assert (data.metrics, data.params, data.tags.get("t")) == ({}, {"alpha": "0.1"}, None)


def test_empty_values_are_stored(store):
    """An empty param, tag or experiment tag value is a value, as in MLflow (over the
    server too: its endpoints once refused "" as a missing value)."""
    rid = new_run(store).info.run_id
    store.log_batch(rid, params=[Param("p", ""), Param("q", "")], tags=[RunTag("t", "")])
    store.log_batch(rid, tags=[RunTag("u", "")])
    store.set_experiment_tag("0", "e", "")
    data = store.get_run(rid).data
    assert (data.params, data.tags["t"], data.tags["u"]) == ({"p": "", "q": ""}, "", "")
    assert store.get_experiment("0").tags["e"] == ""


def test_param_and_tag_keys_are_case_sensitive(store):
    rid = new_run(store).info.run_id
    store.log_batch(rid, params=[Param("Alpha", "1"), Param("alpha", "2")])
    store.log_batch(rid, tags=[RunTag("T", "1"), RunTag("t", "2")])
    data = store.get_run(rid).data
    assert data.params == {"Alpha": "1", "alpha": "2"}
    assert (data.tags["T"], data.tags["t"]) == ("1", "2")


def test_long_values_and_unicode(store):
    rid = new_run(store).info.run_id
    store.log_batch(
        rid,
        params=[Param("p", "ü" * 6000)],
        tags=[RunTag("t", "日本" * 4000)],
    )
    data = store.get_run(rid).data
    assert data.params["p"] == "ü" * 6000
    assert data.tags["t"] == "日本" * 4000


def test_tags_upsert_and_delete(store):
    rid = new_run(store).info.run_id
    store.log_batch(rid, tags=[RunTag("k", "1")])
    store.log_batch(rid, tags=[RunTag("k", "2")])
    assert store.get_run(rid).data.tags["k"] == "2"
    store.delete_tag(rid, "k")
    assert "k" not in store.get_run(rid).data.tags
    with pytest.raises(ResourceDoesNotExist, match="No tag with name: k"):
        store.delete_tag(rid, "k")


def test_parent_run_tag(store):
    parent = new_run(store)
    child = new_run(store, tags=[RunTag("mlflow.parentRunId", parent.info.run_id)])
    assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
    found = store.search_runs(
        ["0"], f"tags.mlflow.parentRunId = '{parent.info.run_id}'", ViewType.ALL, 10, None, None
    )
    assert [r.info.run_id for r in found] == [child.info.run_id]


# -- metrics ----------------------------------------------------------------------------
def test_metric_history_and_summary(store):
    rid = new_run(store).info.run_id
    t = now()
    store.log_batch(rid, metrics=[Metric("loss", 1.0 / (s + 1), t + s, s) for s in range(10)])
    store.log_batch(rid, metrics=[Metric("loss", 5.0, t, 3)])  # an old step: not the latest
    run = store.get_run(rid)
    assert run.data.metrics == {"loss": 0.1}
    summary = run.data.metric_summaries["loss"]
    assert (summary.min, summary.max, summary.count) == (0.1, 5.0, 11)
    assert (summary.step, summary.timestamp) == (9, t + 9)
    history = store.get_metric_history(rid, "loss")
    assert len(history) == 11
    assert [m.step for m in history] == [0, 1, 2, 3, 3, 4, 5, 6, 7, 8, 9]
    assert store.get_metric_history(rid, "nope") == []


def test_latest_is_largest_step_then_timestamp_then_value(store):
    rid = new_run(store).info.run_id
    store.log_batch(rid, metrics=[Metric("m", 1.0, 100, 5), Metric("m", 2.0, 50, 5)])
    assert store.get_run(rid).data.metrics["m"] == 1.0
    store.log_batch(
        rid, metrics=[Metric("m", 0.5, 100, 5)]
    )  # same step and time: larger value wins
    assert store.get_run(rid).data.metrics["m"] == 1.0
    store.log_batch(rid, metrics=[Metric("m", 7.0, 100, 5)])
    assert store.get_run(rid).data.metrics["m"] == 7.0


def test_nan_and_infinity_are_kept(store):
    rid = new_run(store).info.run_id
    t = now()
    store.log_batch(
        rid,
        metrics=[
            Metric("m", 1.0, t, 0),
            Metric("m", math.nan, t, 1),
            Metric("m", math.inf, t, 2),
            Metric("m", -math.inf, t, 3),
            Metric("only_nan", math.nan, t, 0),
        ],
    )
    values = [m.value for m in store.get_metric_history(rid, "m")]
    assert values[0] == 1.0
    assert math.isnan(values[1])
    assert values[2:] == [math.inf, -math.inf]
    run = store.get_run(rid)
    summary = run.data.metric_summaries["m"]
    assert summary.latest == -math.inf
    assert (summary.min, summary.max, summary.count) == (-math.inf, math.inf, 4)
    only_nan = run.data.metric_summaries["only_nan"]
    assert all(math.isnan(x) for x in (only_nan.latest, only_nan.min, only_nan.max))


def test_history_paging(store):
    rid = new_run(store).info.run_id
    store.log_batch(rid, metrics=[Metric("m", float(s), 0, s) for s in range(25)])
    steps: list[int] = []
    token: str | None = None
    while True:
        page = store.get_metric_history(rid, "m", max_results=10, page_token=token)
        steps.extend(m.step for m in page)
        token = page.token
        if not token:
            break
    assert steps == list(range(25))
    with pytest.raises(InvalidParameterValue, match="Invalid page token"):
        store.get_metric_history(rid, "m", max_results=10, page_token="garbage")


def test_large_batch_is_chunked(store):
    rid = new_run(store).info.run_id
    n = 50_000
    store.log_batch(rid, metrics=[Metric("m", float(i), i, i) for i in range(n)])
    steps, _, values = store.get_metric_history_columns(rid, "m")
    assert steps == list(range(n))
    assert values[-1] == n - 1


def test_big_and_negative_steps(store):
    rid = new_run(store).info.run_id
    big = 2**62
    store.log_batch(rid, metrics=[Metric("m", 1.0, big, -5), Metric("m", 2.0, 0, big)])
    assert [m.step for m in store.get_metric_history(rid, "m")] == [-5, big]


# -- datasets ------------------------------------------------------------------------
def test_log_inputs(store):
    rid = new_run(store).info.run_id
    ds = Dataset("train", "abc123", "local", '{"uri": "data/train.parquet"}', '{"cols": []}')
    item = DatasetInput(ds, (InputTag("mlflow.data.context", "training"),))
    store.log_inputs(rid, [item])
    store.log_inputs(rid, [item])  # logging it again is a no-op
    inputs = store.get_run(rid).inputs.dataset_inputs
    assert inputs == (item,)
    found = store.search_runs(["0"], "datasets.context = 'training'", ViewType.ALL, 10, None, None)
    assert [r.info.run_id for r in found] == [rid]


def test_nan_loses_ties_for_latest_within_and_across_batches(store):
    rid = new_run(store).info.run_id
    store.log_batch(rid, metrics=[Metric("m", math.nan, 100, 5), Metric("m", 1.0, 100, 5)])
    assert store.get_run(rid).data.metrics["m"] == 1.0
    store.log_batch(rid, metrics=[Metric("m", math.nan, 100, 5)])
    assert store.get_run(rid).data.metrics["m"] == 1.0
    store.log_batch(rid, metrics=[Metric("m", math.nan, 101, 5)])
    assert math.isnan(store.get_run(rid).data.metrics["m"])
