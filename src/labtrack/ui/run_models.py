"""The models a run produced, on its page: what each one is, and a form to register it.

Two kinds. MLflow 3's *logged models*: ``log_model`` creates one with its files at its
own artifact location and records it as an output of the run. And, as MLflow 2 saved
them, model directories in the run's artifacts (a directory with an ``MLmodel`` file).

``POST /runs/{run_id}/register`` registers either as the next version of a registered
model (created if needed): ``model_id=<m-...>`` for a logged model, ``path=<directory>``
for a directory of the run's artifacts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from labtrack.entities import ModelVersion, Run
from labtrack.errors import (
    InvalidParameterValue,
    LabtrackError,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
)
from labtrack.search import Comparison, to_filter_string
from labtrack.server._routes import Route
from labtrack.ui._actions import field, perform
from labtrack.ui._render import url
from labtrack.ui.artifacts import model_summary
from labtrack.ui.logged_model_files import files_url
from labtrack.ui.models import version_url

if TYPE_CHECKING:
    from labtrack.server._context import ServerContext

MAX_SHOWN = 20
NAMES_OFFERED = 200
# Where MLflow lists the registered versions of a logged model (a JSON list of
# {"name", "version"}); registering from the page keeps it up to date, as MLflow does.


def run_models(ctx: ServerContext, run: Run, listing: dict[str, Any]) -> list[dict[str, Any]]:
    """The run's logged models, then the models in ``listing`` (its artifact root)."""
    found = [
        logged_model(ctx, run, output.model_id, output.step)
        for output in run.outputs.model_outputs[:MAX_SHOWN]
    ]
    in_artifacts = []
    if listing.get("model"):
        in_artifacts.append(listing["model"])
    if listing.get("model_dirs"):
        repo = ctx.repository_for(run.info.artifact_uri)
        for path in listing["model_dirs"][: MAX_SHOWN - len(found)]:
            in_artifacts.append(model_summary(repo, path, run.info.run_id))
    for item in in_artifacts:
        where = f"/runs/{run.info.run_id}/artifacts"
        found.append(
            {**item, "files_url": url(where, path=item["path"]) if item["path"] else where}
        )
    versions = registered_versions(ctx, run.info.run_id)
    for item in found:
        item["versions"] = [
            v for v in versions if _same_model(v, item, run.info.artifact_uri.rstrip("/"))
        ]
    return found


def logged_model(ctx: ServerContext, run: Run, model_id: str, step: int) -> dict[str, Any]:
    """A logged model's summary: its entity and what its MLmodel file says."""
    base: dict[str, Any] = {
        "kind": "logged",
        "deleted": False,
        "model_id": model_id,
        "step": step,
        "path": "",
        "form_id": f"register-{model_id}",
        "source_uri": f"models:/{model_id}",
        "model_type": "",
        "files_url": files_url(model_id),
    }
    try:
        logged = ctx.service.get_logged_model(model_id, allow_deleted=True)
    except ResourceDoesNotExist:
        return {**base, "name": model_id, "status": "", "error": "This model no longer exists"}
    base.update(
        name=logged.name,
        status=logged.status,
        deleted=logged.lifecycle_stage != "active",
        model_type=logged.model_type or "",
    )
    try:
        repo = ctx.repository_for(logged.artifact_location)
    except LabtrackError as exc:
        return {**base, "error": f"Cannot read the model's files: {exc.message}"}
    summary = model_summary(repo, "", run.info.run_id)
    return {**summary, **base, "error": summary["error"]}


def registered_versions(ctx: ServerContext, run_id: str) -> list[dict[str, Any]]:
    """Versions registered from this run (newest first)."""
    found = ctx.service.registry.search_model_versions(
        to_filter_string(Comparison("attribute", "run_id", "=", run_id)), 100, None
    )
    return [
        {
            "name": v.name,
            "version": v.version,
            "model_id": v.model_id,
            "source": v.source,
            "stage": v.current_stage,
            "aliases": list(v.aliases),
            "url": version_url(v.name, v.version),
        }
        for v in sorted(found, key=lambda v: v.creation_timestamp, reverse=True)
    ]


def _same_model(version: dict[str, Any], model: dict[str, Any], location: str) -> bool:
    if model["kind"] == "logged":
        return bool(version["model_id"] == model["model_id"])
    source = f"{location}/{model['path']}" if model["path"] else location
    return bool(version["source"].rstrip("/") == source and not version["model_id"])


def registered_names(ctx: ServerContext) -> list[str]:
    """Names of registered models, offered when registering a new version."""
    found = ctx.service.registry.search_registered_models(None, NAMES_OFFERED, ["name ASC"])
    return [m.name for m in found]


def _ensure_registered_model(ctx: ServerContext, name: str) -> None:
    try:
        ctx.service.registry.create_registered_model(name)
    except ResourceAlreadyExists:
        pass


def register_directory(ctx: ServerContext, run_id: str, path: str, name: str) -> ModelVersion:
    """Register the model saved at ``path`` of a run's artifacts as a new version of ``name``."""
    run = ctx.service.get_run(run_id)
    repo = ctx.repository_for(run.info.artifact_uri)
    mlmodel = f"{path}/MLmodel" if path else "MLmodel"
    try:
        repo.get_file_info(mlmodel)
    except ResourceDoesNotExist:
        raise InvalidParameterValue(
            f"No model at {path or 'the artifact root'}: no MLmodel file"
        ) from None
    _ensure_registered_model(ctx, name)
    location = run.info.artifact_uri.rstrip("/")
    source = f"{location}/{path}" if path else location
    return ctx.service.registry.create_model_version(name, source, run_id=run_id)


def register_logged_model(
    ctx: ServerContext, run_id: str, model_id: str, name: str
) -> ModelVersion:
    """Register a logged model the run produced as a new version of ``name``."""
    run = ctx.service.get_run(run_id)
    logged = ctx.service.get_logged_model(model_id)
    produced = {o.model_id for o in run.outputs.model_outputs}
    if model_id not in produced and logged.source_run_id != run_id:
        raise InvalidParameterValue(f"Run {run_id} did not produce the model {model_id}")
    _ensure_registered_model(ctx, name)
    # The registry service lists the new version on the logged model (mlflow.modelVersions).
    return ctx.service.registry.create_model_version(
        name, f"models:/{model_id}", run_id=logged.source_run_id or run_id, model_id=model_id
    )


def routes(ctx: ServerContext) -> list[Route]:
    """Registering a run's model from its page."""

    async def register(run_id: str, request: Request) -> Response:
        def action(form: dict[str, Any]) -> tuple[str, str]:
            name = field(form, "model_name")
            model_id = field(form, "model_id", required=False)
            if model_id:
                created = register_logged_model(ctx, run_id, model_id, name)
            else:
                created = register_directory(ctx, run_id, field(form, "path", required=False), name)
            return (
                version_url(name, created.version),
                f"Registered version {created.version} of {name!r}",
            )

        return await perform(request, action, f"/runs/{run_id}#models")

    return [
        Route("/runs/{run_id}/register", ("POST",), register),
    ]
