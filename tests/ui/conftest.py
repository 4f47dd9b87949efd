"""Fixtures of the UI tests: a server app holding the demo store, and a client for it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from ui.demo import Demo, build

BASE = "http://testserver"


@dataclass
class DemoApp:
    app: Any
    demo: Demo
    db_uri: str
    artifacts: str


def make_app(tmp: Path, with_demo: bool = True) -> DemoApp:
    from labtrack.server.app import ServerConfig, create_app

    db_uri = f"sqlite:///{tmp / 'ui.db'}"
    artifacts = str(tmp / "artifacts")
    config = ServerConfig(
        backend_store_uri=db_uri,
        artifacts_destination=artifacts,
        allowed_hosts=("testserver",),  # httpx's in-process requests name this host
    )
    app = create_app(config)
    demo = build(app.state.context) if with_demo else None
    return DemoApp(app, demo, db_uri, artifacts)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> DemoApp:
    """The demo store, shared by the read-only tests of a module."""
    return make_app(tmp_path_factory.mktemp("ui"))


@pytest.fixture
def fresh(tmp_path: Path) -> DemoApp:
    """A demo store of its own, for tests that change things."""
    return make_app(tmp_path)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def client_for(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE, timeout=30) as client:
        yield client


@pytest.fixture
async def http(shared: DemoApp) -> AsyncIterator[httpx.AsyncClient]:
    async for client in client_for(shared.app):
        yield client


@pytest.fixture
async def fresh_http(fresh: DemoApp) -> AsyncIterator[httpx.AsyncClient]:
    async for client in client_for(fresh.app):
        yield client


def csrf_of(html: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


async def post_form(
    client: httpx.AsyncClient,
    page: str,
    action: str,
    data: dict[str, Any],
    origin: str | None = BASE,
) -> httpx.Response:
    """POST a form as the page's own form would: token from the page, same origin."""
    html = (await client.get(page)).text
    headers = {"Origin": origin} if origin else {}
    return await client.post(action, data={**data, "csrf_token": csrf_of(html)}, headers=headers)
