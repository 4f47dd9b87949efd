"""The UI's defences: escaping, cross-site request refusal, CSP and headers, error pages."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from labtrack.ui._security import DEFAULT_CSP
from ui.conftest import BASE, DemoApp, client_for, csrf_of, post_form
from ui.demo import XSS_FILE, XSS_NAME, XSS_PARAM, XSS_TAG

pytestmark = pytest.mark.anyio


async def test_user_strings_are_escaped_everywhere(
    http: httpx.AsyncClient, shared: DemoApp
) -> None:
    demo = shared.demo
    pages = [
        f"/runs?experiments={demo.experiment_id}&col=tags.note&col=params.objective",
        f"/runs/{demo.xss_run_id}",
        f"/runs/{demo.xss_run_id}/artifacts",
        f"/compare?runs={demo.xss_run_id},{demo.best_run_id}",
    ]
    for path in pages:
        text = (await http.get(path)).text
        for raw in (XSS_NAME, XSS_TAG, XSS_PARAM, XSS_FILE):
            assert raw not in text, (path, raw)
        assert "<script>window.__xss" not in text
        assert "onerror=" not in text.replace("onerror=&#34;", "").replace(
            "onerror=alert(4)&gt;", ""
        )
    run_page = (await http.get(f"/runs/{demo.xss_run_id}")).text
    assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;run" in run_page
    assert "&lt;img src=x onerror=&#34;window.__xss = 2&#34;&gt;" in run_page
    assert "&lt;b onmouseover=alert(3)&gt;bold&lt;/b&gt;" in run_page
    listing = (await http.get(f"/runs/{demo.xss_run_id}/artifacts")).text
    assert "&lt;img src=x onerror=alert(4)&gt;.txt" in listing


async def test_compare_data_block_cannot_close_its_script(
    http: httpx.AsyncClient, shared: DemoApp
) -> None:
    text = (await http.get(f"/compare?runs={shared.demo.xss_run_id}")).text
    block = text.split('id="compare-data">')[1].split("</script>")[0]
    assert "<" not in block  # \u003c inside the JSON
    assert ">" not in block
    assert "\\u003cscript\\u003e" in block


async def test_json_twin_keeps_the_raw_strings(http: httpx.AsyncClient, shared: DemoApp) -> None:
    data = (await http.get(f"/runs/{shared.demo.xss_run_id}?format=json")).json()
    assert data["name"] == XSS_NAME
    assert data["tags"]["note"] == XSS_TAG


async def test_pages_send_a_strict_content_security_policy(
    http: httpx.AsyncClient, shared: DemoApp
) -> None:
    plain = await http.get("/experiments")
    csp = plain.headers["content-security-policy"]
    assert "script-src 'self';" in csp
    assert "style-src 'self';" in csp
    assert "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'none'" in csp
    assert plain.headers["x-frame-options"] == "DENY"
    assert plain.headers["x-content-type-options"] == "nosniff"
    assert plain.headers["referrer-policy"] == "same-origin"
    charts = await http.get(f"/runs/{shared.demo.best_run_id}")
    chart_csp = charts.headers["content-security-policy"]
    assert "script-src 'self';" in chart_csp
    assert "style-src 'self' 'unsafe-inline'" in chart_csp  # Plotly styles its SVG inline
    assert "unsafe-eval" not in chart_csp
    assert "<script>" not in charts.text  # no inline scripts: every script has a src
    error = await http.get("/no/such/page")
    assert "script-src 'self'" in error.headers["content-security-policy"]


async def test_the_api_is_left_as_it_was(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/api/2.0/mlflow/experiments/create", json={"name": "from an mlflow client"}
    )
    assert response.status_code == 200  # no token needed
    assert "content-security-policy" not in response.headers
    assert "x-frame-options" not in response.headers


async def test_a_fresh_visitor_gets_a_token_cookie(http: httpx.AsyncClient) -> None:
    response = await http.get("/experiments")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("labtrack_csrf=")
    assert "HttpOnly" in cookie
    # Lax, not Strict: a visitor arriving from a link on another site (a chat, a wiki) must
    # keep the token they have, or the forms in their other tabs would stop working.
    assert "samesite=lax" in cookie.lower()
    assert csrf_of(response.text) == http.cookies["labtrack_csrf"]
    again = await http.get("/experiments")
    assert "set-cookie" not in again.headers  # the same token for the whole session


async def test_cross_site_posts_are_refused(fresh_http: httpx.AsyncClient, fresh: DemoApp) -> None:
    ctx = fresh.app.state.context
    target = f"/experiments/{fresh.demo.experiment_id}/delete"
    # Another site's page posting the form: its origin gives it away, token or not.
    evil = await post_form(fresh_http, "/experiments", target, {}, origin="https://evil.example")
    assert evil.status_code == 403
    assert evil.headers["content-type"].startswith("text/html")
    assert "Cross-site request refused" in evil.text
    null_origin = await post_form(fresh_http, "/experiments", target, {}, origin="null")
    assert null_origin.status_code == 403
    # A request without the token (cookie sent, field missing), even from this origin.
    no_token = await fresh_http.post(target, data={}, headers={"Origin": BASE})
    assert no_token.status_code == 403
    assert "CSRF token" in no_token.text
    wrong = await fresh_http.post(target, data={"csrf_token": "x" * 43}, headers={"Origin": BASE})
    assert wrong.status_code == 403
    # Sec-Fetch-Site from a browser that sends no Origin.
    page = (await fresh_http.get("/experiments")).text
    cross = await fresh_http.post(
        target, data={"csrf_token": csrf_of(page)}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert cross.status_code == 403
    assert ctx.service.get_experiment(fresh.demo.experiment_id).lifecycle_stage == "active"
    # The same form from this site goes through.
    ok = await post_form(fresh_http, "/experiments", target, {})
    assert ok.status_code == 303
    assert ctx.service.get_experiment(fresh.demo.experiment_id).lifecycle_stage == "deleted"


async def test_every_ui_write_route_checks_the_token(fresh: DemoApp) -> None:
    from labtrack.ui import is_ui_path

    def routes(items: Any) -> Any:
        for r in items:
            inner = getattr(r, "original_router", None) or getattr(r, "router", None)
            if inner is not None and hasattr(inner, "routes"):
                yield from routes(inner.routes)
            else:
                yield r

    posts = [
        r.path
        for r in routes(fresh.app.routes)
        if "POST" in (getattr(r, "methods", None) or ()) and is_ui_path(getattr(r, "path", ""))
    ]
    assert len(posts) >= 15
    transport = httpx.ASGITransport(app=fresh.app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        for path in posts:
            concrete = (
                path.replace("{experiment_id}", fresh.demo.experiment_id)
                .replace("{run_id}", fresh.demo.best_run_id)
                .replace("{name}", "m")
                .replace("{version}", "1")
            )
            response = await client.post(concrete, data={"name": "x"})
            assert response.status_code == 403, concrete


async def test_ui_errors_are_pages_and_api_errors_are_json(
    http: httpx.AsyncClient, shared: DemoApp
) -> None:
    missing_page = await http.get("/no/such/page")
    assert missing_page.status_code == 404
    assert missing_page.headers["content-type"].startswith("text/html")
    assert "Not found" in missing_page.text
    missing_run = await http.get("/runs/0123456789abcdef0123456789abcdef")
    assert missing_run.status_code == 404
    assert "<h1>404" in missing_run.text
    as_json = await http.get("/runs/0123456789abcdef0123456789abcdef?format=json")
    assert as_json.status_code == 404
    assert as_json.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    api = await http.get("/api/2.0/mlflow/runs/get?run_id=0123456789abcdef0123456789abcdef")
    assert api.status_code == 404
    assert api.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    api_missing = await http.get("/api/2.0/mlflow/no/such/endpoint")
    assert api_missing.json()["error_code"] == "ENDPOINT_NOT_FOUND"
    wrong_method = await http.delete("/experiments")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["content-type"].startswith("text/html")
    bad_view = await http.get("/experiments?view=sideways")
    assert bad_view.status_code == 400
    assert "view must be one of" in bad_view.text


async def test_redirects_stay_on_this_site(fresh_http: httpx.AsyncClient, fresh: DemoApp) -> None:
    run = fresh.demo.best_run_id
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        response = await post_form(
            fresh_http, "/experiments", "/runs/actions", {"action": "delete", "next": target}
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/experiments"  # no runs selected: go home
    response = await post_form(
        fresh_http,
        "/experiments",
        "/runs/actions",
        {"action": "tag", "run": run, "tag_key": "k", "tag_value": "v", "next": "//evil.example"},
    )
    assert response.headers["location"] == "/experiments"


class _References(HTMLParser):
    """Every URL an HTML page names in an attribute (links, scripts, styles, images, forms)."""

    ATTRIBUTES = frozenset({"href", "src", "action", "formaction", "srcset", "data", "poster"})

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in self.ATTRIBUTES and value:
                self.urls.extend(part.split()[0] for part in value.split(",") if part.strip())
            if name == "style" and value and "url(" in value:
                self.urls.extend(re.findall(r"url\(['\"]?([^'\")]+)", value))


def _foreign(url: str) -> bool:
    parts = urlsplit(url.strip())
    return bool(parts.netloc) or parts.scheme not in ("", "data", "blob", "mailto")


async def test_no_served_html_references_another_origin(
    fresh_http: httpx.AsyncClient, fresh: DemoApp
) -> None:
    from ui.test_ui_pages import pages

    registry = fresh.app.state.context.service.registry
    registry.create_registered_model("churn")
    registry.create_model_version("churn", "s3://bucket/model", run_id=fresh.demo.best_run_id)
    served = [
        *pages(fresh).values(),
        "/models/churn",
        "/models/churn/versions/1",
        "/no/such/page",  # an error page
    ]
    for path in served:
        response = await fresh_http.get(path)
        assert response.headers["content-type"].startswith("text/html"), path
        assert "script-src 'self'" in response.headers["content-security-policy"], path
        parser = _References()
        parser.feed(response.text)
        assert parser.urls, path
        assert [u for u in parser.urls if _foreign(u)] == [], path


async def test_every_html_response_gets_a_content_security_policy(fresh: DemoApp) -> None:
    """Also outside the UI's paths: a route that answers HTML without a CSP of its own
    gets the strictest one."""
    from starlette.responses import HTMLResponse

    from labtrack.server._routes import Route, add_routes

    add_routes(
        fresh.app,
        [Route("/api/2.0/labtrack/bare-html", ("GET",), lambda: HTMLResponse("<p>hi</p>"))],
        fresh.app.state.context.heavy_requests,
    )
    async for client in client_for(fresh.app):
        bare = await client.get("/api/2.0/labtrack/bare-html")
        assert bare.headers["content-security-policy"] == DEFAULT_CSP
        assert bare.headers["x-content-type-options"] == "nosniff"
        api = await client.get("/api/2.0/mlflow/experiments/search?max_results=1")
        assert "content-security-policy" not in api.headers  # JSON is left as it was
