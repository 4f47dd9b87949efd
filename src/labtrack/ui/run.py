"""The run page and a run's metric charts.

``GET /runs/{run_id}``: overview, params, metrics (a chart each), tags, description,
dataset inputs, the models the run produced (see ``run_models``) and the artifact root.
``GET /runs/{run_id}/metrics/{key}`` is one metric's chart; its JSON twin is the history
downsampled on the server (``?points=1000&from=<step>&to=<step>``): every point when
there are few, else buckets of consecutive steps with min, max and mean, so the shape
is kept.

Write actions: ``POST /runs/{id}/rename``, ``/delete``, ``/restore``, ``/tags``
(set a tag), ``/tags/delete`` and ``/description``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from labtrack._tags import (
    MLFLOW_GIT_BRANCH,
    MLFLOW_GIT_REPO_URL,
    MLFLOW_PARENT_RUN_ID,
    MLFLOW_RUN_NOTE,
    MLFLOW_SOURCE_TYPE,
    SYSTEM_TAG_PREFIXES,
)
from labtrack.entities import LifecycleStage, Run, ViewType
from labtrack.errors import InvalidParameterValue, ResourceDoesNotExist
from labtrack.server._routes import Route
from labtrack.ui import _args
from labtrack.ui._actions import field, perform
from labtrack.ui._render import render, url
from labtrack.ui.runs import _source

if TYPE_CHECKING:
    from labtrack.server._context import ServerContext
    from labtrack.store.sql.store import SqlStore

CHILDREN_SHOWN = 100
DEFAULT_POINTS = 1000
MAX_POINTS = 5000


def run_summary(ctx: ServerContext, store: SqlStore, run: Run) -> dict[str, Any]:
    info, data = run.info, run.data
    experiment = ctx.service.get_experiment(info.experiment_id)
    tags = data.tags
    parent_id = tags.get(MLFLOW_PARENT_RUN_ID)
    parent: dict[str, Any] | None = None
    if parent_id:
        try:
            found = ctx.service.get_run(parent_id)
            parent = {"run_id": parent_id, "name": found.info.run_name, "url": f"/runs/{parent_id}"}
        except ResourceDoesNotExist:
            parent = {"run_id": parent_id, "name": parent_id, "url": None}
    pk = [int(info.experiment_id)]
    kids = store.search_child_runs(info.run_id, pk, ViewType.ALL, None, None, CHILDREN_SHOWN)
    child_count = store.count_child_runs([info.run_id], pk, ViewType.ALL, None).get(info.run_id, 0)
    duration = None
    if info.start_time is not None and info.end_time is not None:
        duration = info.end_time - info.start_time
    user_tags = {k: v for k, v in sorted(tags.items()) if not k.startswith(SYSTEM_TAG_PREFIXES)}
    system_tags = {k: v for k, v in sorted(tags.items()) if k.startswith(SYSTEM_TAG_PREFIXES)}
    metrics = []
    for key in sorted(data.metric_summaries or data.metrics):
        summary = data.metric_summaries.get(key)
        metrics.append(
            {
                "key": key,
                "latest": summary.latest if summary else data.metrics[key],
                "step": summary.step if summary else None,
                "timestamp": summary.timestamp if summary else None,
                "min": summary.min if summary else None,
                "max": summary.max if summary else None,
                "count": summary.count if summary else None,
                "url": f"/runs/{info.run_id}/metrics/{key}",
            }
        )
    datasets = []
    for item in run.inputs.dataset_inputs:
        d = item.dataset
        datasets.append(
            {
                "name": d.name,
                "digest": d.digest,
                "source_type": d.source_type,
                "source": d.source,
                "schema": d.schema,
                "profile": d.profile,
                "tags": {t.key: t.value for t in item.tags},
            }
        )
    return {
        "run_id": info.run_id,
        "name": info.run_name,
        "experiment": {
            "experiment_id": experiment.experiment_id,
            "name": experiment.name,
            "url": url("/runs", experiments=experiment.experiment_id),
        },
        "status": info.status,
        "crashed": run.crashed,
        "lifecycle_stage": info.lifecycle_stage,
        "deleted": info.lifecycle_stage == LifecycleStage.DELETED,
        "start_time": info.start_time,
        "end_time": info.end_time,
        "duration_ms": duration,
        "user": info.user_id,
        "artifact_uri": info.artifact_uri,
        **_source(run),
        "source_type": tags.get(MLFLOW_SOURCE_TYPE, ""),
        "branch": tags.get(MLFLOW_GIT_BRANCH, ""),
        "repo_url": tags.get(MLFLOW_GIT_REPO_URL, ""),
        "parent": parent,
        "children": [
            {"run_id": k.info.run_id, "name": k.info.run_name, "status": k.info.status}
            for k in kids
        ],
        "children_total": child_count,
        "children_url": url(
            "/runs",
            experiments=info.experiment_id,
            filter=f"{MLFLOW_PARENT_RUN_ID} = '{info.run_id}'",
            nested="0",
        ),
        "description": tags.get(MLFLOW_RUN_NOTE, ""),
        "params": dict(sorted(data.params.items())),
        "metrics": metrics,
        "tags": user_tags,
        "system_tags": system_tags,
        "datasets": datasets,
    }


def metric_model(store: SqlStore, request: Request, run_id: str, key: str) -> dict[str, Any]:
    points = _args.integer(request, "points", DEFAULT_POINTS, 10, MAX_POINTS)
    series = store.get_metric_series(run_id, key)
    model: dict[str, Any] = {"run_id": run_id, "key": key, "count": 0, "downsampled": False}
    if series is None:
        return {**model, "points": {"step": [], "timestamp": [], "value": []}}
    lo = _args.integer(request, "from", series.first_step, -(2**62), 2**62)
    hi = _args.integer(request, "to", series.last_step, -(2**62), 2**62)
    lo, hi = max(lo, series.first_step), min(hi, series.last_step)
    model.update(
        count=series.count, first_step=series.first_step, last_step=series.last_step, range=[lo, hi]
    )
    if hi < lo:
        return {**model, "points": {"step": [], "timestamp": [], "value": []}}
    whole = lo == series.first_step and hi == series.last_step
    # Few points: every point, else buckets. A narrow window of steps can still hold many
    # points (a metric logged again and again at one step), so the count decides.
    shown = series.count if whole else store.count_series_points(series.series_id, lo, hi)
    if shown <= points:
        return {**model, "points": store.get_series_points(series.series_id, lo, hi)}
    return {
        **model,
        "downsampled": True,
        "buckets": store.get_series_buckets(series.series_id, lo, hi, max(1, points // 2)),
    }


def routes(ctx: ServerContext) -> list[Route]:
    """The run page, its metric charts and its write actions."""

    store = ctx.store

    def run_page(run_id: str, request: Request) -> Response:
        run = ctx.service.get_run(run_id)
        model = run_summary(ctx, store, run)
        from labtrack.ui.artifacts import listing_model
        from labtrack.ui.run_models import registered_names, run_models

        model["artifacts"] = listing_model(ctx, run, "")
        model["models"] = run_models(ctx, run, model["artifacts"])
        model["registered_names"] = registered_names(ctx) if model["models"] else []
        return render(request, "run.html", model, title=f"Run {run.info.run_name}", charts=True)

    def metric(run_id: str, key: str, request: Request) -> Response:
        from labtrack.ui._render import json_response, wants_json

        if wants_json(request):
            return json_response(metric_model(store, request, run_id, key))
        run = ctx.service.get_run(run_id)
        if key not in run.data.metrics:
            raise ResourceDoesNotExist(f"Run {run_id} has no metric {key!r}")
        model = {
            "run": {"run_id": run_id, "name": run.info.run_name, "url": f"/runs/{run_id}"},
            "key": key,
            "summary": next(
                (m for m in run_summary(ctx, store, run)["metrics"] if m["key"] == key), None
            ),
            "data_url": url(f"/runs/{run_id}/metrics/{key}", format="json"),
            "others": sorted(run.data.metrics),
        }
        return render(
            request, "metric.html", model, title=f"{key} of {run.info.run_name}", charts=True
        )

    def _back(run_id: str) -> str:
        return f"/runs/{run_id}"

    async def rename(run_id: str, request: Request) -> Response:
        def action(form: dict[str, Any]) -> tuple[str, str]:
            name = field(form, "name")
            ctx.service.update_run(run_id, run_name=name)
            return _back(run_id), f"Renamed the run to {name!r}"

        return await perform(request, action, _back(run_id))

    async def delete(run_id: str, request: Request) -> Response:
        def action(form: dict[str, Any]) -> tuple[str, str]:
            ctx.service.delete_run(run_id)
            return _back(run_id), "Deleted the run (restore it from this page)"

        return await perform(request, action, _back(run_id))

    async def restore(run_id: str, request: Request) -> Response:
        def action(form: dict[str, Any]) -> tuple[str, str]:
            ctx.service.restore_run(run_id)
            return _back(run_id), "Restored the run"

        return await perform(request, action, _back(run_id))

    async def set_tag(run_id: str, request: Request) -> Response:
        def action(form: dict[str, Any]) -> tuple[str, str]:
            key = field(form, "key")
            ctx.service.set_tag(run_id, key, field(form, "value", required=False))
            return _back(run_id) + "#tags", f"Set tag {key!r}"

        return await perform(request, action, _back(run_id))

    async def delete_tag(run_id: str, request: Request) -> Response:
        def action(form: dict[str, Any]) -> tuple[str, str]:
            key = field(form, "key")
            ctx.service.delete_tag(run_id, key)
            return _back(run_id) + "#tags", f"Deleted tag {key!r}"

        return await perform(request, action, _back(run_id))

    async def describe(run_id: str, request: Request) -> Response:
        def action(form: dict[str, Any]) -> tuple[str, str]:
            text = form.get("description", "")
            if not isinstance(text, str):
                raise InvalidParameterValue("description must be text")
            text = text.replace("\r\n", "\n").strip()
            if text:
                ctx.service.set_tag(run_id, MLFLOW_RUN_NOTE, text)
            else:
                try:
                    ctx.service.delete_tag(run_id, MLFLOW_RUN_NOTE)
                except ResourceDoesNotExist:
                    pass
            return _back(run_id) + "#description", "Saved the description"

        return await perform(request, action, _back(run_id))

    return [
        Route("/runs/{run_id}", ("GET",), run_page),
        Route("/runs/{run_id}/metrics/{key:path}", ("GET",), metric, heavy=True),
        Route("/runs/{run_id}/rename", ("POST",), rename),
        Route("/runs/{run_id}/delete", ("POST",), delete),
        Route("/runs/{run_id}/restore", ("POST",), restore),
        Route("/runs/{run_id}/tags", ("POST",), set_tag),
        Route("/runs/{run_id}/tags/delete", ("POST",), delete_tag),
        Route("/runs/{run_id}/description", ("POST",), describe),
    ]
