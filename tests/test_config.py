"""Settings: defaults < config file < environment < code, and unknown keys are errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from labtrack.config import DEFAULT_TRACKING_URI, SETTINGS, Settings
from labtrack.errors import ConfigurationError


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_defaults(cwd: Path) -> None:
    settings = Settings(environ={})
    assert settings.get("tracking_uri") == DEFAULT_TRACKING_URI
    assert settings.get("async_logging") is True
    assert settings.get("log_queue_size") == 100_000


def test_layers(cwd: Path) -> None:
    (cwd / "labtrack.toml").write_text('tracking_uri = "sqlite:///file.db"\nlog_queue_size = 10\n')
    settings = Settings(environ={})
    assert settings.get("tracking_uri") == "sqlite:///file.db"
    assert settings.get("log_queue_size") == 10
    settings = Settings(environ={"MLFLOW_TRACKING_URI": "sqlite:///mlflow-env.db"})
    assert settings.get("tracking_uri") == "sqlite:///mlflow-env.db"
    settings = Settings(
        environ={"MLFLOW_TRACKING_URI": "sqlite:///m.db", "LABTRACK_TRACKING_URI": "sqlite:///l.db"}
    )
    assert settings.get("tracking_uri") == "sqlite:///l.db"
    settings.set("tracking_uri", "sqlite:///code.db")
    assert settings.get("tracking_uri") == "sqlite:///code.db"
    settings.set("tracking_uri", None)
    assert settings.get("tracking_uri") == "sqlite:///l.db"


def test_explicit_config_file(tmp_path: Path, cwd: Path) -> None:
    (cwd / "labtrack.toml").write_text("capture_git = true\n")
    config = tmp_path / "elsewhere.toml"
    config.write_text("capture_git = false\n")
    assert Settings(environ={"LABTRACK_CONFIG": str(config)}).get("capture_git") is False


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("tracking_url = 'x'\n", "Unknown setting(s) tracking_url"),
        ("log_queue_size = -1\n", "Invalid value for log_queue_size"),
        ("async_logging = 'perhaps'\n", "Invalid value for async_logging"),
        ("this is not toml", "Cannot read config file"),
    ],
)
def test_bad_config_files(cwd: Path, text: str, fragment: str) -> None:
    (cwd / "labtrack.toml").write_text(text)
    with pytest.raises(ConfigurationError, match=re.escape(fragment)):
        Settings(environ={}).get("tracking_uri")


@pytest.mark.parametrize(
    ("env", "value"),
    [("true", True), ("1", True), ("yes", True), ("off", False), ("0", False), ("FALSE", False)],
)
def test_booleans_from_the_environment(cwd: Path, env: str, value: bool) -> None:
    assert Settings(environ={"LABTRACK_ASYNC_LOGGING": env}).get("async_logging") is value


def test_bad_environment_value_is_a_clear_error(cwd: Path) -> None:
    with pytest.raises(ConfigurationError, match="LABTRACK_LOG_QUEUE_SIZE"):
        Settings(environ={"LABTRACK_LOG_QUEUE_SIZE": "lots"}).get("log_queue_size")


def test_unknown_setting_names(cwd: Path) -> None:
    settings = Settings(environ={})
    with pytest.raises(ConfigurationError, match="Unknown setting"):
        settings.get("nope")
    with pytest.raises(ConfigurationError, match="Unknown setting"):
        settings.set("nope", 1)


def test_missing_explicit_config_file(cwd: Path) -> None:
    with pytest.raises(ConfigurationError, match="not a file"):
        Settings(environ={"LABTRACK_CONFIG": str(cwd / "missing.toml")}).get("tracking_uri")


def test_every_setting_has_help_and_an_environment_variable() -> None:
    for setting in SETTINGS:
        assert setting.help
        assert setting.env
        assert setting.env[0].startswith("LABTRACK_")


@pytest.mark.parametrize(("env", "verify"), [("1", False), ("true", False), ("no", True)])
def test_tls_of_a_tracking_server_is_read_as_every_other_boolean(
    cwd: Path, monkeypatch: pytest.MonkeyPatch, env: str, verify: bool
) -> None:
    from labtrack._http import _verify

    monkeypatch.delenv("LABTRACK_TRACKING_SERVER_CERT_PATH", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_SERVER_CERT_PATH", raising=False)
    monkeypatch.delenv("LABTRACK_TRACKING_INSECURE_TLS", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_INSECURE_TLS", env)
    assert _verify() is verify


def test_lists_in_a_config_file(tmp_path: Path, cwd: Path) -> None:
    (cwd / "labtrack.toml").write_text('server_allowed_hosts = ["a.example", "*.b.example"]\n')
    settings = Settings({})
    assert settings.get("server_allowed_hosts") == ("a.example", "*.b.example")


@pytest.mark.parametrize(
    ("environ", "value"),
    [
        ({}, ("https",)),
        ({"MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https"}, ("http", "https")),
        ({"LABTRACK_WEBHOOK_ALLOWED_SCHEMES": " HTTPS , http "}, ("https", "http")),
    ],
)
def test_webhook_schemes(cwd: Path, environ: dict[str, str], value: tuple[str, ...]) -> None:
    assert Settings(environ=environ).get("webhook_allowed_schemes") == value


@pytest.mark.parametrize("text", ["ftp", "https,file", " , "])
def test_webhook_schemes_are_http_or_https(cwd: Path, text: str) -> None:
    settings = Settings(environ={"LABTRACK_WEBHOOK_ALLOWED_SCHEMES": text})
    with pytest.raises(ConfigurationError, match="expected https, http or both"):
        settings.get("webhook_allowed_schemes")
