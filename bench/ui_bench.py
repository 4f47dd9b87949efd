"""Web UI speed: labtrack's pages vs MLflow's UI on an experiment of 100,000 runs.

    python bench/ui_bench.py                 # about 10 minutes the first time, then reuses stores
    python bench/ui_bench.py --skip-mlflow   # labtrack only
    python bench/ui_bench.py --quick         # 5,000 runs: a smoke test, marked as such

Both stores hold the same data: N runs with 20 params, 10 metrics (one point each) and
2 tags, plus one run with a 1,000,000-point metric history. labtrack's store is filled
through ``SqlStore`` (``create_run`` + ``log_batch``); MLflow's SQLite store is created by
``mlflow db upgrade`` and filled with SQL inserts straight into its tables (its client
would need about half an hour per 100,000 runs). Each server runs in its own process on
a loopback port; server times are measured with httpx (median of --repeat), page times
in headless Chromium with Playwright (navigation start to the moment the page shows its
data). Writes the "ui" section of bench/RESULTS.md and bench/.work/ui/last-results.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from _common import write_section  # noqa: E402

WORK = ROOT / "bench" / ".work" / "ui"
MLFLOW = ROOT / "bench" / ".work" / "mlflow-venv" / "bin" / "mlflow"
RESULTS = ROOT / "bench" / "RESULTS.md"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
N_PARAMS, N_METRICS = 20, 10
HISTORY_POINTS = 1_000_000
T0 = 1_760_000_000_000
COMPARE_RUNS = 1000
TARGETS: dict[str, float | None] = {
    "first_screen": 300.0,
    "sort_filter": 500.0,
    "chart": 300.0,  # the server's answer (downsampled on the server)
    "parcoords": 1000.0,  # server JSON + page render in the browser
    "info": None,
}


def log(message: str) -> None:
    print(f"[ui-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- the data ------------------------------------------------------------------------------
def run_data(i: int) -> tuple[dict[str, str], dict[str, float], dict[str, str]]:
    rng = random.Random(i)
    params = {
        f"p{j:02d}": str(rng.randint(0, 100)) if j % 2 else f"{rng.random():.4f}"
        for j in range(N_PARAMS)
    }
    metrics = {f"m{j}": rng.random() * 10 for j in range(N_METRICS)}
    tags = {"model": ("xgb", "rf", "lasso")[i % 3], "team": "ml"}
    return params, metrics, tags


def history(i: int) -> float:
    return math.exp(-i / 200_000) + ((i * 7919) % 1000) / 20_000


def populate_labtrack(db: Path, n: int) -> str:
    """Fill a labtrack store; returns the id of the run with the long history."""
    from labtrack.entities import Metric, Param, RunTag
    from labtrack.store.sql.store import SqlStore

    store = SqlStore(f"sqlite:///{db}", (WORK / "artifacts").as_uri())
    experiment = store.create_experiment("big")
    started = time.perf_counter()
    for i in range(n):
        params, metrics, tags = run_data(i)
        start = T0 + i * 1000
        run = store.create_run(experiment, "bench", start, [], f"run-{i:06d}")
        run_id = run.info.run_id
        store.log_batch(
            run_id,
            [Metric(k, v, start + 500, 0) for k, v in metrics.items()],
            [Param(k, v) for k, v in params.items()],
            [RunTag(k, v) for k, v in tags.items()],
        )
        store.update_run_info(run_id, "FINISHED", start + 900, None)
        if i and i % 20_000 == 0:
            log(f"labtrack: {i:,} runs in {time.perf_counter() - started:.0f} s")
    run = store.create_run(experiment, "bench", T0 - 10_000, [], "history-1m")
    points = [Metric("loss", history(i), T0 + i, i) for i in range(HISTORY_POINTS)]
    for k in range(0, HISTORY_POINTS, 100_000):
        store.log_batch(run.info.run_id, points[k : k + 100_000])
    store.update_run_info(run.info.run_id, "FINISHED", T0, None)
    log(f"labtrack: {n:,} runs + 1M points in {time.perf_counter() - started:.0f} s")
    return run.info.run_id


def populate_mlflow(db: Path, n: int) -> str:
    """Fill an MLflow store: its schema from `mlflow db upgrade`, rows by SQL."""
    subprocess.run(
        [str(MLFLOW), "db", "upgrade", f"sqlite:///{db}"],
        check=True,
        env=mlflow_env(),
        capture_output=True,
    )
    started = time.perf_counter()
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    art = (WORK / "mlflow-artifacts").as_uri()
    with con:
        for eid, name in ((0, "Default"), (1, "big")):
            con.execute(
                "INSERT INTO experiments (experiment_id, name, artifact_location, "
                "lifecycle_stage, creation_time, last_update_time, workspace) "
                "VALUES (?, ?, ?, 'active', ?, ?, 'default')",
                (eid, name, f"{art}/{eid}", T0, T0),
            )
    rows: dict[str, list[tuple[Any, ...]]] = {
        "runs": [],
        "params": [],
        "tags": [],
        "metrics": [],
        "latest": [],
    }

    def flush() -> None:
        with con:
            con.executemany(
                "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, "
                "user_id, status, start_time, end_time, source_version, lifecycle_stage, "
                "artifact_uri, experiment_id) VALUES "
                "(?, ?, 'LOCAL', '', '', 'bench', 'FINISHED', ?, ?, '', 'active', ?, 1)",
                rows["runs"],
            )
            con.executemany(
                "INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)", rows["params"]
            )
            con.executemany(
                "INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)", rows["tags"]
            )
            con.executemany(
                "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
                "VALUES (?, ?, ?, ?, 0, 0)",
                rows["metrics"],
            )
            con.executemany(
                "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
                "VALUES (?, ?, ?, 0, 0, ?)",
                rows["latest"],
            )
        for v in rows.values():
            v.clear()

    for i in range(n):
        params, metrics, tags = run_data(i)
        run_id = f"{i:032x}"
        start = T0 + i * 1000
        name = f"run-{i:06d}"
        rows["runs"].append((run_id, name, start, start + 900, f"{art}/1/{run_id}/artifacts"))
        rows["params"].extend((k, v, run_id) for k, v in params.items())
        tags = {**tags, "mlflow.runName": name, "mlflow.user": "bench"}
        rows["tags"].extend((k, v, run_id) for k, v in tags.items())
        rows["metrics"].extend((k, v, start + 500, run_id) for k, v in metrics.items())
        rows["latest"].extend((k, v, start + 500, run_id) for k, v in metrics.items())
        if len(rows["runs"]) >= 5000:
            flush()
    flush()
    run_id = "f" * 32
    with con:
        con.execute(
            "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, "
            "user_id, status, start_time, end_time, source_version, lifecycle_stage, "
            "artifact_uri, experiment_id) VALUES "
            "(?, 'history-1m', 'LOCAL', '', '', 'bench', 'FINISHED', ?, ?, '', 'active', ?, 1)",
            (run_id, T0 - 10_000, T0, f"{art}/1/{run_id}/artifacts"),
        )
        con.execute(
            "INSERT INTO tags (key, value, run_uuid) VALUES ('mlflow.runName', 'history-1m', ?)",
            (run_id,),
        )
        con.executemany(
            "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
            "VALUES ('loss', ?, ?, ?, ?, 0)",
            ((history(i), T0 + i, run_id, i) for i in range(HISTORY_POINTS)),
        )
        last = HISTORY_POINTS - 1
        con.execute(
            "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
            "VALUES ('loss', ?, ?, ?, 0, ?)",
            (history(last), T0 + last, last, run_id),
        )
    con.close()
    log(f"MLflow: {n:,} runs + 1M points in {time.perf_counter() - started:.0f} s")
    return run_id


def store(kind: str, n: int) -> tuple[Path, str]:
    """A populated store of ``kind`` (reused when one of the same size exists)."""
    WORK.mkdir(parents=True, exist_ok=True)
    db = WORK / f"{kind}-{n}.db"
    marker = db.with_suffix(".json")
    if db.exists() and marker.exists():
        return db, json.loads(marker.read_text())["history_run"]
    for stale in WORK.glob(f"{kind}-{n}.db*"):
        stale.unlink()
    history_run = populate_labtrack(db, n) if kind == "labtrack" else populate_mlflow(db, n)
    marker.write_text(json.dumps({"history_run": history_run, "runs": n}))
    return db, history_run


# -- servers ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mlflow_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LABTRACK_", "MLFLOW_")) and k not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    return env


@contextmanager
def server(kind: str, db: Path) -> Iterator[str]:
    import httpx

    port = free_port()
    if kind == "labtrack":
        cmd = [sys.executable, "-m", "labtrack.cli", "server", "--backend-store-uri",
               f"sqlite:///{db}", "--artifacts-destination", str(WORK / "artifacts"),
               "--port", str(port), "--log-level", "warning"]  # fmt: skip
        health = "/health"
    else:
        cmd = [str(MLFLOW), "server", "--backend-store-uri", f"sqlite:///{db}",
               "--default-artifact-root", str(WORK / "mlflow-artifacts"),
               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]  # fmt: skip
        health = "/health"
    logfile = open(WORK / f"{kind}-server.log", "wb")  # noqa: SIM115
    # Its own process group: MLflow's server runs uvicorn as a child process.
    proc = subprocess.Popen(
        cmd, env=mlflow_env(), stdout=logfile, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{kind} server exited: see {logfile.name}")
            try:
                if httpx.get(url + health, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{kind} server did not start")
            time.sleep(0.2)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        logfile.close()


# -- measuring -----------------------------------------------------------------------------
def timed_requests(send: Callable[[], Any], repeat: int, slow_s: float = 20.0) -> dict[str, Any]:
    """Median of ``repeat`` requests after a warm-up; a request slower than ``slow_s`` is
    measured once (the warm-up itself), so one slow endpoint cannot take an hour."""
    t = time.perf_counter()
    first = send()
    first_ms = (time.perf_counter() - t) * 1000
    first.raise_for_status()
    if first_ms > slow_s * 1000:
        size = len(first.content)
        return {"ms": first_ms, "all_ms": [round(first_ms)], "bytes": size, "once": True}
    times = []
    size = 0
    for _ in range(repeat):
        t = time.perf_counter()
        response = send()
        times.append((time.perf_counter() - t) * 1000)
        response.raise_for_status()
        size = len(response.content)
    return {"ms": statistics.median(times), "all_ms": [round(x, 1) for x in times], "bytes": size}


def labtrack_http(url: str, history_run: str, repeat: int) -> dict[str, Any]:
    from urllib.parse import quote

    import httpx

    runs = f"{url}/runs?experiments=1"
    out: dict[str, Any] = {}
    with httpx.Client(timeout=120) as client:
        client.get(f"{url}/experiments")  # the CSRF cookie, as a browser would have it

        def get(path: str) -> Callable[[], Any]:
            return lambda: client.get(path)

        cases = {
            "first_screen": runs,
            "sort_metric": runs + "&sort=metrics.m3&dir=asc",
            "sort_param": runs + "&sort=params.p05&dir=desc",
            "filter_metric": runs + "&filter=" + quote("metrics.m1 < 1"),
            "filter_or": runs + "&filter=" + quote("metrics.m1 < 1 OR params.p03 = '5'"),
            "filter_and_sort": runs
            + "&filter="
            + quote("metrics.m1 < 5 and tags.model = 'xgb'")
            + "&sort=metrics.m2&dir=asc",
            "page_1000": runs + "&page=1000",
            "chart_view": runs + "&show=chart&sort=metrics.m3&dir=asc",
            "chart_1m": f"{url}/runs/{history_run}/metrics/loss?format=json",
            "chart_zoom": f"{url}/runs/{history_run}/metrics/loss?format=json&from=0&to=99999",
            "compare_json": f"{url}/compare?experiments=1&limit={COMPARE_RUNS}&format=json",
        }
        for name, path in cases.items():
            out[name] = timed_requests(get(path), repeat)
            log(f"labtrack {name}: {out[name]['ms']:.0f} ms")
    return out


def mlflow_http(url: str, history_run: str, repeat: int) -> dict[str, Any]:
    import httpx

    api = f"{url}/ajax-api/2.0/mlflow"
    out: dict[str, Any] = {}

    def search(filter_string: str = "", order_by: str = "attributes.start_time DESC") -> Any:
        body = {
            "experiment_ids": ["1"],
            "filter": filter_string,
            "max_results": 100,
            "order_by": [order_by],
            "run_view_type": "ACTIVE_ONLY",
        }
        return lambda: client.post(f"{api}/runs/search", json=body)

    with httpx.Client(timeout=900) as client:
        cases = {
            "first_screen": search(),
            "sort_metric": search(order_by="metrics.`m3` ASC"),
            "sort_param": search(order_by="params.`p05` DESC"),
            "filter_metric": search("metrics.m1 < 1"),
            "filter_and_sort": search(
                "metrics.m1 < 5 and tags.model = 'xgb'", order_by="metrics.`m2` ASC"
            ),
            "chart_1m": lambda: client.get(
                f"{api}/metrics/get-history-bulk-interval",
                params={"run_ids": history_run, "metric_key": "loss", "max_results": 320},
            ),
        }
        for name, send in cases.items():
            try:
                out[name] = timed_requests(send, max(3, repeat // 3))
                log(f"MLflow {name}: {out[name]['ms']:.0f} ms")
            except Exception as exc:
                out[name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    return out


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


READY_SCRIPT = """
(() => {
  const css = %s, text = %s;
  window.__readyAt = null;
  const check = () => {
    if (window.__readyAt !== null || !document.body) return;
    const found = css ? document.querySelector(css) : document.body.textContent.includes(text);
    if (found) {
      window.__readyAt = performance.now();
      observer.disconnect();
    }
  };
  const observer = new MutationObserver(check);
  observer.observe(document, { subtree: true, childList: true, attributes: true });
})();
"""


def page_time(
    browser: Any,
    url: str,
    css: str | None,
    timeout_s: float,
    repeat: int,
    shot: str = "",
    text: str | None = None,
) -> dict[str, Any]:
    """ms from navigation start until the page's DOM holds ``css`` (or ``text``).

    A MutationObserver installed before the page's own scripts notes the moment, so the
    figure is not delayed by whatever the page does next (labtrack's compare page, say,
    loads Plotly.js for its other charts once the parallel coordinates are drawn). One
    untimed load first: warm cache and a running renderer, as for someone using the UI.
    Each timed load is a full page load (``r=<i>`` before any ``#`` makes MLflow's
    single-page app load anew too).
    """
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    context.add_init_script(READY_SCRIPT % (json.dumps(css), json.dumps(text)))
    page = context.new_page()
    times = []
    try:
        for i in range(repeat + 1):
            base, hash_mark, fragment = url.partition("#")
            sep = "&" if "?" in base else "?"
            page.goto(f"{base}{sep}r={i}{hash_mark}{fragment}", wait_until="commit")
            deadline = time.monotonic() + timeout_s
            ready = None
            while ready is None:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"not ready in {timeout_s:.0f} s")
                time.sleep(0.02)
                ready = page.evaluate("window.__readyAt")
            if i:
                times.append(ready)
        if shot:
            page.wait_for_timeout(500)
            page.screenshot(path=str(WORK / f"{shot}.png"))
    except Exception as exc:
        if shot:
            page.screenshot(path=str(WORK / f"{shot}-failed.png"))
        return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0]}"[:300]}
    finally:
        context.close()
    return {"ms": statistics.median(times), "all_ms": [round(x) for x in times]}


def labtrack_pages(url: str, history_run: str, repeat: int) -> dict[str, Any]:
    from urllib.parse import quote

    runs = f"{url}/runs?experiments=1"
    table = "#runs-table tbody tr"
    with chromium() as browser:
        out = {
            "first_screen": page_time(browser, runs, table, 60, repeat, "labtrack-runs"),
            "sort_metric": page_time(browser, runs + "&sort=metrics.m3&dir=asc", table, 60, repeat),
            "filter_or": page_time(
                browser,
                runs + "&filter=" + quote("metrics.m1 < 1 OR params.p03 = '5'"),
                table,
                60,
                repeat,
            ),
            # The runs page's chart view: one chart per metric of the page's 50 runs.
            "chart_view": page_time(
                browser,
                runs + "&show=chart&sort=metrics.m3&dir=asc",
                ".chart[data-run-chart='0'] .main-svg",
                60,
                repeat,
                "labtrack-runs-chart",
            ),
            "chart_1m": page_time(
                browser,
                f"{url}/runs/{history_run}/metrics/loss",
                ".chart[data-loaded='true'] .main-svg",
                60,
                repeat,
                "labtrack-chart",
            ),
            # Parallel coordinates, the scatter and the table are drawn by then.
            "parcoords_1000": page_time(
                browser,
                f"{url}/compare?experiments=1&limit={COMPARE_RUNS}",
                "body[data-parcoords='ready'] #compare-table tbody tr",
                60,
                repeat,
                "labtrack-compare",
            ),
        }
    for name, r in out.items():
        log(f"labtrack page {name}: {r.get('ms', r.get('error'))}")
    return out


def mlflow_pages(url: str, n: int, history_run: str, ids: list[str], repeat: int) -> dict[str, Any]:
    newest = f"run-{n - 1:06d}"
    compare = (
        f'{url}/#/compare-runs?runs={json.dumps(ids, separators=(",", ":"))}&experiments=["1"]'
    )
    with chromium() as browser:
        out = {
            "first_screen": page_time(
                browser, f"{url}/#/experiments/1/runs", None, 180, repeat, "mlflow-runs", newest
            ),
            "chart_1m": page_time(
                browser,
                f"{url}/#/experiments/1/runs/{history_run}/model-metrics",
                ".js-plotly-plot .main-svg, canvas",
                180,
                repeat,
                "mlflow-chart",
            ),
            "parcoords_1000": page_time(
                browser, compare, ".js-plotly-plot .parcoords", 300, 1, "mlflow-compare"
            ),
        }
    for name, r in out.items():
        log(f"MLflow page {name}: {r.get('ms', r.get('error'))}")
    return out


# -- the report ------------------------------------------------------------------------------
# (result key, server "http" or browser "page", MLflow has it, target, what it is)
ROWS = [
    ("first_screen", "http", True, "first_screen",
     "Runs page, first screen (server: labtrack's full HTML page; MLflow: the runs/search "
     "call its UI makes, 100 runs)"),
    ("first_screen", "page", True, "first_screen",
     "Runs page, first screen in the browser (until the table shows runs)"),
    ("sort_metric", "http", True, "sort_filter", "Sort by a metric (server)"),
    ("sort_metric", "page", False, "sort_filter", "Sort by a metric, in the browser"),
    ("sort_param", "http", True, "sort_filter", "Sort by a param (server)"),
    ("filter_metric", "http", True, "sort_filter", "Filter `metrics.m1 < 1` (server)"),
    ("filter_or", "http", False, "sort_filter", "Filter with OR (server; MLflow has no OR)"),
    ("filter_or", "page", False, "sort_filter", "Filter with OR, in the browser"),
    ("filter_and_sort", "http", True, "sort_filter", "Filter + sort (server)"),
    ("page_1000", "http", False, "sort_filter", "Page 1,000 of the table (server)"),
    ("chart_view", "http", False, "first_screen",
     "Runs page as charts, sorted by a metric (server: one chart per metric of the 50 runs)"),
    ("chart_view", "page", False, "first_screen",
     "Runs page as charts in the browser (until the first chart is drawn)"),
    ("chart_1m", "http", True, "chart",
     "Metric chart of 1,000,000 points, server JSON (labtrack: min/max/mean of 500 buckets; "
     "MLflow: get-history-bulk-interval, 320 sampled points)"),
    ("chart_1m", "page", True, "info",
     "Metric chart of 1,000,000 points in the browser (page, Plotly.js, data, drawn)"),
    ("chart_zoom", "http", False, "chart",
     "Zoomed chart window (100,000 steps of the 1M, every point; server JSON)"),
    ("compare_json", "http", False, "parcoords", f"Compare {COMPARE_RUNS:,} runs: server JSON"),
    ("parcoords_1000", "page", True, "parcoords",
     f"Parallel coordinates of {COMPARE_RUNS:,} runs in the browser (page, data, render)"),
]  # fmt: skip


def fmt(r: dict[str, Any] | None) -> str:
    if not r:
        return "-"
    if "error" in r:
        return f"failed ({r['error'][:80]})"
    return f"{r['ms']:,.0f} ms" + (" (1 request)" if r.get("once") else "")


def ratio(lt: dict[str, Any] | None, ml: dict[str, Any] | None) -> str:
    if not lt or not ml or "ms" not in lt or "ms" not in ml or not lt["ms"] or not ml["ms"]:
        return "-"
    if ml["ms"] >= lt["ms"]:
        return f"{ml['ms'] / lt['ms']:,.1f}x faster"
    return f"{lt['ms'] / ml['ms']:,.1f}x slower"


def verdict(r: dict[str, Any] | None, target: float | None) -> str:
    if target is None:
        return "info"
    if not r or "ms" not in r:
        return "n/a"
    return "PASS" if r["ms"] < target else "MISS"


def report(res: dict[str, Any]) -> str:
    lt_http, lt_page = res["labtrack"]["http"], res["labtrack"]["pages"]
    ml = res.get("mlflow") or {}
    ml_http, ml_page = ml.get("http", {}), ml.get("pages", {})
    n = res["runs"]
    rows = []
    for key, where, has_mlflow, target_key, label in ROWS:
        lt = (lt_http if where == "http" else lt_page)[key]
        mlr = (ml_http if where == "http" else ml_page).get(key) if has_mlflow else None
        rows.append((label, lt, mlr, target_key))
    lines = [
        "## Web UI: labtrack vs MLflow on an experiment of "
        f"{n:,} runs{' (QUICK: a smoke test)' if res['quick'] else ''}",
        "",
        "Reproduce: `python bench/ui_bench.py` (project venv; MLflow from "
        "`bench/.work/mlflow-venv`; `--skip-mlflow`, `--quick`, `--repeat N`). Generated; do "
        "not edit by hand.",
        "",
        f"Date: {res['date']}. Store: {n:,} runs x {N_PARAMS} params x {N_METRICS} metrics "
        f"(+2 tags), plus one run with a {HISTORY_POINTS:,}-point history, in SQLite; same "
        "data in both stores. labtrack's store was filled with `SqlStore.create_run` + "
        "`log_batch`; MLflow's schema was made by `mlflow db upgrade` and its rows inserted "
        "with SQL (its client needs about 30 minutes per 100,000 runs). Server times: median "
        f"of {res['repeat']} requests after a warm-up, over loopback HTTP (labtrack's full "
        "HTML page, MLflow's JSON API call its UI makes). Browser times: headless Chromium, "
        "warm cache, navigation start until the data shows (median).",
        "",
        "| what | labtrack | MLflow | ratio | target | labtrack vs target |",
        "|---|---:|---:|---:|---|---|",
    ]
    for label, lt, mlr, target_key in rows:
        target = TARGETS[target_key]
        lines.append(
            f"| {label} | {fmt(lt)} | {fmt(mlr) if mlr is not None else '-'} | {ratio(lt, mlr)} "
            f"| {'-' if target is None else f'< {target:,.0f} ms'} | {verdict(lt, target)} |"
        )
    lines += [
        "",
        "How labtrack meets these: the run table pages and sorts in SQL and loads only the "
        "page's runs (params, tags and metric summaries by run key, no history); metric "
        "summaries (latest/min/max) are kept on write, so sorting by a metric never reads "
        "history; a chart of a long history is grouped in SQL into buckets of steps (min, max "
        "and mean per bucket, one index range scan per bucket on SQLite) and zooming loads "
        "the window again at full detail; parallel coordinates are one SVG path per run.",
        "",
        "Not like for like: labtrack's runs page also counts every match (\"1-50 of 10,023 "
        "runs\"), which for a filter means testing all 100,000 runs; MLflow's call stops at "
        "the first 100 matches and counts nothing, which is why a selective filter in "
        "start-time order is as fast or faster there. Sorting by a metric or param makes "
        "MLflow's query read every run's values (minutes); labtrack reads one summary row per "
        "run through an index.",
        "",
        "Raw figures (every repetition) are in `bench/.work/ui/last-results.json`. "
        "Machine: 2 cores, shared with other work; 1-minute load average when each side "
        "started: "
        + ", ".join(f"{k} {v:.1f}" for k, v in res.get("load", {}).items() if v is not None)
        + ".",
    ]
    if ml.get("note"):
        lines += ["", f"MLflow: {ml['note']}"]
    if res.get("mlflow_http_measured"):
        lines += [
            "",
            f"MLflow's server figures were measured on {res['mlflow_http_measured']} (same "
            "stores and machine; `--reuse-mlflow`, as its sorts take minutes), the rest on the "
            "date above.",
        ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="5,000 runs")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument(
        "--reuse-mlflow",
        action="store_true",
        help="keep MLflow's server figures from the last run of the same size (20 minutes)",
    )
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite the section from last-results.json"
    )
    args = parser.parse_args()
    if args.report_only:
        write_section(RESULTS, "ui", report(json.loads((WORK / "last-results.json").read_text())))
        return 0
    n = 5000 if args.quick else args.runs
    res: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "runs": n,
        "quick": args.quick,
        "repeat": args.repeat,
    }
    db, history_run = store("labtrack", n)
    with server("labtrack", db) as url:
        res["load"] = {"labtrack": os.getloadavg()[0]}
        res["labtrack"] = {
            "http": labtrack_http(url, history_run, args.repeat),
            "pages": labtrack_pages(url, history_run, min(args.repeat, 5)),
        }
    last = WORK / "last-results.json"
    previous = json.loads(last.read_text()) if last.exists() else {}
    reuse = args.reuse_mlflow and previous.get("runs") == n and "http" in previous.get("mlflow", {})
    if not args.skip_mlflow and MLFLOW.exists():
        ml_db, ml_history = store("mlflow", n)
        with server("mlflow", ml_db) as url:
            res["load"]["mlflow"] = os.getloadavg()[0]
            ids = [f"{i:032x}" for i in range(n - COMPARE_RUNS, n)]
            if reuse:
                res["mlflow_http_measured"] = (
                    previous.get("mlflow_http_measured")
                    or previous.get("mlflow_measured")
                    or previous["date"]
                )
                http = previous["mlflow"]["http"]
            else:
                http = mlflow_http(url, ml_history, args.repeat)
            res["mlflow"] = {
                "http": http,
                "pages": mlflow_pages(url, n, ml_history, ids, min(args.repeat, 3)),
            }
    elif not args.skip_mlflow:
        res["mlflow"] = {"note": f"not measured: no MLflow at {MLFLOW}"}
    (WORK / "last-results.json").write_text(json.dumps(res, indent=2))
    text = report(res)
    print(text)
    if not args.no_write:
        write_section(RESULTS, "ui", text)
    shutil.rmtree(WORK / "artifacts", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
