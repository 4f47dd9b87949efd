"""The ASGI application: ``create_app(ServerConfig(...))``.

Every server process (and every uvicorn worker) builds its own store and
connections from the config; nothing one process needs lives only in another's
memory, so any number of them can share one database and artifact store.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from labtrack._version import __version__
from labtrack.server._context import ServerConfig, ServerContext
from labtrack.server._routes import Route, add_routes

if TYPE_CHECKING:
    from fastapi import FastAPI

#: The MLflow release whose REST API this server answers (its compatibility suite runs
#: the real client of this release), reported by ``/version``.
MLFLOW_API_VERSION = "3.17.2"
#: Every ``/version`` answer carries labtrack's own version in this header.
VERSION_HEADER = "X-Labtrack-Version"

__all__ = [
    "MLFLOW_API_VERSION",
    "VERSION_HEADER",
    "ServerConfig",
    "ServerContext",
    "app_from_environment",
    "create_app",
    "mlflow_version_text",
    "route_table",
]


def create_app(config: ServerConfig | None = None) -> FastAPI:
    """Build the server application for ``config`` (default: the embedded store)."""
    from fastapi import FastAPI

    from labtrack.server import webhooks_api
    from labtrack.server.errors import install_error_handlers

    config = config or ServerConfig()
    context = ServerContext(config)
    app = FastAPI(
        lifespan=webhooks_api.delivery(context),
        title="labtrack",
        version=__version__,
        description=(
            "labtrack's own API extensions. The server also implements MLflow's REST API "
            "under /api/2.0/mlflow/ and the artifact proxy under /api/2.0/mlflow-artifacts/."
        ),
        # /api/docs is the UI's (labtrack/ui/api_docs.py): FastAPI's page loads its script
        # from a CDN.
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/2.0/labtrack/openapi.json",
    )
    app.state.context = context
    install_error_handlers(app)
    table = route_table(context)
    app.state.route_table = table
    add_routes(app, table, context.heavy_requests)
    _add_middleware(app, config)
    return app


def route_table(context: ServerContext) -> list[Route]:
    """Every route the server answers, in the order they match (besides FastAPI's own
    OpenAPI document, at ``openapi_url``)."""
    from labtrack import ui
    from labtrack.server import (
        artifacts_api,
        labtrack_api,
        logged_models_api,
        mlflow_api,
        mlflow_ui_api,
        registry_api,
        webhooks_api,
    )

    serve_artifacts = context.config.serve_artifacts
    return [
        *mlflow_api.routes(context),
        *logged_models_api.routes(context),
        *registry_api.routes(context),
        *webhooks_api.routes(context),
        *mlflow_ui_api.routes(context),
        *labtrack_api.routes(context),
        *(artifacts_api.routes(context) if serve_artifacts else []),
        *_service_routes(context),
        *ui.routes(context),
    ]


def _add_middleware(app: FastAPI, config: ServerConfig) -> None:
    """Middleware, innermost first: the error boundary (an unexpected error's answer then
    passes the others), the UI's security headers, the cross-site guard, CORS for the
    origins allowed to call the API from a browser, the host guard, a second error
    boundary, for a failure of the middleware itself, and around everything the closing
    of connections whose body was refused unread."""
    from labtrack.server._body import CloseUnreadBody
    from labtrack.server._cross_site import CrossSiteGuard, HostGuard, cors
    from labtrack.server.errors import ErrorBoundary
    from labtrack.ui._security import SecurityHeaders

    app.add_middleware(ErrorBoundary)
    app.add_middleware(SecurityHeaders)
    origins = config.cors_allowed_origins
    app.add_middleware(CrossSiteGuard, allowed_origins=origins)
    if origins:
        app.add_middleware(cors, allowed_origins=origins)
    app.add_middleware(HostGuard, allowed=config.allowed_hosts)
    app.add_middleware(ErrorBoundary)
    app.add_middleware(CloseUnreadBody)


def _service_routes(context: ServerContext) -> list[Route]:
    """The health check, the version and what MLflow 3 clients ask the server first."""
    from starlette.responses import PlainTextResponse

    def health() -> Any:
        return PlainTextResponse("OK")

    def mlflow_server_info() -> Any:
        """How MLflow 3 clients learn what the server supports before using it."""
        multipart = {"multipart_uploads_enabled": False, "multipart_downloads_enabled": False}
        if context.config.serve_artifacts:
            from labtrack.server.artifacts_api import server_info_fields

            multipart = server_info_fields(context)
        return {
            "store_type": "SqlStore",
            "workspaces_enabled": False,
            "trace_archival_enabled": False,
            **multipart,
            "presigned_upload_run_id_supported": False,
            "presigned_upload_model_id_supported": False,
            "features_enabled": {"gateway": False},
        }

    headers = {VERSION_HEADER: __version__}

    def version() -> Any:
        """The MLflow version whose API this server answers, which MLflow's client reads
        to decide what it may call (it refuses some calls to servers before 3.4)."""
        return PlainTextResponse(mlflow_version_text(), headers=headers)

    def labtrack_version() -> Any:
        return PlainTextResponse(__version__, headers=headers)

    return [
        Route("/health", ("GET",), health),
        Route("/api/3.0/mlflow/server-info", ("GET",), mlflow_server_info),
        Route("/ajax-api/3.0/mlflow/server-info", ("GET",), mlflow_server_info),
        Route("/version", ("GET",), version),
        Route("/api/2.0/labtrack/version", ("GET",), labtrack_version),
    ]


def mlflow_version_text() -> str:
    """What ``/version`` answers: :data:`MLFLOW_API_VERSION` with labtrack's own version as
    its PEP 440 local label, e.g. ``3.17.2+labtrack.0.1.0``. MLflow's client parses the
    text as a version and compares it with the releases that added what it calls, and a
    local label does not change those comparisons."""
    label = re.sub(r"[^A-Za-z0-9]+", ".", __version__).strip(".")
    return f"{MLFLOW_API_VERSION}+labtrack.{label}" if label else MLFLOW_API_VERSION


def app_from_environment() -> FastAPI:
    """The app factory uvicorn calls in each worker process (``--workers N``)."""
    return create_app(ServerConfig.from_environ())
