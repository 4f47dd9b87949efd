"""One phase of the shared MLflow-client workload, for profiling (run by tracking_server.py).

Usage: python mlflow_phase.py URL PHASE N [REPS]   (in the MLflow venv)

Does the phase's setup, prints ``READY`` and waits for a line on stdin (the orchestrator
attaches py-spy to this process and to the server meanwhile), then runs the timed part
with the real ``mlflow`` client, the same calls as /work/shared/bench/mlflow_workload.py,
and prints one ``BENCH_RESULT {...}`` line. Phases: one_by_one (N log_metric calls),
runs (N x create_run + log_batch + set_terminated), search_filtered (N runs, REPS
filtered searches), search_paged (N runs, REPS paged listings), search (N runs, then
REPS filtered searches and one paged listing, timed apart), log_batch (N points in
calls of 1,000), history (N points, REPS reads).
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import emit


def main() -> None:
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    url, phase, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    reps = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    client = MlflowClient(url)
    exp_id = client.create_experiment(f"profile-{phase}-{os.getpid()}-{int(time.time())}")
    rid = client.create_run(exp_id).info.run_id

    def make_runs(count: int) -> None:
        for i in range(count):
            r = client.create_run(exp_id, tags={"model": "xgb" if i % 2 else "lasso"})
            client.log_batch(
                r.info.run_id,
                metrics=[Metric("rmse", 5 + (i % 97) / 10, int(time.time() * 1000), 0)],
                params=[Param("alpha", str(i / 1000)), Param("max_depth", str(i % 20))],
            )
            client.set_terminated(r.info.run_id)

    requests = 0
    split: dict[str, float] = {}  # the search phase's two timed parts
    if phase == "one_by_one":

        def timed() -> None:
            for i in range(n):
                client.log_metric(rid, "loss", 1.0 / (i + 1), step=i)

        requests = n
    elif phase == "runs":

        def timed() -> None:
            make_runs(n)

        # create_run, log_batch, set_terminated (update, then get_run to print the run's URL)
        requests = 4 * n
    elif phase in ("search_filtered", "search_paged"):
        make_runs(n)

        def timed() -> None:
            for _ in range(reps):
                if phase == "search_filtered":
                    client.search_runs(
                        [exp_id],
                        "metrics.rmse < 7 and params.max_depth = '5'",
                        order_by=["metrics.rmse ASC"],
                        max_results=100,
                    )
                else:
                    token = None
                    while True:
                        page = client.search_runs([exp_id], "", max_results=1000, page_token=token)
                        token = page.token
                        if not token:
                            break

        requests = reps
    elif phase == "search":
        make_runs(n)

        def timed() -> None:
            t0 = time.perf_counter()
            for _ in range(reps):
                client.search_runs(
                    [exp_id],
                    "metrics.rmse < 7 and params.max_depth = '5'",
                    order_by=["metrics.rmse ASC"],
                    max_results=100,
                )
            split["filtered_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            got, token = 0, None
            while True:
                page = client.search_runs([exp_id], "", max_results=1000, page_token=token)
                got, token = got + len(page), page.token
                if not token:
                    break
            split["paged_s"] = time.perf_counter() - t0
            split["paged_runs"] = got

        requests = reps + 1
    elif phase == "log_batch":
        ts = int(time.time() * 1000)
        ms = [Metric("acc", i / n, ts, i) for i in range(n)]

        def timed() -> None:
            for k in range(0, n, 1000):
                client.log_batch(rid, metrics=ms[k : k + 1000])

        requests = (n + 999) // 1000
    elif phase == "history":
        ts = int(time.time() * 1000)
        ms = [Metric("acc", i / n, ts, i) for i in range(n)]
        for k in range(0, n, 1000):
            client.log_batch(rid, metrics=ms[k : k + 1000])

        def timed() -> None:
            for _ in range(reps):
                assert len(client.get_metric_history(rid, "acc")) == n

        requests = reps
    else:
        raise SystemExit(f"unknown phase {phase}")

    print("READY", flush=True)
    sys.stdin.readline()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    timed()
    seconds = time.perf_counter() - t0
    emit(
        {
            **split,
            "ok": True,
            "phase": phase,
            "n": n,
            "reps": reps,
            "requests": requests,
            "seconds": seconds,
            "client_cpu_s": time.process_time() - cpu0,
        }
    )


if __name__ == "__main__":
    main()
