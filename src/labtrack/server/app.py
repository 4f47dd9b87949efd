"""The ASGI application: ``create_app(ServerConfig(...))``.

Every server process (and every uvicorn worker) builds its own store and
connections from the config; nothing one process needs lives only in another's
memory, so any number of them can share one database and artifact store.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labtrack._version import __version__
from labtrack.errors import InvalidParameterValue, LabtrackError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from labtrack.artifacts.base import ArtifactRepository
    from labtrack.store.sql.store import SqlStore
    from labtrack.tracking.service import TrackingService

PROXY_SCHEME = "mlflow-artifacts"
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
_ENV_PREFIX = "LABTRACK_SERVER_"


@dataclass(frozen=True)
class ServerConfig:
    """How a server is set up (``labtrack server`` options)."""

    backend_store_uri: str = "sqlite:///labtrack.db"
    artifacts_destination: str = "./labtrack-artifacts"
    serve_artifacts: bool = True
    # Artifact root of experiments the server creates; default "mlflow-artifacts:/" when
    # serving artifacts (clients then upload through this server), else the destination.
    default_artifact_root: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # Host names the server answers to besides localhost and IP addresses (patterns with
    # "*"; "*" alone for any): the guard against DNS rebinding (server/_cross_site.py).
    allowed_hosts: tuple[str, ...] = ()
    # Web applications on other sites allowed to call the API from a browser
    # ("https://app.example", "https://*.corp.example", "http://localhost:*"; "*" for any).
    cors_allowed_origins: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)

    def to_environ(self) -> dict[str, str]:
        """The config as environment variables, for worker processes started by uvicorn."""
        env = {
            f"{_ENV_PREFIX}BACKEND_STORE_URI": self.backend_store_uri,
            f"{_ENV_PREFIX}ARTIFACTS_DESTINATION": self.artifacts_destination,
            f"{_ENV_PREFIX}SERVE_ARTIFACTS": "true" if self.serve_artifacts else "false",
            f"{_ENV_PREFIX}MAX_BODY_BYTES": str(self.max_body_bytes),
            f"{_ENV_PREFIX}ALLOWED_HOSTS": ",".join(self.allowed_hosts),
            f"{_ENV_PREFIX}CORS_ALLOWED_ORIGINS": ",".join(self.cors_allowed_origins),
        }
        if self.default_artifact_root:
            env[f"{_ENV_PREFIX}DEFAULT_ARTIFACT_ROOT"] = self.default_artifact_root
        return env

    @classmethod
    def from_environ(cls) -> ServerConfig:
        get = os.environ.get
        return cls(
            backend_store_uri=get(f"{_ENV_PREFIX}BACKEND_STORE_URI", cls.backend_store_uri),
            artifacts_destination=get(
                f"{_ENV_PREFIX}ARTIFACTS_DESTINATION", cls.artifacts_destination
            ),
            serve_artifacts=get(f"{_ENV_PREFIX}SERVE_ARTIFACTS", "true") == "true",
            default_artifact_root=get(f"{_ENV_PREFIX}DEFAULT_ARTIFACT_ROOT") or None,
            max_body_bytes=int(get(f"{_ENV_PREFIX}MAX_BODY_BYTES", str(DEFAULT_MAX_BODY_BYTES))),
            allowed_hosts=parse_hosts(get(f"{_ENV_PREFIX}ALLOWED_HOSTS", "")),
            cors_allowed_origins=parse_hosts(get(f"{_ENV_PREFIX}CORS_ALLOWED_ORIGINS", "")),
        )


class ServerContext:
    """What request handlers share: the store, the tracking service and the artifact setup."""

    def __init__(self, config: ServerConfig) -> None:
        from labtrack.store.sql.store import SqlStore
        from labtrack.tracking.service import TrackingService

        self.config = config
        self.artifacts_destination = _as_uri(config.artifacts_destination)
        root = config.default_artifact_root or (
            f"{PROXY_SCHEME}:" if config.serve_artifacts else self.artifacts_destination
        )
        self.store: SqlStore = SqlStore(config.backend_store_uri, _as_uri(root))
        self.service: TrackingService = TrackingService(self.store)

    def proxied_location(self, uri: str) -> str:
        """Where ``mlflow-artifacts:/<path>`` (or ``mlflow-artifacts://host/<path>``) lives."""
        from labtrack.server.artifacts_api import clean_artifact_path

        rest = uri[len(PROXY_SCHEME) + 1 :]
        if rest.startswith("//"):  # an authority (host:port) names this server: skip it
            rest = rest[2:].partition("/")[2]
        # The same rules as the artifact API: confined, and never the server's staging area.
        path = clean_artifact_path(rest.lstrip("/"), what="Artifact location")
        return f"{self.artifacts_destination}/{path}" if path else self.artifacts_destination

    def repository_for(self, artifact_uri: str) -> ArtifactRepository:
        """The repository behind a run's artifact URI, resolving proxied URIs to the destination."""
        from labtrack.artifacts import get_artifact_repository

        if artifact_uri.startswith(f"{PROXY_SCHEME}:"):
            artifact_uri = self.proxied_location(artifact_uri)
        return get_artifact_repository(artifact_uri)

    def check_artifact_location(self, location: str) -> None:
        """Refuse experiment locations that would let API calls reach server files.

        A client may name a proxied location, an object store, or a place inside this
        server's artifact destination; never an arbitrary path on the server.
        """
        from labtrack.artifacts import local_path_from_uri

        scheme = location.split(":", 1)[0].lower() if ":" in location else ""
        if scheme == PROXY_SCHEME:
            self.proxied_location(location)
            return
        if scheme in ("s3", "gs", "wasbs", "abfss", "hdfs") and "://" in location:
            return
        try:
            local = os.path.realpath(local_path_from_uri(location))
        except LabtrackError:
            local = None
        root = self.artifacts_destination
        if local is not None and root.startswith("file:"):
            base = os.path.realpath(local_path_from_uri(root))
            if local == base or local.startswith(base + os.sep):
                return
        raise InvalidParameterValue(
            f"Artifact location {location!r} is not allowed on this server: use an "
            f"{PROXY_SCHEME}:/ location, an object store URI (s3://...), or a place under the "
            "server's artifact destination"
        )


def parse_hosts(text: str) -> tuple[str, ...]:
    """``"a.example, *.corp.example"`` -> ``("a.example", "*.corp.example")`` (host names
    or origins, as given on the command line)."""
    return tuple(h.strip() for h in text.split(",") if h.strip())


def _as_uri(location: str) -> str:
    if "://" in location or location.startswith(f"{PROXY_SCHEME}:") or location.startswith("file:"):
        return location.rstrip("/")
    from labtrack.artifacts import path_to_file_uri

    return path_to_file_uri(os.path.abspath(os.path.expanduser(location)))


def create_app(config: ServerConfig | None = None) -> FastAPI:
    """Build the server application for ``config`` (default: the embedded store)."""
    from fastapi import FastAPI

    from labtrack.server import labtrack_api, mlflow_api
    from labtrack.server.errors import install_error_handlers

    config = config or ServerConfig()
    context = ServerContext(config)
    app = FastAPI(
        title="labtrack",
        version=__version__,
        description=(
            "labtrack's own API extensions. The server also implements MLflow's REST API "
            "under /api/2.0/mlflow/ and the artifact proxy under /api/2.0/mlflow-artifacts/."
        ),
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/2.0/labtrack/openapi.json",
    )
    app.state.context = context
    install_error_handlers(app)
    mlflow_api.mount(app, context)
    app.include_router(labtrack_api.router(context))
    if config.serve_artifacts:
        from labtrack.server import artifacts_api

        app.include_router(artifacts_api.router(context))
    _mount_service_routes(app, context)
    from labtrack.ui import mount as mount_ui

    mount_ui(app, context)
    _add_guards(app, config)
    return app


def _add_guards(app: FastAPI, config: ServerConfig) -> None:
    """Middleware, innermost first: the cross-site guard, CORS for the origins allowed to
    call the API from a browser, and the host guard, which runs first."""
    from labtrack.server._cross_site import CrossSiteGuard, HostGuard, cors

    origins = config.cors_allowed_origins
    app.add_middleware(CrossSiteGuard, allowed_origins=origins)
    if origins:
        app.add_middleware(cors, allowed_origins=origins)
    app.add_middleware(HostGuard, allowed=config.allowed_hosts)


def _mount_service_routes(app: FastAPI, context: ServerContext) -> None:
    from starlette.responses import PlainTextResponse

    @app.get("/health", include_in_schema=False)
    def health() -> Any:
        return PlainTextResponse("OK")

    @app.get("/api/3.0/mlflow/server-info", include_in_schema=False)
    @app.get("/ajax-api/3.0/mlflow/server-info", include_in_schema=False)
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

    @app.get("/version", include_in_schema=False)
    def version() -> Any:
        return PlainTextResponse(__version__)


def app_from_environment() -> FastAPI:
    """The app factory uvicorn calls in each worker process (``--workers N``)."""
    return create_app(ServerConfig.from_environ())
