"""``labtrack server`` and ``labtrack ui``: the tracking server (MLflow's REST API) on uvicorn."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from labtrack.cli._ports import DEFAULT_PORTS, SERVER_PORT, check_port_free, free_port_from

if TYPE_CHECKING:
    from labtrack.server.app import ServerConfig

DEFAULT_PORT = SERVER_PORT


def _serve(
    command: str,
    backend_store_uri: str,
    artifacts_destination: str,
    default_artifact_root: str | None,
    serve_artifacts: bool,
    host: str,
    port: int,
    workers: int,
    log_level: str,
    allowed_hosts: str | None,
    cors_allowed_origins: str | None,
) -> None:
    import uvicorn

    from labtrack.config import parse_names, settings
    from labtrack.server._serving import uvicorn_options
    from labtrack.server.app import ServerConfig, ServerContext

    # Not given on the command line: the setting (LABTRACK_SERVER_*, else the config file).
    hosts = (
        parse_names(allowed_hosts)
        if allowed_hosts is not None
        else settings.get("server_allowed_hosts")
    )
    origins = (
        parse_names(cors_allowed_origins)
        if cors_allowed_origins is not None
        else settings.get("server_cors_allowed_origins")
    )
    config = ServerConfig(
        backend_store_uri=backend_store_uri,
        artifacts_destination=artifacts_destination,
        default_artifact_root=default_artifact_root,
        serve_artifacts=serve_artifacts,
        max_body_bytes=settings.get("server_max_body_bytes"),
        max_heavy_requests=settings.get("server_max_heavy_requests"),
        heavy_request_queue=settings.get("server_heavy_request_queue"),
        heavy_request_wait=settings.get("server_heavy_request_wait"),
        header_timeout=settings.get("server_header_timeout"),
        max_connections=settings.get("server_max_connections"),
        statement_timeout=settings.get("server_statement_timeout"),
        # The name it listens on is one of its names (IP addresses always are).
        allowed_hosts=(*hosts, host),
        cors_allowed_origins=origins,
    )
    # Open the store once here: a bad URI or an unreachable database is reported now, as
    # one line, rather than by every worker; the schema is created or upgraded once.
    ServerContext(config)
    os.environ.update(config.to_environ())
    click.echo(banner(command, config, host, port, workers), err=True)
    uvicorn.run(
        "labtrack.server.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=log_level == "debug",
        # TCP_NODELAY, the header timeout and the bound on connections (see that module)
        **uvicorn_options(config),
    )


def banner(command: str, config: ServerConfig, host: str, port: int, workers: int) -> str:
    """What ``command`` ("server" or "ui") serves, as it prints it on starting.

    The address to open, the store, where new experiments' artifacts go, and where the
    server keeps the artifacts it proxies (or that it proxies none).
    """
    from labtrack.artifacts._uri import location_to_uri
    from labtrack.server._context import PROXY_SCHEME

    url = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
    processes = f"{workers} worker{'s' if workers > 1 else ''}"
    if command == "ui":
        first = f"labtrack ui at {url} (open it in a browser; {processes})"
    else:
        parts = (
            "tracking API, artifact proxy and web UI"
            if config.serve_artifacts
            else "tracking API and web UI"
        )
        first = f"labtrack server at {url} ({parts}; {processes})"
    destination = _redact(location_to_uri(config.artifacts_destination))
    if config.default_artifact_root:
        root = _redact(location_to_uri(config.default_artifact_root))
    elif config.serve_artifacts:
        root = f"{PROXY_SCHEME}:/ (uploaded through this server)"
    else:
        root = destination
    proxied = destination if config.serve_artifacts else "none (--no-serve-artifacts)"
    return "\n".join(
        [
            first,
            f"  backend store:         {_redact(config.backend_store_uri)}",
            f"  default artifact root: {root}",
            f"  proxied artifacts in:  {proxied}",
        ]
    )


def _redact(uri: str) -> str:
    from labtrack.artifacts import redact_uri

    return redact_uri(uri)


_store_help = (
    "Database for runs: sqlite:///path.db, postgresql://..., mysql+pymysql://... "
    "[default: $LABTRACK_TRACKING_URI if it is a database, else sqlite:///labtrack.db]"
)


def _default_store() -> str:
    from labtrack.store.sql.engine import is_database_uri
    from labtrack.tracking._stores import resolve_tracking_uri

    uri = resolve_tracking_uri()
    return uri if is_database_uri(uri) else "sqlite:///labtrack.db"


def _common_options(f):
    options = [
        click.option("--backend-store-uri", metavar="URI", help=_store_help),
        click.option(
            "--artifacts-destination",
            metavar="URI_OR_PATH",
            default="./labtrack-artifacts",
            show_default=True,
            help="Where the server keeps artifacts it proxies: a directory or s3://bucket/prefix.",
        ),
        click.option(
            "--default-artifact-root",
            metavar="URI",
            help="Artifact root of new experiments [default: mlflow-artifacts:/ when serving "
            "artifacts, so clients upload through this server; else the destination].",
        ),
        click.option(
            "--serve-artifacts/--no-serve-artifacts",
            default=True,
            show_default=True,
            help="Proxy artifact uploads and downloads (/api/2.0/mlflow-artifacts/).",
        ),
        click.option(
            "--host",
            "-h",
            default="127.0.0.1",
            show_default=True,
            help="Address to listen on; 0.0.0.0 to accept connections from other machines.",
        ),
        click.option(
            "--workers",
            "-w",
            type=click.IntRange(1, 64),
            default=1,
            show_default=True,
            help="Server processes (they share the database; use PostgreSQL or MySQL for "
            "many writers).",
        ),
        click.option(
            "--allowed-hosts",
            metavar="NAMES",
            help="Host names clients and browsers reach this server by, comma-separated "
            "(tracking.example.org, *.corp.example; * for any). localhost and IP addresses "
            "always work; requests naming any other host are refused, which stops web pages "
            "reaching the server through DNS rebinding. [env: LABTRACK_SERVER_ALLOWED_HOSTS]",
        ),
        click.option(
            "--cors-allowed-origins",
            metavar="ORIGINS",
            help="Web applications on other sites that may call the API from a browser, "
            "comma-separated (https://app.example, https://*.corp.example, "
            "http://localhost:*; * for any). Without it, browsers may change things only "
            "from this server's own pages. [env: LABTRACK_SERVER_CORS_ALLOWED_ORIGINS]",
        ),
        click.option(
            "--log-level",
            type=click.Choice(["critical", "error", "warning", "info", "debug"]),
            default="info",
            show_default=True,
            help="How much the server logs (debug also logs every request).",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@click.command("server")
@_common_options
@click.option(
    "--port",
    "-p",
    type=click.IntRange(1, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port to listen on.",
)
def server(
    backend_store_uri: str | None,
    artifacts_destination: str,
    default_artifact_root: str | None,
    serve_artifacts: bool,
    host: str,
    allowed_hosts: str | None,
    cors_allowed_origins: str | None,
    workers: int,
    log_level: str,
    port: int,
) -> None:
    """Run the tracking server: MLflow's REST API, so MLflow clients work unchanged.

    Point clients at it with LABTRACK_TRACKING_URI=http://HOST:PORT (labtrack) or
    MLFLOW_TRACKING_URI=http://HOST:PORT (existing MLflow code).
    """
    check_port_free(host, port)
    _serve(
        "server",
        backend_store_uri or _default_store(),
        artifacts_destination,
        default_artifact_root,
        serve_artifacts,
        host,
        port,
        workers,
        log_level,
        allowed_hosts,
        cors_allowed_origins,
    )


def _ui_port(host: str) -> int:
    """5000, else the next free port that is no other labtrack command's default (said so)."""
    port = free_port_from(host, DEFAULT_PORT)
    if port != DEFAULT_PORT:
        skipped = [p for p in DEFAULT_PORTS if DEFAULT_PORT < p < port]
        passed = "".join(f"; {p} is left for {DEFAULT_PORTS[p]}" for p in skipped)
        click.echo(
            f"Port {DEFAULT_PORT} on {host} is in use: labtrack ui listens on {port} "
            f"instead{passed}. Give --port to choose.",
            err=True,
        )
    return port


@click.command("ui")
@_common_options
@click.option(
    "--port",
    "-p",
    type=click.IntRange(1, 65535),
    default=None,
    help=f"Port to listen on [default: {DEFAULT_PORT}, or the next free one that no other "
    "labtrack command uses by default].",
)
def ui(
    backend_store_uri: str | None,
    artifacts_destination: str,
    default_artifact_root: str | None,
    serve_artifacts: bool,
    host: str,
    allowed_hosts: str | None,
    cors_allowed_origins: str | None,
    workers: int,
    log_level: str,
    port: int | None,
) -> None:
    """Browse your local runs: the server on the local store, at http://127.0.0.1:5000."""
    if port is None:
        port = _ui_port(host)
    else:
        check_port_free(host, port)
    _serve(
        "ui",
        backend_store_uri or _default_store(),
        artifacts_destination,
        default_artifact_root,
        serve_artifacts,
        host,
        port,
        workers,
        log_level,
        allowed_hosts,
        cors_allowed_origins,
    )
