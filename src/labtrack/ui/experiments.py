"""The experiments page: every experiment with its run count and last activity.

``GET /experiments`` (``?view=active|deleted|all&q=<name contains>&page=N``) and the
write actions ``POST /experiments`` (create), ``/experiments/{id}/rename``,
``/experiments/{id}/delete`` and ``/experiments/{id}/restore``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from labtrack.search import Comparison, to_filter_string
from labtrack.server._routes import Route
from labtrack.store._paging import offset_token
from labtrack.ui import _args
from labtrack.ui._actions import field, perform
from labtrack.ui._render import render, url

if TYPE_CHECKING:
    from labtrack.server._context import ServerContext

PAGE_SIZE = 100


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def experiments_model(ctx: ServerContext, request: Request) -> dict[str, Any]:
    view_name, view_type = _args.view(request)
    q = _args.text(request, "q")
    page = _args.integer(request, "page", 1, 1, 1_000_000)
    offset = (page - 1) * PAGE_SIZE
    filter_string = None
    if q:
        filter_string = to_filter_string(Comparison("attribute", "name", "ILIKE", _like_pattern(q)))
    found = ctx.service.search_experiments(
        view_type,
        PAGE_SIZE,
        filter_string,
        ["last_update_time DESC"],
        offset_token(offset),
    )
    activity = ctx.store.get_experiment_activity([int(e.experiment_id) for e in found])
    rows = []
    for e in found:
        count, last_run = activity.get(int(e.experiment_id), (0, None))
        last = max(t for t in (e.last_update_time, last_run, e.creation_time, 0) if t is not None)
        rows.append(
            {
                "experiment_id": e.experiment_id,
                "name": e.name,
                "lifecycle_stage": e.lifecycle_stage,
                "artifact_location": e.artifact_location,
                "creation_time": e.creation_time,
                "last_activity": last or None,
                "runs": count,
                "tags": e.tags,
                "url": url("/runs", experiments=e.experiment_id),
            }
        )
    return {
        "view": view_name,
        "q": q,
        "page": page,
        "page_size": PAGE_SIZE,
        "experiments": rows,
        "prev_url": url("/experiments", view=view_name, q=q, page=page - 1) if page > 1 else None,
        "next_url": url("/experiments", view=view_name, q=q, page=page + 1)
        if found.token
        else None,
    }


def routes(ctx: ServerContext) -> list[Route]:
    """The experiment list, an experiment's page and their write actions."""
    from starlette.responses import RedirectResponse

    def index() -> Response:
        return RedirectResponse("/experiments", status_code=307)

    def experiments(request: Request) -> Response:
        return render(
            request, "experiments.html", experiments_model(ctx, request), title="Experiments"
        )

    def experiment(experiment_id: str) -> Response:
        ctx.service.get_experiment(experiment_id)
        return RedirectResponse(url("/runs", experiments=experiment_id), status_code=307)

    async def create(request: Request) -> Response:
        def action(form: dict[str, Any]) -> tuple[str, str]:
            name = field(form, "name")
            experiment_id = ctx.service.create_experiment(name)
            return url("/runs", experiments=experiment_id), f"Created experiment {name!r}"

        return await perform(request, action, "/experiments")

    async def rename(experiment_id: str, request: Request) -> Response:
        def action(form: dict[str, Any]) -> tuple[str, str]:
            name = field(form, "name")
            ctx.service.rename_experiment(experiment_id, name)
            return url("/runs", experiments=experiment_id), f"Renamed the experiment to {name!r}"

        return await perform(request, action, "/experiments")

    async def delete(experiment_id: str, request: Request) -> Response:
        def action(form: dict[str, Any]) -> tuple[str, str]:
            name = ctx.service.get_experiment(experiment_id).name
            ctx.service.delete_experiment(experiment_id)
            return "/experiments", f"Deleted experiment {name!r} (restore it from Deleted)"

        return await perform(request, action, "/experiments")

    async def restore(experiment_id: str, request: Request) -> Response:
        def action(form: dict[str, Any]) -> tuple[str, str]:
            name = ctx.service.get_experiment(experiment_id).name
            ctx.service.restore_experiment(experiment_id)
            return "/experiments", f"Restored experiment {name!r}"

        return await perform(request, action, "/experiments")

    return [
        Route("/", ("GET",), index),
        Route("/experiments", ("GET",), experiments),
        Route("/experiments/{experiment_id}", ("GET",), experiment),
        Route("/experiments", ("POST",), create),
        Route("/experiments/{experiment_id}/rename", ("POST",), rename),
        Route("/experiments/{experiment_id}/delete", ("POST",), delete),
        Route("/experiments/{experiment_id}/restore", ("POST",), restore),
    ]
