"""labtrack vs MLflow on models: logging and loading them, and serving one.

Writes the ``models`` section of bench/RESULTS.md (between ``<!-- BEGIN models -->`` and
``<!-- END models -->``, with ``_common.write_section``; the other sections are left as
they are) and
``bench/.work/models/last-results.json``. Reproduce from the repository root, in the
project venv::

    python bench/models_bench.py            # about 10 minutes on 2 cores

1. **Log and load** (sklearn ``LogisticRegression``, XGBoost ``XGBClassifier``): in a
   fresh process per library and repetition, on a fresh ``sqlite:///`` store, each library
   with its defaults: ``<flavor>.log_model(model, name=..., input_example=X[:5])`` inside a
   run, ``--logs`` times (the first call of a process is reported apart: it imports the
   flavor's machinery), then ``pyfunc.load_model(info.model_uri)`` of each.
2. **Serving** one small sklearn model (``LogisticRegression`` on 4 columns, saved once by
   labtrack in MLflow's format, so both servers load the same files):
   ``labtrack models serve -m DIR`` and ``mlflow models serve -m DIR --env-manager local``,
   one server process each, started in turn (alternating order) on a free port. A client
   process (raw sockets, keep-alive, TCP_NODELAY) sends a one-row ``dataframe_split``:
   sequentially for latency percentiles, then from ``--concurrency`` connections for
   ``--seconds`` for throughput; the server's CPU time per request is read from /proc.
3. A py-spy profile (``bench/.work/tools-venv``) of the labtrack server under the
   throughput load, for information (``--no-profile`` skips it).

MLflow runs in its own venv (``bench/.work/mlflow-venv``, created as by
``tracking_embedded.py``; ``xgboost-cpu`` is added to it at the project's version). The
worker phases of this file run in either interpreter: ``python bench/models_bench.py
worker PHASE JSON`` (stdlib imports only at the top).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from _common import RESULT_PREFIX, group_cpu_s, run_worker, write_section  # noqa: E402

WORK = BENCH / ".work"
OUT = WORK / "models"
LOGS = WORK / "logs"
MLFLOW_VENV = WORK / "mlflow-venv"
RESULTS = BENCH / "RESULTS.md"
COMMAND = "python bench/models_bench.py"

# Targets (the serving issue): one row, single server process, keep-alive client.
T_P50_MS = 5.0
T_RPS = 500.0

FEATURES = ["a", "b", "c", "d"]
ONE_ROW = {"dataframe_split": {"columns": FEATURES, "data": [[0.1, -0.2, 0.3, 1.5]]}}


# == worker phases (run in the project venv or in MLflow's) ===============================
def _training_data(rows: int, columns: int) -> tuple[Any, Any]:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    names = FEATURES if columns == 4 else [f"f{i}" for i in range(columns)]
    x = pd.DataFrame(rng.normal(size=(rows, columns)), columns=names)
    y = (x.iloc[:, 0] + 0.5 * x.iloc[:, 1] > 0).astype("int64")
    return x, y


def _fit(flavor: str, x: Any, y: Any) -> Any:
    if flavor == "sklearn":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(max_iter=500).fit(x, y)
    import xgboost

    return xgboost.XGBClassifier(n_estimators=100, max_depth=4).fit(x, y)


def phase_log_load(lib: str, flavor: str, db: str, logs: int) -> dict[str, Any]:
    """``logs`` x log_model in a run, then pyfunc.load_model of each (fresh process)."""
    t0 = time.perf_counter()
    if lib == "labtrack":
        import labtrack as mod
    else:
        import mlflow as mod
    import_s = time.perf_counter() - t0
    import numpy as np

    x, y = _training_data(1000, 10)
    model = _fit(flavor, x, y)
    mod.set_tracking_uri(f"sqlite:///{db}")
    mod.set_experiment("models-bench")
    flavor_module = getattr(mod, flavor)
    log_s, uris = [], []
    for _ in range(logs):
        with mod.start_run():
            t = time.perf_counter()
            info = flavor_module.log_model(model, name="model", input_example=x.head(5))
            log_s.append(time.perf_counter() - t)
        uris.append(info.model_uri)
    load_s = []
    loaded = None
    for uri in uris:
        t = time.perf_counter()
        loaded = mod.pyfunc.load_model(uri)
        load_s.append(time.perf_counter() - t)
    assert loaded is not None
    predictions = np.asarray(loaded.predict(x.head(200)), dtype=float)
    return {
        "import_s": import_s,
        "log_first_s": log_s[0],
        "log_s": log_s[1:],
        "load_first_s": load_s[0],
        "load_s": load_s[1:],
        "checksum": float(predictions.sum()),
        "uri": uris[0],
    }


def phase_save_serving_model(path: str) -> dict[str, Any]:
    import labtrack as lt

    x, y = _training_data(500, 4)
    lt.sklearn.save_model(_fit("sklearn", x, y), path, input_example=x.head(3))
    return {"path": path}


def _request_bytes(port: int, body: bytes) -> bytes:
    head = (
        f"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _response(sock: socket.socket, buffer: bytes) -> tuple[int, bytes, bytes]:
    """(status, body, what was read past it) of one HTTP/1.1 response."""
    while b"\r\n\r\n" not in buffer:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection")
        buffer += data
    head, _, rest = buffer.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection")
        rest += data
    return int(head.split(b" ", 2)[1]), rest[:length], rest[length:]


def _percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def phase_client(
    port: int, requests: int, warmup: int, concurrency: int, seconds: float, pgid: int | None
) -> dict[str, Any]:
    """Latency (one keep-alive connection) then throughput (``concurrency`` connections)."""
    request = _request_bytes(port, json.dumps(ONE_ROW).encode())
    sock = _connect(port)
    buffer = b""
    latencies = []
    body = b""
    for i in range(warmup + requests):
        t = time.perf_counter()
        sock.sendall(request)
        status, body, buffer = _response(sock, buffer)
        elapsed = time.perf_counter() - t
        if status != 200:
            raise RuntimeError(f"status {status}: {body[:300]!r}")
        if i >= warmup:
            latencies.append(elapsed * 1000)
    sock.close()
    latencies.sort()
    counts = [0] * concurrency
    errors = [0] * concurrency
    start_barrier = threading.Barrier(concurrency + 1)
    stop_at = [0.0]

    def load(i: int) -> None:
        conn = _connect(port)
        pending = b""
        start_barrier.wait()
        while time.perf_counter() < stop_at[0]:
            conn.sendall(request)
            status, _, pending = _response(conn, pending)
            counts[i] += 1
            if status != 200:
                errors[i] += 1
        conn.close()

    threads = [threading.Thread(target=load, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    cpu0 = group_cpu_s(pgid) if pgid else None
    stop_at[0] = time.perf_counter() + seconds
    t0 = time.perf_counter()
    start_barrier.wait()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - t0
    cpu = group_cpu_s(pgid) - cpu0 if pgid and cpu0 is not None else None
    total = sum(counts)
    return {
        "p50_ms": _percentile(latencies, 0.50),
        "p90_ms": _percentile(latencies, 0.90),
        "p99_ms": _percentile(latencies, 0.99),
        "mean_ms": statistics.fmean(latencies),
        "rps": total / wall,
        "requests": total,
        "errors": sum(errors),
        "server_cpu_ms_per_request": cpu * 1000 / total if cpu is not None and total else None,
        "response": body.decode(),
    }


PHASES = {
    "log_load": phase_log_load,
    "save_serving_model": phase_save_serving_model,
    "client": phase_client,
}


# == the orchestrator (project venv) =====================================================
def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def _worker(
    py: str, kind: str, phase: str, args: dict[str, Any], cwd: Path, timeout: float
) -> dict[str, Any]:
    from tracking_embedded import clean_env

    cmd = [py, str(Path(__file__).resolve()), "worker", phase, json.dumps(args)]
    label = f"models-{kind}-{phase}-{int(time.time() * 1000) % 10**8}"
    load1 = _load()
    try:
        done = subprocess.run(
            cmd, cwd=cwd, env=clean_env(kind), capture_output=True, text=True, timeout=timeout
        )
        stdout, stderr, code = done.stdout, done.stderr, done.returncode
    except subprocess.TimeoutExpired as exc:
        stdout = exc.stdout if isinstance(exc.stdout, str) else ""
        stderr = exc.stderr if isinstance(exc.stderr, str) else ""
        code = None
    (LOGS / f"{label}.log").write_text(
        f"$ {' '.join(cmd)}\n# exit={code}\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n"
    )
    for line in stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            result: dict[str, Any] = json.loads(line[len(RESULT_PREFIX) :])
            result["load1"] = load1
            return result
    tail = " | ".join(stderr.strip().splitlines()[-3:])
    return {"ok": False, "error": f"exit {code}: {tail}"[:800], "load1": load1}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ping(port: int, proc: subprocess.Popen[bytes], timeout: float) -> float:
    t0 = time.perf_counter()
    deadline = t0 + timeout
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
                if s.recv(100).startswith(b"HTTP/1.1 200"):
                    return time.perf_counter() - t0
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"no answer on port {port} in {timeout:.0f}s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def server_command(kind: str, model_dir: Path, port: int, mlflow_python: Path | None) -> list[str]:
    if kind == "labtrack":
        return [
            sys.executable,
            "-m",
            "labtrack.cli",
            "models",
            "serve",
            "-m",
            str(model_dir),
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
    assert mlflow_python is not None
    return [
        str(mlflow_python.parent / "mlflow"),
        "models",
        "serve",
        "-m",
        str(model_dir),
        "--env-manager",
        "local",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


def shown_command(kind: str, cmd: list[str], model_dir: Path, port: int) -> str:
    """The server command as a reader types it: ``labtrack``/``mlflow models serve ...``
    with MODEL_DIR and PORT for the temporary directory and the free port."""
    names = {str(model_dir): "MODEL_DIR", str(port): "PORT"}
    rest = [names.get(c, c) for c in cmd[cmd.index("models") :]]
    return " ".join(["labtrack" if kind == "labtrack" else "mlflow", *rest])


def serve_and_measure(
    kind: str,
    model_dir: Path,
    args: argparse.Namespace,
    mlflow_python: Path | None,
    pyspy: Path | None = None,
) -> dict[str, Any]:
    from tracking_embedded import clean_env

    port = _free_port()
    cmd = server_command(kind, model_dir, port, mlflow_python)
    env = clean_env(kind)
    if mlflow_python is not None and kind == "mlflow":
        # as in its activated venv: `mlflow models serve` runs `uvicorn` from PATH
        env["PATH"] = f"{mlflow_python.parent}{os.pathsep}{env.get('PATH', '')}"
    log_path = LOGS / f"models-server-{kind}-{port}.log"
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            startup_s = _wait_ping(port, proc, 120)
            profile = None
            if pyspy is not None:
                raw = LOGS / "pyspy-models-serve.txt"
                profile = subprocess.Popen(
                    [
                        str(pyspy),
                        "record",
                        "--pid",
                        str(proc.pid),
                        "-r",
                        "250",
                        "-f",
                        "raw",
                        "-d",
                        str(int(args.seconds) + 8),
                        "-o",
                        str(raw),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            result = _worker(
                sys.executable,
                "labtrack",
                "client",
                {
                    "port": port,
                    "requests": args.requests,
                    "warmup": max(50, args.requests // 10),
                    "concurrency": args.concurrency,
                    "seconds": args.seconds,
                    "pgid": proc.pid,
                },
                WORK,
                timeout=args.seconds + 600,
            )
            if profile is not None:
                profile.wait(timeout=120)
            result["startup_s"] = startup_s
            result["command"] = shown_command(kind, cmd, model_dir, port)
            return result
        except Exception as exc:
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}", "load1": _load()}
        finally:
            _stop(proc)


def ensure_mlflow_xgboost(py: Path) -> str | None:
    """xgboost in MLflow's venv, the same distribution and version as the project's."""
    import importlib.metadata as metadata

    probe = [str(py), "-c", "import xgboost"]
    if subprocess.run(probe, capture_output=True, timeout=120).returncode == 0:
        return None
    for dist in ("xgboost-cpu", "xgboost"):
        try:
            requirement = f"{dist}=={metadata.version(dist)}"
            break
        except metadata.PackageNotFoundError:
            continue
    else:
        requirement = "xgboost-cpu"
    _log(f"pip install {requirement} into {MLFLOW_VENV}")
    done = subprocess.run(
        [str(py), "-m", "pip", "install", requirement], capture_output=True, text=True, timeout=900
    )
    return None if done.returncode == 0 else f"pip install {requirement} failed"


# -- report ---------------------------------------------------------------------------------
def _med(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _ms(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 1000:,.1f} ms"


def _ratio(ours: float | None, theirs: float | None, higher_is_better: bool = False) -> str:
    if not ours or not theirs:
        return "n/a"
    r = ours / theirs if higher_is_better else theirs / ours
    return f"{r:,.1f}x faster" if r >= 1 else f"{1 / r:,.1f}x slower"


def _ok(rs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rs if r.get("ok")]


def _pool(rs: list[dict[str, Any]], key: str) -> list[float]:
    out: list[float] = []
    for r in _ok(rs):
        value = r.get(key)
        out.extend(value if isinstance(value, list) else [value] if value is not None else [])
    return out


def report(res: dict[str, Any]) -> str:
    lines = ["## Models (log, load, serve): labtrack vs MLflow", ""]
    lines += [
        f"Reproduce: `{COMMAND}` (from the repository root, in the project venv; "
        f"`--repeat {res['repeat']}`{' --quick' if res.get('quick') else ''}). "
        f"Date: {res['date']}; total {res['total_min']:.1f} min.",
        "",
    ]
    if res.get("quick"):
        lines += ["**Quick run (smoke test): small sizes, not the reference figures.**", ""]
    serve = res.get("serve", {})
    lt_runs, ml_runs = serve.get("labtrack", []), serve.get("mlflow", [])
    p50 = _med(_pool(lt_runs, "p50_ms"))
    rps = _med(_pool(lt_runs, "rps"))
    verdicts = []
    if p50 is not None:
        verdicts.append(
            f"p50 one row {p50:.2f} ms (target < {T_P50_MS:.0f} ms): "
            f"{'PASS' if p50 < T_P50_MS else 'FAIL'}"
        )
    if rps is not None:
        verdicts.append(
            f"{rps:,.0f} requests/s (target >= {T_RPS:,.0f}): {'PASS' if rps >= T_RPS else 'FAIL'}"
        )
    if verdicts:
        lines += [
            "Serving targets (labtrack, one server process): " + "; ".join(verdicts) + ".",
            "",
        ]
    lines += [
        "### Serving one small sklearn model",
        "",
        f"`LogisticRegression` on 4 columns, saved once by labtrack (MLflow's format; both "
        f"servers load the same files). One server process each. Latency: one keep-alive "
        f"connection, {res['requests']:,} sequential one-row `dataframe_split` requests after "
        f"a warm-up. Throughput: {res['concurrency']} keep-alive connections for "
        f"{res['seconds']:.0f} s. The client is a separate process (raw sockets). Medians "
        f"over {res['repeat']} server starts per side, alternating which goes first.",
        "",
        "| | labtrack | MLflow | ratio |",
        "|---|---:|---:|---:|",
    ]
    for key, label, unit in [
        ("p50_ms", "latency p50", "ms"),
        ("p90_ms", "latency p90", "ms"),
        ("p99_ms", "latency p99", "ms"),
        ("rps", f"throughput ({res['concurrency']} connections)", "/s"),
        ("server_cpu_ms_per_request", "server CPU per request (under load)", "ms"),
        ("startup_s", "startup until `/ping` answers", "s"),
    ]:
        ours, theirs = _med(_pool(lt_runs, key)), _med(_pool(ml_runs, key))
        fmt = (
            (lambda v: f"{v:,.0f}/s")
            if unit == "/s"
            else ((lambda v: f"{v:.2f} ms") if unit == "ms" else (lambda v: f"{v:.2f} s"))
        )
        shown = [fmt(v) if v is not None else "n/a" for v in (ours, theirs)]
        lines.append(
            f"| {label} | {shown[0]} | {shown[1]} | {_ratio(ours, theirs, unit == '/s')} |"
        )
    lines.append("")
    for kind, runs in (("labtrack", lt_runs), ("MLflow", ml_runs)):
        each = "; ".join(
            f"p50 {r['p50_ms']:.2f} / p99 {r['p99_ms']:.2f} ms, {r['rps']:,.0f}/s "
            f"({r['errors']} errors, load {r['load1']:.1f})"
            if r.get("ok")
            else f"failed: {r.get('error')}"
            for r in runs
        )
        lines.append(f"- {kind}, every start: {each or 'not run'}")
    commands = {r["command"] for r in lt_runs + ml_runs if r.get("command")}
    lines += ["", "Server commands (MODEL_DIR: the saved model; PORT: a free port):", ""]
    lines += [f"- `{c}`" for c in sorted(commands)]
    same = serve.get("same_predictions")
    if same is not None:
        lines += ["", f"Both servers answered the benchmark request identically: {same}."]
    if serve.get("note"):
        lines += ["", f"MLflow: {serve['note']}"]
    lines += [
        "",
        "### Logging and loading a model (SQLite store)",
        "",
        f"Each library with its defaults, in a fresh process per repetition on a fresh "
        f'`sqlite:///` file: `<flavor>.log_model(model, name="model", input_example=X[:5])` '
        f"inside a run, {res['logs']} times, then `pyfunc.load_model(info.model_uri)` of each "
        f"(`models:/m-...` for both). Model: 1,000 rows x 10 columns; sklearn "
        f"`LogisticRegression`, XGBoost `XGBClassifier(n_estimators=100, max_depth=4)`. The "
        f"first call of a process is shown apart (it loads the flavor's machinery); "
        f'"median" pools the other calls of all repetitions.',
        "",
        "| flavor | step | labtrack | MLflow | ratio |",
        "|---|---|---:|---:|---:|",
    ]
    for flavor in ("sklearn", "xgboost"):
        runs = res.get("log_load", {}).get(flavor, {})
        ours, theirs = runs.get("labtrack", []), runs.get("mlflow", [])
        for key, label in [
            ("log_s", "`log_model` (median)"),
            ("log_first_s", "`log_model`, first in the process"),
            ("load_s", "`pyfunc.load_model` (median)"),
            ("load_first_s", "`pyfunc.load_model`, first in the process"),
        ]:
            a, b = _med(_pool(ours, key)), _med(_pool(theirs, key))
            lines.append(f"| {flavor} | {label} | {_ms(a)} | {_ms(b)} | {_ratio(a, b)} |")
        failed = [r.get("error") for r in ours + theirs if not r.get("ok")]
        if failed:
            lines.append(f"| {flavor} | failures | {len(failed)} | | {str(failed[0])[:200]} |")
        checks = {round(r["checksum"], 6) for r in _ok(ours + theirs) if "checksum" in r}
        if len(checks) > 1:
            lines.append(f"| {flavor} | predictions differ! | {sorted(checks)} | | |")
    lines += [
        "",
        "MLflow's `log_model` also infers the model's pip requirements by loading it in a "
        "subprocess (its default); labtrack pins the flavor's libraries without that.",
    ]
    if res.get("profile"):
        lines += [
            "",
            "### Profile: the labtrack server under the throughput load (info)",
            "",
            res["profile"],
        ]
    loads = [r["load1"] for r in _ok(lt_runs + ml_runs) if r.get("load1") is not None]
    lines += [
        "",
        "### Machine",
        "",
        f"- {res['machine']}",
        "- 1-minute load average when each serving measurement started: "
        + (
            f"min {min(loads):.1f}, median {statistics.median(loads):.1f}, max {max(loads):.1f} "
            "(2 cores, shared with other work: compare the ratios, measured in the same run)"
            if loads
            else "n/a"
        ),
        f"- labtrack: {res.get('labtrack_versions')}",
        f"- MLflow venv: {res.get('mlflow_versions')}",
        "- Raw figures: `bench/.work/models/last-results.json`; logs: `bench/.work/logs/models-*`.",
    ]
    return "\n".join(lines) + "\n"


def _without_outer_frames(table: str) -> str:
    """The profile table without the frames every sample passes through (event loop,
    click, runpy): rows whose inclusive share is 99% or more."""
    kept = []
    for line in table.splitlines():
        cells = line.split("|")
        if len(cells) > 2 and cells[1].strip().endswith("%"):
            try:
                if float(cells[1].strip().rstrip("%")) >= 99.0:
                    continue
            except ValueError:
                pass
        kept.append(line)
    return "\n".join(kept)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--logs", type=int, default=6, help="log_model calls per process")
    parser.add_argument("--requests", type=int, default=2000, help="sequential requests")
    parser.add_argument("--seconds", type=float, default=10.0, help="throughput duration")
    parser.add_argument("--concurrency", type=int, default=8, help="throughput connections")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    parser.add_argument("--output", type=Path, default=RESULTS, help="the results file")
    args = parser.parse_args()
    if args.quick:
        args.repeat, args.logs, args.requests, args.seconds = 1, 3, 300, 3.0

    from tracking_embedded import ensure_venv, interp_info, machine_info

    started = time.perf_counter()
    OUT.mkdir(parents=True, exist_ok=True)
    LOGS.mkdir(parents=True, exist_ok=True)
    mlflow_python: Path | None = None
    note = None
    if not args.skip_mlflow:
        found, version = ensure_venv(MLFLOW_VENV, "mlflow", "mlflow", False)
        if found is None:
            note = f"not measured: {version}"
        else:
            mlflow_python = found
            note = ensure_mlflow_xgboost(found)
    python = {"labtrack": sys.executable, "mlflow": str(mlflow_python) if mlflow_python else None}
    machine = machine_info()
    res: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "repeat": args.repeat,
        "logs": args.logs,
        "requests": args.requests,
        "seconds": args.seconds,
        "concurrency": args.concurrency,
        "quick": args.quick,
        "machine": ", ".join(f"{k}: {v}" for k, v in machine.items()),
        "labtrack_versions": interp_info(
            sys.executable,
            ["labtrack", "scikit-learn", "xgboost-cpu", "skops", "uvicorn"],
            "labtrack",
        ),
        "mlflow_versions": interp_info(
            mlflow_python, ["mlflow", "scikit-learn", "xgboost-cpu", "uvicorn"], "mlflow"
        )
        if mlflow_python
        else None,
        "log_load": {},
        "serve": {"labtrack": [], "mlflow": []},
    }
    kinds = ["labtrack"] + (["mlflow"] if mlflow_python else [])
    with tempfile.TemporaryDirectory(prefix="labtrack-modelsbench-") as tmp:
        root = Path(tmp)
        # -- serving -------------------------------------------------------------------
        model_dir = root / "serving-model"
        saved = _worker(
            sys.executable, "labtrack", "save_serving_model", {"path": str(model_dir)}, root, 300
        )
        if not saved.get("ok"):
            raise SystemExit(f"could not save the serving model: {saved.get('error')}")
        for rep in range(args.repeat):
            for kind in kinds if rep % 2 == 0 else kinds[::-1]:
                _log(f"serving, {kind}, repetition {rep + 1}/{args.repeat}")
                result = serve_and_measure(kind, model_dir, args, mlflow_python)
                res["serve"][kind].append(result)
                _log(
                    f"  -> {json.dumps({k: v for k, v in result.items() if k != 'response'})[:300]}"
                )
        answers = {
            json.dumps(json.loads(r["response"]))
            for k in kinds
            for r in _ok(res["serve"][k])
            if r.get("response")
        }
        res["serve"]["same_predictions"] = len(answers) == 1 if len(kinds) == 2 else None
        res["serve"]["note"] = note
        if not args.no_profile:
            from tracking_embedded import ensure_pyspy, summarize_pyspy

            pyspy = ensure_pyspy(False)
            if pyspy is not None:
                _log("profiling the labtrack server under load (py-spy)")
                serve_and_measure("labtrack", model_dir, args, None, pyspy)
                raw = LOGS / "pyspy-models-serve.txt"
                if raw.exists():
                    res["profile"] = _without_outer_frames(summarize_pyspy(raw, top=45))
        # -- log and load --------------------------------------------------------------
        for flavor in ("sklearn", "xgboost"):
            per_kind: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
            for rep in range(args.repeat):
                for kind in kinds if rep % 2 == 0 else kinds[::-1]:
                    work = root / f"{flavor}-{kind}-{rep}"
                    work.mkdir()
                    _log(f"log/load {flavor}, {kind}, repetition {rep + 1}/{args.repeat}")
                    py = python[kind]
                    assert py is not None
                    result = _worker(
                        py,
                        kind,
                        "log_load",
                        {
                            "lib": kind,
                            "flavor": flavor,
                            "db": str(work / "store.db"),
                            "logs": args.logs,
                        },
                        work,
                        900,
                    )
                    per_kind[kind].append(result)
                    _log(f"  -> {json.dumps(result)[:300]}")
            res["log_load"][flavor] = per_kind
    res["total_min"] = (time.perf_counter() - started) / 60
    (OUT / "last-results.json").write_text(json.dumps(res, indent=2))
    text = report(res)
    print(text)
    if not args.no_write:
        write_section(args.output, "models", text)
        _log(f"wrote the models section of {args.output}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        sys.argv = [sys.argv[0], *sys.argv[2:]]
        run_worker(PHASES)
    else:
        sys.exit(main())
