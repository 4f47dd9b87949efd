"""What every part of the server shares: its config and the context handlers receive.

A leaf module: the API modules import it (``ServerContext`` in their signatures), and it
imports none of them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from labtrack.artifacts._uri import location_to_uri
from labtrack.config import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_STATEMENT_TIMEOUT,
    DEFAULT_TRACKING_URI,
    SETTINGS,
    Setting,
    Settings,
    render,
    settings,
)
from labtrack.errors import InvalidParameterValue, LabtrackError
from labtrack.server._heavy_requests import HeavyRequestLimit

if TYPE_CHECKING:
    from labtrack.artifacts.base import ArtifactRepository
    from labtrack.store.sql.store import SqlStore
    from labtrack.tracking.service import TrackingService

PROXY_SCHEME = "mlflow-artifacts"
#: ServerConfig's fields are the settings named "server_<field>" (labtrack/config.py).
_SETTING_PREFIX = "server_"


@dataclass(frozen=True)
class ServerConfig:
    """How a server is set up (``labtrack server`` options)."""

    backend_store_uri: str = DEFAULT_TRACKING_URI
    artifacts_destination: str = "./labtrack-artifacts"
    serve_artifacts: bool = True
    # Artifact root of experiments the server creates; default "mlflow-artifacts:/" when
    # serving artifacts (clients then upload through this server), else the destination.
    default_artifact_root: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # What one process takes on at once (server/_heavy_requests.py, server/_serving.py):
    # heavy requests in progress and waiting, how long one waits, how long a client may
    # take to send its headers, and open connections.
    max_heavy_requests: int = 4
    heavy_request_queue: int = 16
    heavy_request_wait: float = 10.0
    header_timeout: float = 10.0
    max_connections: int = 1000
    # Seconds one database statement may run (0: no limit); see store/sql/engine.py.
    statement_timeout: float = DEFAULT_STATEMENT_TIMEOUT
    # Host names the server answers to besides localhost and IP addresses (patterns with
    # "*"; "*" alone for any): the guard against DNS rebinding (server/_cross_site.py).
    allowed_hosts: tuple[str, ...] = ()
    # Web applications on other sites allowed to call the API from a browser
    # ("https://app.example", "https://*.corp.example", "http://localhost:*"; "*" for any).
    cors_allowed_origins: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)

    def to_environ(self) -> dict[str, str]:
        """The config as environment variables, for worker processes started by uvicorn.

        Each value is written as the text its setting's parser reads back, so
        ``ServerConfig.from_environ(config.to_environ())`` is ``config`` again.
        """
        env = {}
        for setting in _server_settings():
            value = getattr(self, setting.name.removeprefix(_SETTING_PREFIX))
            if value is not None:
                env[setting.env[0]] = render(value)
        return env

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> ServerConfig:
        """The config of the ``server_*`` settings (``LABTRACK_SERVER_*`` variables, else the
        config file, else the defaults), read by labtrack's one settings parser."""
        read = settings if environ is None else Settings(environ)
        values = {
            s.name.removeprefix(_SETTING_PREFIX): read.get(s.name) for s in _server_settings()
        }
        return cls(**values)


def _server_settings() -> list[Setting]:
    return [s for s in SETTINGS if s.name.startswith(_SETTING_PREFIX)]


class ServerContext:
    """What request handlers share: the store, the tracking service and the artifact setup."""

    def __init__(self, config: ServerConfig) -> None:
        from labtrack.store.sql.store import SqlStore
        from labtrack.tracking.service import TrackingService

        self.config = config
        self.artifacts_destination = location_to_uri(config.artifacts_destination)
        root = config.default_artifact_root or (
            f"{PROXY_SCHEME}:" if config.serve_artifacts else self.artifacts_destination
        )
        self.store: SqlStore = SqlStore(
            config.backend_store_uri,
            location_to_uri(root),
            statement_timeout=config.statement_timeout or None,
        )
        self.service: TrackingService = TrackingService(self.store)
        self.heavy_requests = HeavyRequestLimit(
            config.max_heavy_requests, config.heavy_request_queue, config.heavy_request_wait
        )

    def proxied_location(self, uri: str) -> str:
        """Where ``mlflow-artifacts:/<path>`` (or ``mlflow-artifacts://host/<path>``) lives."""
        from labtrack.artifacts._paths import clean_artifact_path

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
