"""``/api/docs``: Swagger UI served from the installed package, never from another site."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from importlib import resources

import httpx
import pytest

from labtrack.ui import api_docs

pytestmark = pytest.mark.anyio


@pytest.fixture
def without_swagger_ui(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As if ``fastapi-offline`` were not installed (its import fails, as it would)."""
    api_docs._assets.cache_clear()
    api_docs._release.cache_clear()
    monkeypatch.setitem(sys.modules, api_docs.ASSETS_PACKAGE, None)
    yield
    monkeypatch.undo()
    api_docs._assets.cache_clear()
    api_docs._release.cache_clear()


async def test_the_page_runs_swagger_ui_from_this_server(http: httpx.AsyncClient) -> None:
    page = await http.get("/api/docs")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp
    assert "unsafe-eval" not in csp
    assert "<script>" not in page.text  # no inline script
    scripts = re.findall(r'<script[^>]* src="([^"]+)"', page.text)
    assert any(s.endswith("/swagger-ui-bundle.js") for s in scripts)
    assert all(s.startswith("/") and not s.startswith("//") for s in scripts)
    assert 'data-openapi-url="/api/2.0/labtrack/openapi.json"' in page.text
    assert (await http.get("/api/2.0/labtrack/openapi.json")).json()["paths"]
    twin = (await http.get("/api/docs?format=json")).json()
    assert (twin["swagger_ui"], twin["install"]) == (True, None)


async def test_swagger_uis_files_are_the_packages(http: httpx.AsyncClient) -> None:
    folder = resources.files(api_docs.ASSETS_PACKAGE) / "static"
    for name in ("swagger-ui-bundle.js", "swagger-ui.css"):
        url = api_docs.asset_url(name)
        plain = await http.get(url, headers={"Accept-Encoding": "identity"})
        assert plain.content == (folder / name).read_bytes()
        assert "immutable" in plain.headers["cache-control"]
        packed = await http.get(url, headers={"Accept-Encoding": "gzip"})
        assert packed.headers["content-encoding"] == "gzip"
        assert packed.content == plain.content  # as httpx decodes it
        assert packed.num_bytes_downloaded < len(plain.content) / 2
    other = await http.get(api_docs.asset_url("redoc.standalone.js"))  # shipped, not served
    assert other.status_code == 404
    assert other.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    escape = await http.get(api_docs.asset_url("..%2F__init__.py"))
    assert escape.status_code == 404


async def test_without_swagger_ui_the_page_says_how_to_get_it(
    http: httpx.AsyncClient, without_swagger_ui: None
) -> None:
    page = await http.get("/api/docs")
    assert page.status_code == 200
    assert "pip install &#34;labtrack[api-docs]&#34;" in page.text
    assert 'href="/api/2.0/labtrack/openapi.json"' in page.text
    assert "swagger-ui-bundle" not in page.text
    assert "script-src 'self';" in page.headers["content-security-policy"]
    twin = (await http.get("/api/docs?format=json")).json()
    assert twin["install"] == 'pip install "labtrack[api-docs]"'
    missing = await http.get("/api/docs/assets/x/swagger-ui-bundle.js")
    assert missing.status_code == 404
