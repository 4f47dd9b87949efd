"""Fixtures for CLI tests: run ``labtrack`` in-process with click's CliRunner."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from labtrack.cli.main import cli
from labtrack.tracking.client import TrackingClient

Invoke = Callable[..., Result]


@pytest.fixture(autouse=True)
def _cli_env(
    _isolated_settings: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    artifact_root: str,
) -> None:
    """Artifacts of every store go to this test's temp dir; so does anything written to cwd."""
    monkeypatch.setenv("LABTRACK_ARTIFACT_ROOT", artifact_root)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)


@pytest.fixture
def invoke() -> Invoke:
    """``invoke(*args, exit_code=0)``: run labtrack, check the exit code, return the result."""
    runner = CliRunner()

    def run(*args: str, exit_code: int = 0) -> Result:
        result = runner.invoke(cli, list(args), catch_exceptions=False)
        assert result.exit_code == exit_code, (
            f"labtrack {' '.join(args)} exited with {result.exit_code}:\n{result.output}"
        )
        return result

    return run


@pytest.fixture
def client(db_uri: str) -> TrackingClient:
    return TrackingClient(db_uri)
