"""The server's guards against other sites: ``CrossSiteGuard`` (a page on another site
making the browser change something) and ``HostGuard`` (DNS rebinding).

Each guard wraps a tiny ASGI app that answers 200 ``reached``, so a test sees only the
guard's decision; requests go through ``httpx.ASGITransport``. The whole server with its
guards in place (and CORS for allowed origins) is tested in test_mlflow_api.py.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from labtrack.server._cross_site import CrossSiteGuard, HostGuard, host_allowed, origin_allowed

pytestmark = pytest.mark.anyio

SERVER = "tracker.example:5000"
APP = "https://notebook.corp.example"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def reached(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"reached"})


async def call(
    app: Any, method: str, path: str, headers: dict[str, str], host: str = SERVER
) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://{host}") as client:
        return await client.request(method, path, headers=headers)


# -- CrossSiteGuard --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("headers", "passes"),
    [
        ({}, True),  # no browser at all: the mlflow client, curl
        ({"Origin": f"http://{SERVER}"}, True),
        ({"Origin": f"http://{SERVER.upper()}"}, True),
        ({"Origin": "http://evil.example"}, False),
        ({"Origin": "http://tracker.example:5001"}, False),  # another port is another origin
        ({"Origin": "null"}, False),  # a sandboxed frame or a file:// page
        # Origin decides when present, whatever the other headers say
        ({"Origin": "http://evil.example", "Sec-Fetch-Site": "same-origin"}, False),
        ({"Origin": f"http://{SERVER}", "Sec-Fetch-Site": "cross-site"}, True),
        ({"Sec-Fetch-Site": "same-origin"}, True),
        ({"Sec-Fetch-Site": "none"}, True),  # typed in the address bar, a bookmark
        ({"Sec-Fetch-Site": "same-site"}, False),  # a sibling subdomain is another site's page
        ({"Sec-Fetch-Site": "cross-site"}, False),
        # without Origin or Sec-Fetch-Site, the Referer names the page
        ({"Referer": f"http://{SERVER}/experiments"}, True),
        ({"Referer": "http://evil.example/page"}, False),
        # behind a proxy that rewrites Host, the browser's host is in X-Forwarded-Host
        ({"Origin": "https://ml.corp.example", "X-Forwarded-Host": "ml.corp.example"}, True),
        (
            {"Origin": "https://ml.corp.example", "X-Forwarded-Host": "ml.corp.example, inner"},
            True,
        ),
        ({"Origin": "https://evil.example", "X-Forwarded-Host": "ml.corp.example"}, False),
        ({"Referer": "https://ml.corp.example/x", "X-Forwarded-Host": "ml.corp.example"}, True),
    ],
)
async def test_state_changing_api_requests_from_another_site_are_refused(
    headers: dict[str, str], passes: bool
) -> None:
    response = await call(CrossSiteGuard(reached), "POST", "/api/2.0/mlflow/runs/delete", headers)
    if passes:
        assert (response.status_code, response.text) == (200, "reached")
    else:
        assert response.status_code == 403
        body = response.json()
        assert body["error_code"] == "PERMISSION_DENIED"
        assert body["message"].startswith(
            "Cross-site request refused: POST /api/2.0/mlflow/runs/delete was sent by a page "
            "on another site"
        )
        assert "--cors-allowed-origins" in body["message"]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("path", ["/api/2.0/mlflow/runs/create", "/ajax-api/2.0/mlflow/x"])
async def test_every_writing_method_on_both_api_prefixes_is_guarded(method: str, path: str) -> None:
    response = await call(CrossSiteGuard(reached), method, path, {"Origin": "http://evil.example"})
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/2.0/mlflow/experiments/get"),  # reads change nothing
        ("HEAD", "/api/2.0/mlflow/experiments/get"),
        ("OPTIONS", "/api/2.0/mlflow/runs/create"),  # CORS preflights
        ("POST", "/experiments"),  # the UI's forms: checked by labtrack.ui._security
    ],
)
async def test_reads_and_non_api_paths_are_left_to_others(method: str, path: str) -> None:
    response = await call(CrossSiteGuard(reached), method, path, {"Origin": "http://evil.example"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("origin", "passes"),
    [(APP, True), ("https://other.corp.example", False), ("http://evil.example", False)],
)
async def test_allowed_origins_pass(origin: str, passes: bool) -> None:
    guard = CrossSiteGuard(reached, allowed_origins=(APP,))
    response = await call(guard, "POST", "/api/2.0/mlflow/runs/create", {"Origin": origin})
    assert response.status_code == (200 if passes else 403)


async def test_websocket_and_lifespan_scopes_pass_untouched() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    await CrossSiteGuard(app)({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    await HostGuard(app)({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    assert seen == ["lifespan", "lifespan"]


# -- the origin matcher (shared with the CORS middleware) ------------------------------------
@pytest.mark.parametrize(
    ("origin", "allowed", "expected"),
    [
        (APP, (APP,), True),
        (APP.upper(), (APP + "/",), True),
        ("http://notebook.corp.example", (APP,), False),  # another scheme is another origin
        ("https://ml.corp.example", ("https://*.corp.example",), True),
        ("https://corp.example.evil", ("https://*.corp.example",), False),
        ("http://localhost:3000", ("http://localhost:*",), True),
        ("https://anything.example", ("*",), True),
        ("null", ("*",), False),  # sandboxed frames and file:// pages never match
        ("", (APP,), False),
        (APP, (), False),
        (APP, ("", "  "), False),  # blank patterns match nothing
    ],
)
def test_origins_allowed_to_call_the_api(
    origin: str, allowed: tuple[str, ...], expected: bool
) -> None:
    assert origin_allowed(origin, allowed) is expected


# -- HostGuard -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("host", "allowed", "expected"),
    [
        ("127.0.0.1:5000", (), True),
        ("[::1]:5000", (), True),
        ("10.1.2.3", (), True),
        ("localhost:5000", (), True),
        ("app.localhost", (), True),
        ("tracker:5000", (), False),
        ("tracker:5000", ("tracker",), True),
        ("TRACKER:5000", ("tracker",), True),
        ("tracker:5001", ("tracker:5000",), False),
        ("ml.corp.example", ("*.corp.example",), True),
        ("corp.example.evil", ("*.corp.example",), False),
        ("anything.example", ("*",), True),
        ("", (), False),
    ],
)
def test_host_names_the_server_answers_to(
    host: str, allowed: tuple[str, ...], expected: bool
) -> None:
    assert host_allowed(host, allowed) is expected


async def test_a_request_to_an_unknown_host_name_is_refused() -> None:
    guard = HostGuard(reached, allowed=("tracker.example",))
    assert (await call(guard, "GET", "/api/2.0/mlflow/x", {}, host=SERVER)).status_code == 200
    response = await call(guard, "GET", "/api/2.0/mlflow/x", {}, host="evil.example")
    assert response.status_code == 403
    body = response.json()
    assert body["error_code"] == "PERMISSION_DENIED"
    assert body["message"].startswith(
        "This server does not answer to the host name 'evil.example'. If that is its name, "
        "start it with --allowed-hosts evil.example"
    )


@pytest.mark.parametrize("path", ["/health", "/version"])
async def test_health_and_version_answer_whatever_the_host(path: str) -> None:
    response = await call(HostGuard(reached), "GET", path, {}, host="lb.internal")
    assert (response.status_code, response.text) == (200, "reached")
