"""One place that turns every failure into MLflow's error JSON (never a traceback).

Errors on the web UI's routes (everything outside ``/api/``, ``/ajax-api/`` and the
service endpoints) are the same errors rendered as an HTML page, unless the client
asked for a page's JSON twin.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from labtrack.errors import (
    BadRequest,
    ConfigurationError,
    EndpointNotFound,
    InternalError,
    LabtrackError,
)
from labtrack.server._cross_site import is_ui_path

if TYPE_CHECKING:
    from fastapi import FastAPI, Request
    from starlette.responses import Response

logger = logging.getLogger("labtrack.server")


def error_response(
    error: LabtrackError, request: Request | None = None, status: int | None = None
) -> Response:
    from starlette.responses import JSONResponse

    if request is not None and is_ui_path(request.url.path):
        from labtrack.ui import error_page  # the UI only when its error page is rendered

        return error_page(request, error, status)
    return JSONResponse(error.to_json(), status_code=status or error.http_status)


def install_error_handlers(app: FastAPI) -> None:
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    @app.exception_handler(LabtrackError)
    async def _labtrack_error(request: Request, exc: LabtrackError) -> Response:
        if isinstance(exc, ConfigurationError):
            # A setting of the server's own (S3 credentials, say): not the client's fault.
            logger.error(
                "%s %s: server misconfigured: %s", request.method, request.url.path, exc.message
            )
            return error_response(
                InternalError(f"The server is misconfigured: {exc.message}"), request
            )
        if exc.http_status >= 500 and exc.http_status != 501:
            logger.error("%s %s failed: %s", request.method, request.url.path, exc.message)
        return error_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        return error_response(BadRequest(_describe_validation(exc.errors())), request)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 404:
            error: LabtrackError = EndpointNotFound(
                f"No API endpoint at {request.method} {request.url.path}"
            )
        elif exc.status_code == 405:
            error = BadRequest(f"Method {request.method} is not allowed on {request.url.path}")
            return error_response(error, request, 405)
        else:
            error = BadRequest(str(exc.detail))
        return error_response(error, request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("%s %s failed unexpectedly", request.method, request.url.path)
        return error_response(
            InternalError(f"Internal error while handling {request.method} {request.url.path}"),
            request,
        )


def _describe_validation(errors: Any) -> str:
    parts = []
    for err in list(errors)[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
    return "Invalid request: " + "; ".join(parts)
