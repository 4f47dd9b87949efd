"""MLflow's model registry endpoints (``registered-models/...``, ``model-versions/...``)
and labtrack's registry event log (``GET /api/2.0/labtrack/registry/events``).

The MLflow endpoints are served as MLflow's other JSON endpoints are
(``_json_endpoints``): under the same base paths, with the same error handling.
Each change is recorded in the event log with the user the request claims
(``claimed_user``): the ``X-Labtrack-User`` header (percent-encoded; every labtrack
client sends it), else "unknown" (MLflow's clients send no user). Nothing checks the
claim: the server does not authenticate users yet.

Model version sources are checked as MLflow's server checks them, so a version cannot
point a reader at server files or at another run's artifacts: no ``..`` or NUL in the
path; a local path only inside the artifact directory of the run (``run_id``) or
logged model (``model_id``) given with it; a proxied ``mlflow-artifacts:`` location only
inside that run's or model's artifacts; ``runs:/`` and ``models:/m-...`` sources only
naming the run or model given (labtrack also accepts them without the id, which it
then takes from the source).
"""

from __future__ import annotations

import posixpath
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus, urlsplit

from fastapi import Query
from pydantic import BaseModel, Field

from labtrack import _protocol as wire
from labtrack.entities import ModelUri, parse_runs_uri
from labtrack.errors import InvalidParameterValue, ResourceDoesNotExist
from labtrack.server._json_endpoints import JsonEndpoint, json_routes
from labtrack.server._routes import Route
from labtrack.tracking._registry_service import MAX_RESULTS_REGISTRY_EVENTS, validate_version

if TYPE_CHECKING:
    from labtrack.server._context import ServerContext
    from labtrack.server._params import Params

EVENTS_PATH = "/api/2.0/labtrack/registry/events"


def _version(p: Params) -> int:
    """A version number, a string in MLflow's messages (``"3"``; a JSON number is refused
    with MLflow's words, as its server does)."""
    return validate_version(p.string("version", required=True))


def _model(model: Any) -> dict[str, Any]:
    return {"registered_model": wire.registered_model_to_json(model)}


def _model_version(version: Any) -> dict[str, Any]:
    return {"model_version": wire.model_version_to_json(version)}


def _page(name: str, items: list[dict[str, Any]], token: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {name: items} if items else {}  # protobuf JSON leaves out empty lists
    if token:
        out["next_page_token"] = token
    return out


# -- registered models --------------------------------------------------------------------
def create_registered_model(ctx: ServerContext, p: Params) -> dict[str, Any]:
    model = ctx.service.registry.create_registered_model(
        p.string("name", required=True), p.pairs("tags"), p.string("description")
    )
    return _model(model)


def get_registered_model(ctx: ServerContext, p: Params) -> dict[str, Any]:
    return _model(ctx.service.registry.get_registered_model(p.string("name", required=True)))


def rename_registered_model(ctx: ServerContext, p: Params) -> dict[str, Any]:
    model = ctx.service.registry.rename_registered_model(
        p.string("name", required=True), p.string("new_name", required=True)
    )
    return _model(model)


def update_registered_model(ctx: ServerContext, p: Params) -> dict[str, Any]:
    model = ctx.service.registry.update_registered_model(
        p.string("name", required=True), p.string("description")
    )
    return _model(model)


def delete_registered_model(ctx: ServerContext, p: Params) -> dict[str, Any]:
    ctx.service.registry.delete_registered_model(p.string("name", required=True))
    return {}


def search_registered_models(ctx: ServerContext, p: Params) -> dict[str, Any]:
    page = ctx.service.registry.search_registered_models(
        filter_string=p.string("filter"),
        max_results=p.int64("max_results") or 100,
        order_by=p.str_list("order_by"),
        page_token=p.string("page_token"),
    )
    return _page("registered_models", [wire.registered_model_to_json(m) for m in page], page.token)


def get_latest_versions(ctx: ServerContext, p: Params) -> dict[str, Any]:
    versions = ctx.service.registry.get_latest_versions(
        p.string("name", required=True), p.str_list("stages")
    )
    return _page("model_versions", [wire.model_version_to_json(v) for v in versions], None)


def set_registered_model_tag(ctx: ServerContext, p: Params) -> dict[str, Any]:
    ctx.service.registry.set_registered_model_tag(
        p.string("name", required=True), p.string("key", required=True), p.string("value") or ""
    )
    return {}


def delete_registered_model_tag(ctx: ServerContext, p: Params) -> dict[str, Any]:
    ctx.service.registry.delete_registered_model_tag(
        p.string("name", required=True), p.string("key", required=True)
    )
    return {}


# -- aliases ------------------------------------------------------------------------------
def set_registered_model_alias(ctx: ServerContext, p: Params) -> dict[str, Any]:
    ctx.service.registry.set_registered_model_alias(
        p.string("name", required=True), p.string("alias", required=True), _version(p)
    )
    return {}


def delete_registered_model_alias(ctx: ServerContext, p: Params) -> dict[str, Any]:
    ctx.service.registry.delete_registered_model_alias(
        p.string("name", required=True), p.string("alias", required=True)
    )
    return {}


def get_model_version_by_alias(ctx: ServerContext, p: Params) -> dict[str, Any]:
    version = ctx.service.registry.get_model_version_by_alias(
        p.string("name", required=True), p.string("alias", required=True)
    )
    return _model_version(version)


# -- model versions -----------------------------------------------------------------------
def create_model_version(ctx: ServerContext, p: Params) -> dict[str, Any]:
    source = p.string("source", required=True)
    run_id = p.string("run_id") or None
    model_id = p.string("model_id") or None
    check_source(ctx, source, run_id, model_id)
    version = ctx.service.registry.create_model_version(
        p.string("name", required=True),
        source,
        run_id=run_id,
        tags=p.pairs("tags"),
        run_link=p.string("run_link") or None,
        description=p.string("description") or None,
        model_id=model_id,
    )
    return _model_version(version)


def get_model_version(ctx: ServerContext, p: Params) -> dict[str, Any]:
    version = ctx.service.registry.get_model_version(p.string("name", required=True), _version(p))
    return _model_version(version)


def update_model_version(ctx: ServerContext, p: Params) -> dict[str, Any]:
    version = ctx.service.registry.update_model_version(
        p.string("name", required=True), _version(p), p.string("description")
    )
    return _model_version(version)


def transition_model_version_stage(ctx: ServerContext, p: Params) -> dict[str, Any]:
    version = ctx.service.registry.transition_model_version_stage(
        p.string("name", required=True),
        _version(p),
        p.string("stage", required=True),
        archive_existing_versions=p.boolean("archive_existing_versions"),
    )
    return _model_version(version)


def delete_model_version(ctx: ServerContext, p: Params) -> dict[str, Any]:
    ctx.service.registry.delete_model_version(p.string("name", required=True), _version(p))
    return {}


def get_model_version_download_uri(ctx: ServerContext, p: Params) -> dict[str, Any]:
    uri = ctx.service.registry.get_model_version_download_uri(
        p.string("name", required=True), _version(p)
    )
    return {"artifact_uri": uri}


def search_model_versions(ctx: ServerContext, p: Params) -> dict[str, Any]:
    page = ctx.service.registry.search_model_versions(
        filter_string=p.string("filter"),
        max_results=p.int64("max_results") or 10_000,
        order_by=p.str_list("order_by"),
        page_token=p.string("page_token"),
    )
    return _page("model_versions", [wire.model_version_to_json(v) for v in page], page.token)


def set_model_version_tag(ctx: ServerContext, p: Params) -> dict[str, Any]:
    ctx.service.registry.set_model_version_tag(
        p.string("name", required=True),
        _version(p),
        p.string("key", required=True),
        p.string("value") or "",
    )
    return {}


def delete_model_version_tag(ctx: ServerContext, p: Params) -> dict[str, Any]:
    ctx.service.registry.delete_model_version_tag(
        p.string("name", required=True), _version(p), p.string("key", required=True)
    )
    return {}


# -- where a version's files may be -------------------------------------------------------
def _bad_source(source: str, message: str) -> InvalidParameterValue:
    return InvalidParameterValue(f"Invalid model version source: '{source}'. {message}")


def _not_containing(source: str, what: str) -> InvalidParameterValue:
    return _bad_source(
        source, f"The {what} request parameter must identify the resource that contains the source."
    )


def _fully_unquoted(value: str) -> str:
    while (unquoted := unquote_plus(value)) != value:
        value = unquoted
    return value


def _path_parts(uri: str) -> tuple[str, str, tuple[str, ...]]:
    parts = urlsplit(uri)
    segments = tuple(_fully_unquoted(s) for s in parts.path.split("/") if s)
    return parts.scheme.lower(), parts.netloc.lower(), segments


def _within(source: str, root: str) -> bool:
    """Whether ``source`` is ``root`` or inside it (same scheme and host, path prefix)."""
    scheme, host, parts = _path_parts(source)
    root_scheme, root_host, root_parts = _path_parts(root)
    return (
        (scheme, host) == (root_scheme, root_host)
        and bool(root_parts)
        and parts[: len(root_parts)] == root_parts
    )


def _is_local(uri: str) -> bool:
    scheme = urlsplit(uri).scheme.lower()
    return scheme in ("", "file") or bool(re.fullmatch(r"[a-z]", scheme))


def _is_proxied(uri: str) -> bool:
    scheme, _, parts = _path_parts(uri)
    if scheme == "mlflow-artifacts":
        return True
    route_parts = ("api", "2.0", "mlflow-artifacts", "artifacts")
    return scheme in ("http", "https") and any(
        parts[i : i + len(route_parts)] == route_parts for i in range(len(parts))
    )


def _check_relative_references(source: str) -> None:
    unquoted = _fully_unquoted(source)
    path = re.sub(r"/+", "/", urlsplit(unquoted).path.rstrip("/"))
    relative = ".." in unquoted.split("/") or (path and posixpath.normpath(path) != path)
    if "\x00" in unquoted or relative:
        raise _bad_source(
            source,
            "If supplying a source as an http, https, local file path, ftp, objectstore, or "
            "mlflow-artifacts uri, an absolute path must be provided without relative path "
            "references present. Please provide an absolute path.",
        )


def check_source(ctx: ServerContext, source: str, run_id: str | None, model_id: str | None) -> None:
    """Refuse a version source a client could use to reach what it should not (see above).

    The run or logged model given is looked up only for a source that must be inside its
    artifacts (a local path, a proxied location), as MLflow does: a ``runs:/`` source
    naming the run given is accepted though this server does not hold the run (the
    registry and the tracking data may be on different servers).
    """
    what = "model_id" if model_id else "run_id"

    def root() -> str | None:
        if model_id:
            try:
                return ctx.service.get_logged_model(model_id).artifact_location
            except ResourceDoesNotExist:
                raise _not_containing(source, "model_id") from None
        if run_id:
            try:
                return ctx.service.get_run(run_id).info.artifact_uri
            except ResourceDoesNotExist:
                raise _not_containing(source, "run_id") from None
        return None

    if _is_local(source):
        from labtrack.artifacts import local_path_from_uri

        base_uri = root()
        if base_uri is not None and _is_local(base_uri):
            target = posixpath.normpath(str(local_path_from_uri(source)))
            base = posixpath.normpath(str(local_path_from_uri(base_uri)))
            if target == base or target.startswith(base.rstrip("/") + "/"):
                return
        raise _bad_source(
            source,
            f"To use a local path as a model version source, the {what} request parameter has "
            "to be specified and the local path has to be contained within the artifact "
            f"directory of the {'logged model' if model_id else 'run'} specified by the {what}.",
        )
    _check_relative_references(source)
    if source.startswith("runs:"):
        if source.startswith("runs://") or model_id:
            raise _not_containing(source, what)
        source_run, _ = parse_runs_uri(source)
        if run_id and source_run != run_id:
            raise _not_containing(source, "run_id")
    elif source.startswith("models:"):
        source_model = ModelUri.parse(source).model_id
        if source_model is not None and model_id and source_model != model_id:
            raise _not_containing(source, "model_id")
    elif _is_proxied(source):
        base_uri = root()
        if base_uri is None or not _within(source, base_uri):
            raise _not_containing(source, what)


# -- labtrack's event log -----------------------------------------------------------------
class RegistryEventModel(BaseModel):
    event_id: int = Field(description="Increases with every event: the log's order.")
    timestamp: int = Field(description="When, in milliseconds since the epoch.")
    claimed_user: str = Field(
        description="Who the client said made the change (its X-Labtrack-User header; "
        '"unknown" if none): a claim the server does not check, as it does not '
        "authenticate users."
    )
    action: str = Field(description="What happened, e.g. stage_transitioned, alias_moved.")
    name: str = Field(description="The registered model's name at the time.")
    version: int | None = Field(None, description="The version concerned, if any.")
    from_value: str | None = Field(None, description="The value before the change.")
    to_value: str | None = Field(None, description="The value after the change.")
    details: dict[str, Any] = Field(default_factory=dict)


class RegistryEventsResponse(BaseModel):
    events: list[RegistryEventModel]
    next_page_token: str | None = Field(
        None, description="Fetches the next page; none on the last."
    )


_ACTIONS = Query(None, description="Only these actions (repeatable).")


def _events_endpoint(ctx: ServerContext) -> Any:
    """``GET /api/2.0/labtrack/registry/events``, with its models in the OpenAPI document."""

    def registry_events(
        name: str | None = Query(
            None, description="Only this registered model's events (following its renames back)."
        ),
        action: list[str] | None = _ACTIONS,
        start_time: int | None = Query(None, description="From this time (ms, inclusive)."),
        end_time: int | None = Query(None, description="Before this time (ms, exclusive)."),
        max_results: int = Query(1000, ge=1, le=MAX_RESULTS_REGISTRY_EVENTS),
        page_token: str | None = Query(None, description="From a previous page's answer."),
    ) -> Any:
        """The model registry's append-only event log, oldest first: every change to a
        registered model, its versions, stages, aliases, tags and descriptions, with who
        made it and when."""
        page = ctx.service.registry.get_registry_events(
            name, action or (), start_time, end_time, max_results, page_token
        )
        return {
            "events": [wire.registry_event_to_json(e) for e in page],
            "next_page_token": page.token,
        }

    return registry_events


ENDPOINTS: tuple[JsonEndpoint, ...] = (
    JsonEndpoint("/registered-models/create", ("POST",), create_registered_model),
    JsonEndpoint("/registered-models/get", ("GET",), get_registered_model),
    JsonEndpoint("/registered-models/rename", ("POST",), rename_registered_model),
    JsonEndpoint("/registered-models/update", ("PATCH",), update_registered_model),
    JsonEndpoint("/registered-models/delete", ("DELETE",), delete_registered_model),
    JsonEndpoint("/registered-models/search", ("GET",), search_registered_models, heavy=True),
    JsonEndpoint("/registered-models/get-latest-versions", ("GET", "POST"), get_latest_versions),
    JsonEndpoint("/registered-models/set-tag", ("POST",), set_registered_model_tag),
    JsonEndpoint("/registered-models/delete-tag", ("DELETE",), delete_registered_model_tag),
    JsonEndpoint("/registered-models/alias", ("POST",), set_registered_model_alias),
    JsonEndpoint("/registered-models/alias", ("DELETE",), delete_registered_model_alias),
    JsonEndpoint("/registered-models/alias", ("GET",), get_model_version_by_alias),
    JsonEndpoint("/model-versions/create", ("POST",), create_model_version),
    JsonEndpoint("/model-versions/get", ("GET",), get_model_version),
    JsonEndpoint("/model-versions/update", ("PATCH",), update_model_version),
    JsonEndpoint("/model-versions/transition-stage", ("POST",), transition_model_version_stage),
    JsonEndpoint("/model-versions/delete", ("DELETE",), delete_model_version),
    JsonEndpoint("/model-versions/get-download-uri", ("GET",), get_model_version_download_uri),
    JsonEndpoint("/model-versions/search", ("GET",), search_model_versions, heavy=True),
    JsonEndpoint("/model-versions/set-tag", ("POST",), set_model_version_tag),
    JsonEndpoint("/model-versions/delete-tag", ("DELETE",), delete_model_version_tag),
)


def routes(ctx: ServerContext) -> list[Route]:
    """MLflow's registry endpoints (under MLflow's base paths) and the event log."""
    events = Route(
        EVENTS_PATH,
        ("GET",),
        _events_endpoint(ctx),
        openapi=True,
        response_model=RegistryEventsResponse,
        tags=("labtrack",),
    )
    return [*json_routes(ctx, ENDPOINTS), events]
