"""The links the real mlflow client prints open labtrack's pages in a real browser.

``mlflow.start_run()`` against a server prints "View run <name> at:
http://host:port/#/experiments/<id>/runs/<run id>" and "View experiment at: ...": the
addresses of MLflow's UI. Opened in Chromium, they must land on labtrack's run page and
the experiment's runs (the UI's mlflow_links.js maps the fragment).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from compat._support import MLFLOW_MISSING

mlflow = pytest.importorskip("mlflow", reason=MLFLOW_MISSING)
CHROMIUM = os.environ.get("LABTRACK_TEST_CHROMIUM", "/usr/bin/chromium")
if not (shutil.which(CHROMIUM) or Path(CHROMIUM).is_file()):
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")


def test_view_run_links_open_the_run(
    tracking_uri: str, experiment_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with mlflow.start_run() as run:
        mlflow.log_metric("rmse", 0.5)
    printed = capsys.readouterr().out
    [run_url] = re.findall(r"View run \S+ at: (\S+)", printed)
    [experiment_url] = re.findall(r"View experiment at: (\S+)", printed)
    assert run_url == f"{tracking_uri}/#/experiments/{experiment_id}/runs/{run.info.run_id}"

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            page.goto(run_url)
            page.wait_for_url(f"{tracking_uri}/runs/{run.info.run_id}")
            assert run.info.run_name in page.locator("h1").inner_text()
            page.goto(experiment_url)
            page.wait_for_url(f"{tracking_uri}/runs?experiments={experiment_id}")
        finally:
            browser.close()
