"""The UI in a real headless Chromium (Debian's ``chromium``), driven by Playwright.

Every page renders with no console errors; the seed workflow runs end to end (filter,
sort, pick a column, select, compare, brush an axis, open the best run, its charts and
artifact previews, register its model from the run page, then give the version an alias
and a stage on the model's page); injected markup stays text.

Skipped, saying why, when there is no Chromium (``apt-get install chromium``; CI
installs it) or no Playwright for Python. Playwright never downloads a browser here.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from ui.demo import XSS_NAME, XSS_PARAM, XSS_TAG, Demo, build

CHROMIUM = os.environ.get("LABTRACK_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# What a sandboxed HTML preview says when it stops the file's script: the sandbox working.
EXPECTED_ERRORS = ("Blocked script execution",)

if not (shutil.which(CHROMIUM) or Path(CHROMIUM).is_file()):
    pytest.skip(
        f"no Chromium at {CHROMIUM}: install Debian's (apt-get install chromium) to run the "
        "browser tests",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright for Python is not installed (pip install playwright)"
)


REGISTERED = "demo-registered"  # registered before the tests, for the registry's pages


@dataclass
class Live:
    url: str
    demo: Demo


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    from labtrack.server.app import ServerConfig, ServerContext
    from livesrv import serve_in_thread

    tmp = tmp_path_factory.mktemp("browser")
    db_uri = f"sqlite:///{tmp / 'ui.db'}"
    artifacts = str(tmp / "artifacts")
    context = ServerContext(ServerConfig(backend_store_uri=db_uri, artifacts_destination=artifacts))
    demo = build(context)
    service = context.service
    service.registry.create_registered_model(REGISTERED, description="Registered by the fixture")
    version = service.registry.create_model_version(
        REGISTERED, f"models:/{demo.model_id}", run_id=demo.best_run_id, model_id=demo.model_id
    )
    service.registry.set_registered_model_alias(REGISTERED, "baseline", version.version)
    with serve_in_thread(db_uri, artifacts) as url:
        yield Live(url, demo)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Tab:
    page: Any
    errors: list[str]


@pytest.fixture
def tab(browser: Any) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not m.text.startswith(EXPECTED_ERRORS)
            else None
        ),
    )
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    page.on("dialog", lambda d: d.accept())
    yield Tab(page, errors)
    context.close()


def charts_load(page: Any) -> None:
    """Scroll each chart into view (they load when seen) and wait until it is drawn."""
    # Locators, not wait_for_function: the page's CSP forbids the eval that polling needs.
    charts = page.locator(".chart[data-metric-url]")
    for i in range(charts.count()):
        charts.nth(i).scroll_into_view_if_needed()
        charts.nth(i).locator(".main-svg").first.wait_for(state="attached")
    sync_api.expect(page.locator(".chart[data-loaded='true']")).to_have_count(charts.count())


def pages(live: Live) -> dict[str, str]:
    d = live.demo
    best = d.best_run_id
    return {
        "experiments": "/experiments",
        "runs": f"/runs?experiments={d.experiment_id}",
        "runs as charts": f"/runs?experiments={d.experiment_id}&show=chart&sort=metrics.rmse",
        "run": f"/runs/{best}",
        "metric": f"/runs/{best}/metrics/train-loss",
        "artifacts": f"/runs/{best}/artifacts",
        "image": f"/runs/{best}/artifacts?path=feature_importance.png",
        "csv": f"/runs/{best}/artifacts?path=predictions.csv",
        "html": f"/runs/{best}/artifacts?path=report.html",
        "json": f"/runs/{best}/artifacts?path=params.json",
        "yaml": f"/runs/{best}/artifacts?path=conda.yaml",
        "text": f"/runs/{best}/artifacts?path=models_mlflow/requirements.txt",
        "model directory": f"/runs/{best}/artifacts?path=models_mlflow",
        "compare": f"/compare?runs={','.join(d.sweep_ids[:10])}",
        "compare search": f"/compare?experiments={d.experiment_id}&sort=metrics.rmse&dir=asc",
        "models": "/models",
        "registered model": f"/models/{REGISTERED}",
        "model version": f"/models/{REGISTERED}/versions/1",
        "logged model files": f"/logged-models/{d.model_id}/artifacts",
        "logged model file": f"/logged-models/{d.model_id}/artifacts?path=requirements.txt",
        "api docs": "/api/docs",
        "error": "/runs/0123456789abcdef0123456789abcdef",
    }


@pytest.mark.parametrize("name", list(pages(Live("", Demo("", [], "", "", [], ""))).keys()))
def test_every_page_renders_without_console_errors(live: Live, tab: Tab, name: str) -> None:
    """Each page works under its Content-Security-Policy: Chromium reports whatever the
    policy blocks (a script or style from another origin, an inline script, eval) as a
    console error."""
    page = tab.page
    response = page.goto(live.url + pages(live)[name])
    assert response is not None
    assert response.status == (404 if name == "error" else 200)
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").first.is_visible()
    if name in ("run", "metric"):
        charts_load(page)
    if name == "runs as charts":
        page.locator(".chart[data-run-chart] .main-svg").first.wait_for(state="attached")
    if name.startswith("compare"):
        page.wait_for_selector("body[data-parcoords='ready']")
        page.wait_for_selector("#parcoords svg path.pc-line")
        page.wait_for_selector("body[data-history='ready']")
    if name == "api docs":
        page.locator("#swagger-ui .opblock").first.wait_for()
    if name == "error":  # the browser reports the page's own 404 status
        tab.errors.remove(
            "Failed to load resource: the server responded with a status of 404 (Not Found)"
        )
    assert tab.errors == []


def test_the_seed_workflow_end_to_end(live: Live, tab: Tab) -> None:
    page, demo = tab.page, live.demo
    page.goto(f"{live.url}/experiments")
    page.get_by_role("link", name="nyc-taxi-xgboost").click()
    page.wait_for_url("**/runs?experiments=*")

    # Filter with the search grammar, then sort by rmse (lowest first).
    page.fill("#filter", "metrics.rmse < 7.5 and tags.model = 'xgboost'")
    page.press("#filter", "Enter")
    page.wait_for_url("**filter=*")
    page.locator("#runs-table thead a", has_text="rmse").first.click()
    page.wait_for_url("**sort=metrics.rmse*")
    rows = page.locator("#runs-table tbody tr")
    assert rows.first.get_attribute("data-run-id") == demo.best_run_id
    assert page.locator("th[aria-sort='ascending']").count() == 1

    # Choose a column: the min of the validation history.
    page.click("#columns summary")
    page.check("input[value='metrics.validation-rmse@min']")
    page.click("text=Show columns")
    page.wait_for_url("**col=metrics.validation-rmse%40min*")
    assert page.locator("th", has_text="validation-rmse (min)").count() == 1

    # Select five runs and compare them.
    for i in range(5):
        page.locator("#runs-table tbody tr").nth(i).locator("input[name='run']").check()
    assert page.locator("[data-selected-count]").inner_text() == "5 selected"
    page.click("[data-compare]")
    page.wait_for_url("**/compare?runs=*")
    page.wait_for_selector("body[data-parcoords='ready']")
    assert page.locator("[data-kept-note]").inner_text() == "5 of 5 runs kept"

    # Brush the rmse axis: keep its lower part, where the best run is.
    hit = page.locator(".pc-hit[data-dim='metrics.rmse']").bounding_box()
    assert hit is not None
    x = hit["x"] + hit["width"] / 2
    page.mouse.move(x, hit["y"] + hit["height"] * 0.5)
    page.mouse.down()
    page.mouse.move(x, hit["y"] + hit["height"] + 30, steps=8)
    page.mouse.up()
    kept = int(page.locator("body").get_attribute("data-kept") or "0")
    assert 1 <= kept < 5
    assert page.locator(".pc-brush").count() == 1
    assert "brush=metrics.rmse" in unquote(page.url)
    assert page.locator("#compare-table tbody tr").count() == kept

    # The state is in the URL: reloading keeps the range.
    page.reload()
    page.wait_for_selector("body[data-parcoords='ready']")
    assert int(page.locator("body").get_attribute("data-kept") or "0") == kept

    # Open the best run (the table is sorted by the colour metric, rmse).
    first = page.locator("#compare-table tbody tr").first.locator("a")
    first.click()
    page.wait_for_url(f"**/runs/{demo.best_run_id}")
    charts_load(page)
    assert page.locator(".chart[data-loaded='true']").count() == 2  # the metrics with a history

    # A metric chart: smoothing and the x axis are in the URL.
    page.locator("figcaption a", has_text="train-loss").click()
    charts_load(page)
    assert "min, max and mean" in page.locator("[data-chart-note]").inner_text()
    page.select_option("[data-x]", "relative")
    page.fill("[data-smooth]", "0.8")
    page.dispatch_event("[data-smooth]", "input")
    assert "x=relative" in page.url
    assert "smooth=0.8" in page.url
    page.go_back()

    # Artifact previews: an image, a CSV as a table, HTML in a sandbox, JSON, YAML, text.
    page.goto(f"{live.url}/runs/{demo.best_run_id}/artifacts")
    page.get_by_role("link", name="feature_importance.png").click()
    image = page.locator("img.artifact-image")
    image.wait_for()
    sync_api.expect(image).to_have_js_property("complete", True)
    assert image.evaluate("img => img.naturalWidth") > 0
    page.go_back()
    page.get_by_role("link", name="predictions.csv").click()
    assert page.locator("table.csv tbody tr").count() == 40
    assert page.locator("table.csv thead th").first.inner_text() == "trip_distance"
    page.go_back()
    page.get_by_role("link", name="report.html").click()
    frame_element = page.locator("iframe.artifact-html")
    assert frame_element.get_attribute("sandbox") == ""
    frame = page.frame_locator("iframe.artifact-html")
    assert frame.locator("#report-title").inner_text() == "Validation report"
    assert page.title() != "pwned"  # the file's script did not run
    page.go_back()
    page.get_by_role("link", name="params.json").click()
    assert page.locator("pre.kind-json").inner_text() == (
        '{\n  "max_depth": 21,\n  "learning_rate": 0.29\n}'
    )
    page.go_back()
    page.get_by_role("link", name="conda.yaml").click()
    assert "python=3.9" in page.locator("pre.kind-yaml").inner_text()
    page.go_back()
    page.get_by_role("link", name="models_mlflow/").click()
    page.get_by_role("link", name="requirements.txt").click()
    assert page.locator("pre.kind-text").inner_text().strip() == "xgboost==2.0.3"

    # Register the run's model from the run page (a logged model, as MLflow 3 logs them).
    page.goto(f"{live.url}/runs/{demo.best_run_id}#models")
    summary = page.locator(".model-summary", has_text="taxi-model")
    assert "trip_distance" in summary.locator(".signature").inner_text()
    assert "xgboost" in summary.locator(".badge").all_inner_texts()
    page.fill(f"#register-{demo.model_id}", "taxi-duration")
    summary.get_by_role("button", name="Register version").click()
    page.wait_for_url("**/models/taxi-duration/versions/1")
    assert "Registered version 1" in page.locator(".flash").inner_text()
    lineage = page.locator("section", has_text="Lineage").inner_text()
    assert "The logged model taxi-model" in lineage
    assert "Produced by run trial-" in lineage

    # On the model's page: point an alias at the version and promote it to Staging.
    page.get_by_role("navigation", name="Breadcrumbs").get_by_role(
        "link", name="taxi-duration"
    ).click()
    page.wait_for_url("**/models/taxi-duration")
    page.fill("#alias-name", "champion")
    page.select_option("#alias-version", "1")
    page.click("text=Set alias")
    page.wait_for_url("**/models/taxi-duration")
    assert "@champion" in page.locator(".page-head .aliases").inner_text()
    page.select_option("#stage-1", "Staging")
    page.locator("form[action$='/versions/1/stage'] button").click()
    page.wait_for_url("**/models/taxi-duration")
    assert page.locator("#versions .stage").first.inner_text() == "Staging"
    history = page.locator("#history tbody").inner_text()
    for event in ("model created", "version created", "alias set", "stage transitioned"):
        assert event in history

    # Back on the run page, the model says where it is registered.
    page.goto(f"{live.url}/runs/{demo.best_run_id}")
    registered = page.locator(".model-summary", has_text="taxi-model").locator("dd a")
    assert "taxi-duration v1" in registered.all_inner_texts()
    assert tab.errors == []


def test_injected_markup_shows_as_text(live: Live, tab: Tab) -> None:
    page, demo = tab.page, live.demo
    page.goto(f"{live.url}/runs?experiments={demo.experiment_id}&col=tags.note")
    assert page.locator("#runs-table").get_by_text(XSS_NAME).count() == 1
    assert page.locator("#runs-table").get_by_text(XSS_TAG).count() == 1
    page.goto(f"{live.url}/runs/{demo.xss_run_id}")
    assert page.locator("h1").inner_text().startswith(XSS_NAME)
    assert page.get_by_text(XSS_TAG).count() >= 1
    page.goto(f"{live.url}/compare?runs={demo.xss_run_id},{demo.best_run_id}")
    page.wait_for_selector("body[data-parcoords='ready']")
    assert page.locator("#compare-table").get_by_text(XSS_NAME).count() == 1
    assert page.evaluate("window.__xss") is None
    assert page.locator("img[src='x']").count() == 0
    assert tab.errors == []


def test_a_logged_models_files_from_the_run_page(live: Live, tab: Tab) -> None:
    page, demo = tab.page, live.demo
    page.goto(f"{live.url}/runs/{demo.best_run_id}")
    page.get_by_role("link", name="Browse files").first.click()
    page.wait_for_url(f"{live.url}/logged-models/{demo.model_id}/artifacts")
    assert page.locator("h1").inner_text() == "Files of model taxi-model"
    page.get_by_role("link", name="requirements.txt").click()
    assert "xgboost==2.0.3" in page.locator("pre.text-preview").inner_text()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download").click()
    assert download.value.suggested_filename == "requirements.txt"
    page.get_by_role("link", name="files").click()
    page.get_by_role("link", name="MLmodel").click()
    assert "flavors:" in page.locator("pre.text-preview").inner_text()
    assert tab.errors == []


def _mlflow_addresses(live: Live) -> list[tuple[str, str]]:
    """(MLflow UI address, the labtrack page it must open)."""
    d, name = live.demo, REGISTERED
    exp, run, other = d.experiment_id, d.best_run_id, d.sweep_ids[0]
    return [
        (f"/#/experiments/{exp}", f"/runs?experiments={exp}"),  # via /experiments/{exp}
        (f"/#/experiments/{exp}/runs/{run}", f"/runs/{run}"),
        (f"/#/experiments/{exp}/runs/{run}/model-metrics", f"/runs/{run}"),
        (f"/#/experiments/{exp}/runs/{run}/artifacts", f"/runs/{run}/artifacts"),
        (
            f"/#/experiments/{exp}/runs/{run}/artifacts/models_mlflow/MLmodel",
            f"/runs/{run}/artifacts?path=models_mlflow%2FMLmodel",
        ),
        ("/#/experiments", "/experiments"),
        ("/#/models", "/models"),
        (f"/#/models/{name}", f"/models/{name}"),
        (f"/#/models/{name}/versions/1", f"/models/{name}/versions/1"),
        (
            f'/#/compare-runs?runs=["{run}","{other}"]&experiments=["{exp}"]',
            f"/compare?runs={run},{other}",
        ),
        (f'/#/metric/rmse?runs=["{run}"]', f"/runs/{run}/metrics/rmse"),
        # Another page's MLflow link works too (the module is on every page).
        (f"/models#/experiments/{exp}/runs/{run}", f"/runs/{run}"),
    ]


def _landed_on(expected: str) -> Any:
    """A URL test: the expected page, with its query (pages may add state of their own)."""
    from urllib.parse import parse_qsl, urlsplit

    want = urlsplit(expected)
    want_query = set(parse_qsl(want.query))

    def test(url: str) -> bool:
        got = urlsplit(url)
        return (got.path, got.fragment) == (want.path, want.fragment) and want_query <= set(
            parse_qsl(got.query)
        )

    return test


def test_mlflow_ui_addresses_open_the_matching_page(live: Live, tab: Tab) -> None:
    page = tab.page
    for mlflow_address, labtrack_page in _mlflow_addresses(live):
        page.goto(live.url + mlflow_address)
        page.wait_for_url(_landed_on(live.url + labtrack_page))
        assert page.locator("h1").first.is_visible()
    # Fragments that are not MLflow routes stay where they are.
    page.goto(f"{live.url}/experiments#main")
    page.wait_for_load_state("networkidle")
    assert page.url == f"{live.url}/experiments#main"
    assert tab.errors == []


def test_filter_errors_show_in_place(live: Live, tab: Tab) -> None:
    page = tab.page
    page.goto(f"{live.url}/runs?experiments={live.demo.experiment_id}")
    page.fill("#filter", "metrics.rmse << 7")
    page.press("#filter", "Enter")
    error = page.locator("#filter-error")
    error.wait_for()
    assert "position 13" in error.inner_text()
    assert page.locator("#filter-error mark").inner_text() == "<<"
    assert page.locator("#filter").get_attribute("aria-invalid") == "true"
    assert page.locator("#filter").input_value() == "metrics.rmse << 7"
    assert tab.errors == []


def test_nested_runs_unfold(live: Live, tab: Tab) -> None:
    page, demo = tab.page, live.demo
    page.goto(f"{live.url}/runs?experiments={demo.experiment_id}&size=100")
    parent = page.locator(f"tr[data-run-id='{demo.parent_run_id}']")
    toggle = parent.locator("a.toggle")
    assert toggle.get_attribute("aria-expanded") == "false"
    assert page.locator("tr.depth-1").count() == 0
    toggle.click()
    page.wait_for_url("**expand=*")
    assert page.locator("tr.depth-1").count() == 4
    assert (
        page.locator(f"tr[data-run-id='{demo.parent_run_id}'] a.toggle").get_attribute(
            "aria-expanded"
        )
        == "true"
    )


def test_keyboard_reaches_the_filter_and_selection(live: Live, tab: Tab) -> None:
    page = tab.page
    page.goto(f"{live.url}/runs?experiments={live.demo.experiment_id}")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "filter"
    page.focus("[data-select-all]")
    page.keyboard.press("Space")
    count = page.locator("#runs-table tbody input[name='run']:checked").count()
    assert count == page.locator("#runs-table tbody tr").count()
    assert page.locator("[data-compare]").is_enabled()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.tagName") in ("A", "INPUT")


def test_laptop_width_has_no_page_level_horizontal_scroll(live: Live, tab: Tab) -> None:
    page = tab.page
    page.set_viewport_size({"width": 1024, "height": 700})
    for path in (f"/runs?experiments={live.demo.experiment_id}", f"/runs/{live.demo.best_run_id}"):
        page.goto(live.url + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, path  # wide tables scroll inside their own box


def test_zooming_a_long_history_loads_its_detail(live: Live, tab: Tab) -> None:
    page = tab.page
    page.goto(f"{live.url}/runs/{live.demo.best_run_id}/metrics/train-loss")
    charts_load(page)
    note = page.locator("[data-chart-note]")
    assert "20,000 points" in note.inner_text()
    assert "buckets" in note.inner_text()
    page.evaluate(
        "Plotly.relayout(document.querySelector('.chart'), {'xaxis.range': [1000, 1400]})"
    )
    page.locator("[data-chart-note]", has_text="Every point").wait_for()
    assert "steps 9" in note.inner_text() or "steps 1" in note.inner_text()
    page.click("[data-reset-zoom]")
    page.locator("[data-chart-note]", has_text="buckets").wait_for()
    assert tab.errors == []


# -- readable parallel coordinates, and the runs page's chart view ---------------------------
BOXES = """els => els.map(e => {
  const b = e.getBoundingClientRect();
  const own = [...e.childNodes].filter(n => n.nodeType === Node.TEXT_NODE);
  return {text: own.map(n => n.data).join(''), title: e.querySelector('title')?.textContent ?? null,
          left: b.left, right: b.right, top: b.top, bottom: b.bottom};
})"""


def overlapping(boxes: list[dict[str, Any]], slack: float = 1.0) -> list[tuple[str, str]]:
    """The pairs of label boxes that overlap by more than ``slack`` px both ways."""
    out = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            wide = min(a["right"], b["right"]) - max(a["left"], b["left"])
            high = min(a["bottom"], b["bottom"]) - max(a["top"], b["top"])
            if wide > slack and high > slack:
                out.append((a["text"], b["text"]))
    return out


@pytest.mark.parametrize(
    ("width", "query"),
    [
        (1280, "sort=metrics.rmse&dir=asc"),  # the defaults
        # Twelve axes on a laptop, the long injected category first: titles take two rows,
        # long values are cut to the room they have.
        (
            1024,
            "dim=params.objective&dim=params.learning_rate&dim=params.max_depth"
            "&dim=params.min_child_weight&dim=params.reg_alpha&dim=params.seed"
            "&dim=metrics.rmse&dim=metrics.train-loss&dim=metrics.validation-rmse"
            "&dim=params.objective",
        ),
    ],
)
def test_parallel_coordinates_labels_do_not_overlap(
    live: Live, tab: Tab, width: int, query: str, tmp_path: Path
) -> None:
    page = tab.page
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(f"{live.url}/compare?experiments={live.demo.experiment_id}&{query}")
    page.wait_for_selector("body[data-parcoords='ready']")
    axes = page.locator("#parcoords .pc-axis")
    dims = [axes.nth(i).get_attribute("data-dim") for i in range(axes.count())]
    if "sort" in query:
        assert "params.seed" not in dims  # one value in every run that has it
        assert dims[-1] == "metrics.rmse"  # the metric sorted by, last
    boxes = page.locator("#parcoords text").evaluate_all(BOXES)
    assert len(boxes) > 2 * len(dims)
    assert overlapping(boxes) == []
    frame = page.locator("#parcoords svg").bounding_box()
    assert frame is not None
    for box in boxes:
        assert frame["x"] - 1 <= box["left"]
        assert box["right"] <= frame["x"] + frame["width"] + 1
    cut = [b for b in boxes if b["text"].endswith("…")]
    for box in cut:  # a cut label shows whole on hover
        assert box["title"] is not None
        assert box["title"].startswith(box["text"][:-1])
    if width == 1024:
        assert any(b["title"] == XSS_PARAM for b in cut)
    page.locator("#parcoords").screenshot(path=str(tmp_path / f"parcoords-{width}.png"))
    assert tab.errors == []


def test_the_runs_page_chart_view(live: Live, tab: Tab) -> None:
    page, demo = tab.page, live.demo
    page.goto(f"{live.url}/runs?experiments={demo.experiment_id}&sort=metrics.rmse&dir=asc&size=25")
    page.get_by_role("navigation", name="Show the runs as").get_by_role(
        "link", name="Chart"
    ).click()
    page.wait_for_url("**show=chart*")
    first = page.locator(".chart[data-run-chart='0']")
    first.locator(".main-svg").first.wait_for(state="attached")
    assert page.locator(".chart-card figcaption").first.inner_text().startswith("rmse")
    assert first.locator(".scatterlayer .point").count() == 25  # one per run on the page
    # The filter, the sort and the page stay as the view changes.
    page.fill("#filter", "metrics.rmse < 9")
    page.press("#filter", "Enter")
    page.wait_for_url("**filter=*")
    assert "show=chart" in page.url
    assert "sort=metrics.rmse" in page.url
    page.get_by_role("link", name="Next →").click()
    page.wait_for_url("**page=2*")
    assert "show=chart" in page.url
    page.locator(".chart[data-run-chart='0'] .main-svg").first.wait_for(state="attached")
    # Clicking a run's dot opens the run.
    dot = page.locator(".chart[data-run-chart='0'] .scatterlayer .point").first
    dot.click(force=True)
    page.wait_for_url("**/runs/*")
    assert "/runs?" not in page.url
    page.go_back()
    page.get_by_role("navigation", name="Show the runs as").get_by_role(
        "link", name="Table"
    ).click()
    page.wait_for_url("**page=2*")
    assert "show=chart" not in page.url
    assert page.locator("#runs-table tbody tr").count() >= 1
    assert tab.errors == []


def test_compare_from_a_sorted_table_colours_by_its_metric(live: Live, tab: Tab) -> None:
    page = tab.page
    page.goto(
        f"{live.url}/runs?experiments={live.demo.experiment_id}"
        "&sort=metrics.validation-rmse&dir=asc&nested=0"
    )
    for i in range(4):
        page.locator("#runs-table tbody tr").nth(i).locator("input[name='run']").check()
    page.click("[data-compare]")
    page.wait_for_url("**/compare?runs=*")
    assert "sort=metrics.validation-rmse" in page.url
    page.wait_for_selector("body[data-parcoords='ready']")
    assert page.locator("select[data-color]").input_value() == "metrics.validation-rmse"
    assert page.locator("[data-scatter-y]").input_value() == "metrics.validation-rmse"
    assert tab.errors == []


# -- a web application on another origin calling the API (--cors-allowed-origins) -------------
APP_PAGE = b"<!doctype html><title>notebook</title><p>another site</p>"


@pytest.fixture(scope="module")
def other_site() -> Iterator[str]:
    """A page on another origin: http://localhost:PORT is not http://127.0.0.1:PORT2."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(APP_PAGE)))
            self.end_headers()
            self.wfile.write(APP_PAGE)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


CREATE = """async ([url, name]) => {
  try {
    const r = await fetch(url + '/api/2.0/mlflow/experiments/create', {
      method: 'POST', headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({name})});
    return {status: r.status, body: await r.json()};
  } catch (e) { return {failed: String(e)}; }
}"""


def test_an_allowed_origin_uses_the_api_from_a_real_browser(
    tmp_path: Path, browser: Any, other_site: str
) -> None:
    """Chromium itself enforces CORS: a JSON POST from another origin needs the preflight
    answered and the CORS headers on the answer, or the page cannot read it."""
    from livesrv import serve_in_thread

    page = browser.new_page()
    try:
        page.goto(other_site)
        with serve_in_thread(
            f"sqlite:///{tmp_path / 'open.db'}",
            str(tmp_path / "a"),
            cors_allowed_origins=("http://localhost:*",),
        ) as open_url:
            answer = page.evaluate(CREATE, [open_url, "from-the-notebook"])
            assert answer.get("status") == 200, answer
            assert answer["body"]["experiment_id"]
        with serve_in_thread(f"sqlite:///{tmp_path / 'closed.db'}", str(tmp_path / "b")) as url:
            refused = page.evaluate(CREATE, [url, "from-the-notebook"])
            assert "failed" in refused, refused  # the browser hides the refusal from the page
            found = httpx.get(
                f"{url}/api/2.0/mlflow/experiments/get-by-name",
                params={"experiment_name": "from-the-notebook"},
            )
            assert found.status_code == 404
    finally:
        page.close()


def test_the_api_page_tries_an_endpoint(live: Live, tab: Tab) -> None:
    """Swagger UI, served by the server itself, calls the API under the page's CSP."""
    page = tab.page
    page.goto(f"{live.url}/api/docs")
    operation = page.locator(".opblock", has_text="/api/2.0/labtrack/server-info")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    status = operation.locator(".live-responses-table .response .response-col_status")
    sync_api.expect(status.first).to_have_text("200")
    assert "runs/log-bulk" in operation.locator(".live-responses-table").inner_text()
    assert tab.errors == []
