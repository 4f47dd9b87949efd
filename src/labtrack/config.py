"""Settings, declared once and layered.

Precedence, lowest to highest: the defaults below < a TOML config file <
environment variables < values set in code or by a CLI flag
(:func:`labtrack.set_tracking_uri`, ``--tracking-uri``).

The config file is the one named by ``LABTRACK_CONFIG``, else ``labtrack.toml``
in the working directory, else ``~/.config/labtrack/config.toml``. Its keys are
the setting names below; an unknown key is an error, not silently ignored.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labtrack.errors import ConfigurationError

DEFAULT_TRACKING_URI = "sqlite:///labtrack.db"
#: The largest request body the tracking server and the scoring server read by default.
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
#: Search limits: a filter's length and comparisons, the experiments one search names.
DEFAULT_MAX_FILTER_LENGTH = 50_000
DEFAULT_MAX_FILTER_TERMS = 200
DEFAULT_MAX_SEARCH_EXPERIMENTS = 1_000
#: Seconds one database statement of the tracking server may run.
DEFAULT_STATEMENT_TIMEOUT = 30.0


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true/false, got {text!r}")


def _parse_positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError(f"expected a positive integer, got {text!r}")
    return value


def _parse_natural(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(f"expected a whole number (0 or more), got {text!r}")
    return value


def _parse_positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError(f"expected a positive number, got {text!r}")
    return value


def _parse_non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"expected a number >= 0, got {text!r}")
    return value


def parse_names(text: str) -> tuple[str, ...]:
    """``"a.example, *.corp.example"`` -> ``("a.example", "*.corp.example")``: a comma-separated
    list (host names or origins, as given on the command line)."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _parse_webhook_schemes(text: str) -> tuple[str, ...]:
    """``"http, https"`` -> ``("http", "https")``: the URL schemes a webhook may use."""
    schemes = tuple(scheme.strip().lower() for scheme in text.split(",") if scheme.strip())
    unknown = [scheme for scheme in schemes if scheme not in ("http", "https")]
    if unknown or not schemes:
        raise ValueError(f"expected https, http or both (comma-separated), got {text!r}")
    return schemes


def render(value: Any) -> str:
    """A setting's value as the text its parser reads back (for a child process's environment)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(value)
    return "" if value is None else str(value)


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    env: tuple[str, ...]
    parse: Callable[[str], Any] = str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "tracking_uri",
        DEFAULT_TRACKING_URI,
        "Where runs are stored: a database URL (sqlite:///path.db, postgresql://..., "
        "mysql+pymysql://...) or a labtrack/MLflow server (http://host:5000).",
        ("LABTRACK_TRACKING_URI", "MLFLOW_TRACKING_URI"),
    ),
    Setting(
        "artifact_root",
        None,
        "Where new experiments keep their artifacts when a database is used directly. "
        "Default: labtrack-artifacts/ beside a SQLite file, else ./labtrack-artifacts.",
        ("LABTRACK_ARTIFACT_ROOT",),
    ),
    Setting(
        "async_logging",
        True,
        "Queue metrics, params and tags and write them in batches from a background thread. "
        "Turn off to write every call before it returns.",
        ("LABTRACK_ASYNC_LOGGING",),
        _parse_bool,
    ),
    Setting(
        "log_queue_size",
        100_000,
        "How many queued logging calls may wait before a caller blocks (bounds memory).",
        ("LABTRACK_LOG_QUEUE_SIZE",),
        _parse_positive_int,
    ),
    Setting(
        "truncate_long_values",
        True,
        "Cut param and tag values longer than MLflow's limits (6000/8000 characters) with a "
        "warning, as MLflow does; turn off to get an error instead.",
        ("LABTRACK_TRUNCATE_LONG_VALUES", "MLFLOW_TRUNCATE_LONG_VALUES"),
        _parse_bool,
    ),
    Setting(
        "capture_source",
        True,
        "Record the entry point (mlflow.source.name/type) on new runs.",
        ("LABTRACK_CAPTURE_SOURCE",),
        _parse_bool,
    ),
    Setting(
        "capture_git",
        True,
        "Record git commit, branch, remote and dirty state; keep the diff when dirty.",
        ("LABTRACK_CAPTURE_GIT",),
        _parse_bool,
    ),
    Setting(
        "capture_user",
        True,
        "Record the user name (mlflow.user) on new runs.",
        ("LABTRACK_CAPTURE_USER",),
        _parse_bool,
    ),
    Setting(
        "capture_command",
        True,
        "Record the command line and Python version on new runs.",
        ("LABTRACK_CAPTURE_COMMAND",),
        _parse_bool,
    ),
    Setting(
        "capture_environment",
        True,
        "Keep the installed packages as an artifact of every new run.",
        ("LABTRACK_CAPTURE_ENVIRONMENT",),
        _parse_bool,
    ),
    Setting(
        "trust_pickle",
        False,
        "Load models stored as pickle or cloudpickle (formats that run code when loaded) "
        "without passing trust_pickle=True. Only for models from sources you trust.",
        ("LABTRACK_TRUST_PICKLE",),
        _parse_bool,
    ),
    # -- runs whose process died (tracking/_heartbeats.py, store/sql/_heartbeats.py)
    Setting(
        "heartbeat_interval",
        30.0,
        "Seconds between the heartbeats a process sends for the runs it runs with the "
        "fluent API (lt.start_run), riding on logged data when there is some; 0 sends none.",
        ("LABTRACK_HEARTBEAT_INTERVAL",),
        _parse_non_negative_float,
    ),
    Setting(
        "heartbeat_timeout",
        300.0,
        "Seconds without a heartbeat after which a running run that sent heartbeats shows "
        "as crashed (KILLED, tag labtrack.crashed). Read where the database is opened: by "
        "labtrack server, or by the client in embedded mode. Keep it several intervals long.",
        ("LABTRACK_HEARTBEAT_TIMEOUT",),
        _parse_positive_float,
    ),
    Setting(
        "sqlite_busy_timeout",
        60.0,
        "Seconds a SQLite writer waits for another process's write to finish.",
        ("LABTRACK_SQLITE_BUSY_TIMEOUT",),
        _parse_positive_float,
    ),
    # -- search limits (labtrack.search, validation.py), wherever searches run
    Setting(
        "search_max_filter_length",
        DEFAULT_MAX_FILTER_LENGTH,
        "The longest search filter accepted, in characters.",
        ("LABTRACK_SEARCH_MAX_FILTER_LENGTH",),
        _parse_positive_int,
    ),
    Setting(
        "search_max_filter_terms",
        DEFAULT_MAX_FILTER_TERMS,
        "The most comparisons one search filter may have.",
        ("LABTRACK_SEARCH_MAX_FILTER_TERMS",),
        _parse_positive_int,
    ),
    Setting(
        "search_max_experiments",
        DEFAULT_MAX_SEARCH_EXPERIMENTS,
        "The most experiments one search of runs or logged models may name.",
        ("LABTRACK_SEARCH_MAX_EXPERIMENTS",),
        _parse_positive_int,
    ),
    Setting(
        "http_timeout",
        30.0,
        "Seconds to wait for a tracking server to answer one request.",
        ("LABTRACK_HTTP_TIMEOUT", "MLFLOW_HTTP_REQUEST_TIMEOUT"),
        _parse_positive_float,
    ),
    Setting(
        "http_retries",
        5,
        "How often a request to a tracking server is retried after a connection error, 429 "
        "or 503 (with exponential backoff).",
        ("LABTRACK_HTTP_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_MAX_RETRIES"),
        _parse_positive_int,
    ),
    # -- credentials and TLS for a tracking server (the HTTP transport, labtrack/_http.py)
    Setting(
        "tracking_token",
        None,
        "Bearer token sent to a tracking server (wins over a user name and password).",
        ("LABTRACK_TRACKING_TOKEN", "MLFLOW_TRACKING_TOKEN"),
    ),
    Setting(
        "tracking_username",
        None,
        "User name for HTTP basic authentication to a tracking server.",
        ("LABTRACK_TRACKING_USERNAME", "MLFLOW_TRACKING_USERNAME"),
    ),
    Setting(
        "tracking_password",
        None,
        "Password for HTTP basic authentication to a tracking server.",
        ("LABTRACK_TRACKING_PASSWORD", "MLFLOW_TRACKING_PASSWORD"),
    ),
    Setting(
        "tracking_insecure_tls",
        False,
        "Do not verify the tracking server's TLS certificate (for test setups only).",
        ("LABTRACK_TRACKING_INSECURE_TLS", "MLFLOW_TRACKING_INSECURE_TLS"),
        _parse_bool,
    ),
    Setting(
        "tracking_server_cert_path",
        None,
        "A CA bundle to verify the tracking server's TLS certificate with.",
        ("LABTRACK_TRACKING_SERVER_CERT_PATH", "MLFLOW_TRACKING_SERVER_CERT_PATH"),
    ),
    # -- the tracking server (``labtrack server``; labtrack/server/_context.py ServerConfig)
    Setting(
        "server_backend_store_uri",
        DEFAULT_TRACKING_URI,
        "The server's database (set by labtrack server for its worker processes).",
        ("LABTRACK_SERVER_BACKEND_STORE_URI",),
    ),
    Setting(
        "server_artifacts_destination",
        "./labtrack-artifacts",
        "Where the server keeps the artifacts it proxies: a directory or s3://bucket/prefix.",
        ("LABTRACK_SERVER_ARTIFACTS_DESTINATION",),
    ),
    Setting(
        "server_serve_artifacts",
        True,
        "Proxy artifact uploads and downloads (/api/2.0/mlflow-artifacts/).",
        ("LABTRACK_SERVER_SERVE_ARTIFACTS",),
        _parse_bool,
    ),
    Setting(
        "server_default_artifact_root",
        None,
        "Artifact root of experiments the server creates. Default: mlflow-artifacts:/ when "
        "serving artifacts, else the artifacts destination.",
        ("LABTRACK_SERVER_DEFAULT_ARTIFACT_ROOT",),
    ),
    Setting(
        "server_max_body_bytes",
        DEFAULT_MAX_BODY_BYTES,
        "The largest JSON request body the server reads (artifact uploads are not limited).",
        ("LABTRACK_SERVER_MAX_BODY_BYTES",),
        _parse_positive_int,
    ),
    # -- what one server process takes on at once (server/_heavy_requests.py, _serving.py)
    Setting(
        "server_max_heavy_requests",
        4,
        "Heavy requests (searches, metric history reads, artifact listings, bulk logging) one "
        "server process works on at once; more wait their turn in a queue.",
        ("LABTRACK_SERVER_MAX_HEAVY_REQUESTS",),
        _parse_positive_int,
    ),
    Setting(
        "server_heavy_request_queue",
        16,
        "Heavy requests that may wait for a turn; beyond that, or after waiting "
        "server_heavy_request_wait seconds, the server answers 503 with Retry-After.",
        ("LABTRACK_SERVER_HEAVY_REQUEST_QUEUE",),
        _parse_natural,
    ),
    Setting(
        "server_heavy_request_wait",
        10.0,
        "Seconds a heavy request may wait in the queue before it is answered 503.",
        ("LABTRACK_SERVER_HEAVY_REQUEST_WAIT",),
        _parse_positive_float,
    ),
    Setting(
        "server_header_timeout",
        10.0,
        "Seconds a client has to send a request's line and headers, from connecting (or from "
        "its first byte on a kept-alive connection); a slower connection is closed.",
        ("LABTRACK_SERVER_HEADER_TIMEOUT",),
        _parse_positive_float,
    ),
    Setting(
        "server_max_connections",
        1000,
        "Open connections (and requests in progress) one server process holds at once; "
        "beyond that it answers 503 at once.",
        ("LABTRACK_SERVER_MAX_CONNECTIONS",),
        _parse_positive_int,
    ),
    Setting(
        "server_statement_timeout",
        DEFAULT_STATEMENT_TIMEOUT,
        "Seconds one database statement of the server may run before it is stopped and the "
        "request answered with an error (0: no limit).",
        ("LABTRACK_SERVER_STATEMENT_TIMEOUT",),
        _parse_non_negative_float,
    ),
    Setting(
        "server_allowed_hosts",
        (),
        "Host names the server answers to besides localhost and IP addresses, "
        "comma-separated (* for any): the guard against DNS rebinding.",
        ("LABTRACK_SERVER_ALLOWED_HOSTS",),
        parse_names,
    ),
    Setting(
        "server_cors_allowed_origins",
        (),
        "Web applications on other sites allowed to call the API from a browser, "
        "comma-separated (* for any).",
        ("LABTRACK_SERVER_CORS_ALLOWED_ORIGINS",),
        parse_names,
    ),
    # -- the scoring server's worker processes (``labtrack models serve --workers N``)
    Setting(
        "serve_model_path",
        None,
        "The model directory each scoring worker loads (set by labtrack models serve).",
        ("LABTRACK_SERVE_MODEL_PATH",),
    ),
    Setting(
        "serve_model_uri",
        None,
        "The model URI the scoring server reports and logs predictions under.",
        ("LABTRACK_SERVE_MODEL_URI",),
    ),
    Setting(
        "serve_log_predictions",
        None,
        "A directory where the scoring server logs its predictions.",
        ("LABTRACK_SERVE_LOG_PREDICTIONS",),
    ),
    Setting(
        "serve_max_body_bytes",
        DEFAULT_MAX_BODY_BYTES,
        "The largest request body the scoring server reads.",
        ("LABTRACK_SERVE_MAX_BODY_BYTES",),
        _parse_positive_int,
    ),
    # -- registry webhooks (tracking/_webhooks.py), delivered by the tracking server
    Setting(
        "webhook_secret_key",
        None,
        "The key webhook secrets are encrypted with in the database (the same on every "
        "server process). Without it, webhooks cannot have a secret.",
        ("LABTRACK_WEBHOOK_SECRET_KEY", "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY"),
    ),
    Setting(
        "webhook_timeout",
        30.0,
        "Seconds to wait for a webhook receiver to answer one delivery.",
        ("LABTRACK_WEBHOOK_TIMEOUT", "MLFLOW_WEBHOOK_REQUEST_TIMEOUT"),
        _parse_positive_float,
    ),
    Setting(
        "webhook_max_retries",
        3,
        "How often a delivery is retried after a timeout, a connection error, 429 or 5xx.",
        ("LABTRACK_WEBHOOK_MAX_RETRIES", "MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES"),
        _parse_positive_int,
    ),
    Setting(
        "webhook_allow_private_ips",
        False,
        "Let webhooks send to private, loopback, link-local and other non-public addresses "
        "(local development only: anyone who may create a webhook could reach them).",
        ("LABTRACK_WEBHOOK_ALLOW_PRIVATE_IPS", "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS"),
        _parse_bool,
    ),
    Setting(
        "webhook_allowed_schemes",
        ("https",),
        "The URL schemes a webhook may use, comma-separated: https only, as in MLflow; "
        "http,https lets a webhook send in clear (local development).",
        ("LABTRACK_WEBHOOK_ALLOWED_SCHEMES", "MLFLOW_WEBHOOK_ALLOWED_SCHEMES"),
        _parse_webhook_schemes,
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def _config_file_path(environ: Mapping[str, str]) -> Path | None:
    explicit = environ.get("LABTRACK_CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigurationError(f"LABTRACK_CONFIG names {str(path)!r}, which is not a file")
        return path
    for candidate in (Path("labtrack.toml"), Path.home() / ".config" / "labtrack" / "config.toml"):
        if candidate.is_file():
            return candidate
    return None


def _read_config_file(path: Path) -> dict[str, Any]:
    import tomllib

    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"Cannot read config file {str(path)!r}: {exc}") from exc
    unknown = sorted(set(data) - set(_BY_NAME))
    if unknown:
        raise ConfigurationError(
            f"Unknown setting(s) {', '.join(unknown)} in {str(path)!r}; "
            f"known settings: {', '.join(sorted(_BY_NAME))}"
        )
    return {
        name: _coerce(_BY_NAME[name], value, f"config file {str(path)!r}")
        for name, value in data.items()
    }


def _coerce(setting: Setting, value: Any, origin: str) -> Any:
    text = render(tuple(value) if isinstance(value, list) else value)
    try:
        return setting.parse(text)
    except ValueError as exc:
        raise ConfigurationError(f"Invalid value for {setting.name} in {origin}: {exc}") from exc


class Settings:
    """The effective settings of this process. Thread-safe; re-reads the environment on access."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ
        self._overrides: dict[str, Any] = {}
        self._file_values: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def _file(self) -> dict[str, Any]:
        if self._file_values is None:
            path = _config_file_path(os.environ if self._environ is None else self._environ)
            self._file_values = _read_config_file(path) if path else {}
        return self._file_values

    def get(self, name: str) -> Any:
        setting = _BY_NAME.get(name)
        if setting is None:
            raise ConfigurationError(f"Unknown setting {name!r}")
        with self._lock:
            if name in self._overrides:
                return self._overrides[name]
        environ = os.environ if self._environ is None else self._environ
        for var in setting.env:
            raw = environ.get(var)
            if raw:
                return _coerce(setting, raw, f"environment variable {var}")
        file_values = self._file()
        if name in file_values:
            return file_values[name]
        return setting.default

    def set(self, name: str, value: Any) -> None:
        """Override a setting for this process (highest precedence). None removes the override."""
        setting = _BY_NAME.get(name)
        if setting is None:
            raise ConfigurationError(f"Unknown setting {name!r}")
        with self._lock:
            if value is None:
                self._overrides.pop(name, None)
            else:
                self._overrides[name] = _coerce(setting, value, "code")


settings = Settings()
