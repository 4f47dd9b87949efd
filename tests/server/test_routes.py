"""The server's route table: every route the app serves comes from it, and the modules
that contribute to it do not reach into each other."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Route as StarletteRoute

import labtrack.server
from labtrack.server.app import ServerConfig, create_app

API_MODULES = ["mlflow_api", "registry_api", "logged_models_api", "artifacts_api", "labtrack_api"]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("routes")
    return create_app(
        ServerConfig(backend_store_uri=f"sqlite:///{tmp / 'db.db'}", artifacts_destination=str(tmp))
    )


def test_every_route_the_app_serves_comes_from_the_table(app: Any) -> None:
    table = {(r.path, method) for r in app.state.route_table for method in r.methods}
    # FastAPI's own: the OpenAPI document (its docs page, /api/docs, is the UI's).
    assert app.docs_url is None
    assert app.redoc_url is None
    framework = {app.openapi_url}
    served = set()
    for route in app.routes:
        assert isinstance(route, StarletteRoute), route  # no mounts or sub-apps around the table
        if route.path in framework:
            continue
        served |= {(route.path, m) for m in route.methods or () if m != "HEAD"}
    assert served == table


def test_each_path_and_method_is_in_the_table_once(app: Any) -> None:
    counts = Counter((r.path, m) for r in app.state.route_table for m in r.methods)
    assert [key for key, n in counts.items() if n > 1] == []


def test_the_table_covers_each_family(app: Any) -> None:
    paths = [r.path for r in app.state.route_table]
    for prefix in (
        "/api/2.0/mlflow/runs/",
        "/ajax-api/2.0/mlflow/registered-models/",
        "/api/2.0/mlflow/logged-models",
        "/api/2.0/mlflow-artifacts/",
        "/api/2.0/labtrack/",
        "/runs/",
        "/static/",
    ):
        assert any(p.startswith(prefix) for p in paths), prefix
    assert {"/health", "/version", "/api/3.0/mlflow/server-info"} <= set(paths)


@pytest.mark.parametrize("module", API_MODULES)
def test_an_api_module_imports_none_of_its_siblings(module: str) -> None:
    source = Path(labtrack.server.__file__).with_name(f"{module}.py").read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
            imported |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
    siblings = {f"labtrack.server.{m}" for m in API_MODULES if m != module}
    assert imported & siblings == set()
    assert "labtrack.server.app" not in imported  # the context comes from server/_context.py
