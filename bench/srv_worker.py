"""labtrack's client against a tracking server: one phase per process (run by tracking_server.py).

Usage: python srv_worker.py PHASE '{"url": "http://127.0.0.1:5000", ...}'
(prints one ``BENCH_RESULT {...}`` line). Runs in the project's venv. The ``load`` phase
starts its client processes with ``multiprocessing`` (spawn) and talks to either server
(labtrack's or MLflow's) over HTTP only.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import cpu_jiffies, group_cpu_s, median, postgres_cpu_s, run_worker

MLFLOW_API = "/api/2.0/mlflow"
HISTORY_PAGE = 25_000  # MLflow's (and labtrack's) largest metric-history page


def _percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, math.ceil(q / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


def count_history(url: str, run_id: str, key: str) -> tuple[int, int]:
    """(points, distinct steps) of a metric, read with MLflow's paged get-history endpoint."""
    import httpx

    n = 0
    steps: set[int] = set()
    token = None
    with httpx.Client(base_url=url, timeout=120) as http:
        while True:
            params: dict[str, Any] = {
                "run_id": run_id,
                "metric_key": key,
                "max_results": HISTORY_PAGE,
            }
            if token:
                params["page_token"] = token
            r = http.get(f"{MLFLOW_API}/metrics/get-history", params=params)
            r.raise_for_status()
            data = r.json()
            points = data.get("metrics", [])
            n += len(points)
            steps.update(int(p.get("step", 0)) for p in points)
            token = data.get("next_page_token")
            if not token:
                return n, len(steps)


# -- labtrack's own client over HTTP -------------------------------------------------------
def fluent_http(url: str, n: int, **_: Any) -> dict[str, Any]:
    """``lt.log_metric`` n times in a run on a server, until ``lt.flush()`` returns."""
    import labtrack as lt

    lt.set_tracking_uri(url)
    lt.set_experiment(f"fluent-{os.getpid()}")
    t0 = time.perf_counter()
    with lt.start_run(run_name="fluent") as run:
        cpu0 = time.process_time()
        t1 = time.perf_counter()
        for i in range(n):
            lt.log_metric("loss", 1.0 / (i + 1), step=i)
        t_loop = time.perf_counter()
        lt.flush()
        t2 = time.perf_counter()
        cpu_s = time.process_time() - cpu0
    t3 = time.perf_counter()
    run_id = run.info.run_id
    history = lt.TrackingClient(url).get_metric_history(run_id, "loss")
    paged, distinct = count_history(url, run_id, "loss")
    return {
        "n": n,
        "seconds": t2 - t1,
        "rate": n / (t2 - t1),
        "loop_s": t_loop - t1,
        "flush_s": t2 - t_loop,
        "start_run_s": t1 - t0,
        "end_run_s": t3 - t2,
        "client_cpu_s": cpu_s,
        "stored": len(history),
        "stored_paged": paged,
        "distinct_steps": distinct,
        "all_stored": len(history) == n and paged == n and distinct == n,
    }


def history_http(
    url: str, n_points: int, batch: int = 100_000, reps: int = 3, **_: Any
) -> dict[str, Any]:
    """Write n_points of one key (client ``log_batch``), then time ``get_metric_history``."""
    import labtrack as lt

    client = lt.TrackingClient(url)
    exp_id = client.create_experiment(f"history-{os.getpid()}")
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
    ok_order = False
    for _ in range(reps):
        t = time.perf_counter()
        points = client.get_metric_history(run_id, "loss")
        times.append(time.perf_counter() - t)
        length = len(points)
        ok_order = bool(points) and points[0].step == 0 and points[-1].step == n_points - 1
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


def sweep_http(url: str, n_runs: int, **_: Any) -> dict[str, Any]:
    """n_runs fluent runs on a server: start_run, 5 x log_param, 3 x log_metric, end_run."""
    import labtrack as lt

    lt.set_tracking_uri(url)
    exp_id = lt.set_experiment(f"sweep-{os.getpid()}").experiment_id
    per_run = []
    t0 = time.perf_counter()
    for i in range(n_runs):
        r0 = time.perf_counter()
        lt.start_run(run_name=f"trial-{i}")
        lt.log_param("lr", 10.0 ** -(i % 5))
        lt.log_param("max_depth", i % 10)
        lt.log_param("n_estimators", 100 + i)
        lt.log_param("model", "xgb")
        lt.log_param("seed", i)
        lt.log_metric("rmse", 5 + (i % 97) / 10)
        lt.log_metric("mae", 3 + (i % 89) / 10)
        lt.log_metric("r2", (i % 100) / 100)
        lt.end_run()
        per_run.append(time.perf_counter() - r0)
    dt = time.perf_counter() - t0
    client = lt.TrackingClient(url)
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
    return {
        "n_runs": n_runs,
        "seconds": dt,
        "rate": n_runs / dt,
        "first_run_s": per_run[0],
        "median_run_ms": median(per_run) * 1000,
        "stored_runs": len(runs),
        "complete_runs": complete,
        "all_stored": len(runs) == n_runs and complete == n_runs,
    }


# -- load: many client processes logging at once ------------------------------------------
BULK_KEYS = ("loss", "accuracy", "learning_rate", "grad_norm")


def _load_child(
    url: str,
    exp_id: str,
    index: int,
    mode: str,
    seconds: float,
    points: int,
    barrier: Any,
    out: Any,
    server_pgid: int | None = None,
) -> None:
    """One client: its own run, then requests in a closed loop for ``seconds``.

    mode "bulk": ``TrackingClient.log_batch`` of ``points`` points (4 keys) per call, the
    labtrack client's own path (labtrack's bulk endpoint; MLflow's log-batch against an
    MLflow server). mode "single": MLflow's ``runs/log-metric``, one point per request,
    with a plain keep-alive ``httpx.Client``.
    """
    result: dict[str, Any] = {"index": index, "errors": [], "latencies": []}
    sent: dict[str, int] = {}
    try:
        import httpx

        import labtrack as lt

        client = lt.TrackingClient(url)
        run_id = client.create_run(exp_id, run_name=f"load-{mode}-{index}").info.run_id
        result["run_id"] = run_id
        http = httpx.Client(base_url=url, timeout=60)
        step = 0
        per_key = max(1, points // len(BULK_KEYS))

        def one_bulk() -> None:
            nonlocal step
            ts = int(time.time() * 1000)
            metrics = [
                lt.Metric(key, 1.0 / (step + j + 1), ts, step + j)
                for key in BULK_KEYS
                for j in range(per_key)
            ]
            client.log_batch(run_id, metrics=metrics)
            step += per_key
            for key in BULK_KEYS:
                sent[key] = sent.get(key, 0) + per_key

        def one_single() -> None:
            nonlocal step
            body = {
                "run_id": run_id,
                "key": "loss",
                "value": 1.0 / (step + 1),
                "timestamp": int(time.time() * 1000),
                "step": step,
            }
            r = http.post(f"{MLFLOW_API}/runs/log-metric", json=body)
            if r.status_code != 200:
                raise RuntimeError(f"HTTP {r.status_code}: {r.text[:300]}")
            step += 1
            sent["loss"] = sent.get("loss", 0) + 1

        one = one_bulk if mode == "bulk" else one_single
        one()  # warm-up: connection, the client's capability probe (its points count too)
        barrier.wait(timeout=600)
        lat = result["latencies"]
        cpu0 = time.process_time()
        # Client 0 also samples the machine, the server and PostgreSQL around the window.
        probe = index == 0
        before = (
            (cpu_jiffies(), group_cpu_s(server_pgid) if server_pgid else None, postgres_cpu_s())
            if probe
            else None
        )
        result["t_start"] = time.time()
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            r0 = time.perf_counter()
            try:
                one()
            except Exception as exc:
                result["errors"].append(f"{type(exc).__name__}: {exc}"[:400])
                if len(result["errors"]) > 50:
                    break
                continue
            lat.append(time.perf_counter() - r0)
        result["t_end"] = time.time()
        result["cpu_s"] = time.process_time() - cpu0
        if before:
            after = (
                cpu_jiffies(),
                group_cpu_s(server_pgid) if server_pgid else None,
                postgres_cpu_s(),
            )
            result["probe"] = (before, after)
        result["sent"] = sent
        http.close()
    except BaseException as exc:
        result["errors"].append(f"{type(exc).__name__}: {exc}"[:400])
        result["sent"] = sent
    out.put(result)


def load(
    url: str,
    procs: int,
    seconds: float,
    mode: str,
    points: int = 100,
    server_pgid: int | None = None,
    **_: Any,
) -> dict[str, Any]:
    """``procs`` client processes (spawn), each its own run, log for ``seconds``; then count."""
    import labtrack as lt

    client = lt.TrackingClient(url)
    exp_id = client.create_experiment(f"load-{mode}-{os.getpid()}-{int(time.time())}")
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(procs)
    out = ctx.Queue()
    children = [
        ctx.Process(
            target=_load_child,
            args=(url, exp_id, i, mode, seconds, points, barrier, out, server_pgid),
        )
        for i in range(procs)
    ]
    for c in children:
        c.start()
    results = []
    for _ in children:
        try:
            results.append(out.get(timeout=seconds + 600))
        except Exception as exc:
            results.append({"errors": [f"no result from a client process: {exc!r}"]})
    for c in children:
        c.join(timeout=60)
        if c.is_alive():
            c.kill()
    errors = [e for r in results for e in r.get("errors", [])]
    busy = server_cpu = pg_cpu = None
    for r in results:
        if r.get("probe"):
            (j0, s0, p0), (j1, s1, p1) = r["probe"]
            if j0 and j1 and j1[1] > j0[1]:
                busy = (j1[0] - j0[0]) / (j1[1] - j0[1])
            server_cpu = s1 - s0 if s0 is not None and s1 is not None else None
            pg_cpu = p1 - p0 if p0 is not None and p1 is not None else None
    latencies = sorted(x for r in results for x in r.get("latencies", []))
    starts = [r["t_start"] for r in results if "t_start" in r]
    ends = [r["t_end"] for r in results if "t_end" in r]
    wall = max(ends) - min(starts) if starts and ends else float("nan")
    n_req = len(latencies)
    pts_per_req = (points // len(BULK_KEYS)) * len(BULK_KEYS) if mode == "bulk" else 1

    # Verification: every acknowledged point of every run is stored, exactly once.
    t_verify = time.perf_counter()
    per_run: list[dict[str, Any]] = []
    verify_errors: list[str] = []
    for r in results:
        if not r.get("run_id"):
            continue
        for key, want in sorted(r.get("sent", {}).items()):
            try:
                got, distinct = count_history(url, r["run_id"], key)
            except Exception as exc:
                verify_errors.append(f"{key}: {type(exc).__name__}: {exc}"[:300])
                continue
            per_run.append(
                {"run": r["index"], "key": key, "sent": want, "stored": got, "distinct": distinct}
            )
    verify_s = time.perf_counter() - t_verify
    exact = (
        not verify_errors
        and len({x["run"] for x in per_run}) == procs
        and all(x["sent"] == x["stored"] == x["distinct"] for x in per_run)
    )
    stored_total = sum(x["stored"] for x in per_run)
    sent_total = sum(x["sent"] for x in per_run)
    mismatches = [x for x in per_run if not x["sent"] == x["stored"] == x["distinct"]]
    return {
        "mode": mode,
        "procs": procs,
        "seconds": seconds,
        "points_per_request": pts_per_req,
        "wall_s": wall,
        "requests": n_req,
        "requests_per_s": n_req / wall if wall == wall and wall > 0 else None,
        "points_per_s": n_req * pts_per_req / wall if wall == wall and wall > 0 else None,
        "p50_ms": _percentile(latencies, 50) * 1000,
        "p90_ms": _percentile(latencies, 90) * 1000,
        "p99_ms": _percentile(latencies, 99) * 1000,
        "max_ms": (latencies[-1] * 1000) if latencies else float("nan"),
        "mean_ms": (sum(latencies) / n_req * 1000) if n_req else float("nan"),
        "per_client_requests": sorted(len(r.get("latencies", [])) for r in results),
        "client_cpu_s": sum(r.get("cpu_s", 0.0) for r in results),
        "machine_busy": busy,
        "server_cpu_s": server_cpu,
        "postgres_cpu_s": pg_cpu,
        "error_count": len(errors),
        "errors": errors[:10],
        "sent_total": sent_total,
        "stored_total": stored_total,
        "all_stored": exact,
        "mismatches": mismatches[:10],
        "verify_errors": verify_errors[:10],
        "verify_s": verify_s,
        "exit_codes": [c.exitcode for c in children],
    }


def _ceiling_child(dsn: str, index: int, seconds: float, barrier: Any, out: Any) -> None:
    import psycopg

    n = 0
    try:
        with psycopg.connect(dsn) as conn:
            barrier.wait(timeout=600)
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                conn.execute(
                    "INSERT INTO bench_ceiling VALUES (%s, %s, %s)", (index, n, 1.0 / (n + 1))
                )
                conn.commit()
                n += 1
        out.put({"n": n, "seconds": time.perf_counter() - t0})
    except BaseException as exc:
        out.put({"n": n, "error": f"{type(exc).__name__}: {exc}"[:300]})


def pg_ceiling(dsn: str, procs: int, seconds: float, **_: Any) -> dict[str, Any]:
    """PostgreSQL alone: ``procs`` processes each INSERT one row + COMMIT in a loop (a
    reference for what the database can take here, with no server in between)."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_ceiling")
        conn.execute("CREATE TABLE bench_ceiling (proc int, n int, v double precision)")
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(procs)
    out = ctx.Queue()
    children = [
        ctx.Process(target=_ceiling_child, args=(dsn, i, seconds, barrier, out))
        for i in range(procs)
    ]
    for c in children:
        c.start()
    results = [out.get(timeout=seconds + 300) for _ in children]
    for c in children:
        c.join(timeout=60)
    with psycopg.connect(dsn, autocommit=True) as conn:
        stored = conn.execute("SELECT count(*) FROM bench_ceiling").fetchone()[0]  # type: ignore[index]
        conn.execute("DROP TABLE bench_ceiling")
    total = sum(r["n"] for r in results)
    wall = max((r.get("seconds", seconds) for r in results), default=seconds)
    errors = [r["error"] for r in results if "error" in r]
    return {
        "procs": procs,
        "commits": total,
        "commits_per_s": total / wall,
        "stored": stored,
        "errors": errors,
        "ok": not errors,
    }


PHASES = {
    "pg_ceiling": pg_ceiling,
    "fluent_http": fluent_http,
    "history_http": history_http,
    "sweep_http": sweep_http,
    "load": load,
}

if __name__ == "__main__":
    run_worker(PHASES)
