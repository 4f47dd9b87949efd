"""Helpers shared by the benchmark workers (stdlib only: imported by both interpreters).

A worker is run as ``python WORKER.py PHASE JSON_ARGS`` in a fresh process; it prints
one line ``BENCH_RESULT {...json...}`` on stdout, which the orchestrator parses.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import traceback
from collections.abc import Callable
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
