"""The runs page: a table of the runs of one or more experiments, paged and sorted in SQL.

``GET /runs?experiments=1,2`` with, all optional: ``filter`` (the search grammar, with
OR and parentheses), ``sort`` (a column id or ``attributes.<name>``) and ``dir``
(``asc``/``desc``), ``page`` and ``size``, ``col`` (repeated: the columns shown),
``view`` (active/deleted/all), ``nested=0`` (a flat list instead of children folded
under their parents), ``expand`` (repeated: parents shown unfolded) and ``show=chart``
(one chart per metric across the page's runs instead of the table; see ``_run_charts``).

``POST /runs/actions`` deletes, restores, tags or renames the selected runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from labtrack._tags import (
    MLFLOW_GIT_COMMIT,
    MLFLOW_GIT_DIRTY,
    MLFLOW_PARENT_RUN_ID,
    MLFLOW_SOURCE_NAME,
)
from labtrack.entities import Run
from labtrack.errors import InvalidParameterValue, LabtrackError
from labtrack.search import SearchSyntaxError
from labtrack.server._routes import Route
from labtrack.ui import _args
from labtrack.ui._actions import field as form_field
from labtrack.ui._actions import fields, perform, safe_next
from labtrack.ui._columns import (
    ATTRIBUTE_SORTS,
    DEFAULT_SORT,
    Column,
    parse_column,
    sort_clause,
)
from labtrack.ui._render import redirect_with_flash, render, url, wants_json
from labtrack.ui._run_charts import chart_model

if TYPE_CHECKING:
    from labtrack.server._context import ServerContext
    from labtrack.store.sql.store import SqlStore

PAGE_SIZES = (25, 50, 100, 200, 500)
DEFAULT_PAGE_SIZE = 50
DEFAULT_METRIC_COLUMNS = 10
DEFAULT_PARAM_COLUMNS = 10
CHILDREN_SHOWN = 100
MAX_EXPANDED = 50


@dataclass
class TableState:
    """Everything in a runs page's URL."""

    experiment_ids: list[str]
    filter: str = ""
    sort: str = DEFAULT_SORT
    ascending: bool = False
    page: int = 1
    size: int = DEFAULT_PAGE_SIZE
    columns: list[str] | None = None  # None: the default columns
    view: str = "active"
    nested: bool = True
    expand: list[str] = field(default_factory=list)
    show: str = "table"  # or "chart"

    @classmethod
    def from_request(cls, request: Request) -> TableState:
        ids = _args.experiment_ids(request)
        size = _args.integer(request, "size", DEFAULT_PAGE_SIZE, 1, max(PAGE_SIZES))
        sort = _args.text(request, "sort", DEFAULT_SORT)
        if sort_clause(sort, True) is None:
            raise InvalidParameterValue(f"Cannot sort runs by {sort!r}")
        direction = _args.text(request, "dir", "desc" if sort == DEFAULT_SORT else "asc")
        columns = _args.many(request, "col") if "col" in request.query_params else None
        return cls(
            experiment_ids=ids,
            filter=request.query_params.get("filter", "").strip(),
            sort=sort,
            ascending=direction.lower() != "desc",
            page=_args.integer(request, "page", 1, 1, 10_000_000),
            size=size,
            columns=columns,
            view=_args.view(request)[0],
            nested=_args.text(request, "nested", "1") != "0",
            expand=_args.many(request, "expand")[:MAX_EXPANDED],
            show=_show(request),
        )

    def url(self, **changes: Any) -> str:
        values = {**self.__dict__, **changes}
        return url(
            "/runs",
            experiments=",".join(values["experiment_ids"]),
            filter=values["filter"],
            sort=None if values["sort"] == DEFAULT_SORT else values["sort"],
            dir="asc" if values["ascending"] else "desc",
            page=values["page"] if values["page"] > 1 else None,
            size=values["size"] if values["size"] != DEFAULT_PAGE_SIZE else None,
            col=_column_param(values["columns"]),
            view=values["view"] if values["view"] != "active" else None,
            nested=None if values["nested"] else "0",
            expand=values["expand"],
            show=values["show"] if values["show"] != "table" else None,
        )

    def compare_url(self) -> str:
        return url(
            "/compare",
            experiments=",".join(self.experiment_ids),
            filter=self.filter,
            sort=None if self.sort == DEFAULT_SORT else self.sort,
            dir="asc" if self.ascending else "desc",
            view=self.view if self.view != "active" else None,
        )

    def compare_selected_query(self) -> str:
        """What the compare page of the selected runs is told of this table: its sort."""
        sort = None if self.sort == DEFAULT_SORT else self.sort
        return url("", sort=sort, dir="asc" if self.ascending else "desc").lstrip("?")


SHOWS = ("table", "chart")


def _show(request: Request) -> str:
    show = _args.text(request, "show", "table")
    if show not in SHOWS:
        raise InvalidParameterValue(
            f"Show the runs as a table or a chart (?show=chart), not {show!r}"
        )
    return show


def _column_param(columns: list[str] | None) -> list[str] | None:
    if columns is None:
        return None
    return columns or [""]  # an explicit empty choice stays explicit


def filter_error(text: str, exc: LabtrackError) -> dict[str, Any]:
    """A filter's parse error, with the text split around where it went wrong."""
    position = getattr(exc, "position", None) if isinstance(exc, SearchSyntaxError) else None
    error: dict[str, Any] = {"message": exc.message, "position": position}
    if position is not None and 0 <= position <= len(text):
        end = position + 1
        while end < len(text) and not text[end].isspace():
            end += 1
        error.update(before=text[:position], at=text[position:end] or " ", after=text[end:])
    return error


def _source(run: Run) -> dict[str, Any]:
    tags = run.data.tags
    name = tags.get(MLFLOW_SOURCE_NAME, "")
    commit = tags.get(MLFLOW_GIT_COMMIT, "")
    return {
        "source": name,
        "source_short": name.replace("\\", "/").rsplit("/", 1)[-1],
        "commit": commit,
        "dirty": tags.get(MLFLOW_GIT_DIRTY, "").lower() == "true",
    }


def run_row(run: Run, columns: list[Column], depth: int = 0) -> dict[str, Any]:
    info = run.info
    duration = None
    if info.start_time is not None and info.end_time is not None:
        duration = info.end_time - info.start_time
    return {
        "run_id": info.run_id,
        "name": info.run_name,
        "experiment_id": info.experiment_id,
        "status": info.status,
        "crashed": run.crashed,
        "lifecycle_stage": info.lifecycle_stage,
        "start_time": info.start_time,
        "end_time": info.end_time,
        "duration_ms": duration,
        "user": info.user_id,
        **_source(run),
        "parent_id": run.data.tags.get(MLFLOW_PARENT_RUN_ID),
        "depth": depth,
        "children": 0,
        "expanded": False,
        "url": f"/runs/{info.run_id}",
        "values": {c.id: c.value(run) for c in columns},
    }


def choose_columns(state: TableState, available: dict[str, list[str]]) -> list[Column]:
    if state.columns is None:
        ids = [f"metrics.{k}" for k in available["metrics"][:DEFAULT_METRIC_COLUMNS]]
        ids += [f"params.{k}" for k in available["params"][:DEFAULT_PARAM_COLUMNS]]
    else:
        ids = state.columns
    columns = []
    for cid in ids:
        column = parse_column(cid)
        if column is None:
            raise InvalidParameterValue(f"Unknown column {cid!r}")
        columns.append(column)
    return columns


def runs_model(ctx: ServerContext, store: SqlStore, request: Request) -> dict[str, Any]:
    state = TableState.from_request(request)
    if not state.experiment_ids:
        raise InvalidParameterValue("Choose at least one experiment (?experiments=1,2)")
    experiments = [ctx.service.get_experiment(e) for e in state.experiment_ids]
    pks = [int(e) for e in state.experiment_ids]
    view_type = _args.VIEWS[state.view]
    exact_keys = _args.text(request, "keys") == "all"
    available = store.list_run_keys(pks, view_type, None if exact_keys else 1000)
    columns = choose_columns(state, available)
    order = sort_clause(state.sort, state.ascending)
    order_by = [order] if order else None
    filter_string = state.filter or None
    error = None
    rows: list[dict[str, Any]] = []
    shown: dict[str, Run] = {}
    total = 0
    try:
        page = store.search_run_page(
            pks,
            view_type,
            filter_string,
            order_by,
            (state.page - 1) * state.size,
            state.size,
            nested=state.nested,
        )
        total = page.total
        rows = [run_row(run, columns) for run in page.runs]
        shown = {run.info.run_id: run for run in page.runs}
        if state.nested:
            rows = _unfold(store, state, rows, columns, pks, view_type, order_by, shown)
    except (SearchSyntaxError, InvalidParameterValue) as exc:
        if not state.filter:
            raise
        error = filter_error(state.filter, exc)

    pages = max(1, -(-total // state.size))
    first = (state.page - 1) * state.size + 1 if total else 0
    shown_columns = []
    for column in columns:
        sorted_dir = None
        if state.sort == column.id:
            sorted_dir = "asc" if state.ascending else "desc"
        shown_columns.append(
            {
                "id": column.id,
                "label": column.label,
                "entity": column.entity,
                "key": column.key,
                "aggregate": column.aggregate,
                "sorted": sorted_dir,
                "sort_url": state.url(
                    sort=column.id,
                    ascending=not (state.sort == column.id and state.ascending),
                    page=1,
                ),
            }
        )
    attribute_sorts = {}
    for sort_id, label in ATTRIBUTE_SORTS.items():
        attribute_sorts[sort_id] = {
            "label": label,
            "sorted": ("asc" if state.ascending else "desc") if state.sort == sort_id else None,
            "url": state.url(
                sort=sort_id, ascending=not (state.sort == sort_id and state.ascending), page=1
            ),
        }
    hidden = {
        "experiments": ",".join(state.experiment_ids),
        "filter": state.filter,
        "sort": state.sort if state.sort != DEFAULT_SORT else "",
        "dir": "asc" if state.ascending else "desc",
        "size": str(state.size) if state.size != DEFAULT_PAGE_SIZE else "",
        "view": state.view if state.view != "active" else "",
        "nested": "" if state.nested else "0",
        "show": "" if state.show == "table" else state.show,
    }
    chart = None
    if state.show == "chart":
        chart = chart_model([shown[r["run_id"]] for r in rows], state.sort, [c.id for c in columns])
    return {
        "experiments": [
            {
                "experiment_id": e.experiment_id,
                "name": e.name,
                "lifecycle_stage": e.lifecycle_stage,
            }
            for e in experiments
        ],
        "filter": state.filter,
        "filter_error": error,
        "sort": state.sort,
        "dir": "asc" if state.ascending else "desc",
        "view": state.view,
        "nested": state.nested,
        "show": state.show,
        "chart": chart,
        "page": state.page,
        "pages": pages,
        "size": state.size,
        "page_sizes": list(PAGE_SIZES),
        "total": total,
        "first": first,
        "last": first + len([r for r in rows if r["depth"] == 0]) - 1 if total else 0,
        "columns": shown_columns,
        "attribute_sorts": attribute_sorts,
        "available": {
            **available,
            "chosen": [c.id for c in columns],
            "exact": exact_keys,
            "all_keys_url": url(request.url.path, **_query_dict(request), keys="all"),
        },
        "runs": rows,
        "experiment_names": {e.experiment_id: e.name for e in experiments},
        "hidden": hidden,
        "urls": {
            "prev": state.url(page=state.page - 1) if state.page > 1 else None,
            "next": state.url(page=state.page + 1) if state.page < pages else None,
            "first": state.url(page=1) if state.page > 1 else None,
            "last": state.url(page=pages) if state.page < pages else None,
            "flat": state.url(nested=False, expand=[], page=1),
            "nested": state.url(nested=True, page=1),
            "compare_all": state.compare_url(),
            "compare_selected_query": state.compare_selected_query(),
            "shows": {v: state.url(show=v) for v in SHOWS},
            "views": {v: state.url(view=v, page=1) for v in _args.VIEWS},
            "sizes": {str(n): state.url(size=n, page=1) for n in PAGE_SIZES},
            "self": state.url(),
            "clear_filter": state.url(filter="", page=1),
        },
    }


def _query_dict(request: Request) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in request.query_params:
        if key in ("keys", "format"):
            continue
        values = request.query_params.getlist(key)
        out[key] = values if len(values) > 1 else values[0]
    return out


def _unfold(
    store: SqlStore,
    state: TableState,
    rows: list[dict[str, Any]],
    columns: list[Column],
    pks: list[int],
    view_type: int,
    order_by: list[str] | None,
    shown: dict[str, Run],
) -> list[dict[str, Any]]:
    """Mark runs that have children, and put the children of expanded runs under them
    (and into ``shown``)."""
    filter_string = state.filter or None
    expanded = set(state.expand)
    out: list[dict[str, Any]] = []
    pending = list(rows)
    counts = store.count_child_runs([r["run_id"] for r in pending], pks, view_type, filter_string)
    budget = MAX_EXPANDED
    while pending:
        row = pending.pop(0)
        row["children"] = counts.get(row["run_id"], 0)
        row["expanded"] = row["run_id"] in expanded and row["children"] > 0
        toggle = (
            [e for e in state.expand if e != row["run_id"]]
            if row["expanded"]
            else [*state.expand, row["run_id"]]
        )
        row["toggle_url"] = state.url(expand=toggle)
        out.append(row)
        if row["expanded"] and budget > 0:
            budget -= 1
            kids = store.search_child_runs(
                row["run_id"], pks, view_type, filter_string, order_by, CHILDREN_SHOWN
            )
            kid_rows = [run_row(k, columns, row["depth"] + 1) for k in kids]
            shown.update((k.info.run_id, k) for k in kids)
            counts.update(
                store.count_child_runs(
                    [k["run_id"] for k in kid_rows], pks, view_type, filter_string
                )
            )
            if row["children"] > len(kid_rows):
                more = f"{MLFLOW_PARENT_RUN_ID} = '{row['run_id']}'"
                row["more_url"] = state.url(filter=more, nested=False, expand=[], page=1)
            pending[:0] = kid_rows
    return out


def routes(ctx: ServerContext) -> list[Route]:
    """The runs table and the actions on selected runs."""

    store = ctx.store

    def runs(request: Request) -> Response:
        if not _args.experiment_ids(request) and not wants_json(request):
            return redirect_with_flash(
                request, "/experiments", "Tick the experiments whose runs you want to see"
            )
        model = runs_model(ctx, store, request)
        names = ", ".join(e["name"] for e in model["experiments"])
        charts = model["show"] == "chart"
        return render(request, "runs.html", model, title=f"Runs of {names}", charts=charts)

    async def actions(request: Request) -> Response:
        def action(form: dict[str, Any]) -> tuple[str, str]:
            what = form_field(form, "action")
            run_ids = fields(form, "run")
            target = safe_next(form.get("next"), "/experiments")
            if not run_ids:
                raise InvalidParameterValue("Select runs first")
            if what == "delete":
                for run_id in run_ids:
                    ctx.service.delete_run(run_id)
                return target, f"Deleted {len(run_ids)} run(s)"
            if what == "restore":
                for run_id in run_ids:
                    ctx.service.restore_run(run_id)
                return target, f"Restored {len(run_ids)} run(s)"
            if what == "tag":
                key = form_field(form, "tag_key")
                value = form_field(form, "tag_value", required=False)
                for run_id in run_ids:
                    ctx.service.set_tag(run_id, key, value)
                return target, f"Tagged {len(run_ids)} run(s) with {key}"
            if what == "rename":
                if len(run_ids) != 1:
                    raise InvalidParameterValue("Select exactly one run to rename")
                name = form_field(form, "name")
                ctx.service.update_run(run_ids[0], run_name=name)
                return target, f"Renamed the run to {name!r}"
            raise InvalidParameterValue(f"Unknown action {what!r}")

        return await perform(request, action, "/experiments")

    return [
        Route("/runs", ("GET",), runs, heavy=True),
        Route("/runs/actions", ("POST",), actions),
    ]
