"""MLflow's tracking REST API (``/api/2.0/mlflow/...``) over the tracking service.

Each handler is a plain function ``(context, params) -> dict`` registered with
its path and methods in one table; :func:`mount` serves every entry under
MLflow's base paths (``/api/2.0/mlflow`` and the UI's ``/ajax-api/2.0/mlflow``).
Handlers run in a thread pool: the store is synchronous.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from labtrack import _protocol as wire
from labtrack.entities import RunStatus, RunTag
from labtrack.errors import (
    BadRequest,
    InvalidParameterValue,
    LabtrackError,
    PayloadTooLarge,
    ResourceDoesNotExist,
)
from labtrack.server._params import Params
from labtrack.tracking._registry_service import ACTING_USER
from labtrack.validation import MAX_BATCH_LOG_REQUEST_SIZE

if TYPE_CHECKING:
    from fastapi import FastAPI, Request
    from starlette.responses import Response

    from labtrack.server.app import ServerContext

Handler = Callable[["ServerContext", Params], dict[str, Any]]

BASE_PATHS = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")
ROUTES: list[tuple[str, tuple[str, ...], Handler]] = []
# Request bodies larger than the server's limit are refused; log-batch has MLflow's own.
BODY_LIMITS = {"/runs/log-batch": MAX_BATCH_LOG_REQUEST_SIZE}
VIEW_TYPES = ("ACTIVE_ONLY", "DELETED_ONLY", "ALL")
LOGGED_MODELS_TAG = "mlflow.log-model.history"
BULK_INTERVAL_MAX_RESULTS = 2500


def route(path: str, *methods: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ROUTES.append((path, methods, handler))
        return handler

    return register


def _tags(p: Params, name: str = "tags") -> list[RunTag]:
    return p.objects(name, wire.tag_from_json)


def _repeated(name: str, items: list[Any]) -> dict[str, Any]:
    """A response's list field, left out when empty: protobuf JSON (and so MLflow's server)
    omits empty repeated fields, e.g. a search that finds nothing answers ``{}``."""
    return {name: items} if items else {}


# -- experiments ---------------------------------------------------------------------------
@route("/experiments/create", "POST")
def create_experiment(ctx: ServerContext, p: Params) -> dict[str, Any]:
    location = p.string("artifact_location")
    if location:
        ctx.check_artifact_location(location)
    tags = {}
    for i, tag in enumerate(_tags(p)):
        if not isinstance(tag.key, str):  # a dict key must be hashable before validation
            raise InvalidParameterValue(
                f"Invalid value {tag.key!r} for parameter 'tags[{i}].key': expected a string"
            )
        tags[tag.key] = tag.value
    return {
        "experiment_id": ctx.service.create_experiment(
            p.string("name", required=True), location, tags
        )
    }


@route("/experiments/search", "GET", "POST")
def search_experiments(ctx: ServerContext, p: Params) -> dict[str, Any]:
    page = ctx.service.search_experiments(
        view_type=p.enum("view_type", VIEW_TYPES, default="ACTIVE_ONLY"),
        max_results=p.int64("max_results") or 1000,
        filter_string=p.string("filter"),
        order_by=p.str_list("order_by"),
        page_token=p.string("page_token"),
    )
    out = _repeated("experiments", [wire.experiment_to_json(e) for e in page])
    if page.token:
        out["next_page_token"] = page.token
    return out


@route("/experiments/get", "GET")
def get_experiment(ctx: ServerContext, p: Params) -> dict[str, Any]:
    experiment = ctx.service.get_experiment(p.string("experiment_id", required=True))
    return {"experiment": wire.experiment_to_json(experiment)}


@route("/experiments/get-by-name", "GET")
def get_experiment_by_name(ctx: ServerContext, p: Params) -> dict[str, Any]:
    name = p.string("experiment_name", required=True)
    experiment = ctx.service.get_experiment_by_name(name)
    if experiment is None:
        raise ResourceDoesNotExist(f"Could not find experiment with name '{name}'")
    return {"experiment": wire.experiment_to_json(experiment)}


@route("/experiments/delete", "POST")
def delete_experiment(ctx: ServerContext, p: Params) -> dict[str, Any]:
    ctx.service.delete_experiment(p.string("experiment_id", required=True))
    return {}


@route("/experiments/restore", "POST")
def restore_experiment(ctx: ServerContext, p: Params) -> dict[str, Any]:
    ctx.service.restore_experiment(p.string("experiment_id", required=True))
    return {}


@route("/experiments/update", "POST")
def update_experiment(ctx: ServerContext, p: Params) -> dict[str, Any]:
    experiment_id = p.string("experiment_id", required=True)
    new_name = p.string("new_name")
    if new_name:
        ctx.service.rename_experiment(experiment_id, new_name)
    return {}


@route("/experiments/set-experiment-tag", "POST")
def set_experiment_tag(ctx: ServerContext, p: Params) -> dict[str, Any]:
    ctx.service.set_experiment_tag(
        p.string("experiment_id", required=True),
        p.string("key", required=True),
        p.string("value", required=True),
    )
    return {}


@route("/experiments/delete-experiment-tag", "POST")
def delete_experiment_tag(ctx: ServerContext, p: Params) -> dict[str, Any]:
    ctx.service.delete_experiment_tag(
        p.string("experiment_id", required=True), p.string("key", required=True)
    )
    return {}


# -- runs ------------------------------------------------------------------------------
@route("/runs/create", "POST")
def create_run(ctx: ServerContext, p: Params) -> dict[str, Any]:
    tags = _tags(p)
    user = p.string("user_id")
    if user is None:
        user = next((t.value for t in tags if t.key == "mlflow.user"), "")
    run = ctx.service.create_run(
        p.string("experiment_id") or "0",
        start_time=p.int64("start_time"),
        tags=tags,
        run_name=p.string("run_name") or None,
        user_id=user,
    )
    created = wire.run_to_json(run)
    created.pop("outputs", None)  # MLflow's runs/create answers without it (runs/get has it)
    return {"run": created}


@route("/runs/update", "POST")
def update_run(ctx: ServerContext, p: Params) -> dict[str, Any]:
    info = ctx.service.update_run(
        p.run_id(),
        status=p.enum("status", RunStatus.ALL),
        end_time=p.int64("end_time"),
        run_name=p.string("run_name") or None,
    )
    return {"run_info": wire.run_info_to_json(info)}


@route("/runs/delete", "POST")
def delete_run(ctx: ServerContext, p: Params) -> dict[str, Any]:
    ctx.service.delete_run(p.string("run_id", required=True))
    return {}


@route("/runs/restore", "POST")
def restore_run(ctx: ServerContext, p: Params) -> dict[str, Any]:
    ctx.service.restore_run(p.string("run_id", required=True))
    return {}


@route("/runs/get", "GET")
def get_run(ctx: ServerContext, p: Params) -> dict[str, Any]:
    return {"run": wire.run_to_json(ctx.service.get_run(p.run_id()))}


@route("/runs/search", "POST", "GET")
def search_runs(ctx: ServerContext, p: Params) -> dict[str, Any]:
    page = ctx.service.search_runs(
        p.str_list("experiment_ids"),
        filter_string=p.string("filter"),
        view_type=p.enum("run_view_type", VIEW_TYPES, default="ACTIVE_ONLY"),
        max_results=p.int32("max_results") or 1000,
        order_by=p.str_list("order_by"),
        page_token=p.string("page_token"),
    )
    out = _repeated("runs", [wire.run_to_json(r) for r in page])
    if page.token:
        out["next_page_token"] = page.token
    return out


@route("/runs/log-metric", "POST")
def log_metric(ctx: ServerContext, p: Params) -> dict[str, Any]:
    if p.has("model_id"):  # MLflow 3: a metric of a logged model
        return logged_models_api.log_model_metric(ctx, p)
    value = p._raw("value", True)
    ctx.service.log_metric(
        p.run_id(),
        p.string("key", required=True),
        wire.float_from_json(value),
        p.int64("timestamp", required=True),
        p.int64("step") or 0,
    )
    return {}


@route("/runs/log-parameter", "POST")
def log_param(ctx: ServerContext, p: Params) -> dict[str, Any]:
    ctx.service.log_param(
        p.run_id(), p.string("key", required=True), p.string("value", required=True)
    )
    return {}


@route("/runs/set-tag", "POST")
def set_tag(ctx: ServerContext, p: Params) -> dict[str, Any]:
    ctx.service.set_tag(
        p.run_id(), p.string("key", required=True), p.string("value", required=True)
    )
    return {}


@route("/runs/delete-tag", "POST")
def delete_tag(ctx: ServerContext, p: Params) -> dict[str, Any]:
    ctx.service.delete_tag(p.string("run_id", required=True), p.string("key", required=True))
    return {}


@route("/runs/log-batch", "POST")
def log_batch(ctx: ServerContext, p: Params) -> dict[str, Any]:
    raw = p.objects("metrics", lambda d: d)
    if any(m.get("model_id") for m in raw):  # MLflow 3: metrics of logged models
        return logged_models_api.log_batch_with_models(ctx, p, raw)
    metrics = [wire.metric_from_json(m, f"metrics[{i}]") for i, m in enumerate(raw)]
    ctx.service.log_batch(
        p.run_id(),
        metrics,
        p.objects("params", wire.param_from_json),
        _tags(p),
        mlflow_limits=True,
    )
    return {}


@route("/runs/log-inputs", "POST")
def log_inputs(ctx: ServerContext, p: Params) -> dict[str, Any]:
    run_id = p.string("run_id", required=True)
    ctx.service.log_inputs(run_id, p.objects("datasets", wire.dataset_input_from_json))
    models = p.objects("models", wire.model_input_from_json)
    if models:  # MLflow 3: logged models the run used
        ctx.service.log_model_inputs(run_id, models)
    return {}


@route("/runs/log-model", "POST")
def log_model(ctx: ServerContext, p: Params) -> dict[str, Any]:
    """MLflow 2's record of a logged model: appended to the run's model history tag."""
    run_id = p.run_id()
    text = p.string("model_json", required=True)
    try:
        model = json.loads(text)
    except ValueError as exc:
        raise InvalidParameterValue(f"Invalid model_json: {exc}") from None
    history = json.loads(ctx.service.get_run(run_id).data.tags.get(LOGGED_MODELS_TAG, "[]"))
    history.append(model)
    ctx.service.set_tag(run_id, LOGGED_MODELS_TAG, json.dumps(history))
    return {}


# -- metrics -------------------------------------------------------------------------------
@route("/metrics/get-history", "GET")
def get_metric_history(ctx: ServerContext, p: Params) -> dict[str, Any]:
    page = ctx.service.get_metric_history(
        p.run_id(),
        p.string("metric_key", required=True),
        max_results=p.int32("max_results"),
        page_token=p.string("page_token"),
    )
    out = _repeated("metrics", [wire.metric_to_json(m) for m in page])
    if page.token:
        out["next_page_token"] = page.token
    return out


@route("/metrics/get-history-bulk-interval", "GET")
def get_metric_history_bulk_interval(ctx: ServerContext, p: Params) -> dict[str, Any]:
    """Points of one metric for several runs between two steps, at most max_results each."""
    run_ids = p.str_list("run_ids")
    if not run_ids:
        raise InvalidParameterValue("Missing value for required parameter 'run_ids'.")
    if len(run_ids) > 100:
        raise InvalidParameterValue(f"At most 100 run_ids may be given, got {len(run_ids)}")
    key = p.string("metric_key", required=True)
    start, end = p.int32("start_step"), p.int32("end_step")
    if (start is None) != (end is None):
        raise InvalidParameterValue("start_step and end_step must be given together")
    if start is not None and end is not None and start > end:
        raise InvalidParameterValue(f"end_step ({end}) must be at least start_step ({start})")
    # MLflow's server: up to 2,500 points a run, 2,500 when max_results is not given.
    max_results = p.int32("max_results") or BULK_INTERVAL_MAX_RESULTS
    if not 0 < max_results <= BULK_INTERVAL_MAX_RESULTS:
        raise InvalidParameterValue(
            f"max_results must be between 1 and {BULK_INTERVAL_MAX_RESULTS}, got {max_results}"
        )
    out = []
    for run_id in run_ids:
        points = [
            m
            for m in ctx.service.get_metric_history(run_id, key)
            if start is None or start <= m.step <= end  # type: ignore[operator]
        ]
        for m in _sample(points, max_results):
            out.append({**wire.metric_to_json(m), "run_id": run_id})
    return _repeated("metrics", out)


def _sample(points: list[Any], limit: int) -> list[Any]:
    """At most ``limit`` points spread evenly over the steps, always keeping the ends."""
    if len(points) <= limit:
        return points
    if limit == 1:
        return [points[-1]]
    stride = (len(points) - 1) / (limit - 1)
    return [points[round(i * stride)] for i in range(limit)]


# -- artifacts -----------------------------------------------------------------------------
@route("/artifacts/list", "GET")
def list_artifacts(ctx: ServerContext, p: Params) -> dict[str, Any]:
    run = ctx.service.get_run(p.run_id())
    repo = ctx.repository_for(run.info.artifact_uri)
    files = repo.list_artifacts(p.string("path") or None)
    out: dict[str, Any] = {"root_uri": run.info.artifact_uri}
    if files:
        out["files"] = [wire.file_info_to_json(f) for f in files]
    return out


# -- serving --------------------------------------------------------------------------------
async def read_params(request: Request, limit: int) -> Params:
    """The request's fields: the query string for GET, else the JSON body (at most ``limit``),
    and the path's own parameters (``/logged-models/{model_id}``), which take precedence."""
    if request.method == "GET":
        data: dict[str, Any] = {}
        for key, value in request.query_params.multi_items():
            if key in data:
                previous = data[key]
                data[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
            else:
                data[key] = value
        return Params({**data, **request.path_params}, from_query=True)
    body = await read_body(request, limit)
    if not body.strip():
        return Params(dict(request.path_params))
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"Malformed JSON in request body: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest(f"The request body must be a JSON object, got {type(data).__name__}")
    return Params({**data, **request.path_params})


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing (before reading it) one that is larger than ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise BadRequest(f"Invalid Content-Length header {declared!r}") from None
        if size > limit:
            raise _too_large(request, size, limit)
    chunks = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise _too_large(request, received, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(request: Request, size: int, limit: int) -> LabtrackError:
    if request.url.path.endswith("/runs/log-batch"):
        return InvalidParameterValue(
            f"Batched logging API requests must be at most {limit} bytes, got a request of "
            f"size {size}."
        )
    return PayloadTooLarge(f"Request body of {size} bytes is larger than the limit of {limit}")


def mount(app: FastAPI, ctx: ServerContext) -> None:
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    def endpoint_for(path: str, handler: Handler) -> Callable[[Request], Any]:
        limit = BODY_LIMITS.get(path, ctx.config.max_body_bytes)

        async def endpoint(request: Request) -> Response:
            params = await read_params(request, limit)
            # Who the request acts for (recorded in the registry's event log); each request
            # runs in a context of its own, which the handler's thread inherits.
            ACTING_USER.set(registry_api.request_user(request))
            return JSONResponse(await run_in_threadpool(handler, ctx, params))

        endpoint.__name__ = handler.__name__
        # Annotations are strings in this module; FastAPI needs the class itself to pass
        # the request through instead of reading a query parameter called "request".
        endpoint.__annotations__ = {"request": Request, "return": JSONResponse}
        return endpoint

    for path, methods, handler in ROUTES:
        endpoint = endpoint_for(path, handler)
        for base in BASE_PATHS:
            app.add_api_route(base + path, endpoint, methods=list(methods), include_in_schema=False)
        if path == "/metrics/get-history-bulk-interval":
            app.add_api_route(
                "/api/2.11/mlflow" + path, endpoint, methods=list(methods), include_in_schema=False
            )
    app.include_router(registry_api.events_router(ctx))


# The other modules of the handler table (importing them registers their routes).
from labtrack.server import logged_models_api, registry_api  # noqa: E402
