"""Fixtures of the MLflow compatibility suite: a real ``labtrack server``, the real client.

Each test module gets its own server (a ``labtrack server`` process on a free port,
SQLite store and proxied artifacts in a temporary directory); ``tracking_server``
can be parametrized indirectly with ``"postgresql"`` to run on PostgreSQL instead
(skipped when ``LABTRACK_TEST_POSTGRES_URL`` is unset). Every test starts with
MLflow's process-wide state (tracking URI, active run and experiment, MLFLOW_*
variables) reset, and no test's state reaches the next one.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# MLflow 3 reports usage to a telemetry service from a background thread unless told not
# to; it decides once, when ``mlflow`` is first imported (at collection), so this must be
# in the environment before any test module imports it.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

POSTGRES_ENV = "LABTRACK_TEST_POSTGRES_URL"
# Point the suite at a running server instead (e.g. a real `mlflow server`, to check that
# the tests expect what MLflow does); tests marked labtrack_only are then skipped.
AGAINST_ENV = "LABTRACK_TEST_COMPAT_SERVER"
_HERE = Path(__file__).parent

# Warnings the mlflow client itself (not labtrack) raises while these tests drive it. The
# project turns every warning into an error, so each is named precisely here, with why it
# is not ours to fix; labtrack's own warnings still fail the tests.
MLFLOW_WARNING_FILTERS = (
    # mlflow.types.responses infers a schema from its own pydantic models when
    # mlflow.pyfunc is first imported (log_model / load_model import it lazily).
    r"ignore:.*Any type hint is inferred as AnyType:UserWarning",
    # mlflow.data.digest_utils calls DataFrame.all(0) positionally (pandas >= 3 warns with
    # Pandas4Warning, a DeprecationWarning; named by its base so older pandas parse it).
    r"ignore:Starting with pandas version 4.0 all arguments of all will be keyword-only"
    r":DeprecationWarning",
    # mlflow.models.utils compares DataFrame.columns with a range() when saving an input
    # example (pandas >= 3 warns, again a Pandas4Warning).
    r"ignore:Operation with range is deprecated:DeprecationWarning",
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "labtrack_only: checks labtrack's own behaviour, not MLflow's (compat suite)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    against = os.environ.get(AGAINST_ENV)
    for item in items:
        if _HERE in Path(str(item.path)).parents:
            for spec in MLFLOW_WARNING_FILTERS:
                item.add_marker(pytest.mark.filterwarnings(spec))
            if against and item.get_closest_marker("labtrack_only"):
                item.add_marker(pytest.mark.skip(reason=f"{AGAINST_ENV} names another server"))


# -- servers ---------------------------------------------------------------------------------
def _postgres_database() -> str:
    """A database of this suite's own (not the store tests' one) on the PostgreSQL server."""
    from databases import create_server_database

    return create_server_database("postgresql", "compat")


@contextlib.contextmanager
def labtrack_server(backend: str, workdir: Path) -> Iterator[str]:
    """``labtrack server`` on a free port over ``backend`` ("sqlite" or "postgresql")."""
    from livesrv import serve_in_process

    if backend == "sqlite":
        uri = f"sqlite:///{workdir / 'labtrack.db'}"
    elif backend == "postgresql":
        uri = _postgres_database()
    else:
        raise ValueError(f"unknown backend {backend!r}")
    with serve_in_process(uri, workdir / "artifacts", log_file=workdir / "server.log") as url:
        yield url


@pytest.fixture(scope="module")
def tracking_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The URL of this module's server (SQLite unless parametrized with "postgresql")."""
    backend = getattr(request, "param", "sqlite")
    against = os.environ.get(AGAINST_ENV)
    if against:
        yield against.rstrip("/")
        return
    with labtrack_server(backend, tmp_path_factory.mktemp(f"server-{backend}")) as url:
        yield url


# -- mlflow's process-wide state ---------------------------------------------------------------
def _mlflow_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(("MLFLOW_", "_MLFLOW_"))}


def _reset_mlflow() -> None:
    """Forget mlflow's active runs, experiment, last run/model and tracking URI."""
    mlflow = sys.modules.get("mlflow")
    if mlflow is None:
        return
    from mlflow.tracking import fluent
    from mlflow.tracking._tracking_service import utils as tracking_utils

    try:
        while mlflow.active_run() is not None:
            mlflow.end_run()
    finally:
        # The stack is thread-local; end_run() may fail if a test broke the run on purpose.
        fluent._active_run_stack.set([])
        fluent._last_active_run_id.set(None)
        fluent._last_logged_model_id.set(None)
        fluent._active_experiment_id = None
        with contextlib.suppress(Exception):
            if mlflow.get_active_model_id() is not None:
                mlflow.clear_active_model()
        tracking_utils._tracking_uri = None
        registry = sys.modules.get("mlflow.tracking._model_registry.utils")
        if registry is not None:
            registry._registry_uri = None  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _clean_mlflow_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """mlflow keeps its state in globals and os.environ (set_tracking_uri and set_experiment
    write MLFLOW_TRACKING_URI / MLFLOW_EXPERIMENT_ID); undo all of it after each test."""
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    before = _mlflow_env()
    _reset_mlflow()
    yield
    try:
        _reset_mlflow()
    finally:
        for name in set(_mlflow_env()) - set(before):
            del os.environ[name]
        os.environ.update(before)


# -- per-test handles --------------------------------------------------------------------------
@pytest.fixture
def tracking_uri(tracking_server: str) -> str:
    """This module's server, set as mlflow's tracking URI for the test."""
    import mlflow

    mlflow.set_tracking_uri(tracking_server)
    return tracking_server


@pytest.fixture
def client(tracking_uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri)


def unique_name(request: pytest.FixtureRequest, prefix: str = "") -> str:
    base = re.sub(r"[^\w.-]+", "-", request.node.name).strip("-")
    return f"{prefix}{base}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def experiment_name(request: pytest.FixtureRequest) -> str:
    return unique_name(request)


@pytest.fixture
def experiment_id(client: Any, experiment_name: str) -> str:
    """A fresh experiment, made the active one for the fluent API."""
    import mlflow

    experiment_id = client.create_experiment(experiment_name)
    mlflow.set_experiment(experiment_id=experiment_id)
    return str(experiment_id)
