"""What the compare page shows before anyone picks: axes, colour, scatter and history.

The demo's sweep logs ``seed`` and ``objective`` with one value in every trial, its
nested children log only ``max_depth``, and one run (the best) has a ``train-loss``
history no other run has: none of those may crowd out what differs.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from labtrack.ui._columns import numeric
from labtrack.ui.compare import MAX_DIMS, choose_defaults
from ui.conftest import DemoApp

pytestmark = pytest.mark.anyio

SWEEP_PARAMS = [
    "params.learning_rate",
    "params.max_depth",
    "params.min_child_weight",
    "params.objective",  # the injected run's value differs from the sweep's
    "params.reg_alpha",
]


async def compare(http: httpx.AsyncClient, query: str) -> dict[str, Any]:
    response = await http.get(f"/compare?{query}&format=json")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def test_a_search_defaults_to_the_params_that_differ_and_the_metric_sorted_by(
    http: httpx.AsyncClient, shared: DemoApp
) -> None:
    data = await compare(http, f"experiments={shared.demo.experiment_id}&sort=metrics.rmse&dir=asc")
    assert data["count"] == 36
    # seed is 42 wherever it is set: one value, no axis, even though some runs lack it.
    assert data["same_params"] == {"seed": "42"}
    assert "seed" not in data["differing_params"]
    # train-loss (one run of 36) is no axis either; the metric sorted by is the last one.
    assert data["dims"] == [*SWEEP_PARAMS, "metrics.validation-rmse", "metrics.rmse"]
    assert data["color"] == "metrics.rmse"
    assert data["y"] == "metrics.rmse"
    # The scatter's x is the differing param most runs have (children log max_depth too).
    assert data["x"] == "params.max_depth"
    # The overlaid history is of a metric most runs have, not train-loss's 20,000 points.
    assert data["metric"] == "validation-rmse"


async def test_the_sort_of_the_table_goes_along_with_selected_runs(
    http: httpx.AsyncClient, shared: DemoApp
) -> None:
    ids = ",".join(shared.demo.sweep_ids[:6])
    plain = await compare(http, f"runs={ids}")
    assert plain["dims"] == [
        "params.learning_rate",
        "params.max_depth",
        "params.min_child_weight",
        "params.reg_alpha",
        "metrics.validation-rmse",
        "metrics.rmse",
    ]
    assert plain["same_params"] == {"objective": "reg:linear", "seed": "42"}
    by_history = await compare(http, f"runs={ids}&sort=metrics.validation-rmse%40min&dir=asc")
    assert by_history["dims"][-1] == "metrics.validation-rmse"
    assert by_history["color"] == by_history["y"] == "metrics.validation-rmse"
    assert [r["run_id"] for r in by_history["runs"]] == shared.demo.sweep_ids[:6]  # as named
    by_param = await compare(http, f"runs={ids}&sort=params.reg_alpha")
    assert by_param["x"] == "params.reg_alpha"
    bad = await http.get(f"/compare?runs={ids}&sort=nonsense&format=json")
    assert bad.status_code == 400
    assert bad.json()["message"] == "Cannot sort runs by 'nonsense'"


async def test_the_runs_page_hands_its_sort_to_the_compare_button(
    http: httpx.AsyncClient, shared: DemoApp
) -> None:
    page = await http.get(f"/runs?experiments={shared.demo.experiment_id}&sort=metrics.rmse")
    assert 'data-compare-query="sort=metrics.rmse&amp;dir=asc"' in page.text
    default = await http.get(f"/runs?experiments={shared.demo.experiment_id}")
    assert 'data-compare-query="dir=desc"' in default.text


async def test_the_url_still_chooses(http: httpx.AsyncClient, shared: DemoApp) -> None:
    ids = ",".join(shared.demo.sweep_ids[:6])
    data = await compare(
        http, f"runs={ids}&sort=metrics.rmse&dim=params.seed&dim=params.seed&color=params.seed"
    )
    assert data["dims"] == ["params.seed"]  # asked for (twice: once)
    assert data["color"] == "params.seed"


@pytest.mark.parametrize(
    ("columns", "sort", "dims", "x", "y"),
    [
        # Two runs: a param one of them lacks is not "most"; the one both have is.
        (
            {"params.a": ["1", None], "params.b": ["1", "2"], "metrics.m": [1.0, 2.0]},
            None,
            ["params.b", "metrics.m"],
            "params.b",
            "metrics.m",
        ),
        # No param differs: the metrics alone, the sorted one last.
        (
            {"params.s": ["1", "1"], "metrics.a": [1.0, 2.0], "metrics.b": [3.0, 4.0]},
            "metrics.a@max",
            ["metrics.b", "metrics.a"],
            "metrics.b",
            "metrics.a",
        ),
        # A metric no run in most has still draws (rather than no axis at all).
        (
            {"params.p": ["1", "2", "3"], "metrics.rare": [1.0, None, None]},
            "attributes.start_time",
            ["params.p", "metrics.rare"],
            "params.p",
            "metrics.rare",
        ),
        # A numeric param beats a categorical one that as many runs have.
        (
            {"params.kind": ["a", "b"], "params.lr": ["0.1", "0.2"], "metrics.m": [1.0, 2.0]},
            "params.nope",
            ["params.kind", "params.lr", "metrics.m"],
            "params.lr",
            "metrics.m",
        ),
    ],
)
def test_choose_defaults(
    columns: dict[str, list[Any]], sort: str | None, dims: list[str], x: str, y: str
) -> None:
    kinds = {
        c: "number" if all(v is None or numeric(v) is not None for v in values) else "category"
        for c, values in columns.items()
    }
    chosen = choose_defaults(columns, kinds, {}, sort)
    assert (chosen.dims, chosen.x, chosen.y, chosen.color) == (dims, x, y, y)


METRICS_BEYOND_TWO = {f"metrics.m{i}" for i in range(2, 8)}


def test_at_most_twelve_axes_with_the_outcome_last() -> None:
    columns: dict[str, list[Any]] = {f"params.p{i:02d}": ["1", "2"] for i in range(14)}
    columns |= {f"metrics.m{i}": [1.0, 2.0] for i in range(8)}
    kinds = dict.fromkeys(columns, "number")
    chosen = choose_defaults(columns, kinds, {}, "metrics.m0")
    assert len(chosen.dims) == MAX_DIMS
    assert chosen.dims[: MAX_DIMS // 2] == [f"params.p{i:02d}" for i in range(MAX_DIMS // 2)]
    assert chosen.dims[MAX_DIMS // 2 :] == [*(f"metrics.m{i}" for i in range(3, 8)), "metrics.m0"]
    two_metrics = {k: v for k, v in columns.items() if k not in METRICS_BEYOND_TWO}
    few = choose_defaults(two_metrics, kinds, {}, None)  # params fill what metrics leave
    assert few.dims == [*(f"params.p{i:02d}" for i in range(10)), "metrics.m1", "metrics.m0"]
