"""ServerConfig is read from the server_* settings by labtrack's one settings parser."""

from __future__ import annotations

import pytest

from labtrack.errors import ConfigurationError
from labtrack.server._context import ServerConfig


@pytest.mark.parametrize(
    "config",
    [
        ServerConfig(),
        ServerConfig(
            backend_store_uri="postgresql://db/labtrack",
            artifacts_destination="s3://bucket/prefix",
            serve_artifacts=False,
            default_artifact_root="s3://bucket/runs",
            max_body_bytes=1234,
            max_heavy_requests=2,
            heavy_request_queue=0,
            heavy_request_wait=2.5,
            header_timeout=0.5,
            max_connections=50,
            allowed_hosts=("tracking.example", "*.corp.example"),
            cors_allowed_origins=("https://app.example", "http://localhost:*"),
        ),
    ],
    ids=["defaults", "everything"],
)
def test_the_environment_of_workers_round_trips(config: ServerConfig) -> None:
    assert ServerConfig.from_environ(config.to_environ()) == config


def test_the_variable_names_of_each_field() -> None:
    environ = {
        "LABTRACK_SERVER_BACKEND_STORE_URI": "sqlite:///other.db",
        "LABTRACK_SERVER_ARTIFACTS_DESTINATION": "/srv/artifacts",
        "LABTRACK_SERVER_SERVE_ARTIFACTS": "false",
        "LABTRACK_SERVER_DEFAULT_ARTIFACT_ROOT": "s3://b/p",
        "LABTRACK_SERVER_MAX_BODY_BYTES": "99",
        "LABTRACK_SERVER_MAX_HEAVY_REQUESTS": "3",
        "LABTRACK_SERVER_HEAVY_REQUEST_QUEUE": "0",
        "LABTRACK_SERVER_HEAVY_REQUEST_WAIT": "1.5",
        "LABTRACK_SERVER_HEADER_TIMEOUT": "4",
        "LABTRACK_SERVER_MAX_CONNECTIONS": "200",
        "LABTRACK_SERVER_ALLOWED_HOSTS": "a.example, b.example",
        "LABTRACK_SERVER_CORS_ALLOWED_ORIGINS": "https://app.example",
    }
    assert ServerConfig.from_environ(environ) == ServerConfig(
        backend_store_uri="sqlite:///other.db",
        artifacts_destination="/srv/artifacts",
        serve_artifacts=False,
        default_artifact_root="s3://b/p",
        max_body_bytes=99,
        max_heavy_requests=3,
        heavy_request_queue=0,
        heavy_request_wait=1.5,
        header_timeout=4.0,
        max_connections=200,
        allowed_hosts=("a.example", "b.example"),
        cors_allowed_origins=("https://app.example",),
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("1", True), ("yes", True), ("ON", True), ("false", False), ("0", False)],
)
def test_serve_artifacts_is_read_as_every_other_boolean_setting(text: str, expected: bool) -> None:
    config = ServerConfig.from_environ({"LABTRACK_SERVER_SERVE_ARTIFACTS": text})
    assert config.serve_artifacts is expected


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("SERVE_ARTIFACTS", "maybe"),
        ("MAX_BODY_BYTES", "-5"),
        ("MAX_BODY_BYTES", "lots"),
        ("MAX_HEAVY_REQUESTS", "0"),
        ("HEAVY_REQUEST_QUEUE", "-1"),
        ("HEADER_TIMEOUT", "0"),
        ("MAX_CONNECTIONS", "many"),
    ],
)
def test_an_invalid_value_is_a_configuration_error(name: str, text: str) -> None:
    setting = f"server_{name.lower()}"
    with pytest.raises(ConfigurationError, match=f"Invalid value for {setting} in environment"):
        ServerConfig.from_environ({f"LABTRACK_SERVER_{name}": text})
