"""MLflow's proxied-artifact API (``/api/2.0/mlflow-artifacts/...``) over the artifact destination.

A run created through the server has the artifact URI ``mlflow-artifacts:/<exp>/<run>/artifacts``;
MLflow's client turns that into calls such as
``PUT /api/2.0/mlflow-artifacts/artifacts/<exp>/<run>/artifacts/model/MLmodel``. Every path in
this API is relative to the server's artifact destination (``ServerContext.artifacts_destination``,
a ``file://`` or ``s3://`` URI), served by one repository rooted there. Endpoints (each also under
``/ajax-api/2.0/mlflow-artifacts``), with MLflow's request and response shapes:

``GET artifacts/<path>``
    The file's bytes, streamed, with a ``Content-Length``; single ``Range`` requests are honoured
    when the stored file is seekable (local files). Served as an attachment with
    ``X-Content-Type-Options: nosniff`` and ``Content-Security-Policy: sandbox``, so a user's
    HTML or SVG never runs scripts on the server's origin.
``PUT artifacts/<path>``
    Stores the request body (streamed to disk, never held in memory) -> ``{}``. The file appears
    at its path only once complete: an interrupted upload leaves nothing behind.
``GET artifacts?path=<dir>``
    One level of ``<dir>``: ``{"files": [{"path": <name>, "is_dir": ..., "file_size": ...}]}``
    with each ``path`` relative to the listed directory (a bare name, as MLflow's server sends
    and its client expects); ``{}`` when empty or missing.
``DELETE artifacts/<path>``
    Deletes the file or directory tree -> ``{}`` (nothing there is not an error).
``POST mpu/create/<dir>``, ``POST mpu/complete/<dir>``, ``POST mpu/abort/<dir>``
    Multipart upload as MLflow's client drives it (``MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD``): the
    URL names the artifact *directory* and the body's ``path`` the client's local file, whose
    base name is the artifact's name. ``create`` answers ``{"upload_id", "credentials": [{"url",
    "part_number"}]}``; the client ``PUT``s part *i* to credential *i*'s ``url`` and reads the
    response's ``ETag``; ``complete`` gets ``{"path", "upload_id", "parts": [{"part_number",
    "etag", "url"}]}``; ``abort`` gets ``{"path", "upload_id"}``. Both answer ``{}``.
``PUT mpu/part/<upload_id>/<part_number>``
    labtrack's own part URL, handed out as the credentials' ``url`` for a local destination.
``GET presigned/<path>``
    ``{"url", "headers", "file_size"}``: a URL to fetch the file from directly (object stores
    only; a local destination answers MLflow's 501 NOT_IMPLEMENTED, on which the client falls
    back to an ordinary download through this server).

Multipart uploads to a local destination are staged inside the destination, in the hidden
directory ``.labtrack-tmp-server/mpu-<upload_id>/`` (hidden because listings skip names starting
with ``.labtrack-tmp-``; shared by every worker and host serving the same destination). Each part
is written to a temp file and renamed to ``part-<n>-<md5>``, the md5 being the part's ETag;
``complete`` checks that exactly parts 1..N were uploaded with the ETags the client names,
concatenates them into a temp file beside the target and renames it into place (the file appears
whole or not at all), then removes the staging directory; ``abort`` removes it. Uploads abandoned
for two days are swept. Object-store destinations use the repository's native multipart upload
when it offers one (``multipart_upload_create`` / ``_complete`` / ``_abort``), else answer MLflow's
"not supported" error, on which the client falls back to a single ``PUT`` through this server.

Security: every path passes :func:`~labtrack.artifacts.normalize_artifact_path` (no ``..``, no
absolute paths, no backslashes or NUL, not even after repeated percent-decoding), and no segment
may start with ``.labtrack-tmp-`` (in-progress writes and the staging area); the repository then
confines the resolved path to the destination (symlinks pointing outside are refused). Errors are
MLflow's JSON (400 INVALID_PARAMETER_VALUE for a refused path), never a 500.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import tempfile
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from labtrack import _protocol as wire
from labtrack.artifacts import get_artifact_repository
from labtrack.artifacts._atomic import TEMP_PREFIX
from labtrack.artifacts._paths import _shown
from labtrack.artifacts.base import ArtifactRepository
from labtrack.artifacts.local import LocalArtifactRepository
from labtrack.entities import FileInfo
from labtrack.errors import InvalidParameterValue, LabtrackError, NotImplementedYet
from labtrack.server._artifact_files import (
    offload,
    receive_body,
    request_file_path,
    request_path,
    stat_or_none,
    unlink_quietly,
)
from labtrack.server._body import read_json
from labtrack.server._downloads import file_response
from labtrack.server._multipart import (
    MAX_PARTS,
    LocalStaging,
    base_name,
    int_field,
    parts_field,
    str_field,
)
from labtrack.server._routes import Route

if TYPE_CHECKING:
    from labtrack.server._context import ServerContext

__all__ = ["BASE_PATHS", "routes", "server_info_fields"]

BASE_PATHS = ("/api/2.0/mlflow-artifacts", "/ajax-api/2.0/mlflow-artifacts")
#: Lifetime of presigned download URLs (MLflow's MLFLOW_PRESIGNED_DOWNLOAD_URL_TTL_SECONDS default).
PRESIGNED_URL_SECONDS = 300

# MLflow's exact messages: its client recognises the first and falls back to a plain upload.
MULTIPART_UPLOAD_UNSUPPORTED = (
    "Multipart upload is not supported for the current artifact repository"
)
MULTIPART_DOWNLOAD_UNSUPPORTED = (
    "Multipart download is not supported for the current artifact repository"
)


# -- the endpoints ----------------------------------------------------------------------------
class _ArtifactsApi:
    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self._repo: ArtifactRepository | None = None
        self._staging: LocalStaging | None = None
        self._lock = threading.Lock()

    def repository(self) -> ArtifactRepository:
        """The repository rooted at the destination, built once per process."""
        if self._repo is None:
            with self._lock:
                if self._repo is None:
                    repo = get_artifact_repository(self.ctx.artifacts_destination)
                    if isinstance(repo, LocalArtifactRepository):
                        self._staging = LocalStaging(repo)
                    self._repo = repo
        return self._repo

    async def repo(self) -> tuple[ArtifactRepository, LocalStaging | None]:
        repo = self._repo if self._repo is not None else await run_in_threadpool(self.repository)
        return repo, self._staging

    # -- artifacts

    async def download(self, request: Request, artifact_path: str) -> Response:
        path = request_file_path(artifact_path)
        repo, _ = await self.repo()
        stream, size = await offload(path, repo.open_sized, path)
        return await file_response(request, stream, size, path)

    async def upload(self, request: Request, artifact_path: str) -> Response:
        path = request_file_path(artifact_path)
        repo, staging = await self.repo()
        info = await offload(path, stat_or_none, repo, path)
        if info is not None and info.is_dir:
            raise InvalidParameterValue(
                f"Cannot upload to {_shown(path)}: a directory of that name exists"
            )
        if staging is not None:
            temp, out = await offload(path, staging.new_upload_file)
            try:
                with out:
                    await receive_body(request, out, path)
                await offload(path, staging.commit, temp, path)
            finally:
                await run_in_threadpool(unlink_quietly, temp)
        else:
            directory = await run_in_threadpool(tempfile.mkdtemp, None, "labtrack-upload-")
            try:
                local = os.path.join(directory, posixpath.basename(path))
                with open(local, "wb") as out:
                    await receive_body(request, out, path)
                parent = posixpath.dirname(path) or None
                await offload(path, repo.log_artifact, local, parent)
            finally:
                await run_in_threadpool(shutil.rmtree, directory, True)
        return JSONResponse({})

    async def list(self, request: Request) -> Response:
        path = request_path(request.query_params.get("path"))
        repo, _ = await self.repo()
        infos = await offload(path, repo.list_artifacts, path or None)
        files = [
            wire.file_info_to_json(
                FileInfo(posixpath.basename(f.path), f.is_dir, None if f.is_dir else f.file_size)
            )
            for f in infos
            if not posixpath.basename(f.path).startswith(TEMP_PREFIX)
        ]
        return JSONResponse({"files": files} if files else {})

    async def delete(self, request: Request, artifact_path: str) -> Response:
        path = request_path(artifact_path)
        if path == "":
            raise InvalidParameterValue(
                "Refusing to delete the whole artifact destination: name a file or directory"
            )
        repo, _ = await self.repo()
        await offload(path, repo.delete_artifacts, path)
        return JSONResponse({})

    async def presigned(self, request: Request, artifact_path: str) -> Response:
        path = request_file_path(artifact_path)
        repo, _ = await self.repo()
        sign = getattr(repo, "presigned_download_url", None)
        if sign is None:
            raise NotImplementedYet(MULTIPART_DOWNLOAD_UNSUPPORTED)
        info = await offload(path, repo.get_file_info, path)
        if info.is_dir:
            raise InvalidParameterValue(f"Artifact {_shown(path)} is a directory, not a file")
        url = await offload(path, sign, path, PRESIGNED_URL_SECONDS)
        return JSONResponse({"url": url, "headers": {}, "file_size": info.file_size})

    # -- multipart uploads

    async def _mpu_request(
        self, request: Request, artifact_path: str
    ) -> tuple[str, dict[str, Any]]:
        """The artifact a multipart request is about, and the request's fields.

        The URL names the directory; the artifact's name is the base name of the client's
        local file, sent as ``path``.
        """
        directory = request_path(artifact_path)
        data = await read_json(request, self.ctx.config.max_body_bytes)
        name = base_name(str_field(data, "path"))
        return request_path(posixpath.join(directory, name) if directory else name), data

    async def mpu_create(self, request: Request, artifact_path: str) -> Response:
        path, data = await self._mpu_request(request, artifact_path)
        num_parts = int_field(data, "num_parts", 0, MAX_PARTS) or 0
        repo, staging = await self.repo()
        if staging is not None:
            upload_id = await offload(path, staging.create, path, num_parts)
            base = str(request.base_url).rstrip("/") + BASE_PATHS[0]
            urls = [f"{base}/mpu/part/{upload_id}/{n}" for n in range(1, num_parts + 1)]
        else:
            create = getattr(repo, "multipart_upload_create", None)
            if create is None:
                raise NotImplementedYet(MULTIPART_UPLOAD_UNSUPPORTED)
            upload_id, urls = await offload(path, create, path, num_parts)
        credentials = [{"url": url, "part_number": n} for n, url in enumerate(urls, start=1)]
        return JSONResponse({"upload_id": upload_id, "credentials": credentials})

    async def mpu_part(self, request: Request, upload_id: str, part_number: str) -> Response:
        staging = (await self.repo())[1]
        if staging is None:
            raise NotImplementedYet(
                "Multipart upload parts go to the object store's own URLs for this server"
            )
        if not (part_number.isascii() and part_number.isdigit()):
            raise InvalidParameterValue(f"Invalid part number {_shown(part_number)}")
        number = int(part_number)
        what = f"part {number} of upload {upload_id}"
        temp, out = await offload(what, staging.new_part_file, upload_id, number)
        try:
            digest = hashlib.md5(usedforsecurity=False)
            with out:
                await receive_body(request, out, what, digest)
            etag = digest.hexdigest()
            await offload(what, staging.commit_part, upload_id, number, temp, etag)
        finally:
            await run_in_threadpool(unlink_quietly, temp)
        return Response(status_code=200, headers={"ETag": f'"{etag}"'})

    async def mpu_complete(self, request: Request, artifact_path: str) -> Response:
        path, data = await self._mpu_request(request, artifact_path)
        upload_id = str_field(data, "upload_id")
        parts = parts_field(data)
        repo, staging = await self.repo()
        if staging is not None:
            await offload(path, staging.complete, path, upload_id, parts)
        else:
            complete = getattr(repo, "multipart_upload_complete", None)
            if complete is None:
                raise NotImplementedYet(MULTIPART_UPLOAD_UNSUPPORTED)
            pairs = [(p.number, p.etag) for p in parts]
            await offload(path, complete, path, upload_id, pairs)
        return JSONResponse({})

    async def mpu_abort(self, request: Request, artifact_path: str) -> Response:
        path, data = await self._mpu_request(request, artifact_path)
        upload_id = str_field(data, "upload_id")
        repo, staging = await self.repo()
        if staging is not None:
            await offload(path, staging.abort, path, upload_id)
        else:
            abort = getattr(repo, "multipart_upload_abort", None)
            if abort is None:
                raise NotImplementedYet(MULTIPART_UPLOAD_UNSUPPORTED)
            await offload(path, abort, path, upload_id)
        return JSONResponse({})


def server_info_fields(ctx: ServerContext) -> dict[str, bool]:
    """The artifact capabilities MLflow's ``/api/3.0/mlflow/server-info`` advertises.

    A client that has not set ``MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD`` uses multipart uploads
    (and presigned downloads) only when the server advertises them. They are advertised for
    object stores whose repository supports them, never for a local destination: there the
    part URLs point back at this server, which a reverse proxy with a path prefix can break,
    so local multipart stays opt-in on the client side.
    """
    try:
        repo = get_artifact_repository(ctx.artifacts_destination)
    except LabtrackError:
        return {"multipart_uploads_enabled": False, "multipart_downloads_enabled": False}
    local = isinstance(repo, LocalArtifactRepository)
    return {
        "multipart_uploads_enabled": not local and hasattr(repo, "multipart_upload_create"),
        "multipart_downloads_enabled": not local and hasattr(repo, "presigned_download_url"),
    }


def routes(ctx: ServerContext) -> list[Route]:
    """The proxied-artifact endpoints, under both of MLflow's base paths."""
    api = _ArtifactsApi(ctx)
    endpoints: list[tuple[str, str, Callable[..., Any]]] = [
        ("/artifacts", "GET", api.list),
        ("/artifacts/{artifact_path:path}", "GET", api.download),
        ("/artifacts/{artifact_path:path}", "PUT", api.upload),
        ("/artifacts/{artifact_path:path}", "DELETE", api.delete),
        ("/mpu/create/{artifact_path:path}", "POST", api.mpu_create),
        ("/mpu/complete/{artifact_path:path}", "POST", api.mpu_complete),
        ("/mpu/abort/{artifact_path:path}", "POST", api.mpu_abort),
        ("/mpu/part/{upload_id}/{part_number}", "PUT", api.mpu_part),
        ("/presigned/{artifact_path:path}", "GET", api.presigned),
    ]
    return [
        # Listing is heavy (a directory of any size); downloads and uploads are streamed.
        Route(base + path, (method,), endpoint, heavy=endpoint == api.list)
        for base in BASE_PATHS
        for path, method, endpoint in endpoints
    ]
