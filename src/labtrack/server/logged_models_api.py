"""MLflow 3's logged model endpoints (``/api/2.0/mlflow/logged-models/...``, ``runs/outputs``).

Registered in :mod:`labtrack.server.mlflow_api`'s handler table, so they are served
under the same base paths with the same error handling. What ``mlflow.<flavor>.log_model``
sends, in order: create the model (PENDING), record it as an output of the run,
link the run's metrics at that step to it (log-batch with ``model_id``), upload the
files to the model's artifact location, finalize it READY (or FAILED).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from labtrack import _protocol as wire
from labtrack.entities import LoggedModelDatasetFilter, LoggedModelOrderBy
from labtrack.errors import InvalidParameterValue
from labtrack.server.mlflow_api import route
from labtrack.validation import validate_batch_limits

if TYPE_CHECKING:
    from labtrack.server._params import Params
    from labtrack.server.app import ServerContext


def _pairs(p: Params, name: str) -> dict[str, Any]:
    """A repeated ``{key, value}`` field as a dict (a repeated key: the last value wins)."""
    items = p.objects(name, lambda d: d)
    out: dict[str, Any] = {}
    for i, item in enumerate(items):
        key = item.get("key")
        if not isinstance(key, str) or not key:
            raise InvalidParameterValue(f"Missing value for required parameter '{name}[{i}].key'")
        value = item.get("value", "")
        if not isinstance(value, str):
            raise InvalidParameterValue(
                f"Invalid value {value!r} for parameter '{name}[{i}].value': expected a string"
            )
        out[key] = value
    return out


def _model(model: Any) -> dict[str, Any]:
    return {"model": wire.logged_model_to_json(model)}


@route("/logged-models", "POST")
def create_logged_model(ctx: ServerContext, p: Params) -> dict[str, Any]:
    model = ctx.service.create_logged_model(
        p.string("experiment_id", required=True),
        p.string("name") or None,
        source_run_id=p.string("source_run_id") or None,
        model_type=p.string("model_type") or None,
        tags=_pairs(p, "tags"),
        params=_pairs(p, "params"),
    )
    return _model(model)


@route("/logged-models/{model_id}", "GET")
def get_logged_model(ctx: ServerContext, p: Params) -> dict[str, Any]:
    model = ctx.service.get_logged_model(
        p.string("model_id", required=True), allow_deleted=p.boolean("allow_deleted")
    )
    return _model(model)


@route("/logged-models/{model_id}", "PATCH")
def finalize_logged_model(ctx: ServerContext, p: Params) -> dict[str, Any]:
    if not p.has("status"):
        raise InvalidParameterValue("Missing value for required parameter 'status'.")
    status = wire.model_status_from_json(p._raw("status", True))
    model = ctx.service.finalize_logged_model(p.string("model_id", required=True), status)
    return _model(model)


@route("/logged-models/{model_id}", "DELETE")
def delete_logged_model(ctx: ServerContext, p: Params) -> dict[str, Any]:
    ctx.service.delete_logged_model(p.string("model_id", required=True))
    return {}


@route("/logged-models/{model_id}/tags", "PATCH")
def set_logged_model_tags(ctx: ServerContext, p: Params) -> dict[str, Any]:
    ctx.service.set_logged_model_tags(p.string("model_id", required=True), _pairs(p, "tags"))
    return {}


@route("/logged-models/{model_id}/tags/{tag_key:path}", "DELETE")
def delete_logged_model_tag(ctx: ServerContext, p: Params) -> dict[str, Any]:
    ctx.service.delete_logged_model_tag(
        p.string("model_id", required=True), p.string("tag_key", required=True)
    )
    return {}


@route("/logged-models/{model_id}/params", "POST")
def log_logged_model_params(ctx: ServerContext, p: Params) -> dict[str, Any]:
    ctx.service.log_logged_model_params(p.string("model_id", required=True), _pairs(p, "params"))
    return {}


@route("/logged-models/search", "POST")
def search_logged_models(ctx: ServerContext, p: Params) -> dict[str, Any]:
    experiment_ids = p.str_list("experiment_ids")
    if not experiment_ids:
        raise InvalidParameterValue("Missing value for required parameter 'experiment_ids'.")
    page = ctx.service.search_logged_models(
        experiment_ids,
        filter_string=p.string("filter") or None,
        datasets=p.objects("datasets", _dataset_filter),
        max_results=p.int32("max_results") or 100,
        order_by=p.objects("order_by", _order_by),
        page_token=p.string("page_token") or None,
    )
    out: dict[str, Any] = {}
    if page:  # protobuf JSON leaves out empty repeated fields, as MLflow's server does
        out["models"] = [wire.logged_model_to_json(m) for m in page]
    if page.token:
        out["next_page_token"] = page.token
    return out


def _dataset_filter(d: Mapping[str, Any]) -> LoggedModelDatasetFilter:
    name, digest = d.get("dataset_name"), d.get("dataset_digest")
    if not isinstance(name, str) or not name:
        raise InvalidParameterValue("`dataset_name` in the `datasets` clause must be specified.")
    if digest is not None and not isinstance(digest, str):
        raise InvalidParameterValue(f"Invalid dataset_digest {digest!r}: expected a string")
    return LoggedModelDatasetFilter(name, digest or None)


def _order_by(d: Mapping[str, Any]) -> LoggedModelOrderBy:
    field, ascending = d.get("field_name"), d.get("ascending", True)
    if not isinstance(field, str) or not field:
        raise InvalidParameterValue("Missing value for required parameter 'order_by.field_name'.")
    if isinstance(ascending, str) and ascending.lower() in ("true", "false"):
        ascending = ascending.lower() == "true"
    if not isinstance(ascending, bool):
        raise InvalidParameterValue(f"Invalid order_by.ascending {ascending!r}: expected a bool")
    name, digest = d.get("dataset_name"), d.get("dataset_digest")
    for what, value in (("dataset_name", name), ("dataset_digest", digest)):
        if value is not None and not isinstance(value, str):
            raise InvalidParameterValue(f"Invalid order_by.{what} {value!r}: expected a string")
    return LoggedModelOrderBy(field, ascending, name or None, digest or None)


@route("/logged-models/{model_id}/artifacts/directories", "GET")
def list_logged_model_artifacts(ctx: ServerContext, p: Params) -> dict[str, Any]:
    """The files of a model directly under ``artifact_directory_path`` (default: the root)."""
    model = ctx.service.get_logged_model(p.string("model_id", required=True))
    repo = ctx.repository_for(model.artifact_location)
    files = repo.list_artifacts(p.string("artifact_directory_path") or None)
    out: dict[str, Any] = {"root_uri": model.artifact_location}
    if files:
        out["files"] = [wire.file_info_to_json(f) for f in files]
    return out


@route("/runs/outputs", "POST")
def log_outputs(ctx: ServerContext, p: Params) -> dict[str, Any]:
    ctx.service.log_outputs(p.run_id(), p.objects("models", wire.model_output_from_json))
    return {}


# -- metrics that name a logged model (called from mlflow_api's log-metric and log-batch) ----
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
    params = p.objects("params", wire.param_from_json)
    tags = p.objects("tags", wire.tag_from_json)
    validate_batch_limits(metrics, params, tags)
    linked, plain = [], []
    for i, item in enumerate(metrics):
        if item.get("model_id"):
            linked.append(wire.model_metric_from_json(item, f"metrics[{i}]"))
        else:
            plain.append(wire.metric_from_json(item, f"metrics[{i}]"))
    ctx.service.log_model_metrics(run_id, linked)
    if plain or params or tags:
        ctx.service.log_batch(run_id, plain, params, tags, mlflow_limits=True)
    return {}
