"""What MLflow's server answers besides its REST API, which its UI and other tools call.

- ``GET /get-artifact?run_id=&path=``: a run's artifact file, as an attachment.
- ``GET /model-versions/get-artifact?name=&version=&path=``: a file of a version's model.
- Under ``/ajax-api/2.0/mlflow`` only (as in MLflow): ``metrics/get-history-bulk`` (the
  whole history of one metric for up to 100 runs), ``experiments/search-datasets`` (the
  datasets an experiment's runs used), ``upload-artifact`` (a file of at most 10 MB into a
  run's artifacts, the request's body) and ``logged-models/{model_id}/artifacts/files``
  (a file of a logged model).

Paths are refused as MLflow refuses them (``Invalid path``); files are served by the same
download response as the artifact proxy (attachment, ranges, ``nosniff``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labtrack import _protocol as wire
from labtrack.errors import BadRequest, InvalidParameterValue
from labtrack.server._artifact_files import offload, request_file_path
from labtrack.server._body import read_body
from labtrack.server._downloads import file_response
from labtrack.server._json_endpoints import JsonEndpoint, json_routes
from labtrack.server._routes import Route

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from labtrack.server._context import ServerContext
    from labtrack.server._params import Params

AJAX = "/ajax-api/2.0/mlflow"
HISTORY_BULK_MAX_RUNS = 100
HISTORY_BULK_MAX_RESULTS = 25_000
SEARCH_DATASETS_MAX_EXPERIMENTS = 20
UPLOAD_MAX_BYTES = 10 * 1024 * 1024


# -- JSON endpoints (the UI's base path only) -----------------------------------------------
def get_metric_history_bulk(ctx: ServerContext, p: Params) -> dict[str, Any]:
    """Every point of ``metric_key`` for each ``run_id`` (repeated), runs in id order and
    each run's points by (timestamp, step, value), at most ``max_results`` in all."""
    run_ids = p.str_list("run_id")
    if not run_ids:
        raise InvalidParameterValue(
            "GetMetricHistoryBulk request must specify at least one run_id."
        )
    if len(run_ids) > HISTORY_BULK_MAX_RUNS:
        raise InvalidParameterValue(
            f"GetMetricHistoryBulk request cannot specify more than {HISTORY_BULK_MAX_RUNS} "
            f"run_ids. Received {len(run_ids)} run_ids."
        )
    key = p.string("metric_key")
    if key is None:
        raise InvalidParameterValue("GetMetricHistoryBulk request must specify a metric_key.")
    limit = min(p.int32("max_results") or HISTORY_BULK_MAX_RESULTS, HISTORY_BULK_MAX_RESULTS)
    out: list[dict[str, Any]] = []
    for run_id in sorted(run_ids):
        points = sorted(
            ctx.service.get_metric_history(run_id, key),
            key=lambda m: (m.timestamp, m.step, m.value),
        )
        out.extend({**wire.metric_to_json(m), "run_id": run_id} for m in points)
        if len(out) >= limit:
            break
    return {"metrics": out[:limit]}


def search_datasets(ctx: ServerContext, p: Params) -> dict[str, Any]:
    """The datasets the experiments' runs used: name, digest and context, at most 1,000."""
    ids = p.str_list("experiment_ids")
    if not ids:
        raise InvalidParameterValue(
            "SearchDatasets request must specify at least one experiment_id."
        )
    if len(ids) > SEARCH_DATASETS_MAX_EXPERIMENTS:
        raise InvalidParameterValue(
            "SearchDatasets request cannot specify more than "
            f"{SEARCH_DATASETS_MAX_EXPERIMENTS} experiment_ids. Received {len(ids)} "
            "experiment_ids."
        )
    summaries = []
    for experiment_id, name, digest, context in ctx.service.search_dataset_summaries(ids):
        summary = {"experiment_id": experiment_id, "name": name, "digest": digest}
        if context is not None:
            summary["context"] = context
        summaries.append(summary)
    return {"dataset_summaries": summaries} if summaries else {}


UI_ENDPOINTS: tuple[JsonEndpoint, ...] = (
    JsonEndpoint("/metrics/get-history-bulk", ("GET",), get_metric_history_bulk, heavy=True),
    JsonEndpoint("/experiments/search-datasets", ("POST",), search_datasets, heavy=True),
)


# -- files --------------------------------------------------------------------------------
async def _send(ctx: ServerContext, request: Request, root: str, raw_path: str | None) -> Response:
    """The file at ``raw_path`` under the artifact location ``root``, as a download."""
    path = request_file_path(raw_path)
    repo = ctx.repository_for(root)
    stream, size = await offload(path, repo.open_sized, path)
    return await file_response(request, stream, size, path)


def _query(request: Request, *names: str) -> str | None:
    """The first of ``names`` the query string gives (MLflow's aliases, like run_uuid)."""
    for name in names:
        value = request.query_params.get(name)
        if value:
            return value
    return None


def _file_routes(ctx: ServerContext) -> list[Route]:
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response

    def required(request: Request, name: str) -> str:
        value = request.query_params.get(name)
        if value is None:
            raise BadRequest(f"Request must include the {name!r} query parameter.")
        return value

    async def run_artifact(request: Request) -> Response:
        path = required(request, "path")
        run_id = _query(request, "run_id", "run_uuid") or ""
        run = await run_in_threadpool(ctx.service.get_run, run_id)
        return await _send(ctx, request, run.info.artifact_uri, path)

    async def model_version_artifact(request: Request) -> Response:
        path = required(request, "path")
        registry = ctx.service.registry
        root = await run_in_threadpool(
            registry.get_model_version_download_uri,
            request.query_params.get("name") or "",
            request.query_params.get("version") or "",
        )
        return await _send(ctx, request, root, path)

    async def logged_model_artifact(request: Request, model_id: str) -> Response:
        path = request.query_params.get("artifact_file_path")
        if not path:
            raise BadRequest('Request must include the "artifact_file_path" query parameter.')
        model = await run_in_threadpool(ctx.service.get_logged_model, model_id)
        return await _send(ctx, request, model.artifact_location, path)

    async def upload_artifact(request: Request) -> Response:
        run_id = request.query_params.get("run_uuid")
        if not run_id:
            raise InvalidParameterValue("Request must specify run_uuid.")
        raw = request.query_params.get("path")
        if not raw:
            raise InvalidParameterValue("Request must specify path.")
        path = request_file_path(raw)
        data = await read_body(request, UPLOAD_MAX_BYTES, too_large=_upload_too_large)
        if not data:
            raise InvalidParameterValue("Request must specify data.")
        run = await run_in_threadpool(ctx.service.get_run, run_id)
        repo = ctx.repository_for(run.info.artifact_uri)
        await offload(path, repo.log_bytes, data, path)
        return JSONResponse({})

    for endpoint in (run_artifact, model_version_artifact, logged_model_artifact):
        endpoint.__annotations__ = {"request": Request, "return": Response}
    upload_artifact.__annotations__ = {"request": Request, "return": Response}
    logged_model_artifact.__annotations__["model_id"] = str
    return [
        Route("/get-artifact", ("GET",), run_artifact),
        Route("/model-versions/get-artifact", ("GET",), model_version_artifact),
        Route(
            f"{AJAX}/logged-models/{{model_id}}/artifacts/files", ("GET",), logged_model_artifact
        ),
        Route(f"{AJAX}/upload-artifact", ("POST",), upload_artifact),
    ]


def _upload_too_large(size: int, limit: int) -> InvalidParameterValue:
    return InvalidParameterValue("Artifact size is too large. Max size is 10MB.")


def routes(ctx: ServerContext) -> list[Route]:
    """The file routes and the UI's JSON endpoints (under ``/ajax-api/2.0/mlflow`` only)."""
    ajax = [r for r in json_routes(ctx, UI_ENDPOINTS) if r.path.startswith(AJAX + "/")]
    return [*ajax, *_file_routes(ctx)]


__all__ = ["routes"]
