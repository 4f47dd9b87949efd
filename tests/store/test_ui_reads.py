"""The SQL store's reads behind the UI (run table pages, nesting, keys, downsampled histories)
on every database: ``store/sql/_run_table.py`` and ``store/sql/_history_buckets.py``."""

from __future__ import annotations

import math

import pytest

from labtrack.entities import Metric, Param, RunTag, ViewType


def _run(store, experiment_id: str, name: str, parent: str | None = None) -> str:
    tags = [RunTag("mlflow.parentRunId", parent)] if parent else []
    return store.create_run(experiment_id, "u", 1000, tags, name).info.run_id


def test_downsampled_history_keeps_the_shape(sql_store) -> None:
    experiment_id = sql_store.create_experiment("history")
    run_id = _run(sql_store, experiment_id, "long")
    n = 5000
    values = [math.sin(i / 300) + (5.0 if i == 3210 else 0.0) for i in range(n)]
    sql_store.log_batch(run_id, [Metric("loss", v, 10 * i, i) for i, v in enumerate(values)])
    queries = sql_store
    series = queries.get_metric_series(run_id, "loss")
    assert series is not None
    assert (series.count, series.first_step, series.last_step) == (n, 0, n - 1)
    buckets = queries.get_series_buckets(series.series_id, 0, n - 1, 100)
    assert len(buckets["mean"]) == 100
    assert sum(buckets["count"]) == n
    assert max(buckets["max"]) == pytest.approx(max(values))  # the spike survives
    assert min(buckets["min"]) == pytest.approx(min(values))
    assert buckets["step_first"] == sorted(buckets["step_first"])
    assert buckets["step_first"][0] == 0
    assert buckets["step_last"][-1] == n - 1
    spike = next(
        i
        for i, (a, b) in enumerate(zip(buckets["step_first"], buckets["step_last"], strict=True))
        if a <= 3210 <= b
    )
    assert buckets["max"][spike] == pytest.approx(values[3210])
    window = queries.get_series_buckets(series.series_id, 1000, 1999, 10)
    assert sum(window["count"]) == 1000
    assert window["step_first"][0] == 1000
    assert queries.count_series_points(series.series_id, 1000, 1099) == 100
    # A window that the buckets do not divide evenly: the last bucket stops at the window.
    uneven = queries.get_series_buckets(series.series_id, 1000, 1004, 3)
    assert sum(uneven["count"]) == 5
    assert uneven["step_last"][-1] == 1004
    raw = queries.get_series_points(series.series_id, 10, 12)
    assert raw["step"] == [10, 11, 12]
    assert raw["timestamp"] == [100, 110, 120]
    assert raw["value"] == pytest.approx(values[10:13])
    assert queries.get_metric_series(run_id, "missing") is None


def test_nan_points_in_a_bucket(sql_store) -> None:
    experiment_id = sql_store.create_experiment("nan")
    run_id = _run(sql_store, experiment_id, "nan")
    sql_store.log_batch(
        run_id, [Metric("x", math.nan if i % 2 else float(i), i, i) for i in range(40)]
    )
    queries = sql_store
    series = queries.get_metric_series(run_id, "x")
    assert series is not None
    buckets = queries.get_series_buckets(series.series_id, 0, 39, 4)
    assert buckets["count"] == [10, 10, 10, 10]
    assert buckets["max"] == [8.0, 18.0, 28.0, 38.0]


def test_run_pages_nest_children_under_parents(sql_store) -> None:
    experiment_id = sql_store.create_experiment("nested")
    parent = _run(sql_store, experiment_id, "parent")
    kids = [_run(sql_store, experiment_id, f"kid-{i}", parent) for i in range(3)]
    lone = _run(sql_store, experiment_id, "lone")
    for i, run_id in enumerate([parent, *kids, lone]):
        sql_store.log_batch(run_id, [Metric("m", float(i), 1, 0)], [Param("p", str(i % 2))], [])
    queries = sql_store
    pk = [int(experiment_id)]
    page = queries.search_run_page(
        pk, ViewType.ACTIVE_ONLY, None, ["metrics.m ASC"], 0, 10, nested=True
    )
    assert [r.info.run_name for r in page.runs] == ["parent", "lone"]
    assert page.total == 2
    flat = queries.search_run_page(pk, ViewType.ACTIVE_ONLY, None, None, 0, 2, nested=False)
    assert flat.total == 5
    assert len(flat.runs) == 2
    assert queries.count_child_runs([parent, lone], pk, ViewType.ACTIVE_ONLY, None) == {parent: 3}
    # A filter the parent fails but children pass: those children come up to the top level.
    found = queries.search_run_page(
        pk, ViewType.ACTIVE_ONLY, "params.p = '1'", None, 0, 10, nested=True
    )
    assert sorted(r.info.run_name for r in found.runs) == ["kid-0", "kid-2"]
    both = queries.search_run_page(
        pk,
        ViewType.ACTIVE_ONLY,
        "metrics.m < 3 OR metrics.m > 3.5",
        ["metrics.m DESC"],
        0,
        10,
        True,
    )
    assert [r.info.run_name for r in both.runs] == ["lone", "parent"]
    children = queries.search_child_runs(
        parent, pk, ViewType.ACTIVE_ONLY, "metrics.m > 1.5", ["metrics.m DESC"], 10
    )
    assert [r.info.run_name for r in children] == ["kid-2", "kid-1"]


def test_known_keys_of_the_newest_runs(sql_store) -> None:
    experiment_id = sql_store.create_experiment("keys")
    old = sql_store.create_run(experiment_id, "u", 1, [], "old").info.run_id
    new = sql_store.create_run(experiment_id, "u", 2, [], "new").info.run_id
    sql_store.log_batch(old, [Metric("old_metric", 1.0, 1, 0)], [Param("old_param", "1")], [])
    sql_store.log_batch(new, [Metric("m", 1.0, 1, 0)], [Param("p", "1")], [RunTag("t", "v")])
    queries = sql_store
    pk = [int(experiment_id)]
    sample = queries.list_run_keys(pk, ViewType.ACTIVE_ONLY, sample=1)
    assert sample["metrics"] == ["m"]
    assert sample["params"] == ["p"]
    assert "t" in sample["tags"]
    every = queries.list_run_keys(pk, ViewType.ACTIVE_ONLY, sample=None)
    assert every["metrics"] == ["m", "old_metric"]
    assert every["params"] == ["old_param", "p"]
    assert queries.get_experiment_activity(pk) == {int(experiment_id): (2, 2)}


def test_newest_first_is_the_search_order(sql_store) -> None:
    """The index-friendly default order gives exactly the order ``search_runs`` gives."""
    experiment_id = sql_store.create_experiment("order")
    for i, start in enumerate([None, 5, 10, 10, None, 7]):
        sql_store.create_run(experiment_id, "u", start, [], f"r{i}")
    expected = [r.info.run_id for r in sql_store.search_runs([experiment_id])]
    queries = sql_store
    pk = [int(experiment_id)]
    for order in (None, ["attributes.start_time DESC"]):
        page = queries.search_run_page(pk, ViewType.ACTIVE_ONLY, None, order, 0, 10, nested=False)
        assert [r.info.run_id for r in page.runs] == expected
