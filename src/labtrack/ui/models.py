"""The model registry pages.

``GET /models`` (``?q=<name contains>&page=N``): registered models with their newest
version per stage and their aliases. ``GET /models/{name}``: a model's versions (stage,
aliases, source run, description), tags, description and its event history.
``GET /models/{name}/versions/{version}``: one version with its lineage back to the run.

Write actions: ``POST /models/{name}/aliases`` (set an alias), ``/aliases/delete``,
``/models/{name}/versions/{version}/stage`` (transition), ``/models/{name}/description``
and ``/models/{name}/versions/{version}/description``. Registering a version is done from
the run that produced the model (see ``run_models``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from labtrack.entities import ModelVersion, ModelVersionStage, RegisteredModel
from labtrack.errors import ResourceDoesNotExist
from labtrack.search import Comparison, to_filter_string
from labtrack.server._routes import Route
from labtrack.store._paging import offset_token
from labtrack.ui import _args
from labtrack.ui._actions import field, perform
from labtrack.ui._render import render, url

if TYPE_CHECKING:
    from labtrack.server._context import ServerContext

PAGE_SIZE = 50
EVENTS_SHOWN = 200
VERSIONS_SHOWN = 500


def model_url(name: str) -> str:
    return f"/models/{quote(name, safe='')}"


def version_url(name: str, version: int) -> str:
    return f"{model_url(name)}/versions/{version}"


def _version(v: ModelVersion) -> dict[str, Any]:
    return {
        "name": v.name,
        "version": v.version,
        "stage": v.current_stage,
        "aliases": list(v.aliases),
        "created": v.creation_timestamp,
        "updated": v.last_updated_timestamp,
        "source": v.source,
        "run_id": v.run_id,
        "run_url": f"/runs/{v.run_id}" if v.run_id else None,
        "model_id": v.model_id,
        "status": v.status,
        "description": v.description or "",
        "claimed_user": v.user_id or "",  # from the client, as the events' users
        "tags": dict(v.tags),
        "uri": v.model_uri,
        "url": version_url(v.name, v.version),
    }


def _model(m: RegisteredModel) -> dict[str, Any]:
    return {
        "name": m.name,
        "created": m.creation_timestamp,
        "updated": m.last_updated_timestamp,
        "description": m.description or "",
        "claimed_user": m.user_id or "",
        "latest_versions": [_version(v) for v in m.latest_versions],
        "tags": dict(m.tags),
        "aliases": dict(sorted(m.aliases.items())),
        "url": model_url(m.name),
    }


def models_model(ctx: ServerContext, request: Request) -> dict[str, Any]:
    q = _args.text(request, "q")
    page = _args.integer(request, "page", 1, 1, 1_000_000)
    offset = (page - 1) * PAGE_SIZE
    filter_string = None
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        filter_string = to_filter_string(Comparison("attribute", "name", "ILIKE", pattern))
    found = ctx.service.registry.search_registered_models(
        filter_string, PAGE_SIZE, ["name ASC"], offset_token(offset)
    )
    return {
        "q": q,
        "page": page,
        "models": [_model(m) for m in found],
        "prev_url": url("/models", q=q, page=page - 1) if page > 1 else None,
        "next_url": url("/models", q=q, page=page + 1) if found.token else None,
    }


def model_page(ctx: ServerContext, name: str) -> dict[str, Any]:
    found = ctx.service.registry.get_registered_model(name)
    versions = ctx.service.registry.search_model_versions(
        to_filter_string(Comparison("attribute", "name", "=", name)),
        VERSIONS_SHOWN,
        ["version_number DESC"],
    )
    events = ctx.service.registry.get_registry_events(name=name, max_results=EVENTS_SHOWN)
    return {
        "model": _model(found),
        "versions": [_version(v) for v in versions],
        "events": [
            {
                "event_id": e.event_id,
                "timestamp": e.timestamp,
                "claimed_user": e.claimed_user,
                "action": e.action,
                "version": e.version,
                "from": e.from_value,
                "to": e.to_value,
                "details": e.details,
            }
            for e in sorted(events, key=lambda e: e.event_id, reverse=True)
        ],
        "stages": list(ModelVersionStage.ALL),
    }


def version_page(ctx: ServerContext, name: str, version: str) -> dict[str, Any]:
    v = ctx.service.registry.get_model_version(name, version)
    run = None
    artifact_uri = None
    if v.run_id:
        try:
            found = ctx.service.get_run(v.run_id)
        except ResourceDoesNotExist:
            found = None
        if found is not None:
            artifact_uri = found.info.artifact_uri.rstrip("/")
            run = {
                "run_id": found.info.run_id,
                "name": found.info.run_name,
                "status": found.info.status,
                "experiment_id": found.info.experiment_id,
                "url": f"/runs/{found.info.run_id}",
                "params": dict(sorted(found.data.params.items())),
                "metrics": dict(sorted(found.data.metrics.items())),
                "datasets": [d.dataset.name for d in found.inputs.dataset_inputs],
            }
    logged = None
    if v.model_id:
        try:
            found_model = ctx.service.get_logged_model(v.model_id, allow_deleted=True)
        except ResourceDoesNotExist:
            found_model = None
        if found_model is not None:
            logged = {
                "model_id": found_model.model_id,
                "name": found_model.name,
                "status": found_model.status,
                "model_type": found_model.model_type or "",
                "url": f"/runs/{found_model.source_run_id}#models"
                if found_model.source_run_id
                else None,
            }
    return {
        "model": {"name": name, "url": model_url(name)},
        "version": _version(v),
        "files_url": _files_url(v, logged is not None, artifact_uri),
        "run": run,
        "logged_model": logged,
        "stages": list(ModelVersionStage.ALL),
    }


def _files_url(v: ModelVersion, has_logged_model: bool, artifact_uri: str | None) -> str | None:
    """Where the version's files can be browsed: its logged model's files, else the
    directory of its run's artifacts that its source names (``runs:/<run>/<path>``, or the
    run's artifact location and a path)."""
    from labtrack.ui._render import url
    from labtrack.ui.logged_model_files import files_url

    if v.model_id and has_logged_model:
        return files_url(v.model_id)
    if artifact_uri is None:
        return None
    for prefix in (f"runs:/{v.run_id}", artifact_uri):
        if v.source == prefix or v.source.startswith(f"{prefix}/"):
            path = v.source[len(prefix) :].strip("/")
            where = f"/runs/{v.run_id}/artifacts"
            return url(where, path=path) if path else where
    return None


def routes(ctx: ServerContext) -> list[Route]:
    """The registry's pages (models, a model, a version) and their write actions."""

    def models(request: Request) -> Response:
        return render(request, "models.html", models_model(ctx, request), title="Models")

    def model(name: str, request: Request) -> Response:
        return render(request, "model.html", model_page(ctx, name), title=f"Model {name}")

    def version(name: str, version: str, request: Request) -> Response:
        return render(
            request,
            "model_version.html",
            version_page(ctx, name, version),
            title=f"{name} version {version}",
        )

    async def set_alias(name: str, request: Request) -> Response:
        def action(form: dict[str, Any]) -> tuple[str, str]:
            alias, version = field(form, "alias"), field(form, "version")
            ctx.service.registry.set_registered_model_alias(name, alias, version)
            return model_url(name), f"Alias @{alias} now points to version {version}"

        return await perform(request, action, model_url(name))

    async def delete_alias(name: str, request: Request) -> Response:
        def action(form: dict[str, Any]) -> tuple[str, str]:
            alias = field(form, "alias")
            ctx.service.registry.delete_registered_model_alias(name, alias)
            return model_url(name), f"Removed alias @{alias}"

        return await perform(request, action, model_url(name))

    async def transition(name: str, version: str, request: Request) -> Response:
        def action(form: dict[str, Any]) -> tuple[str, str]:
            stage = field(form, "stage")
            archive = form.get("archive_existing") == "1"
            ctx.service.registry.transition_model_version_stage(name, version, stage, archive)
            return model_url(name), f"Version {version} is now in stage {stage}"

        return await perform(request, action, model_url(name))

    async def set_model_tag(name: str, request: Request) -> Response:
        def action(form: dict[str, Any]) -> tuple[str, str]:
            key = field(form, "key")
            ctx.service.registry.set_registered_model_tag(
                name, key, field(form, "value", required=False)
            )
            return model_url(name) + "#tags", f"Set tag {key!r}"

        return await perform(request, action, model_url(name))

    async def delete_model_tag(name: str, request: Request) -> Response:
        def action(form: dict[str, Any]) -> tuple[str, str]:
            key = field(form, "key")
            ctx.service.registry.delete_registered_model_tag(name, key)
            return model_url(name) + "#tags", f"Deleted tag {key!r}"

        return await perform(request, action, model_url(name))

    async def set_version_tag(name: str, version: str, request: Request) -> Response:
        def action(form: dict[str, Any]) -> tuple[str, str]:
            key, value = field(form, "key"), field(form, "value", required=False)
            ctx.service.registry.set_model_version_tag(name, version, key, value)
            return version_url(name, int(version)) + "#tags", f"Set tag {key!r}"

        return await perform(request, action, model_url(name))

    async def delete_version_tag(name: str, version: str, request: Request) -> Response:
        def action(form: dict[str, Any]) -> tuple[str, str]:
            key = field(form, "key")
            ctx.service.registry.delete_model_version_tag(name, version, key)
            return version_url(name, int(version)) + "#tags", f"Deleted tag {key!r}"

        return await perform(request, action, model_url(name))

    async def describe_model(name: str, request: Request) -> Response:
        def action(form: dict[str, Any]) -> tuple[str, str]:
            text = field(form, "description", required=False)
            ctx.service.registry.update_registered_model(name, text)
            return model_url(name), "Saved the description"

        return await perform(request, action, model_url(name))

    async def describe_version(name: str, version: str, request: Request) -> Response:
        def action(form: dict[str, Any]) -> tuple[str, str]:
            text = field(form, "description", required=False)
            ctx.service.registry.update_model_version(name, version, text)
            return version_url(name, int(version)), "Saved the description"

        return await perform(request, action, model_url(name))

    return [
        Route("/models", ("GET",), models),
        Route("/models/{name}", ("GET",), model),
        Route("/models/{name}/versions/{version}", ("GET",), version),
        Route("/models/{name}/aliases", ("POST",), set_alias),
        Route("/models/{name}/aliases/delete", ("POST",), delete_alias),
        Route("/models/{name}/versions/{version}/stage", ("POST",), transition),
        Route("/models/{name}/tags", ("POST",), set_model_tag),
        Route("/models/{name}/tags/delete", ("POST",), delete_model_tag),
        Route("/models/{name}/versions/{version}/tags", ("POST",), set_version_tag),
        Route("/models/{name}/versions/{version}/tags/delete", ("POST",), delete_version_tag),
        Route("/models/{name}/description", ("POST",), describe_model),
        Route("/models/{name}/versions/{version}/description", ("POST",), describe_version),
    ]
