"""Shared fixtures: a fresh store per test on every database that is available.

PostgreSQL and MySQL/MariaDB tests run when their URLs are set
(``LABTRACK_TEST_POSTGRES_URL``, ``LABTRACK_TEST_MYSQL_URL``; ``.ci/run`` sets
both) and are skipped with that reason otherwise. Each pytest worker gets its own
database on the server; tables are emptied between tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from databases import BACKENDS, fresh_database

# What labtrack (./labtrack.db, the default tracking URI) or the mlflow client (./mlruns)
# write into the working directory when a test reaches a store outside the isolation
# below: the run fails if one of them appears or changes while the tests run.
_CWD_LEFTOVERS = ("labtrack.db", "mlruns")
_cwd_before: dict[Path, tuple[int, int] | None] = {}
_cwd_written: list[str] = []


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    return info.st_mtime_ns, info.st_size


def pytest_sessionstart(session: pytest.Session) -> None:
    for name in _CWD_LEFTOVERS:
        path = Path.cwd() / name
        _cwd_before[path] = _stat(path)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    written = [str(path) for path, before in _cwd_before.items() if _stat(path) != before]
    if written:
        _cwd_written.extend(written)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _cwd_written:
        terminalreporter.section("written into the working directory", red=True)
        terminalreporter.write_line(
            f"A test wrote {', '.join(_cwd_written)}: something opened a store outside the "
            "tests' isolation (run the modules one at a time from an empty directory to find "
            "it)."
        )


@pytest.fixture(params=BACKENDS)
def db_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL with no labtrack data in it, on each backend."""
    with fresh_database(request.param, tmp_path) as uri:
        yield uri


@pytest.fixture
def artifact_root(tmp_path: Path) -> str:
    from labtrack.artifacts import path_to_file_uri

    root = tmp_path / "artifacts"
    root.mkdir()
    return path_to_file_uri(str(root))


@pytest.fixture
def sql_store(db_uri: str, artifact_root: str):
    """A SqlStore on each database backend."""
    from labtrack.store.sql.store import SqlStore

    return SqlStore(db_uri, artifact_root)


@pytest.fixture(params=[*BACKENDS, "rest"])
def store(request: pytest.FixtureRequest, tmp_path: Path, artifact_root: str):
    """Every tracking store: SqlStore on each database, and RestStore through a live server.

    The server variant keeps artifacts where the SQL variants do (``artifact_root``), so
    the same expectations hold for both.
    """
    if request.param == "rest":
        from labtrack.artifacts import local_path_from_uri
        from labtrack.store.rest import RestStore
        from livesrv import serve_in_thread

        destination = str(local_path_from_uri(artifact_root))
        with serve_in_thread(
            f"sqlite:///{tmp_path / 'server.db'}", destination, serve_artifacts=False
        ) as url:
            yield RestStore(url)
        return
    from labtrack.store.sql.store import SqlStore

    with fresh_database(request.param, tmp_path) as uri:
        yield SqlStore(uri, artifact_root)


@pytest.fixture(autouse=True)
def _isolated_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """No test sees the developer's environment or writes into the working directory."""
    for name in list(os.environ):
        if name.startswith(("LABTRACK_", "MLFLOW_")) and not name.startswith("LABTRACK_TEST_"):
            monkeypatch.delenv(name)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("LABTRACK_TRACKING_URI", f"sqlite:///{home / 'labtrack.db'}")
    monkeypatch.setenv("LABTRACK_ARTIFACT_ROOT", str(home / "labtrack-artifacts"))
    # Runs made by tests do not need the package list or git state of this checkout.
    monkeypatch.setenv("LABTRACK_CAPTURE_ENVIRONMENT", "false")
    from labtrack.config import settings

    settings._overrides.clear()
    settings._file_values = None
    _forget_stores()
    yield
    _reset_fluent_state()
    _forget_stores()
    settings._overrides.clear()
    settings._file_values = None


def _forget_stores() -> None:
    """Stores are cached per process; a test's tables may have been emptied under one."""
    import sys

    stores = sys.modules.get("labtrack.tracking._stores")
    if stores is not None:
        stores._STORES.clear()


def _reset_fluent_state() -> None:
    import sys

    fluent = sys.modules.get("labtrack.tracking.fluent")
    if fluent is None:
        return
    try:
        while fluent.active_run() is not None:
            fluent.end_run()
    except Exception:
        fluent._local.stack.clear()
    fluent._state.experiment_id = None
    fluent._state.client = None
    fluent._state.open_runs.clear()
    batching = sys.modules.get("labtrack.tracking._batching")
    if batching is not None and batching._queue is not None:
        try:
            batching._queue.flush()
        except Exception:
            pass
    heartbeats = sys.modules.get("labtrack.tracking._heartbeats")
    if heartbeats is not None and heartbeats._heartbeats is not None:
        heartbeats._heartbeats._runs.clear()  # no heartbeats to a finished test's store
