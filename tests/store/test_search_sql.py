"""search_runs and search_experiments on every backend: filters, ordering, paging."""

from __future__ import annotations

import math
import re

import pytest

from labtrack.entities import Metric, Param, RunStatus, RunTag, ViewType
from labtrack.errors import InvalidParameterValue
from labtrack.store.sql.store import SqlStore
from labtrack.tracking.service import TrackingService


@pytest.fixture
def runs(store):
    """Five runs, started one second apart (r1 first), with a spread of data."""
    spec = {
        "r1": (
            {"rmse": [9.0, 5.0]},
            {"alpha": "0.1"},
            {"model": "lasso"},
            RunStatus.FINISHED,
            "ana",
        ),
        "r2": ({"rmse": [7.5]}, {"alpha": "0.01"}, {"model": "xgb"}, RunStatus.FAILED, "ana"),
        "r3": ({"rmse": [math.nan]}, {"alpha": "0.01"}, {"model": "XGB"}, RunStatus.RUNNING, "ana"),
        "r4": ({}, {}, {}, RunStatus.KILLED, "bob"),
        "r5": ({"rmse": [6.0]}, {"alpha": "1.0"}, {"model": "lasso_v2"}, RunStatus.FINISHED, "ana"),
    }
    ids = {}
    for i, (name, (metrics, params, tags, status, user)) in enumerate(spec.items()):
        run = store.create_run("0", user, 1_000_000 + i * 1000, [], name)
        rid = run.info.run_id
        store.log_batch(
            rid,
            metrics=[
                Metric(k, v, 1000 + step, step)
                for k, values in metrics.items()
                for step, v in enumerate(values)
            ],
            params=[Param(k, v) for k, v in params.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
        store.update_run_info(rid, status, 2_000_000, None)
        ids[name] = rid
    return ids


def names(store, filter_string=None, order_by=None, **kwargs):
    found = store.search_runs(
        ["0"], filter_string, kwargs.get("view", ViewType.ACTIVE_ONLY), 100, order_by, None
    )
    return [r.info.run_name for r in found]


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("metrics.rmse < 7", {"r1", "r5"}),
        ("metrics.rmse >= 7", {"r2"}),
        ("metrics.rmse = 7.5", {"r2"}),
        ("metrics.rmse != 5", {"r2", "r3", "r5"}),  # NaN (r3) differs from everything
        ("metrics.rmse.max > 8", {"r1"}),
        ("metrics.rmse.min <= 5", {"r1"}),
        ("metrics.rmse.count = 2", {"r1"}),
        ("params.alpha = '0.01'", {"r2", "r3"}),
        ("params.alpha != '0.01'", {"r1", "r5"}),
        ("params.alpha IS NULL", {"r4"}),
        ("params.alpha IS NOT NULL", {"r1", "r2", "r3", "r5"}),
        ("tags.model LIKE 'lasso%'", {"r1", "r5"}),
        ("tags.model LIKE 'LASSO%'", set()),
        ("tags.model ILIKE 'xgb'", {"r2", "r3"}),
        ("tags.model LIKE 'lasso_v_'", {"r5"}),
        ("attributes.status = 'FAILED'", {"r2"}),
        ("attributes.status != 'FINISHED'", {"r2", "r3", "r4"}),
        ("attributes.run_name = 'r1'", {"r1"}),
        ("attributes.user_id = 'bob'", {"r4"}),
        ("attributes.start_time > 1002500", {"r4", "r5"}),
        ("metrics.rmse < 6 OR params.alpha = '1.0'", {"r1", "r5"}),
        ("(metrics.rmse < 6 OR metrics.rmse > 7) AND tags.model = 'lasso'", {"r1"}),
        ("tags.model = \"x' OR '1'='1\"", set()),
        ("", {"r1", "r2", "r3", "r4", "r5"}),
    ],
)
def test_filters(store, runs, filter_string, expected):
    assert set(names(store, filter_string)) == expected


def test_run_id_in(store, runs):
    found = names(store, f"attributes.run_id IN ('{runs['r1']}', '{runs['r4']}')")
    assert set(found) == {"r1", "r4"}
    found = names(store, f"attributes.run_id NOT IN ('{runs['r1']}', '{runs['r4']}')")
    assert set(found) == {"r2", "r3", "r5"}


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        (None, ["r5", "r4", "r3", "r2", "r1"]),  # newest first
        (["metrics.rmse ASC"], ["r1", "r5", "r2", "r3", "r4"]),  # NaN, then missing, last
        (["metrics.rmse DESC"], ["r2", "r5", "r1", "r3", "r4"]),
        (["metrics.rmse.max DESC"], ["r1", "r2", "r5", "r3", "r4"]),
        (["params.alpha DESC"], ["r5", "r1", "r3", "r2", "r4"]),  # ties: newest first
        (["attributes.run_name DESC"], ["r5", "r4", "r3", "r2", "r1"]),
        (["attributes.start_time ASC"], ["r1", "r2", "r3", "r4", "r5"]),
        (["tags.model ASC", "attributes.start_time ASC"], ["r3", "r1", "r5", "r2", "r4"]),
    ],
)
def test_order_by(store, runs, order_by, expected):
    assert names(store, None, order_by) == expected


def test_paging_visits_every_run_once(store, runs):
    seen: list[str] = []
    token: str | None = None
    while True:
        page = store.search_runs(["0"], None, ViewType.ALL, 2, ["metrics.rmse ASC"], token)
        seen.extend(r.info.run_name for r in page)
        token = page.token
        if not token:
            break
    assert seen == ["r1", "r5", "r2", "r3", "r4"]


@pytest.mark.parametrize(
    ("max_results", "skip", "sizes"), [(100, 0, [2, 2]), (3, 0, [2, 1]), (2, 2, [2])]
)
def test_a_search_read_in_parts_is_the_same_page(store, runs, max_results, skip, sizes):
    """What a server sends a part at a time: the same runs, in the same order, with the
    same token, in parts of at most ``page_size`` runs (one part from a store that cannot
    read in parts)."""
    service = TrackingService(store)
    search = (["0"], "params.alpha IS NOT NULL", ViewType.ALL, max_results, ["metrics.rmse ASC"])
    token = service.search_runs(*search[:3], skip, None, None).token if skip else None
    whole = service.search_runs(*search, token)
    parts = list(service.search_runs_in_pages(*search, token, page_size=2))
    assert [r.info.run_name for part in parts for r in part] == [r.info.run_name for r in whole]
    assert [(r.info, r.data) for part in parts for r in part] == [(r.info, r.data) for r in whole]
    assert {part.token for part in parts} == {whole.token}
    if isinstance(store, SqlStore):
        assert [len(part) for part in parts] == sizes


def test_a_search_in_parts_checks_its_filter_before_the_first_part(store, runs):
    parts = TrackingService(store).search_runs_in_pages(["0"], "metrics.rmse <", page_size=2)
    with pytest.raises(InvalidParameterValue):
        next(parts)


def test_deleted_runs_follow_view_type(store, runs):
    store.delete_run(runs["r2"])
    assert "r2" not in names(store)
    assert names(store, view=ViewType.DELETED_ONLY) == ["r2"]
    assert len(names(store, view=ViewType.ALL)) == 5


def test_search_across_experiments(store):
    a = store.create_experiment("a")
    b = store.create_experiment("b")
    for exp in (a, b, "0"):
        store.create_run(exp, "u", 1, [], f"in-{exp}")
    found = store.search_runs([a, b], None, ViewType.ALL, 10, None, None)
    assert {r.info.experiment_id for r in found} == {a, b}


def test_returned_runs_carry_their_data(store, runs):
    (run,) = store.search_runs(["0"], "attributes.run_name = 'r1'", ViewType.ALL, 10, None, None)
    assert run.data.metrics == {"rmse": 5.0}
    assert run.data.params == {"alpha": "0.1"}
    assert run.data.tags["model"] == "lasso"
    assert run.data.metric_summaries["rmse"].max == 9.0


def test_bad_filter_is_a_clear_error(store, runs):
    with pytest.raises(
        InvalidParameterValue,
        match=re.escape(
            "Invalid comparator '<<<' in filter 'metrics.rmse <<< 3' at position 13: expected a "
            "comparison operator"
        ),
    ):
        names(store, "metrics.rmse <<< 3")
    with pytest.raises(
        InvalidParameterValue,
        match=re.escape(
            "Invalid ordering key in order_by clause 'metrics.rmse SIDEWAYS' at position 13: "
            "expected ASC, DESC"
        ),
    ):
        names(store, None, ["metrics.rmse SIDEWAYS"])


def test_experiment_filters(store):
    a = store.create_experiment("nyc-taxi", tags=[("team", "ds")])
    store.create_experiment("churn")
    found = store.search_experiments(ViewType.ALL, 10, "tags.team = 'ds'", None, None)
    assert [e.experiment_id for e in found] == [a]
    found = store.search_experiments(ViewType.ALL, 10, "name ILIKE 'NYC%'", None, None)
    assert [e.name for e in found] == ["nyc-taxi"]
    found = store.search_experiments(ViewType.ALL, 10, None, ["name DESC"], None)
    assert [e.name for e in found] == ["nyc-taxi", "churn", "Default"]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (r"delta\%", {"delta%"}),
        ("delta%", {"delta%", "deltaX", "delta_y"}),
        (r"delta\_y", {"delta_y"}),
        ("delta_", {"delta%", "deltaX"}),
        (r"back\\slash", {"back\\slash"}),
        ("star*", {"star*"}),
        ("q?", set()),
    ],
)
@pytest.mark.parametrize("op", ["LIKE", "ILIKE"])
def test_like_escapes_are_the_same_on_every_backend(store, pattern, expected, op):
    for name in ("delta%", "deltaX", "delta_y", "back\\slash", "star*", "q"):
        store.create_run("0", "u", 1, [], name)
    found = names(store, f"attributes.run_name {op} '{pattern}'")
    assert set(found) == expected


# -- long filters: an AND of many tests shares subqueries, with the same results ---------
@pytest.fixture
def wide_runs(store):
    """Six runs with eight metrics, six params, four tags and up to three datasets each;
    a few values missing, one NaN."""
    from labtrack.entities import Dataset, DatasetInput, InputTag

    for i in range(6):
        rid = store.create_run("0", "u", 1_000 + i, [], f"w{i}").info.run_id
        metrics = [
            Metric(f"m{k}", math.nan if (i, k) == (4, 5) else float((i * 3 + k * 5) % 7), 1, 0)
            for k in range(8)
            if (i, k) != (2, 3)
        ]
        params = [
            Param(f"p{k}", str((i + k) % 3)) for k in range(6) if (i, k) not in ((1, 2), (3, 4))
        ]
        tags = [RunTag(f"t{k}", "x" if (i + k) % 2 else "y") for k in range(4)]
        store.log_batch(rid, metrics=metrics, params=params, tags=tags)
        store.log_inputs(
            rid,
            [
                DatasetInput(
                    Dataset(f"d{j}", f"digest{j}", "local", "{}"),
                    (InputTag("mlflow.data.context", "train" if j % 2 else "eval"),),
                )
                for j in range(i % 3 + 1)
            ],
        )


LONG_ANDS = {
    "distinct metrics": [f"metrics.m{k} != 6" for k in (0, 1, 2, 4, 5, 6, 7)],  # and NaN
    "one metric, many tests": [
        "metrics.m0 > 0",
        "metrics.m0 < 6",
        "metrics.m0 != 3",
        "metrics.m0.max >= 1",
        "metrics.m0.min <= 5",
        "metrics.m0.count = 1",
    ],
    "params": [
        "params.p0 != '2'",
        "params.p1 != '2'",
        "params.p3 != '2'",
        "params.p2 LIKE '_'",
        "params.p4 != 'zz'",
        "params.p5 LIKE '%'",
    ],
    "absent keys": [
        "params.p2 IS NULL",
        "params.nope IS NULL",
        "tags.nope IS NULL",
        "metrics.m1 >= 0",
        "metrics.m2 >= 0",
        "params.p0 IS NOT NULL",
        "tags.t0 IS NOT NULL",
    ],
    "datasets": [
        "datasets.name = 'd0'",
        "datasets.name = 'd1'",
        "datasets.context = 'eval'",
        "datasets.context = 'train'",
        "datasets.digest != 'nope'",
    ],
    "every kind": [
        "metrics.m0 >= 1",
        "params.p1 != '0'",
        "tags.t1 = 'y'",
        "datasets.name IN ('d0', 'd2')",
        "attributes.status = 'RUNNING'",
        "metrics.m6 < 6",
        "params.p3 IS NOT NULL",
        "tags.t3 LIKE '%'",
        "params.p4 IS NULL",
    ],
    "one test, repeated": ["metrics.m7 > 1"] * 50,
}


def _matching(store, filter_string):
    return set(names(store, filter_string))


@pytest.mark.parametrize("terms", LONG_ANDS.values(), ids=LONG_ANDS.keys())
def test_long_and_finds_what_each_test_finds(store, wide_runs, terms):
    expected = set.intersection(*(_matching(store, term) for term in terms))
    assert _matching(store, " AND ".join(terms)) == expected
    # Each of these filters keeps some runs and drops others, so both paths are tested.
    assert 0 < len(expected) < 6


OR_TERMS = {
    "metrics": ["metrics.m0 = 6", "metrics.m1 = 6", "metrics.m5 = 0", "metrics.m3.max < 0"],
    "every kind": [
        "metrics.m2 = 6",
        "params.p0 = '2'",
        "params.p2 IS NULL",
        "tags.t0 = 'nope'",
        "datasets.name = 'd2'",
        "datasets.context = 'nope'",
        "metrics.m4 > 100",
        "params.p1 = '2'",
    ],
}


@pytest.mark.parametrize("terms", OR_TERMS.values(), ids=OR_TERMS.keys())
def test_long_or_finds_what_any_test_finds(store, wide_runs, terms):
    expected = set().union(*(_matching(store, term) for term in terms))
    assert _matching(store, " OR ".join(terms)) == expected
    assert 0 < len(expected) < 6


def test_or_of_long_ands(store, wide_runs):
    groups = [LONG_ANDS["distinct metrics"], LONG_ANDS["params"], LONG_ANDS["datasets"]]
    expected = set().union(
        *(set.intersection(*(_matching(store, term) for term in g)) for g in groups)
    )
    assert _matching(store, " OR ".join(f"({' AND '.join(g)})" for g in groups)) == expected
    assert 0 < len(expected) < 6


def test_long_and_of_experiment_tags(store):
    for i in range(4):
        store.create_experiment(
            f"e{i}", tags=[(f"k{k}", "on" if (i >> k) & 1 else "off") for k in range(3)]
        )
    terms = ["tags.k0 = 'on'", "tags.k1 != 'x'", "tags.k2 IS NOT NULL", "tags.k1 LIKE 'o%'"]
    terms += ["tags.nope IS NULL", "name LIKE 'e%'", "tags.k0 != 'off'"]
    found = store.search_experiments(ViewType.ALL, 10, " AND ".join(terms), None, None)
    assert sorted(e.name for e in found) == ["e1", "e3"]
