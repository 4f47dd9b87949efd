"""An unexpected error costs only its own request (labtrack/server/errors.py).

It gets a well-formed 500 (MLflow's error JSON on the API, the error page on the UI) and
the keep-alive connection stays open: the client's next request on it succeeds. Before,
uvicorn closed the connection after every 500, and the next request, often a logged
metric point, was reset.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from databases import fresh_database
from labtrack.server.errors import ErrorBoundary
from labtrack.tracking.service import TrackingService
from livesrv import serve_in_thread

API = "/api/2.0/mlflow"


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with (
        fresh_database(request.param, tmp_path) as db,
        serve_in_thread(db, str(tmp_path / "artifacts")) as url,
    ):
        yield url


@pytest.fixture
def crash(monkeypatch: pytest.MonkeyPatch) -> None:
    """Searching experiments (the API's, and the UI's home page) fails as a bug would."""

    def broken(self: TrackingService, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(TrackingService, "search_experiments", broken)


class Connections:
    """Counts the TCP connections an httpx client opens (its trace extension)."""

    def __init__(self) -> None:
        self.opened = 0

    def __call__(self, event: str, info: dict[str, Any]) -> None:
        if event == "connection.connect_tcp.complete":
            self.opened += 1


@pytest.mark.usefixtures("crash")
def test_the_next_request_on_the_connection_of_a_500_succeeds(
    server: str, caplog: pytest.LogCaptureFixture
) -> None:
    connections = Connections()
    trace = {"trace": connections}
    with httpx.Client(base_url=server, timeout=30) as http:
        run = http.post(f"{API}/runs/create", json={"experiment_id": "0"}, extensions=trace)
        run_id = run.json()["run"]["info"]["run_id"]
        with caplog.at_level(logging.ERROR, logger="labtrack.server"):
            failed = http.get(f"{API}/experiments/search", extensions=trace)
        assert failed.status_code == 500
        assert failed.json() == {
            "error_code": "INTERNAL_ERROR",
            "message": f"Internal error while handling GET {API}/experiments/search",
        }
        assert "connection" not in failed.headers
        # The point logged next, on the same connection, is stored.
        point = {"run_id": run_id, "key": "loss", "value": 0.5, "timestamp": 1, "step": 0}
        logged = http.post(f"{API}/runs/log-metric", json=point, extensions=trace)
        assert logged.status_code == 200, logged.text
        got = http.get(f"{API}/runs/get", params={"run_id": run_id}, extensions=trace)
        assert got.json()["run"]["data"]["metrics"] == [
            {"key": "loss", "value": 0.5, "timestamp": 1, "step": 0}
        ]
    assert connections.opened == 1
    (record,) = [r for r in caplog.records if "failed unexpectedly" in r.getMessage()]
    assert record.exc_info is not None
    assert "a bug" in str(record.exc_info[1])


@pytest.mark.usefixtures("crash")
def test_a_ui_page_that_fails_shows_the_error_page_and_keeps_the_connection(server: str) -> None:
    connections = Connections()
    trace = {"trace": connections}
    with httpx.Client(base_url=server, timeout=30) as http:
        page = http.get("/experiments", extensions=trace)
        assert page.status_code == 500
        assert "text/html" in page.headers["content-type"]
        assert "INTERNAL_ERROR" in page.text
        # The answer passed the middleware inside the boundary: the UI's security headers.
        assert page.headers["x-frame-options"] == "DENY"
        assert http.get("/health", extensions=trace).text == "OK"
    assert connections.opened == 1


# -- the boundary itself, as an ASGI middleware --------------------------------------------
SCOPE = {"type": "http", "method": "GET", "path": "/api/2.0/mlflow/x", "headers": []}
START = {"type": "http.response.start", "status": 200, "headers": []}


async def call(app: Any) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    await ErrorBoundary(app)(dict(SCOPE), receive, send)
    return sent


@pytest.mark.anyio
async def test_a_failure_after_the_response_is_complete_is_only_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(START)
        await send({"type": "http.response.body", "body": b"{}"})
        raise RuntimeError("a background task failed")

    with caplog.at_level(logging.ERROR, logger="labtrack.server"):
        sent = await call(app)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert "failed after its response was sent" in caplog.text


@pytest.mark.anyio
async def test_a_failure_in_the_middle_of_a_response_is_raised_to_close_the_connection() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(START)
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise RuntimeError("the file went away")

    with pytest.raises(RuntimeError, match="the file went away"):
        await call(app)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
