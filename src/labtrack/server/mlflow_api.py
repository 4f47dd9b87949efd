"""MLflow's tracking REST API (``/api/2.0/mlflow/...``) over the tracking service.

Each handler is a plain function ``(context, params) -> dict``; :data:`ENDPOINTS` names
its path and methods, and :func:`routes` serves every entry under MLflow's base paths
(``/api/2.0/mlflow`` and the UI's ``/ajax-api/2.0/mlflow``; see ``_json_endpoints``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from labtrack import _protocol as wire
from labtrack._tags import MLFLOW_LOGGED_MODELS
from labtrack.entities import Param, RunStatus, RunTag
from labtrack.errors import BadRequest, InvalidParameterValue, LabtrackError, ResourceDoesNotExist
from labtrack.server._artifact_files import request_path
from labtrack.server._body import parse_json
from labtrack.server._json_endpoints import JsonEndpoint, ListInParts, json_routes
from labtrack.validation import MAX_BATCH_LOG_REQUEST_SIZE, validate_batch_limits

if TYPE_CHECKING:
    from labtrack.server._context import ServerContext
    from labtrack.server._params import Params
    from labtrack.server._routes import Route

VIEW_TYPES = ("ACTIVE_ONLY", "DELETED_ONLY", "ALL")
BULK_INTERVAL_MAX_RESULTS = 2500
BULK_INTERVAL_MAX_RUNS = 100
#: Runs a search reads, encodes and sends at a time (runs/search answers up to 50,000).
SEARCH_PAGE_SIZE = 2500
_SEE_DOCS = " See the API docs for more information about request parameters."


def _missing_with_docs(name: str) -> InvalidParameterValue:
    return InvalidParameterValue(f"Missing value for required parameter '{name}'.{_SEE_DOCS}")


def _tags(p: Params, name: str = "tags") -> list[RunTag]:
    return p.entries(name, RunTag)


def _value(p: Params) -> str:
    """A param's or tag's value: the empty string is a value (and, as protobuf reads a
    message, so is a value left out), as MLflow stores it."""
    value: str = p.string("value", default="")
    return value


def _as_is(item: Mapping[str, Any], path: str) -> Mapping[str, Any]:
    """An item of a repeated message field, parsed later (``Params.objects`` checked it is
    an object)."""
    return item


def _repeated(name: str, items: list[Any]) -> dict[str, Any]:
    """A response's list field, left out when empty: protobuf JSON (and so MLflow's server)
    omits empty repeated fields, e.g. a search that finds nothing answers ``{}``."""
    return {name: items} if items else {}


# -- experiments ---------------------------------------------------------------------------
def create_experiment(ctx: ServerContext, p: Params) -> dict[str, Any]:
    location = p.string("artifact_location")
    if location:
        ctx.check_artifact_location(location)
    # A left-out key is the empty string, as protobuf reads the message (the service
    # refuses an empty key with MLflow's words); a left-out value is "" already.
    tags = {tag.key or "": tag.value for tag in _tags(p)}
    return {
        "experiment_id": ctx.service.create_experiment(
            p.string("name", required=True), location, tags
        )
    }


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


def get_experiment(ctx: ServerContext, p: Params) -> dict[str, Any]:
    experiment = ctx.service.get_experiment(p.string("experiment_id", required=True))
    return {"experiment": wire.experiment_to_json(experiment)}


def get_experiment_by_name(ctx: ServerContext, p: Params) -> dict[str, Any]:
    name = p.string("experiment_name", required=True)
    experiment = ctx.service.get_experiment_by_name(name)
    if experiment is None:
        raise ResourceDoesNotExist(f"Could not find experiment with name '{name}'")
    return {"experiment": wire.experiment_to_json(experiment)}


def delete_experiment(ctx: ServerContext, p: Params) -> dict[str, Any]:
    ctx.service.delete_experiment(p.string("experiment_id", required=True))
    return {}


def restore_experiment(ctx: ServerContext, p: Params) -> dict[str, Any]:
    ctx.service.restore_experiment(p.string("experiment_id", required=True))
    return {}


def update_experiment(ctx: ServerContext, p: Params) -> dict[str, Any]:
    experiment_id = p.string("experiment_id", required=True)
    new_name = p.string("new_name")
    if new_name:
        ctx.service.rename_experiment(experiment_id, new_name)
    return {}


def set_experiment_tag(ctx: ServerContext, p: Params) -> dict[str, Any]:
    ctx.service.set_experiment_tag(
        p.string("experiment_id", required=True),
        p.string("key", required=True),
        _value(p),
    )
    return {}


def delete_experiment_tag(ctx: ServerContext, p: Params) -> dict[str, Any]:
    ctx.service.delete_experiment_tag(
        p.string("experiment_id", required=True), p.string("key", required=True)
    )
    return {}


# -- runs ------------------------------------------------------------------------------
def create_run(ctx: ServerContext, p: Params) -> dict[str, Any]:
    tags = _tags(p)
    run = ctx.service.create_run(
        p.string("experiment_id") or "0",
        start_time=p.int64("start_time"),
        tags=tags,
        run_name=p.string("run_name") or None,
        user_id=p.string("user_id"),
    )
    created = wire.run_to_json(run)
    created.pop("outputs", None)  # MLflow's runs/create answers without it (runs/get has it)
    return {"run": created}


def update_run(ctx: ServerContext, p: Params) -> dict[str, Any]:
    info = ctx.service.update_run(
        p.run_id(),
        status=p.enum("status", RunStatus.ALL),
        end_time=p.int64("end_time"),
        run_name=p.string("run_name") or None,
    )
    return {"run_info": wire.run_info_to_json(info)}


def delete_run(ctx: ServerContext, p: Params) -> dict[str, Any]:
    ctx.service.delete_run(p.string("run_id", required=True))
    return {}


def restore_run(ctx: ServerContext, p: Params) -> dict[str, Any]:
    ctx.service.restore_run(p.string("run_id", required=True))
    return {}


def get_run(ctx: ServerContext, p: Params) -> dict[str, Any]:
    return {"run": wire.run_to_json(ctx.service.get_run(p.run_id()))}


def search_runs(ctx: ServerContext, p: Params) -> dict[str, Any] | ListInParts:
    """Up to ``max_results`` runs (MLflow's limit: 50,000). More than a page of them is
    read and sent a page at a time, so a large answer is never held whole."""
    pages = ctx.service.search_runs_in_pages(
        p.str_list("experiment_ids"),
        filter_string=p.string("filter"),
        view_type=p.enum("run_view_type", VIEW_TYPES, default="ACTIVE_ONLY"),
        max_results=p.int32("max_results") or 1000,
        order_by=p.str_list("order_by"),
        page_token=p.string("page_token"),
        page_size=SEARCH_PAGE_SIZE,
    )
    first = next(pages)  # a bad request fails here, before any of the answer is sent
    token = first.token
    tail = {"next_page_token": token} if token else {}
    second = next(pages, None)
    if second is None:
        return {**_repeated("runs", [wire.run_to_json(r) for r in first]), **tail}

    ahead = [first, second]  # let go of each part once it is sent

    def parts() -> Iterator[list[dict[str, Any]]]:
        while ahead:
            yield [wire.run_to_json(r) for r in ahead.pop(0)]
        for part in pages:
            yield [wire.run_to_json(r) for r in part]

    return ListInParts("runs", parts(), lambda: tail)


def log_metric(ctx: ServerContext, p: Params) -> dict[str, Any]:
    if p.has("model_id"):  # MLflow 3: a metric of a logged model
        return log_model_metric(ctx, p)
    value = p._raw("value", True)
    ctx.service.log_metric(
        p.run_id(),
        p.string("key", required=True),
        wire.float_from_json(value),
        p.int64("timestamp", required=True),
        p.int64("step") or 0,
    )
    return {}


def log_param(ctx: ServerContext, p: Params) -> dict[str, Any]:
    ctx.service.log_param(p.run_id(), p.string("key", required=True), _value(p))
    return {}


def set_tag(ctx: ServerContext, p: Params) -> dict[str, Any]:
    ctx.service.set_tag(p.run_id(), p.string("key", required=True), _value(p))
    return {}


def delete_tag(ctx: ServerContext, p: Params) -> dict[str, Any]:
    ctx.service.delete_tag(p.string("run_id", required=True), p.string("key", required=True))
    return {}


def log_batch(ctx: ServerContext, p: Params) -> dict[str, Any]:
    raw = p.objects("metrics", _as_is)
    if any(m.get("model_id") for m in raw):  # MLflow 3: metrics of logged models
        return log_batch_with_models(ctx, p, raw)
    metrics = [wire.metric_from_json(m, f"metrics[{i}]") for i, m in enumerate(raw)]
    ctx.service.log_batch(
        p.run_id(),
        metrics,
        p.entries("params", Param),
        _tags(p),
        limits="mlflow",
    )
    return {}


def log_inputs(ctx: ServerContext, p: Params) -> dict[str, Any]:
    run_id = p.string("run_id", required=True)
    ctx.service.log_inputs(run_id, p.objects("datasets", wire.dataset_input_from_json))
    models = p.objects("models", wire.model_input_from_json)
    if models:  # MLflow 3: logged models the run used
        ctx.service.log_model_inputs(run_id, models)
    return {}


def log_model(ctx: ServerContext, p: Params) -> dict[str, Any]:
    """MLflow 2's record of a logged model: appended to the run's model history tag."""
    run_id = p.run_id()
    try:
        model = parse_json(p.string("model_json", required=True), "model_json")
    except BadRequest as exc:  # a parameter's value, not the request, is wrong
        raise InvalidParameterValue(exc.message) from None
    history = json.loads(ctx.service.get_run(run_id).data.tags.get(MLFLOW_LOGGED_MODELS, "[]"))
    history.append(model)
    ctx.service.set_tag(run_id, MLFLOW_LOGGED_MODELS, json.dumps(history))
    return {}


# -- metrics -------------------------------------------------------------------------------
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


def get_metric_history_bulk_interval(ctx: ServerContext, p: Params) -> dict[str, Any]:
    """Points of one metric for several runs between two steps, at most max_results each."""
    run_ids = p.str_list("run_ids")
    if not run_ids:
        raise _missing_with_docs("run_ids")
    if len(run_ids) > BULK_INTERVAL_MAX_RUNS:
        raise InvalidParameterValue(
            "GetMetricHistoryBulkInterval request must specify at most "
            f"{BULK_INTERVAL_MAX_RUNS} run_ids. Received {len(run_ids)} run_ids.{_SEE_DOCS}"
        )
    key = p.string("metric_key", required=True)
    start, end = p.int32("start_step"), p.int32("end_step")
    if (start is None) != (end is None):
        raise InvalidParameterValue(
            "If either start step or end step are specified, both must be specified."
        )
    if start is not None and end is not None and start > end:
        raise InvalidParameterValue(
            "end_step must be greater than start_step. "
            f"Found start_step={start} and end_step={end}."
        )
    # MLflow's server: up to 2,500 points a run, 2,500 when max_results is not given.
    max_results = p.int32("max_results") or BULK_INTERVAL_MAX_RESULTS
    if not 0 < max_results <= BULK_INTERVAL_MAX_RESULTS:
        raise InvalidParameterValue(
            f"max_results must be between 1 and {BULK_INTERVAL_MAX_RESULTS}.{_SEE_DOCS}"
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
def list_artifacts(ctx: ServerContext, p: Params) -> dict[str, Any]:
    run = ctx.service.get_run(p.run_id())
    repo = ctx.repository_for(run.info.artifact_uri)
    files = repo.list_artifacts(request_path(p.string("path")) or None)
    out: dict[str, Any] = {"root_uri": run.info.artifact_uri}
    if files:
        out["files"] = [wire.file_info_to_json(f) for f in files]
    return out


# -- metrics that name a logged model (MLflow 3's log-metric and log-batch) ---------------
def log_model_metric(ctx: ServerContext, p: Params) -> dict[str, Any]:
    """``runs/log-metric`` with a ``model_id``: a run metric linked to the model."""
    metric = wire.model_metric_from_json(
        {
            "key": p.string("key", required=True),
            "value": p._raw("value", True),
            "timestamp": p.int64("timestamp", required=True),
            "step": p.int64("step") or 0,
            "model_id": p.string("model_id", required=True),
            "dataset_name": p.string("dataset_name"),
            "dataset_digest": p.string("dataset_digest"),
        }
    )
    ctx.service.log_model_metrics(p.run_id(), [metric])
    return {}


def log_batch_with_models(
    ctx: ServerContext, p: Params, metrics: list[Mapping[str, Any]]
) -> dict[str, Any]:
    """``runs/log-batch`` where some metrics name a ``model_id``.

    The linked metrics are stored (and linked) in one transaction first, then the rest
    of the batch as usual: a malformed item, a batch over MLflow's limits, a missing
    model or a deleted run fails the request before anything is stored.
    """
    run_id = p.run_id()
    params = p.entries("params", Param)
    tags = _tags(p)
    validate_batch_limits(metrics, params, tags)
    linked, plain = [], []
    for i, item in enumerate(metrics):
        if item.get("model_id"):
            linked.append(wire.model_metric_from_json(item, f"metrics[{i}]"))
        else:
            plain.append(wire.metric_from_json(item, f"metrics[{i}]"))
    ctx.service.log_model_metrics(run_id, linked)
    if plain or params or tags:
        ctx.service.log_batch(run_id, plain, params, tags, limits="mlflow")
    return {}


def _batch_too_large(size: int, limit: int) -> LabtrackError:
    return InvalidParameterValue(
        f"Batched logging API requests must be at most {limit} bytes, got a request of size {size}."
    )


ENDPOINTS: tuple[JsonEndpoint, ...] = (
    JsonEndpoint("/experiments/create", ("POST",), create_experiment),
    JsonEndpoint("/experiments/search", ("GET", "POST"), search_experiments, heavy=True),
    JsonEndpoint("/experiments/get", ("GET",), get_experiment),
    JsonEndpoint("/experiments/get-by-name", ("GET",), get_experiment_by_name),
    JsonEndpoint("/experiments/delete", ("POST",), delete_experiment),
    JsonEndpoint("/experiments/restore", ("POST",), restore_experiment),
    JsonEndpoint("/experiments/update", ("POST",), update_experiment),
    JsonEndpoint("/experiments/set-experiment-tag", ("POST",), set_experiment_tag),
    JsonEndpoint("/experiments/delete-experiment-tag", ("POST",), delete_experiment_tag),
    JsonEndpoint("/runs/create", ("POST",), create_run),
    JsonEndpoint("/runs/update", ("POST",), update_run),
    JsonEndpoint("/runs/delete", ("POST",), delete_run),
    JsonEndpoint("/runs/restore", ("POST",), restore_run),
    JsonEndpoint("/runs/get", ("GET",), get_run),
    JsonEndpoint("/runs/search", ("POST", "GET"), search_runs, heavy=True),
    JsonEndpoint("/runs/log-metric", ("POST",), log_metric),
    JsonEndpoint("/runs/log-parameter", ("POST",), log_param),
    JsonEndpoint("/runs/set-tag", ("POST",), set_tag),
    JsonEndpoint("/runs/delete-tag", ("POST",), delete_tag),
    # MLflow's own body limit for log-batch, with its message.
    JsonEndpoint(
        "/runs/log-batch",
        ("POST",),
        log_batch,
        body_limit=MAX_BATCH_LOG_REQUEST_SIZE,
        too_large=_batch_too_large,
    ),
    JsonEndpoint("/runs/log-inputs", ("POST",), log_inputs),
    JsonEndpoint("/runs/log-model", ("POST",), log_model),
    JsonEndpoint("/metrics/get-history", ("GET",), get_metric_history, heavy=True),
    JsonEndpoint(
        "/metrics/get-history-bulk-interval",
        ("GET",),
        get_metric_history_bulk_interval,
        extra_bases=("/api/2.11/mlflow",),
        heavy=True,
    ),
    JsonEndpoint("/artifacts/list", ("GET",), list_artifacts, heavy=True),
)


def routes(ctx: ServerContext) -> list[Route]:
    """MLflow's tracking endpoints, each under MLflow's base paths."""
    return json_routes(ctx, ENDPOINTS)
