"""The runs page's chart view (``show=chart``): one chart per metric across the page's
runs, from the metric summaries the table reads, keeping the filter, sort and page."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from labtrack.ui._static import plotly_url
from ui.conftest import DemoApp

pytestmark = pytest.mark.anyio


async def twin(http: httpx.AsyncClient, path: str) -> dict[str, Any]:
    response = await http.get(path + "&format=json")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def test_the_chart_view_shows_the_pages_runs_in_the_tables_order(
    http: httpx.AsyncClient, shared: DemoApp
) -> None:
    base = f"/runs?experiments={shared.demo.experiment_id}&sort=metrics.rmse&dir=asc&size=10"
    table = await twin(http, base + "&page=2")
    charts = await twin(http, base + "&page=2&show=chart")
    assert table["show"] == "table"
    assert table["chart"] is None  # the table's twin carries no chart data
    assert charts["show"] == "chart"
    chart = charts["chart"]
    assert [r["run_id"] for r in chart["runs"]] == [r["run_id"] for r in table["runs"]]
    assert len(chart["runs"]) == 10
    # The metric sorted by comes first, then the others by name: those of this page's runs
    # (train-loss is the best run's, on the first page).
    assert [m["key"] for m in chart["metrics"]] == ["rmse", "validation-rmse"]
    rmse = chart["metrics"][0]
    assert rmse["latest"] == [r["values"]["metrics.rmse"] for r in table["runs"]]
    assert rmse["runs_with"] == 10
    assert chart["metric_count"] == 2


async def test_the_charts_are_the_summaries_min_max_and_latest(
    http: httpx.AsyncClient, shared: DemoApp
) -> None:
    store = shared.app.state.context.store
    path = f"/runs?experiments={shared.demo.experiment_id}&sort=metrics.rmse&dir=asc&show=chart"
    chart = (await twin(http, path))["chart"]
    assert chart["runs"][0]["run_id"] == shared.demo.best_run_id
    summary = store.get_runs([shared.demo.best_run_id])[0].data.metric_summaries
    by_key = {m["key"]: m for m in chart["metrics"]}
    history = by_key["validation-rmse"]
    expected = summary["validation-rmse"]
    assert (history["latest"][0], history["min"][0], history["max"][0]) == (
        expected.latest,
        expected.min,
        expected.max,
    )
    assert (history["step"][0], history["count"][0]) == (59, 60)
    train = by_key["train-loss"]
    assert train["runs_with"] == 1  # only the best run logged it
    assert train["count"][0] == 20_000
    assert train["latest"][1:] == [None] * (len(chart["runs"]) - 1)


async def test_metric_columns_chosen_come_first(http: httpx.AsyncClient, shared: DemoApp) -> None:
    path = (
        f"/runs?experiments={shared.demo.experiment_id}&show=chart"
        "&col=metrics.validation-rmse%40min&col=params.max_depth"
    )
    chart = (await twin(http, path))["chart"]
    assert [m["key"] for m in chart["metrics"]] == ["validation-rmse", "rmse", "train-loss"]


async def test_the_view_keeps_the_filter_sort_and_page(
    http: httpx.AsyncClient, shared: DemoApp
) -> None:
    experiment = shared.demo.experiment_id
    query = f"experiments={experiment}&filter=metrics.rmse+%3C+7&sort=metrics.rmse&dir=asc"
    data = await twin(http, f"/runs?{query}&size=5&page=2&show=chart")
    urls = data["urls"]
    assert urls["shows"]["table"] == (
        f"/runs?experiments={experiment}&filter=metrics.rmse+%3C+7&sort=metrics.rmse"
        "&dir=asc&page=2&size=5"
    )
    assert urls["shows"]["chart"] == urls["shows"]["table"] + "&show=chart"
    assert urls["next"].endswith("&page=3&size=5&show=chart")
    assert data["hidden"]["show"] == "chart"  # the filter and column forms keep the view
    page = (await http.get(f"/runs?{query}&size=5&page=2&show=chart")).text
    assert '<input type="hidden" name="show" value="chart">' in page
    assert '<script type="application/json" id="runs-chart-data">' in page
    assert page.count('class="chart" data-run-chart=') == 2  # rmse, validation-rmse
    plotly = f'<script src="{plotly_url()}" defer></script>'
    assert plotly in page
    table = (await http.get(f"/runs?{query}")).text
    assert plotly not in table  # the table loads no Plotly.js
    assert 'id="runs-table"' in table
    assert 'id="runs-table"' not in page


async def test_an_unknown_view_is_refused(http: httpx.AsyncClient, shared: DemoApp) -> None:
    response = await http.get(
        f"/runs?experiments={shared.demo.experiment_id}&show=graph&format=json"
    )
    assert response.status_code == 400
    assert response.json()["message"] == (
        "Show the runs as a table or a chart (?show=chart), not 'graph'"
    )


async def test_the_chart_view_reads_no_metric_history(
    http: httpx.AsyncClient, shared: DemoApp
) -> None:
    """Only the summaries (``metric_series``), never the history table (``metrics``)."""
    from sqlalchemy import event

    engine = shared.app.state.context.store.engine
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        await twin(
            http,
            f"/runs?experiments={shared.demo.experiment_id}&show=chart&size=500&nested=0",
        )
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert statements
    history = re.compile(r"\b(FROM|JOIN)\s+\"?metrics\"?\b", re.IGNORECASE)
    assert [s for s in statements if history.search(s)] == []
    assert any("metric_series" in s for s in statements)
