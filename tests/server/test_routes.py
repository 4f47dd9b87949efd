"""The server's route table: every route the app serves comes from it, and the modules
that contribute to it do not reach into each other."""

from __future__ import annotations

import ast
import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Route as StarletteRoute

import labtrack.server
from labtrack.server._exact_paths import ExactPaths
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
    for route in _flat(app.routes):
        assert isinstance(route, StarletteRoute), route  # no mounts or sub-apps around the table
        if route.path in framework:
            continue
        served |= {(route.path, m) for m in route.methods or () if m != "HEAD"}
    assert served == table


def _flat(routes: list[Any]) -> list[Any]:
    return [
        r for route in routes for r in (route.routes if isinstance(route, ExactPaths) else [route])
    ]


def test_mlflow_api_paths_are_found_without_scanning_the_table(app: Any) -> None:
    first = app.routes[0]
    assert isinstance(first, ExactPaths)
    for path in ("/api/2.0/mlflow/runs/log-metric", "/api/2.0/mlflow/runs/get", "/health"):
        assert path in first.by_path


def _app_with(tmp_path: Path, *paths: tuple[str, tuple[str, ...]]) -> Any:
    from fastapi import FastAPI

    from labtrack.server._heavy_requests import HeavyRequestLimit
    from labtrack.server._routes import Route, add_routes

    def endpoint_for(path: str) -> Any:
        def endpoint() -> Any:
            return {"served_by": path}

        return endpoint

    app = FastAPI()
    table = [Route(path, methods, endpoint_for(path)) for path, methods in paths]
    add_routes(app, table, HeavyRequestLimit(running=1, queue=0, wait=0.0))
    return app


def _ask(app: Any, method: str, path: str) -> httpx.Response:
    async def ask() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, path)

    return asyncio.run(ask())


def test_an_exact_path_after_a_route_that_matches_it_keeps_its_place(tmp_path: Path) -> None:
    app = _app_with(
        tmp_path,
        ("/a/{name}", ("GET",)),  # matches /a/b too, and comes first
        ("/a/b", ("GET",)),
        ("/c", ("GET",)),
        ("/c/{name}", ("GET",)),
    )
    assert _ask(app, "GET", "/a/b").json() == {"served_by": "/a/{name}"}
    assert _ask(app, "GET", "/c").json() == {"served_by": "/c"}
    assert _ask(app, "GET", "/c/x").json() == {"served_by": "/c/{name}"}
    indexed = app.routes[0]
    assert isinstance(indexed, ExactPaths)
    assert set(indexed.by_path) == {"/c"}


def test_an_indexed_path_answers_another_method_405_or_a_later_route(tmp_path: Path) -> None:
    app = _app_with(tmp_path, ("/x", ("POST",)), ("/y", ("POST",)), ("/{any}", ("GET",)))
    assert _ask(app, "POST", "/x").json() == {"served_by": "/x"}
    # GET /x: /x matches its path only; the router goes on and /{any} answers, as before.
    assert _ask(app, "GET", "/x").json() == {"served_by": "/{any}"}
    assert _ask(app, "PUT", "/y").status_code == 405
    assert _ask(app, "GET", "/nothing/here").status_code == 404


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


HEAVY_ENDS = (
    "/search",  # runs, experiments, registered models, versions, logged models
    "/search-datasets",
    "/get-history",
    "/get-history-bulk",
    "/get-history-bulk-interval",
    "/history-columns",
    "/artifacts/list",
    "/artifacts/directories",
    "/log-bulk",
)


def test_searches_history_reads_listings_and_bulk_logging_are_heavy(app: Any) -> None:
    """Served in turn (server/_heavy_requests.py): exactly the API's heavy operations, and
    the UI pages that search runs, read histories or list artifacts."""
    for route in app.state.route_table:
        if route.path.startswith(("/api/", "/ajax-api/")):
            listing = route.path.endswith("/mlflow-artifacts/artifacts") and "GET" in route.methods
            assert route.heavy == (route.path.endswith(HEAVY_ENDS) or listing), route.path
    ui_heavy = {r.path for r in app.state.route_table if r.heavy and not r.path.startswith("/a")}
    assert ui_heavy == {
        "/runs",
        "/compare",
        "/compare/metric-history",
        "/runs/{run_id}/metrics/{key:path}",
        "/runs/{run_id}/artifacts",
        "/logged-models/{model_id}/artifacts",
    }
