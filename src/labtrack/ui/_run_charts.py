"""The runs page's chart view: one chart per metric across the runs the page shows.

Drawn from the per-(run, key) summaries the store keeps on write (latest value, its
step, min, max, count), which come with every run a search returns: the chart view reads
nothing more than the table does, and never a metric's history, so it costs the same on
an experiment of 100,000 runs as on one of ten (it shows only the page's runs).
"""

from __future__ import annotations

from typing import Any

from labtrack.entities import Run
from labtrack.ui._columns import parse_column

MAX_CHARTS = 24


def chart_order(keys: set[str], sort: str, chosen: list[str]) -> list[str]:
    """The metric sorted by first, then the metrics chosen as columns, then the others."""
    first: list[str] = []
    for cid in [sort, *chosen]:
        column = parse_column(cid)
        if column and column.prefix == "metrics" and column.key in keys - set(first):
            first.append(column.key)
    return first + sorted(keys - set(first))


def chart_model(runs: list[Run], sort: str, chosen: list[str]) -> dict[str, Any]:
    """Each metric of ``runs`` (in the table's order) as columns of per-run values."""
    keys = {k for run in runs for k in run.data.metric_summaries}
    order = chart_order(keys, sort, chosen)
    charts = []
    for key in order[:MAX_CHARTS]:
        summaries = [run.data.metric_summaries.get(key) for run in runs]
        charts.append(
            {
                "key": key,
                "runs_with": sum(s is not None for s in summaries),
                "latest": [s.latest if s else None for s in summaries],
                "min": [s.min if s else None for s in summaries],
                "max": [s.max if s else None for s in summaries],
                "step": [s.step if s else None for s in summaries],
                "count": [s.count if s else None for s in summaries],
            }
        )
    return {
        "runs": [
            {"run_id": r.info.run_id, "name": r.info.run_name, "url": f"/runs/{r.info.run_id}"}
            for r in runs
        ],
        "metrics": charts,
        "metric_count": len(order),
        "max_charts": MAX_CHARTS,
    }
