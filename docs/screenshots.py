"""Screenshots of the web UI's main pages, into docs/screenshots/ (referenced by docs/ui.md).

    python docs/screenshots.py                   # every page
    python docs/screenshots.py compare runs-chart  # only those named

Builds the UI tests' demo store (a sweep of xgboost runs with artifacts and a model) in
a temporary directory, serves it, and photographs each page in headless Chromium
(Debian's ``chromium``, driven by Playwright; no browser is downloaded).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
sys.path.insert(0, str(ROOT / "tests"))


def main() -> int:
    from playwright.sync_api import sync_playwright

    from labtrack.server.app import ServerConfig, ServerContext
    from livesrv import serve_in_thread
    from ui.demo import build

    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        db_uri = f"sqlite:///{tmp}/ui.db"
        artifacts = f"{tmp}/artifacts"
        context = ServerContext(
            ServerConfig(backend_store_uri=db_uri, artifacts_destination=artifacts)
        )
        demo = build(context)
        service = context.service
        service.registry.create_registered_model(
            "taxi-duration", description="Trip duration (minutes)"
        )
        version = service.registry.create_model_version(
            "taxi-duration",
            f"models:/{demo.model_id}",
            run_id=demo.best_run_id,
            model_id=demo.model_id,
        )
        service.registry.set_registered_model_alias("taxi-duration", "champion", version.version)
        service.registry.transition_model_version_stage("taxi-duration", version.version, "Staging")
        best, experiment = demo.best_run_id, demo.experiment_id
        shots = {
            "experiments": ("/experiments", None),
            "runs": (f"/runs?experiments={experiment}&sort=metrics.rmse&dir=asc", None),
            "runs-chart": (
                f"/runs?experiments={experiment}&sort=metrics.rmse&dir=asc&show=chart&size=25",
                None,
            ),
            "filter-error": (
                f"/runs?experiments={experiment}&filter=metrics.rmse+%3C%3C+7",
                None,
            ),
            "run": (f"/runs/{best}", None),
            "run-charts": (f"/runs/{best}", "#metrics"),
            "metric": (f"/runs/{best}/metrics/train-loss", None),
            "compare": (
                f"/compare?experiments={experiment}&filter=tags.model+%3D+%27xgboost%27&sort=metrics.rmse&dir=asc"
                "&brush=metrics.rmse:6:6.9",
                None,
            ),
            "artifact-csv": (f"/runs/{best}/artifacts?path=predictions.csv", None),
            "run-models": (f"/runs/{best}", "#models"),
            "model": ("/models/taxi-duration", None),
            "model-version": ("/models/taxi-duration/versions/1", None),
        }
        wanted = sys.argv[1:]
        unknown = sorted(set(wanted) - set(shots))
        if unknown:
            print(f"unknown screenshots: {', '.join(unknown)}; known: {', '.join(shots)}")
            return 2
        if wanted:
            shots = {name: shot for name, shot in shots.items() if name in wanted}
        with serve_in_thread(db_uri, artifacts) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=[
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                ],
            )
            page = browser.new_page(viewport={"width": 1366, "height": 860})
            for name, (path, anchor) in shots.items():
                page.goto(url + path)
                page.wait_for_load_state("networkidle")
                if anchor:
                    page.locator(anchor).scroll_into_view_if_needed()
                for chart in page.locator(".chart[data-metric-url], .chart[data-run-chart]").all():
                    chart.scroll_into_view_if_needed()
                page.wait_for_timeout(600)
                if anchor:
                    page.locator(anchor).scroll_into_view_if_needed()
                else:
                    page.evaluate("window.scrollTo(0, 0)")
                page.screenshot(path=str(OUT / f"{name}.png"))
                print(f"docs/screenshots/{name}.png")
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
