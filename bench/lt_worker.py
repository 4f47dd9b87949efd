"""labtrack side of the benchmark: one phase per process (run by tracking_embedded.py).

Usage: python lt_worker.py PHASE '{"db": "/tmp/x.db", ...}'  (prints BENCH_RESULT {...})
Runs in the project's venv.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (
    PARITY_QUERIES,
    SEARCH_FILTER,
    SEARCH_ORDER,
    expected_search,
    median,
    run_values,
    run_worker,
)


def _uri(db: str) -> str:
    return f"sqlite:///{db}"


def fluent_log_metric(db: str, n: int) -> dict[str, Any]:
    """``lt.log_metric`` n times in a run, then ``lt.flush()``; count what is stored."""
    import labtrack as lt

    lt.set_tracking_uri(_uri(db))
    lt.set_experiment("fluent")
    t0 = time.perf_counter()
    with lt.start_run(run_name="fluent") as run:
        t1 = time.perf_counter()
        for i in range(n):
            lt.log_metric("loss", 1.0 / (i + 1), step=i)
        lt.flush()
        t2 = time.perf_counter()
    t3 = time.perf_counter()
    run_id = run.info.run_id
    client = lt.TrackingClient(_uri(db))
    stored = client.store.count_metric_points(run_id)
    history = len(client.get_metric_history(run_id, "loss"))
    return {
        "n": n,
        "seconds": t2 - t1,
        "rate": n / (t2 - t1),
        "start_run_s": t1 - t0,
        "end_run_s": t3 - t2,
        "stored": stored,
        "history_len": history,
        "all_stored": stored == n and history == n,
    }


def client_log_batch(db: str, n: int, batch: int = 1000) -> dict[str, Any]:
    """``TrackingClient.log_batch`` of ``batch`` points at a time (MLflow's batch limit)."""
    import labtrack as lt

    client = lt.TrackingClient(_uri(db))
    exp_id = client.create_experiment("batch")
    run_id = client.create_run(exp_id).info.run_id
    ts = int(time.time() * 1000)
    metrics = [lt.Metric("acc", i / n, ts, i) for i in range(n)]
    t0 = time.perf_counter()
    for k in range(0, n, batch):
        client.log_batch(run_id, metrics=metrics[k : k + batch])
    dt = time.perf_counter() - t0
    stored = client.store.count_metric_points(run_id)
    return {
        "n": n,
        "batch": batch,
        "seconds": dt,
        "rate": n / dt,
        "stored": stored,
        "all_stored": stored == n,
    }


def sweep(db: str, n_runs: int) -> dict[str, Any]:
    """n_runs fluent runs: start_run, 5 x log_param, 3 x log_metric, end_run."""
    import labtrack as lt

    lt.set_tracking_uri(_uri(db))
    exp_id = lt.set_experiment("sweep").experiment_id
    per_run, starts, logs, ends = [], [], [], []
    t0 = time.perf_counter()
    for i in range(n_runs):
        r0 = time.perf_counter()
        lt.start_run(run_name=f"trial-{i}")
        r1 = time.perf_counter()
        lt.log_param("lr", 10.0 ** -(i % 5))
        lt.log_param("max_depth", i % 10)
        lt.log_param("n_estimators", 100 + i)
        lt.log_param("model", "xgb")
        lt.log_param("seed", i)
        lt.log_metric("rmse", 5 + (i % 97) / 10)
        lt.log_metric("mae", 3 + (i % 89) / 10)
        lt.log_metric("r2", (i % 100) / 100)
        r2 = time.perf_counter()
        lt.end_run()
        r3 = time.perf_counter()
        per_run.append(r3 - r0)
        starts.append(r1 - r0)
        logs.append(r2 - r1)
        ends.append(r3 - r2)
    dt = time.perf_counter() - t0
    # check what was stored
    client = lt.TrackingClient(_uri(db))
    runs: list[Any] = []
    token = None
    while True:
        page = client.search_runs([exp_id], "", max_results=1000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            break
    complete = sum(
        1
        for r in runs
        if len(r.data.params) == 5 and len(r.data.metrics) == 3 and r.info.status == "FINISHED"
    )
    tags = runs[0].data.tags if runs else {}
    return {
        "n_runs": n_runs,
        "seconds": dt,
        "rate": n_runs / dt,
        "first_run_s": per_run[0],
        "median_run_ms": median(per_run) * 1000,
        "median_start_run_ms": median(starts) * 1000,
        "median_log_calls_ms": median(logs) * 1000,
        "median_end_run_ms": median(ends) * 1000,
        "stored_runs": len(runs),
        "complete_runs": complete,
        "all_stored": len(runs) == n_runs and complete == n_runs,
        "git_tags": sorted(k for k in tags if "git" in k),
        "tag_count": len(tags),
    }


def search(db: str, n_runs: int, reps: int = 10, budget_s: float = 600.0) -> dict[str, Any]:
    """Populate n_runs runs (client create_run + log_batch), then time search_runs."""
    import labtrack as lt

    client = lt.TrackingClient(_uri(db))
    exp_id = client.create_experiment("search")
    t0 = time.perf_counter()
    populated = 0
    for i in range(n_runs):
        params, rmse = run_values(i)
        ts = int(time.time() * 1000)
        run_id = client.create_run(exp_id, run_name=f"r{i}").info.run_id
        client.log_batch(
            run_id,
            metrics=[lt.Metric("rmse", rmse, ts, 0), lt.Metric("mae", rmse / 2, ts, 0)],
            params=[lt.Param(k, v) for k, v in params.items()],
            tags=[lt.RunTag("team", "bench")],
        )
        client.set_terminated(run_id)
        populated += 1
        if time.perf_counter() - t0 > budget_s:
            break
    populate_s = time.perf_counter() - t0

    def query() -> Any:
        return client.search_runs([exp_id], SEARCH_FILTER, max_results=100, order_by=SEARCH_ORDER)

    warm_t = time.perf_counter()
    query()  # warm-up
    warmup_s = time.perf_counter() - warm_t
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        page = query()
        times.append(time.perf_counter() - t)
    parity = {}
    for text, order in PARITY_QUERIES:
        try:
            names, token = [], None
            while True:
                pg = client.search_runs(
                    [exp_id], text, max_results=1000, order_by=order, page_token=token
                )
                names.extend(r.info.run_name for r in pg)
                token = pg.token
                if not token or len(names) >= 3000:
                    break
            parity[text + " | " + ",".join(order)] = names
        except Exception as exc:
            parity[text + " | " + ",".join(order)] = f"ERROR {type(exc).__name__}: {exc}"[:300]
    # labtrack's grammar extensions (OR, parentheses): checked against Python.
    extensions = {}
    for text, pred in (
        (
            "metrics.rmse < 5.1 OR params.max_depth = '5'",
            lambda p, r: r < 5.1 or p["max_depth"] == "5",
        ),
        (
            "(params.model = 'rf' OR params.model = 'xgb') AND metrics.rmse >= 9.9",
            lambda p, r: p["model"] in ("rf", "xgb") and r >= 9.9,
        ),
    ):
        want = sum(1 for i in range(populated) if pred(*run_values(i)))
        try:
            got, token = 0, None
            while True:
                pg = client.search_runs([exp_id], text, max_results=1000, page_token=token)
                got += len(pg)
                token = pg.token
                if not token:
                    break
            extensions[text] = {"got": got, "expected": want, "ok": got == want}
        except Exception as exc:
            extensions[text] = {"error": f"{type(exc).__name__}: {exc}"[:300], "ok": False}
    want_count, want_values = expected_search(populated, 100)
    got_values = [r.data.metrics["rmse"] for r in page]
    correct = (
        len(page) == min(100, want_count)
        and all(abs(a - b) < 1e-9 for a, b in zip(got_values, want_values, strict=False))
        and all(r.data.params.get("max_depth") == "5" for r in page)
    )
    return {
        "n_runs": populated,
        "populate_s": populate_s,
        "populate_rate": populated / populate_s,
        "warmup_ms": warmup_s * 1000,
        "query_ms": [t * 1000 for t in times],
        "median_ms": median(times) * 1000,
        "results": len(page),
        "expected_results": min(100, want_count),
        "matching_total": want_count,
        "correct": correct,
        "parity": parity,
        "extensions": extensions,
    }


def history(db: str, n_points: int, reps: int = 3, batch: int = 100_000) -> dict[str, Any]:
    """Write n_points of one key with client.log_batch, then time get_metric_history."""
    import labtrack as lt

    client = lt.TrackingClient(_uri(db))
    exp_id = client.create_experiment("history")
    run_id = client.create_run(exp_id).info.run_id
    ts = int(time.time() * 1000)
    t0 = time.perf_counter()
    for k in range(0, n_points, batch):
        client.log_batch(
            run_id,
            metrics=[
                lt.Metric("loss", 1.0 / (i + 1), ts + i, i)
                for i in range(k, min(n_points, k + batch))
            ],
        )
    write_s = time.perf_counter() - t0
    times = []
    length = 0
    for _ in range(reps):
        t = time.perf_counter()
        points = client.get_metric_history(run_id, "loss")
        times.append(time.perf_counter() - t)
        length = len(points)
        ok_order = points[0].step == 0 and points[-1].step == n_points - 1
        del points
    return {
        "n": n_points,
        "write_s": write_s,
        "write_rate": n_points / write_s,
        "read_s": times,
        "median_s": median(times),
        "read_rate": n_points / median(times),
        "length": length,
        "all_read": length == n_points and ok_order,
    }


def _concurrent_child(
    uri: str, exp_id: str, index: int, points: int, barrier: Any, out: Any
) -> None:
    result: dict[str, Any] = {"index": index, "errors": []}
    try:
        import labtrack as lt

        lt.set_tracking_uri(uri)
        lt.set_experiment(experiment_id=exp_id)
        run = lt.start_run(run_name=f"proc-{index}")
        result["run_id"] = run.info.run_id
        lt.log_params({"proc": index, "points": points, "kind": "concurrent"})
        barrier.wait(timeout=300)
        result["t_start"] = time.time()
        for i in range(points):
            lt.log_metric("loss", 1.0 / (i + 1), step=i)
        lt.flush()
        result["t_end"] = time.time()
        lt.end_run()
    except BaseException as exc:
        result["errors"].append(f"{type(exc).__name__}: {exc}"[:500])
    out.put(result)


def concurrent(db: str, procs: int, points: int) -> dict[str, Any]:
    """procs spawned processes log into one SQLite file at once; count every point."""
    import labtrack as lt

    uri = _uri(db)
    client = lt.TrackingClient(uri)
    exp_id = client.create_experiment("concurrent")
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(procs)
    out = ctx.Queue()
    children = [
        ctx.Process(target=_concurrent_child, args=(uri, exp_id, i, points, barrier, out))
        for i in range(procs)
    ]
    for c in children:
        c.start()
    results = []
    for _ in children:
        try:
            results.append(out.get(timeout=600))
        except Exception as exc:
            results.append({"errors": [f"no result from a child: {exc!r}"]})
    for c in children:
        c.join(timeout=60)
    errors = [e for r in results for e in r.get("errors", [])]
    per_run = {}
    for r in results:
        if r.get("run_id"):
            per_run[r["run_id"]] = client.store.count_metric_points(r["run_id"])
    starts = [r["t_start"] for r in results if "t_start" in r]
    ends = [r["t_end"] for r in results if "t_end" in r]
    wall = max(ends) - min(starts) if starts and ends else float("nan")
    total = sum(per_run.values())
    return {
        "procs": procs,
        "points_per_proc": points,
        "wall_s": wall,
        "rate": total / wall if wall == wall and wall > 0 else None,
        "stored_per_run": sorted(per_run.values()),
        "stored_total": total,
        "all_stored": len(per_run) == procs and all(v == points for v in per_run.values()),
        "errors": errors[:20],
        "error_count": len(errors),
        "locked": any("locked" in e for e in errors),
        "exit_codes": [c.exitcode for c in children],
    }


PHASES = {
    "fluent_log_metric": fluent_log_metric,
    "client_log_batch": client_log_batch,
    "sweep": sweep,
    "search": search,
    "history": history,
    "concurrent": concurrent,
}

if __name__ == "__main__":
    run_worker(PHASES)
