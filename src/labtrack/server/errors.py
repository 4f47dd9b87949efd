"""One place that turns every failure into MLflow's error JSON (never a traceback).

Errors on the web UI's routes (everything outside ``/api/``, ``/ajax-api/`` and the
service endpoints) are the same errors rendered as an HTML page, unless the client
asked for a page's JSON twin.

An unexpected exception is answered by :class:`ErrorBoundary`, not by Starlette's
outermost error middleware: that one sends its answer and then raises the exception
again, and uvicorn, seeing an application fail after its response, closes the
connection, so a keep-alive client's next request on it is reset. Behind the boundary
a failure costs only its own request.
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
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
        return failure_response(exc, request)

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
        # Only a failure of the ErrorBoundary itself gets here (and costs the connection).
        return failure_response(exc, request)


def failure_response(exc: Exception, request: Request) -> Response:
    """The answer to a request that failed with ``exc``, logged if it is the server's fault."""
    where = f"{request.method} {request.url.path}"
    if isinstance(exc, ConfigurationError):
        # A setting of the server's own (S3 credentials, say): not the client's fault.
        logger.error("%s: server misconfigured: %s", where, exc.message)
        return error_response(InternalError(f"The server is misconfigured: {exc.message}"), request)
    if isinstance(exc, LabtrackError):
        if exc.http_status >= 500 and exc.http_status != 501:
            logger.error("%s failed: %s", where, exc.message)
        return error_response(exc, request)
    logger.error("%s failed unexpectedly", where, exc_info=exc)
    return error_response(InternalError(f"Internal error while handling {where}"), request)


class ErrorBoundary:
    """Answers a request whose handling raised (a 500 for an unexpected error) and keeps
    the connection open for the client's next request.

    The application has two: the innermost middleware, so that an error's answer gets
    the headers the other middleware adds (CORS, the UI's security headers), and the
    outermost, for a failure of that middleware itself. A failure after the response
    has started cannot be answered any more: it is raised on, and the server closes
    the connection, the only way to tell the client the response is cut short. One
    after the response is complete (a background task) is logged and the connection
    kept.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = finished = False

        async def watched_send(message: Message) -> None:
            nonlocal started, finished
            kind = message["type"]
            if kind == "http.response.start":
                started = True
            elif kind == "http.response.pathsend" or (
                kind == "http.response.body" and not message.get("more_body", False)
            ):
                finished = True
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except Exception as exc:
            from starlette.requests import ClientDisconnect, Request

            if isinstance(exc, ClientDisconnect):
                return  # nobody is left to answer, and it is not the server's failure
            request = Request(scope)
            if finished:
                logger.error(
                    "%s %s failed after its response was sent",
                    request.method,
                    request.url.path,
                    exc_info=exc,
                )
                return
            if started:
                raise
            await failure_response(exc, request)(scope, receive, send)


def _describe_validation(errors: Any) -> str:
    parts = []
    for err in list(errors)[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
    return "Invalid request: " + "; ".join(parts)
