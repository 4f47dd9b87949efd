"""MLflow 3's logged model endpoints (``/api/2.0/mlflow/logged-models/...``, ``runs/outputs``).

Served as MLflow's other JSON endpoints are (``_json_endpoints``): under the same base
paths, with the same body reader and error handling. What ``mlflow.<flavor>.log_model``
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
from labtrack.server._artifact_files import request_path
from labtrack.server._json_endpoints import JsonEndpoint, json_routes

if TYPE_CHECKING:
    from labtrack.server._context import ServerContext
    from labtrack.server._params import Params
    from labtrack.server._routes import Route


def _model(model: Any) -> dict[str, Any]:
    return {"model": wire.logged_model_to_json(model)}


def create_logged_model(ctx: ServerContext, p: Params) -> dict[str, Any]:
    model = ctx.service.create_logged_model(
        p.string("experiment_id", required=True),
        p.string("name") or None,
        source_run_id=p.string("source_run_id") or None,
        model_type=p.string("model_type") or None,
        tags=p.pairs("tags"),
        params=p.pairs("params"),
    )
    return _model(model)


def get_logged_model(ctx: ServerContext, p: Params) -> dict[str, Any]:
    model = ctx.service.get_logged_model(
        p.string("model_id", required=True), allow_deleted=p.boolean("allow_deleted")
    )
    return _model(model)


def finalize_logged_model(ctx: ServerContext, p: Params) -> dict[str, Any]:
    if not p.has("status"):
        raise InvalidParameterValue("Missing value for required parameter 'status'.")
    status = wire.model_status_from_json(p._raw("status", True))
    model = ctx.service.finalize_logged_model(p.string("model_id", required=True), status)
    return _model(model)


def delete_logged_model(ctx: ServerContext, p: Params) -> dict[str, Any]:
    ctx.service.delete_logged_model(p.string("model_id", required=True))
    return {}


def set_logged_model_tags(ctx: ServerContext, p: Params) -> dict[str, Any]:
    ctx.service.set_logged_model_tags(p.string("model_id", required=True), p.pairs("tags"))
    return {}


def delete_logged_model_tag(ctx: ServerContext, p: Params) -> dict[str, Any]:
    ctx.service.delete_logged_model_tag(
        p.string("model_id", required=True), p.string("tag_key", required=True)
    )
    return {}


def log_logged_model_params(ctx: ServerContext, p: Params) -> dict[str, Any]:
    ctx.service.log_logged_model_params(p.string("model_id", required=True), p.pairs("params"))
    return {}


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


def _dataset_filter(d: Mapping[str, Any], path: str) -> LoggedModelDatasetFilter:
    name = wire.optional_string(d, "dataset_name", path)
    digest = wire.optional_string(d, "dataset_digest", path)
    if not name:
        raise InvalidParameterValue("`dataset_name` in the `datasets` clause must be specified.")
    return LoggedModelDatasetFilter(name, digest or None)


def _order_by(d: Mapping[str, Any], path: str) -> LoggedModelOrderBy:
    field = wire.optional_string(d, "field_name", path)
    if not field:
        raise InvalidParameterValue(f"Missing value for required parameter '{path}.field_name'.")
    ascending = d.get("ascending", True)
    if not isinstance(ascending, bool):
        raise wire.invalid_type(ascending, f"{path}.ascending")
    name = wire.optional_string(d, "dataset_name", path)
    digest = wire.optional_string(d, "dataset_digest", path)
    return LoggedModelOrderBy(field, ascending, name or None, digest or None)


def list_logged_model_artifacts(ctx: ServerContext, p: Params) -> dict[str, Any]:
    """The files of a model directly under ``artifact_directory_path`` (default: the root)."""
    model = ctx.service.get_logged_model(p.string("model_id", required=True))
    repo = ctx.repository_for(model.artifact_location)
    files = repo.list_artifacts(request_path(p.string("artifact_directory_path")) or None)
    out: dict[str, Any] = {"root_uri": model.artifact_location}
    if files:
        out["files"] = [wire.file_info_to_json(f) for f in files]
    return out


def log_outputs(ctx: ServerContext, p: Params) -> dict[str, Any]:
    ctx.service.log_outputs(p.run_id(), p.objects("models", wire.model_output_from_json))
    return {}


ENDPOINTS: tuple[JsonEndpoint, ...] = (
    JsonEndpoint("/logged-models", ("POST",), create_logged_model),
    JsonEndpoint("/logged-models/{model_id}", ("GET",), get_logged_model),
    JsonEndpoint("/logged-models/{model_id}", ("PATCH",), finalize_logged_model),
    JsonEndpoint("/logged-models/{model_id}", ("DELETE",), delete_logged_model),
    JsonEndpoint("/logged-models/{model_id}/tags", ("PATCH",), set_logged_model_tags),
    JsonEndpoint(
        "/logged-models/{model_id}/tags/{tag_key:path}", ("DELETE",), delete_logged_model_tag
    ),
    JsonEndpoint("/logged-models/{model_id}/params", ("POST",), log_logged_model_params),
    JsonEndpoint("/logged-models/search", ("POST",), search_logged_models, heavy=True),
    JsonEndpoint(
        "/logged-models/{model_id}/artifacts/directories",
        ("GET",),
        list_logged_model_artifacts,
        heavy=True,
    ),
    JsonEndpoint("/runs/outputs", ("POST",), log_outputs),
)


def routes(ctx: ServerContext) -> list[Route]:
    """MLflow 3's logged model endpoints, under MLflow's base paths."""
    return json_routes(ctx, ENDPOINTS)
