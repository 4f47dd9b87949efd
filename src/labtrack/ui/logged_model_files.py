"""A logged model's files: the same browser as a run's artifacts, on the model's own location.

MLflow 3's ``log_model`` writes a model's files (``MLmodel``, ``requirements.txt``,
``conda.yaml``, ``python_env.yaml``, the model itself) to the logged model's artifact
location, not into the run's artifacts, so the run's artifact browser does not show them.
``GET /logged-models/{model_id}/artifacts?path=<dir or file>`` lists or previews them and
``GET /logged-models/{model_id}/artifacts/raw?path=<file>`` sends a file's bytes
(``&download=1`` as a download), with the same sandboxing as a run's artifacts. The run
page's models section and a model version's page link here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from labtrack.entities import LoggedModel
from labtrack.errors import ResourceDoesNotExist
from labtrack.server._routes import Route
from labtrack.ui import _args
from labtrack.ui._render import render
from labtrack.ui.artifacts import FileTree, clean_path, raw_file, tree_listing, tree_preview

if TYPE_CHECKING:
    from labtrack.server._context import ServerContext


def files_url(model_id: str) -> str:
    """The page of a logged model's files."""
    return f"/logged-models/{quote(model_id, safe='')}/artifacts"


def model_tree(ctx: ServerContext, model: LoggedModel) -> FileTree:
    """A logged model's files as a tree (at the model's own artifact location)."""
    repo = ctx.repository_for(model.artifact_location)
    return FileTree(repo, files_url(model.model_id), "files", model.source_run_id or "")


def _owner(ctx: ServerContext, model: LoggedModel) -> dict[str, Any]:
    run = None
    if model.source_run_id:
        try:
            found = ctx.service.get_run(model.source_run_id)
        except ResourceDoesNotExist:
            found = None
        if found is not None:
            run_url = f"/runs/{found.info.run_id}"
            run = {"run_id": found.info.run_id, "name": found.info.run_name, "url": run_url}
    return {
        "model_id": model.model_id,
        "name": model.name,
        "status": model.status,
        "deleted": model.lifecycle_stage != "active",
        "uri": f"models:/{model.model_id}",
        "url": f"{run['url']}#models" if run else None,
        "run": run,
    }


def routes(ctx: ServerContext) -> list[Route]:
    """A logged model's file browser and the raw files it previews."""

    def files(model_id: str, request: Request) -> Response:
        model = ctx.service.get_logged_model(model_id, allow_deleted=True)
        tree = model_tree(ctx, model)
        path = clean_path(_args.text(request, "path"))
        is_dir = path == "" or tree.repo.get_file_info(path).is_dir
        page: dict[str, Any] = {
            "logged_model": _owner(ctx, model),
            "run": None,
            "is_dir": is_dir,
            "listing": tree_listing(tree, path) if is_dir else None,
            "preview": None if is_dir else tree_preview(tree, path),
            "registered_names": [],
        }
        title = f"{path or 'Files'} of model {model.name}"
        return render(request, "artifacts.html", page, title=title)

    def raw(model_id: str, request: Request) -> Response:
        model = ctx.service.get_logged_model(model_id, allow_deleted=True)
        return raw_file(model_tree(ctx, model).repo, request)

    return [
        Route("/logged-models/{model_id}/artifacts", ("GET",), files, heavy=True),
        Route("/logged-models/{model_id}/artifacts/raw", ("GET",), raw),
    ]
