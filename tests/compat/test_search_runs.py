"""``search_runs``: MLflow's filter grammar, ordering and paging against a labtrack server."""

from __future__ import annotations

import math
from typing import Any

import pytest

from compat._support import MLFLOW_MISSING

mlflow = pytest.importorskip("mlflow", reason=MLFLOW_MISSING)
from mlflow.entities import Metric, Param, RunTag  # noqa: E402

# name -> (acc or None, params, tags, status); start_time grows with the index.
RUNS: dict[str, tuple[float | None, dict[str, str], dict[str, str], str]] = {
    "r0": (0.3, {"lr": "0.1", "opt": "adam"}, {"team": "vision"}, "FINISHED"),
    "r1": (0.9, {"lr": "0.01", "opt": "sgd"}, {"team": "nlp", "my key": "spaced"}, "FINISHED"),
    "r2": (0.6, {"lr": "0.1", "opt": "adam"}, {"team": "Vision-2"}, "FAILED"),
    "r3": (math.nan, {"opt": "adam"}, {"team": "vision"}, "FINISHED"),
    "r4": (None, {"lr": "0.001"}, {}, "RUNNING"),
}


@pytest.fixture
def runs(client: Any, experiment_id: str) -> dict[str, str]:
    """The runs of RUNS in a fresh experiment: name -> run id."""
    ids = {}
    for index, (name, (acc, params, tags, status)) in enumerate(RUNS.items()):
        run_id = client.create_run(
            experiment_id, start_time=1_000 * (index + 1), run_name=name
        ).info.run_id
        client.log_batch(
            run_id,
            metrics=[] if acc is None else [Metric("acc", acc, 5, 0), Metric("loss", 1.0, 5, 0)],
            params=[Param(k, v) for k, v in params.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
        if status != "RUNNING":
            client.set_terminated(run_id, status, end_time=1_000 * (index + 1) + 500)
        ids[name] = run_id
    return ids


def _names(found: Any, runs: dict[str, str]) -> list[str]:
    by_id = {v: k for k, v in runs.items()}
    return [by_id[r.info.run_id] for r in found]


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("", {"r0", "r1", "r2", "r3", "r4"}),
        ("metrics.acc > 0.5", {"r1", "r2"}),
        ("metrics.acc >= 0.3 AND metrics.acc < 0.9", {"r0", "r2"}),
        ("metric.acc = 0.9", {"r1"}),
        # NaN compares as IEEE 754 says: unequal to every number, neither less nor greater.
        ("metrics.acc < 0.5", {"r0"}),
        ("metrics.acc != 0.6", {"r0", "r1", "r3"}),
        ("metrics.loss <= 1", {"r0", "r1", "r2", "r3"}),
        ("params.opt = 'adam'", {"r0", "r2", "r3"}),
        ("params.lr != '0.1'", {"r1", "r4"}),
        ("param.lr = '0.1' and params.opt = 'adam'", {"r0", "r2"}),
        ("params.lr LIKE '0.0%'", {"r1", "r4"}),
        ("params.opt ILIKE 'ADAM'", {"r0", "r2", "r3"}),
        ("params.lr IS NULL", {"r3"}),
        ("params.lr IS NOT NULL", {"r0", "r1", "r2", "r4"}),
        ("tags.team = 'vision'", {"r0", "r3"}),
        ("tags.team LIKE 'vis%'", {"r0", "r3"}),
        ("tags.team ILIKE 'VIS%'", {"r0", "r2", "r3"}),
        ("tags.team != 'vision'", {"r1", "r2"}),
        ("tags.`my key` = 'spaced'", {"r1"}),
        ("tags.\"my key\" = 'spaced'", {"r1"}),
        ("tags.team IS NULL", {"r4"}),
        ("tags.mlflow.runName = 'r2'", {"r2"}),
        ("attributes.status = 'FAILED'", {"r2"}),
        ("attributes.status != 'FINISHED'", {"r2", "r4"}),
        ("attributes.run_name = 'r1'", {"r1"}),
        ("run_name LIKE 'r%'", {"r0", "r1", "r2", "r3", "r4"}),
        ("attributes.run_name ILIKE 'R3'", {"r3"}),
        ("attributes.start_time >= 3000", {"r2", "r3", "r4"}),
        ("attributes.start_time < 2000 and attributes.status = 'FINISHED'", {"r0"}),
        ("attributes.end_time > 2000", {"r1", "r2", "r3"}),
        ("attributes.run_name = 'nothing'", set()),
    ],
)
def test_filters(
    client: Any, experiment_id: str, runs: dict[str, str], filter_string: str, expected: set[str]
) -> None:
    found = client.search_runs([experiment_id], filter_string)
    assert set(_names(found, runs)) == expected


def test_filter_on_run_ids(client: Any, experiment_id: str, runs: dict[str, str]) -> None:
    wanted = f"('{runs['r1']}', '{runs['r3']}')"
    found = client.search_runs([experiment_id], f"attributes.run_id IN {wanted}")
    assert set(_names(found, runs)) == {"r1", "r3"}
    found = client.search_runs([experiment_id], f"attributes.run_id NOT IN {wanted}")
    assert set(_names(found, runs)) == {"r0", "r2", "r4"}
    found = client.search_runs([experiment_id], f"attributes.run_id = '{runs['r2']}'")
    assert _names(found, runs) == ["r2"]


def test_default_order_is_newest_first(
    client: Any, experiment_id: str, runs: dict[str, str]
) -> None:
    assert _names(client.search_runs([experiment_id]), runs) == ["r4", "r3", "r2", "r1", "r0"]


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        # NaN sorts after every number and missing values after NaN, in both directions.
        (["metrics.acc DESC"], ["r1", "r2", "r0", "r3", "r4"]),
        (["metrics.acc ASC"], ["r0", "r2", "r1", "r3", "r4"]),
        (["metrics.acc"], ["r0", "r2", "r1", "r3", "r4"]),
        # Ties fall back to start_time DESC.
        (["params.lr ASC"], ["r4", "r1", "r2", "r0", "r3"]),
        (["params.opt DESC", "attributes.start_time ASC"], ["r1", "r0", "r2", "r3", "r4"]),
        (["tags.team ASC"], ["r2", "r1", "r3", "r0", "r4"]),
        (["attributes.start_time ASC"], ["r0", "r1", "r2", "r3", "r4"]),
        (["run_name DESC"], ["r4", "r3", "r2", "r1", "r0"]),
        (["attributes.status ASC", "start_time DESC"], ["r2", "r3", "r1", "r0", "r4"]),
    ],
)
def test_order_by(
    client: Any,
    experiment_id: str,
    runs: dict[str, str],
    order_by: list[str],
    expected: list[str],
) -> None:
    assert _names(client.search_runs([experiment_id], order_by=order_by), runs) == expected


@pytest.mark.parametrize("order_by", [None, ["metrics.acc DESC"], ["params.lr ASC"]])
def test_pages_visit_every_run_once(
    client: Any, experiment_id: str, runs: dict[str, str], order_by: list[str] | None
) -> None:
    expected = _names(client.search_runs([experiment_id], order_by=order_by), runs)
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = client.search_runs(
            [experiment_id], max_results=2, order_by=order_by, page_token=token
        )
        pages += 1
        assert len(page) <= 2
        seen.extend(_names(page, runs))
        token = page.token
        if not token:
            break
    assert pages == 3
    assert seen == expected


def test_pages_with_a_filter(client: Any, experiment_id: str, runs: dict[str, str]) -> None:
    first = client.search_runs(
        [experiment_id], "params.opt = 'adam'", max_results=2, order_by=["attributes.run_name"]
    )
    assert _names(first, runs) == ["r0", "r2"]
    assert first.token
    second = client.search_runs(
        [experiment_id],
        "params.opt = 'adam'",
        max_results=2,
        order_by=["attributes.run_name"],
        page_token=first.token,
    )
    assert _names(second, runs) == ["r3"]
    assert not second.token


def test_search_several_experiments(client: Any, experiment_id: str, experiment_name: str) -> None:
    other = client.create_experiment(experiment_name + "-other")
    a = client.create_run(experiment_id).info.run_id
    b = client.create_run(other).info.run_id
    client.log_batch(a, params=[Param("shared", "yes")])
    client.log_batch(b, params=[Param("shared", "yes")])
    found = client.search_runs([experiment_id, other], "params.shared = 'yes'")
    assert {r.info.run_id for r in found} == {a, b}
    assert {r.info.experiment_id for r in found} == {experiment_id, other}


def test_search_returns_run_data(client: Any, experiment_id: str, runs: dict[str, str]) -> None:
    (run,) = client.search_runs([experiment_id], "attributes.run_name = 'r1'")
    assert run.info.status == "FINISHED"
    assert run.info.end_time == 2_500
    assert run.data.metrics == {"acc": 0.9, "loss": 1.0}
    assert run.data.params == {"lr": "0.01", "opt": "sgd"}
    assert run.data.tags["team"] == "nlp"
    assert run.data.tags["my key"] == "spaced"
