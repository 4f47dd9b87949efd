"""Helpers shared by the benchmark workers (stdlib only: imported by both interpreters).

A worker is run as ``python WORKER.py PHASE JSON_ARGS`` in a fresh process; it prints
one line ``BENCH_RESULT {...json...}`` on stdout, which the orchestrator parses.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULT_PREFIX = "BENCH_RESULT "


def emit(result: dict[str, Any]) -> None:
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()


def median(values: list[float]) -> float:
    return statistics.median(values)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def run_worker(phases: dict[str, Callable[..., dict[str, Any]]]) -> None:
    """Entry point of a worker: dispatch ``argv[1]`` with the JSON kwargs in ``argv[2]``."""
    name = sys.argv[1]
    kwargs = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    try:
        result = phases[name](**kwargs)
        result.setdefault("ok", True)
    except BaseException as exc:  # report, don't crash the orchestrator's parsing
        traceback.print_exc()
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000]}
    emit(result)


def cpu_jiffies() -> tuple[int, int] | None:
    """(busy, total) jiffies of the whole machine so far, from /proc/stat (Linux)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


# -- CPU accounting from /proc (Linux) --------------------------------------------------
def group_members(pgid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(d.name))
    return out


def group_cpu_s(pgid: int) -> float:
    """User + system CPU seconds of the live processes of a process group."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in group_members(pgid):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def postgres_cpu_s() -> float | None:
    """CPU seconds of all PostgreSQL processes (all databases: other users' too)."""
    tick = os.sysconf("SC_CLK_TCK")
    total, found = 0.0, False
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        if "(postgres)" not in stat[:40] and "(postmaster)" not in stat[:40]:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick
        found = True
    return total if found else None


# Deterministic data shared by both sides so that search results can be compared.
def run_values(i: int) -> tuple[dict[str, str], float]:
    """Params and the rmse of the i-th populated run of the search phase."""
    params = {
        "max_depth": str(i % 10),
        "alpha": f"{(i % 37) / 100:.2f}",
        "model": ("xgb", "lasso", "rf")[i % 3],
    }
    rmse = 5.0 + ((i * 7919) % 1000) / 200.0  # 5.0 .. 9.995, spread over runs
    return params, rmse


def expected_search(n_runs: int, max_results: int = 100) -> tuple[int, list[float]]:
    """(matching run count, first rmse values in order) for the benchmark query."""
    found = []
    for i in range(n_runs):
        params, rmse = run_values(i)
        if rmse < 7 and params["max_depth"] == "5":
            found.append(rmse)
    found.sort()
    return len(found), found[:max_results]


SEARCH_FILTER = "metrics.rmse < 7 and params.max_depth = '5'"
SEARCH_ORDER = ["metrics.rmse ASC"]

# Extra queries run on both stores after the timed search; their results (run names, in
# order, every page) are compared labtrack vs MLflow when both hold the same runs. The
# last order key (run name) makes every order total, so the lists must be equal.
PARITY_QUERIES: list[tuple[str, list[str]]] = [
    (SEARCH_FILTER, ["metrics.rmse ASC", "attributes.run_name ASC"]),
    ("params.model = 'xgb' and metrics.mae >= 4.9", ["metrics.mae DESC", "run_name ASC"]),
    ("params.alpha LIKE '0.1%' and params.max_depth != '0'", ["params.alpha DESC", "run_name"]),
    ("tags.team = 'bench' and metrics.rmse > 9.9", ["metrics.rmse", "run_name DESC"]),
    ("attributes.run_name LIKE 'r99%'", ["run_name ASC"]),
    ("run_name ILIKE 'R12%' and metrics.rmse <= 6", ["run_name ASC"]),
    (
        "params.model = 'lasso' and metrics.rmse >= 9.5 and metrics.mae < 4.9",
        ["metrics.rmse ASC", "run_name"],
    ),
    ("attributes.status = 'FINISHED' and metrics.mae = 2.5", ["run_name ASC"]),
    ("params.model != 'rf' and params.alpha = '0.36'", ["params.max_depth ASC", "run_name ASC"]),
    ("metrics.rmse < 5.05", ["metrics.rmse DESC", "run_name ASC"]),
]


# -- bench/RESULTS.md: one file, one section per benchmark script ------------------------
# Each script replaces only its own section (between its markers) and keeps the others.
RESULT_SECTIONS = {
    "embedded": "python bench/tracking_embedded.py",
    "server": "python bench/tracking_server.py",
    "ui": "python bench/ui_bench.py",
    "models": "python bench/models_bench.py",
    "ab": "python bench/ab_revisions.py BASE [HEAD]",
    "filters": "python bench/filter_shapes.py [--base REV]",
}


def results_header() -> str:
    return "\n".join(
        [
            "# labtrack benchmarks",
            "",
            "Generated; do not edit by hand (see bench/README.md). Six scripts write this file, "
            "each replacing only its own section (between its `<!-- BEGIN name -->` / "
            "`<!-- END name -->` markers). Reproduce from the repository root, in the project "
            "venv (`. .venv/bin/activate`):",
            "",
            "- embedded tracking (SQLite), labtrack vs MLflow: `python bench/tracking_embedded.py`",
            "- the tracking server (MLflow's REST API), labtrack vs MLflow: "
            "`python bench/tracking_server.py`",
            "- the web UI at 100,000 runs, labtrack vs MLflow's UI: `python bench/ui_bench.py`",
            "- models (log, load, serve), labtrack vs MLflow: `python bench/models_bench.py`",
            "- one revision against another: `python bench/ab_revisions.py BASE [HEAD]`",
            "- search filters of many comparisons, per database: "
            "`python bench/filter_shapes.py [--base REV]`",
            "",
        ]
    )


def _demote_headings(text: str) -> str:
    """One more '#' on every Markdown heading outside code fences."""
    out, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            line = "#" + line
        out.append(line)
    return "\n".join(out)


def read_sections(text: str) -> dict[str, str]:
    """The sections of a results file. A file written before sections existed (the
    embedded report alone, no markers) becomes the embedded section."""
    found: dict[str, str] = {}
    for name in RESULT_SECTIONS:
        begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
        i, j = text.find(begin), text.find(end)
        if i != -1 and j > i:
            found[name] = text[i + len(begin) : j].strip("\n")
    if not found and text.startswith("# labtrack vs MLflow: embedded"):
        found["embedded"] = _demote_headings(text.strip("\n"))
    return found


def write_section(path: Any, name: str, body: str) -> None:
    """Replace section ``name`` of the results file at ``path``, keeping the others."""
    path = Path(path)
    sections = read_sections(path.read_text()) if path.exists() else {}
    sections[name] = body.strip("\n")
    parts = [results_header()]
    for key, command in RESULT_SECTIONS.items():
        text = sections.get(key) or f"_Not run yet: `{command}`._"
        parts += [f"<!-- BEGIN {key} -->", text, f"<!-- END {key} -->", ""]
    path.write_text("\n".join(parts))
