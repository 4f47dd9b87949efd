"""Compare runs: parallel coordinates, overlaid metric histories, a scatter and a table.

``GET /compare?runs=<id>,<id>,...`` compares the runs named (2 to 400: what fits in a
URL); ``GET /compare?experiments=1&filter=...&sort=...&dir=...&limit=N`` compares the
first N (up to 1,000) runs a search finds. The rest of the state is in the URL too:
``dim`` (repeated: parallel-coordinates axes), ``color``, ``x`` and ``y`` (the scatter),
``metric`` (the overlaid history) and ``brush`` (repeated ``<column>:<lo>:<hi>``: the
ranges kept on the axes). The page's data is in the page itself (a JSON data block
the page's script reads) and in its JSON twin.

``GET /compare/metric-history?runs=...&key=...`` is the overlaid histories (downsampled).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from labtrack.entities import Run
from labtrack.errors import InvalidParameterValue
from labtrack.server._routes import Route
from labtrack.ui import _args
from labtrack.ui._columns import DEFAULT_SORT, numeric, sort_clause
from labtrack.ui._render import json_response, render, url

if TYPE_CHECKING:
    from labtrack.server._context import ServerContext
    from labtrack.store.sql.store import SqlStore

MAX_LISTED = 400
MAX_SEARCHED = 1000
DEFAULT_LIMIT = 1000
MAX_DIMS = 12
MAX_HISTORIES = 50
HISTORY_POINTS = 300


def _runs(
    ctx: ServerContext, store: SqlStore, request: Request
) -> tuple[list[Run], dict[str, Any]]:
    listed = _args.many(request, "runs")
    if listed:
        if len(listed) > MAX_LISTED:
            raise InvalidParameterValue(
                f"Compare at most {MAX_LISTED} runs by id; use a search for more"
            )
        found = store.get_runs(listed)
        return found, {"mode": "runs", "runs": listed}
    ids = _args.experiment_ids(request)
    if not ids:
        raise InvalidParameterValue("Name runs (?runs=a,b) or experiments (?experiments=1)")
    for experiment_id in ids:
        ctx.service.get_experiment(experiment_id)
    limit = _args.integer(request, "limit", DEFAULT_LIMIT, 1, MAX_SEARCHED)
    sort = _args.text(request, "sort", DEFAULT_SORT)
    ascending = _args.text(request, "dir", "desc" if sort == DEFAULT_SORT else "asc") != "desc"
    order = sort_clause(sort, ascending)
    if order is None:
        raise InvalidParameterValue(f"Cannot sort runs by {sort!r}")
    view_name, view_type = _args.view(request)
    filter_string = request.query_params.get("filter", "").strip()
    page = store.search_run_page(
        [int(i) for i in ids], view_type, filter_string or None, [order], 0, limit, nested=False
    )
    return page.runs, {
        "mode": "search",
        "experiments": ids,
        "filter": filter_string,
        "sort": sort,
        "dir": "asc" if ascending else "desc",
        "limit": limit,
        "matching": page.total,
        "view": view_name,
    }


def _distinct(values: list[Any]) -> int:
    return len({repr(v) for v in values})


def compare_model(ctx: ServerContext, store: SqlStore, request: Request) -> dict[str, Any]:
    runs, source = _runs(ctx, store, request)
    param_keys = sorted({k for r in runs for k in r.data.params})
    metric_keys = sorted({k for r in runs for k in r.data.metrics})
    columns: dict[str, list[Any]] = {}
    for key in param_keys:
        columns[f"params.{key}"] = [r.data.params.get(key) for r in runs]
    for key in metric_keys:
        columns[f"metrics.{key}"] = [r.data.metrics.get(key) for r in runs]
    differing = [k for k in param_keys if _distinct(columns[f"params.{k}"]) > 1]
    same = {k: runs[0].data.params.get(k) for k in param_keys if k not in differing} if runs else {}
    kinds = {
        cid: "number" if all(v is None or numeric(v) is not None for v in values) else "category"
        for cid, values in columns.items()
    }

    def chosen(name: str, default: list[str]) -> list[str]:
        picked = [c for c in _args.many(request, name) if c in columns]
        return picked or default

    default_dims = [f"params.{k}" for k in differing][: MAX_DIMS - 2]
    default_dims += [f"metrics.{k}" for k in metric_keys][: MAX_DIMS - len(default_dims)]
    dims = chosen("dim", default_dims)[:MAX_DIMS]
    metric_ids = [f"metrics.{k}" for k in metric_keys]
    color = chosen("color", metric_ids[:1] or dims[-1:])[0] if (metric_ids or dims) else None
    x = chosen("x", [f"params.{k}" for k in differing][:1] or dims[:1])
    y = chosen("y", metric_ids[:1] or dims[-1:])
    points: dict[str, int] = {}
    for r in runs:
        for key, summary in r.data.metric_summaries.items():
            points[key] = points.get(key, 0) + summary.count
    longest = max(metric_keys, key=lambda k: (points.get(k, 0), k), default="")
    history = _args.text(request, "metric") or longest
    brushes = _brushes(request, columns)
    return {
        "source": source,
        "count": len(runs),
        "runs": [
            {
                "run_id": r.info.run_id,
                "name": r.info.run_name,
                "experiment_id": r.info.experiment_id,
                "status": r.info.status,
                "url": f"/runs/{r.info.run_id}",
            }
            for r in runs
        ],
        "params": param_keys,
        "metrics": metric_keys,
        "differing_params": differing,
        "same_params": same,
        "columns": columns,
        "kinds": kinds,
        "dims": dims,
        "color": color,
        "x": x[0] if x else None,
        "y": y[0] if y else None,
        "metric": history,
        "brush": brushes,
        "history_url": url("/compare/metric-history"),
        "max_histories": MAX_HISTORIES,
    }


def _brushes(request: Request, columns: dict[str, list[Any]]) -> dict[str, list[list[float]]]:
    """``brush=<column>:<lo>:<hi>`` (repeatable, also for one column) as column -> ranges."""
    out: dict[str, list[list[float]]] = {}
    for item in request.query_params.getlist("brush"):
        cid, _, rest = item.rpartition(":")
        cid, _, lo_text = cid.rpartition(":")
        if cid not in columns:
            continue
        try:
            lo, hi = float(lo_text), float(rest)
        except ValueError:
            continue
        out.setdefault(cid, []).append([min(lo, hi), max(lo, hi)])
    return out


def routes(ctx: ServerContext) -> list[Route]:
    """The comparison of runs and its metric charts' data."""

    store = ctx.store

    def compare(request: Request) -> Response:
        model = compare_model(ctx, store, request)
        return render(request, "compare.html", model, title="Compare runs", charts=True)

    def metric_history(request: Request) -> Response:
        from labtrack.ui.run import metric_model

        run_ids = _args.many(request, "runs")[:MAX_HISTORIES]
        key = _args.text(request, "key")
        if not key:
            raise InvalidParameterValue("Name a metric (?key=...)")
        out = {}
        for run_id in run_ids:
            out[run_id] = metric_model(store, request, run_id, key)
        return json_response({"key": key, "series": out})

    return [
        Route("/compare", ("GET",), compare),
        Route("/compare/metric-history", ("GET",), metric_history),
    ]
