"""Compare runs: parallel coordinates, overlaid metric histories, a scatter and a table.

``GET /compare?runs=<id>,<id>,...`` compares the runs named (2 to 400: what fits in a
URL); ``GET /compare?experiments=1&filter=...&sort=...&dir=...&limit=N`` compares the
first N (up to 1,000) runs a search finds. Both take the runs table's ``sort``: a
metric sorted by is the colour, the scatter's y and the last axis by default (see
``choose_defaults``). The rest of the state is in the URL too:
``dim`` (repeated: parallel-coordinates axes), ``color``, ``x`` and ``y`` (the scatter),
``metric`` (the overlaid history) and ``brush`` (repeated ``<column>:<lo>:<hi>``: the
ranges kept on the axes). The page's data is in the page itself (a JSON data block
the page's script reads) and in its JSON twin.

``GET /compare/metric-history?runs=...&key=...`` is the overlaid histories (downsampled).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from labtrack.entities import Run
from labtrack.errors import InvalidParameterValue
from labtrack.server._routes import Route
from labtrack.ui import _args
from labtrack.ui._columns import DEFAULT_SORT, numeric, parse_column, sort_clause
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
    sort = _args.text(request, "sort", DEFAULT_SORT)
    ascending = _args.text(request, "dir", "desc" if sort == DEFAULT_SORT else "asc") != "desc"
    order = sort_clause(sort, ascending)
    if order is None:
        raise InvalidParameterValue(f"Cannot sort runs by {sort!r}")
    listed = _args.many(request, "runs")
    if listed:
        if len(listed) > MAX_LISTED:
            raise InvalidParameterValue(
                f"Compare at most {MAX_LISTED} runs by id; use a search for more"
            )
        found = store.get_runs(listed)
        # The runs stay in the order named; the sort of the table they came from only
        # picks the metric the page shows first.
        return found, {"mode": "runs", "runs": listed, "sort": sort}
    ids = _args.experiment_ids(request)
    if not ids:
        raise InvalidParameterValue("Name runs (?runs=a,b) or experiments (?experiments=1)")
    for experiment_id in ids:
        ctx.service.get_experiment(experiment_id)
    limit = _args.integer(request, "limit", DEFAULT_LIMIT, 1, MAX_SEARCHED)
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


def _present(values: list[Any]) -> list[Any]:
    return [v for v in values if v is not None]


def _distinct(values: list[Any]) -> int:
    """How many different values a column holds where it is set (a missing one is none)."""
    return len({repr(v) for v in _present(values)})


def _sorted_column(sort: str | None) -> str | None:
    """The compare column a runs table's sort names (``metrics.k@min`` is ``metrics.k``)."""
    column = parse_column(sort) if sort else None
    if column is None or column.prefix == "tags":
        return None
    return f"{column.prefix}.{column.key}"


@dataclass(frozen=True)
class Defaults:
    """What the page shows when the URL does not say: axes, colour, scatter, history."""

    dims: list[str]
    color: str | None
    x: str | None
    y: str | None
    metric: str


def choose_defaults(
    columns: dict[str, list[Any]],
    kinds: dict[str, str],
    points: dict[str, int],
    sort: str | None,
) -> Defaults:
    """The axes and charts worth looking at first.

    The params that differ between the runs where they are set and that most runs have
    (a param with one value across the runs, such as ``seed``, or one that few runs log,
    says nothing about the others), then the metrics most runs have, with the metric the
    runs table is sorted by last (the outcome) and as the colour and the scatter's y. The
    scatter's x is the differing param most runs have.
    """
    n = max((len(v) for v in columns.values()), default=0)

    def coverage(cid: str) -> int:
        return len(_present(columns[cid]))

    def most(cid: str) -> bool:
        return coverage(cid) * 2 > n

    params = [c for c in columns if c.startswith("params.") and _distinct(columns[c]) > 1]
    metrics = [c for c in columns if c.startswith("metrics.")]
    common_params = [c for c in params if most(c)]
    common_metrics = [c for c in metrics if most(c)] or metrics
    sorted_by = _sorted_column(sort)
    if sorted_by not in columns:
        sorted_by = None
    outcome = sorted_by if sorted_by in metrics else None
    if outcome is None and common_metrics:
        outcome = max(common_metrics, key=lambda c: (coverage(c), -common_metrics.index(c)))
    metric_dims = [c for c in common_metrics if c != outcome] + ([outcome] if outcome else [])
    # Params keep at least half the axes when there are that many; the outcome stays last.
    metric_room = MAX_DIMS - min(len(common_params), MAX_DIMS // 2)
    metric_dims = metric_dims[-metric_room:]
    dims = common_params[: MAX_DIMS - len(metric_dims)] + metric_dims

    def rank(cid: str) -> tuple[int, int, int]:
        return (coverage(cid), kinds.get(cid) == "number", _distinct(columns[cid]))

    if sorted_by in params:
        x: str | None = sorted_by
    else:
        x = max(params, key=rank, default=None) or (dims[0] if dims else None)
    y = outcome or (dims[-1] if dims else None)
    common_keys = [c.removeprefix("metrics.") for c in common_metrics]
    history = max(common_keys, key=lambda k: (points.get(k, 0), k), default="")
    return Defaults(dims, outcome or y, x, y, history)


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
    same = {
        k: next(iter(_present(columns[f"params.{k}"])), None)
        for k in param_keys
        if k not in differing
    }
    kinds = {
        cid: "number" if all(v is None or numeric(v) is not None for v in values) else "category"
        for cid, values in columns.items()
    }
    points: dict[str, int] = {}
    for r in runs:
        for key, summary in r.data.metric_summaries.items():
            points[key] = points.get(key, 0) + summary.count
    defaults = choose_defaults(columns, kinds, points, source.get("sort"))

    def chosen(name: str, default: list[str]) -> list[str]:
        picked = [c for c in _args.many(request, name) if c in columns]
        return picked or default

    dims = list(dict.fromkeys(chosen("dim", defaults.dims)))[:MAX_DIMS]
    color = chosen("color", [defaults.color] if defaults.color else [])
    x = chosen("x", [defaults.x] if defaults.x else [])
    y = chosen("y", [defaults.y] if defaults.y else [])
    history = _args.text(request, "metric") or defaults.metric
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
        "color": color[0] if color else None,
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
        Route("/compare", ("GET",), compare, heavy=True),
        Route("/compare/metric-history", ("GET",), metric_history, heavy=True),
    ]
