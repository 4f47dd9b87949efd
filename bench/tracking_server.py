"""Tracking-server benchmark: labtrack's server vs MLflow's, in one run.

    . .venv/bin/activate && python bench/tracking_server.py

1. MLflow's own client (the shared workload's calls, /work/shared/bench/mlflow_workload.py,
   phase by phase through mlflow_phase.py in the MLflow venv) against three servers kept
   running, each settled first: the client's floor (bench/floor_server.py, a server that
   does nothing), `labtrack server` and `mlflow server`, all on SQLite; phases interleaved,
   the order rotating; each server reported as a share of the floor. Startup until /health
   is timed apart, a fresh server and database each time.
2. labtrack's client over HTTP against a labtrack server on SQLite: fluent log_metric x
   100,000 + flush, get_metric_history of 1,000,000 points, a 1,000-run fluent sweep.
3. Load: `--workers 4` on PostgreSQL under 16 client processes (labtrack's bulk log_batch
   and MLflow-style single-point log-metric), on labtrack's server and on MLflow's.
4. py-spy profiles of the labtrack workloads that miss their target or are within 1.5x.

Writes the "server" section of bench/RESULTS.md (the embedded section is kept) and
bench/.work/last-server-results.json. Options: see --help and bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import tracking_embedded as emb  # noqa: E402  (its helpers: venvs, machine info, formatting)
from _common import (  # noqa: E402
    RESULT_PREFIX,
    group_cpu_s,
    group_members,
    median,
    write_section,
)

WORK, LOGS, MLFLOW_VENV = emb.WORK, emb.LOGS, emb.MLFLOW_VENV
RESULTS = emb.RESULTS
WORKLOAD_SCRIPT = emb.WORKLOAD_SCRIPT
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
# labtrack: postgresql:// is psycopg 3. MLflow's venv has SQLAlchemy 2.1, whose default
# PostgreSQL driver is psycopg 3 too; MLflow's documented driver is psycopg2, named explicitly.
PG_URI = {
    "labtrack": "postgresql://postgres@127.0.0.1:5432/{db}",
    "mlflow": "postgresql+psycopg2://postgres@127.0.0.1:5432/{db}",
}
DB_PREFIX = "lt_bench_srv_"

# Targets. The workload phases are judged against the `mlflow` client's own floor: the same
# calls against bench/floor_server.py, a server that does nothing, measured in the same run.
# labtrack must reach this share of the floor's rate (issue 12, "speed claims, measured
# fairly"); the ratio to MLflow's settled server is reported beside it.
T_STARTUP_S = 2.0
T_FLUENT_HTTP = 50_000.0
FLOOR_TARGETS: dict[str, float | None] = {
    "log_metric one-by-one": 0.75,
    "log_batch metrics": None,
    "get_metric_history": None,
    "create+log+end runs": 0.75,
    "search_runs filtered x10": None,
    "search_runs all (paged)": None,
}
# How the shared workload's phases are timed one at a time: mlflow_phase.py PHASE N REPS
# (scale 1) in a fresh client process; the two searches share one process ("search").
WORKLOAD_PHASES: dict[str, tuple[str, int, int]] = {
    "log_metric one-by-one": ("one_by_one", 500, 1),
    "log_batch metrics": ("log_batch", 20_000, 1),
    "get_metric_history": ("history", 20_000, 3),
    "create+log+end runs": ("runs", 300, 1),
    "search_runs filtered x10": ("search", 300, 10),
    "search_runs all (paged)": ("search", 300, 10),
}
KINDS = ("floor", "labtrack", "mlflow")
FLOOR_SCRIPT = BENCH / "floor_server.py"
PHASE_SCRIPT = BENCH / "mlflow_phase.py"
# A server has settled when its processes use less than this much CPU per second for
# SETTLE_WINDOWS seconds in a row (MLflow's server starts job consumers that run for
# several seconds after /health answers).
SETTLE_CPU_PER_S = 0.03
SETTLE_WINDOWS = 3
SETTLE_CAP_S = 180.0


def phase_rate(name: str, r: dict[str, Any]) -> float:
    """The workload's rate for phase ``name`` from an mlflow_phase.py result."""
    if name == "search_runs filtered x10":
        return float(r["reps"]) / r["filtered_s"]
    if name == "search_runs all (paged)":
        return float(r["paged_runs"]) / r["paged_s"]
    if name == "get_metric_history":
        return float(r["n"] * r["reps"]) / r["seconds"]
    return float(r["n"]) / r["seconds"]


# How each workload phase is profiled on its own (mlflow_phase.py PHASE N REPS, at scale 1).
PROFILE_PHASES = {
    "log_metric one-by-one": ("one_by_one", 3000, 1),
    "create+log+end runs": ("runs", 600, 1),
    "search_runs filtered x10": ("search_filtered", 300, 1000),
    "search_runs all (paged)": ("search_paged", 300, 60),
    "get_metric_history": ("history", 20000, 20),
}


def log(msg: str) -> None:
    emb.log(msg)


# -- processes: every one in its own process group, always stopped --------------------------
_LIVE: dict[int, str] = {}  # process-group id -> label, of what this script started


def _kill_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_group(pgid: int, grace: float = 20.0) -> bool:
    """SIGTERM a process group, then SIGKILL what is left after ``grace`` seconds."""
    _kill_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not group_members(pgid):
            break
        time.sleep(0.1)
    clean = not group_members(pgid)
    if not clean:
        _kill_group(pgid, signal.SIGKILL)
        for _ in range(50):
            if not group_members(pgid):
                break
            time.sleep(0.1)
    _LIVE.pop(pgid, None)
    return clean


def stop_everything() -> None:
    for pgid in list(_LIVE):
        stop_group(pgid, grace=5.0)


def _on_signal(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def health(port: int) -> bool:
    try:
        with _NO_PROXY.open(f"http://127.0.0.1:{port}/health", timeout=2) as r:
            return r.status == 200
    except Exception:
        return False


def keepalive_health_ms(port: int, n: int = 30) -> float | None:
    """Median latency of ``GET /health`` on one keep-alive connection (after a warm-up)."""
    import http.client

    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        times = []
        for i in range(n + 3):
            t0 = time.perf_counter()
            conn.request("GET", "/health")
            conn.getresponse().read()
            if i >= 3:
                times.append(time.perf_counter() - t0)
        conn.close()
        return median(times) * 1000
    except Exception:
        return None


class ServerFailed(Exception):
    pass


class Server:
    """A tracking server in its own process group; its startup time is until /health."""

    def __init__(
        self, kind: str, cmd: list[str], env: dict[str, str], cwd: Path, port: int, label: str
    ) -> None:
        self.kind, self.cmd, self.env, self.cwd, self.port = kind, cmd, env, cwd, port
        self.label = label
        self.log_path = LOGS / f"server-{label}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_s: float | None = None
        self.stopped_cleanly: bool | None = None
        self.port_freed: bool | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float) -> float:
        with open(self.log_path, "wb") as out:
            out.write(f"$ {' '.join(self.cmd)}\n".encode())
            out.flush()
            t0 = time.perf_counter()
            self.proc = subprocess.Popen(
                self.cmd,
                cwd=self.cwd,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        _LIVE[self.proc.pid] = self.label
        while True:
            if health(self.port):
                self.startup_s = time.perf_counter() - t0
                return self.startup_s
            if self.proc.poll() is not None:
                raise ServerFailed(
                    f"{self.kind} server exited with code {self.proc.returncode} before "
                    f"answering /health; {self.log_tail()}"
                )
            if time.perf_counter() - t0 > timeout:
                raise ServerFailed(
                    f"{self.kind} server did not answer /health within {timeout:.0f} s; "
                    f"{self.log_tail()}"
                )
            time.sleep(0.05)

    def log_tail(self, lines: int = 4) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        tail = [x for x in text if x.strip()][-lines:]
        return f"log {self.log_path.relative_to(BENCH)}: " + " | ".join(tail)[-700:]

    def cpu_s(self) -> float:
        return group_cpu_s(self.proc.pid) if self.proc else 0.0

    def stop(self) -> None:
        if self.proc is None:
            return
        self.stopped_cleanly = stop_group(self.proc.pid)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for _ in range(100):
            if port_is_free(self.port):
                self.port_freed = True
                break
            time.sleep(0.1)
        else:
            self.port_freed = False

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def run_cmd(
    cmd: list[str],
    timeout: float,
    env: dict[str, str],
    cwd: Path,
    log_name: str,
) -> tuple[str, str, int | None, float]:
    """Run a command in its own process group with a timeout (the group is killed on
    timeout or Ctrl-C); keep its output in bench/.work/logs/. Returns (out, err, code, s)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    _LIVE[proc.pid] = log_name
    code: int | None
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        code = None
    except BaseException:
        _kill_group(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    finally:
        if group_members(proc.pid):  # children left behind (e.g. spawned clients)
            stop_group(proc.pid, grace=2.0)
        _LIVE.pop(proc.pid, None)
    elapsed = time.perf_counter() - t0
    (LOGS / f"{log_name}.log").write_text(
        f"$ {' '.join(cmd)}\n# exit={code} elapsed={elapsed:.1f}s\n"
        f"--- stdout\n{stdout}\n--- stderr\n{stderr}\n"
    )
    return stdout, stderr, code, elapsed


def parse_result(stdout: str, stderr: str, code: int | None, timeout: float) -> dict[str, Any]:
    result: dict[str, Any] | None = None
    for line in stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line[len(RESULT_PREFIX) :])
    if result is None:
        why = f"timed out after {timeout:.0f}s" if code is None else f"exit code {code}"
        tail = [x for x in stderr.strip().splitlines() if x.strip()][-3:]
        result = {"ok": False, "error": f"{why}; {' | '.join(tail)}"[:800]}
    return result


def load1() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def loadavg_text() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


# -- the bench ---------------------------------------------------------------------------
DRIVER = """\
import sys
sys.path.insert(0, {bench!r})
if __name__ == "__main__":
    import srv_worker as worker
    from _common import run_worker
    run_worker(worker.PHASES)
"""

PHASE_LINE = re.compile(r"(.+?)\s+n=(\d+)\s+([\d.]+)s\s+([\d.]+)/s")


class Bench:
    def __init__(self, args: argparse.Namespace, ml_py: Path | None) -> None:
        self.args = args
        self.lt_py = sys.executable
        self.lt_bin = str(Path(sys.executable).parent / "labtrack")
        self.ml_py = ml_py
        self.ml_bin = str(ml_py.parent / "mlflow") if ml_py else None
        self.tmp_root = Path(tempfile.mkdtemp(prefix="labtrack-srvbench-"))
        self.driver = self.tmp_root / "bench_srv_worker.py"
        self.driver.write_text(DRIVER.format(bench=str(BENCH)))
        self.counter = 0
        self.pyspy: Path | None = None

    def close(self) -> None:
        if not self.args.keep_tmp:
            shutil.rmtree(self.tmp_root, ignore_errors=True)

    def new_dir(self, label: str) -> Path:
        self.counter += 1
        d = self.tmp_root / f"{self.counter:03d}-{label}"
        d.mkdir()
        return d

    def done_with(self, d: Path) -> None:
        if not self.args.keep_tmp:
            shutil.rmtree(d, ignore_errors=True)

    # servers
    def server(
        self, kind: str, d: Path, backend: str | None = None, workers: int | None = None
    ) -> Server:
        port = free_port()
        if kind == "floor":
            env = emb.clean_env("labtrack")
            cmd = [self.lt_py, str(FLOOR_SCRIPT), str(port)]
            return Server(kind, cmd, env, d, port, d.name)
        backend = backend or (f"sqlite:///{d / ('lt.db' if kind == 'labtrack' else 'mlflow.db')}")
        art = d / ("ltart" if kind == "labtrack" else "mlart")
        if kind == "labtrack":
            cmd = [self.lt_bin, "server"]
        else:
            assert self.ml_bin is not None
            cmd = [self.ml_bin, "server"]
        cmd += ["--backend-store-uri", backend, "--artifacts-destination", str(art)]
        cmd += ["--host", "127.0.0.1", "--port", str(port)]
        if workers:
            cmd += ["--workers", str(workers)]
        env = emb.clean_env(kind)
        env["TMPDIR"] = str(d)  # whatever a server puts in temp files goes away with d
        return Server(kind, cmd, env, d, port, d.name)

    # a labtrack client phase (srv_worker.py) in a fresh process
    def lt_phase(self, phase: str, kwargs: dict[str, Any], timeout: float) -> dict[str, Any]:
        d = self.new_dir(f"client-{phase}")
        cmd = [self.lt_py, str(self.driver), phase, json.dumps(kwargs)]
        l1 = load1()
        out, err, code, elapsed = run_cmd(cmd, timeout, emb.clean_env("labtrack"), d, d.name)
        r = parse_result(out, err, code, timeout)
        r.update(log=f"bench/.work/logs/{d.name}.log", process_s=elapsed, load1=l1)
        self.done_with(d)
        return r

    # one phase of the shared workload with MLflow's client (mlflow_phase.py), fresh process
    def ml_phase(self, url: str, phase: str, n: int, reps: int, label: str) -> dict[str, Any]:
        assert self.ml_py is not None
        d = self.new_dir(f"phase-{label}")
        cmd = [str(self.ml_py), str(PHASE_SCRIPT), url, phase, str(n), str(reps)]
        timeout = 900.0
        out, err, code, elapsed = run_cmd(cmd, timeout, emb.clean_env("mlflow"), d, d.name)
        r = parse_result(out, err, code, timeout)
        r.update(log=f"bench/.work/logs/{d.name}.log", process_s=elapsed)
        self.done_with(d)
        return r

    # the shared workload script with MLflow's client
    def workload(self, url: str, label: str, timeout: float) -> dict[str, Any]:
        assert self.ml_py is not None
        d = self.new_dir(f"workload-{label}")
        cmd = [str(self.ml_py), str(WORKLOAD_SCRIPT), url, f"{self.args.scale:g}"]
        out, err, code, elapsed = run_cmd(cmd, timeout, emb.clean_env("mlflow"), d, d.name)
        rows = {}
        for line in out.splitlines():
            m = PHASE_LINE.match(line)
            if m:
                rows[m.group(1).strip()] = {
                    "n": int(m.group(2)),
                    "seconds": float(m.group(3)),
                    "rate": float(m.group(4)),
                }
        self.done_with(d)
        ok = code == 0 and len(rows) == len(FLOOR_TARGETS)
        error = None
        if not ok:
            why = "timed out" if code is None else f"exit {code}"
            tail = [x for x in err.strip().splitlines() if x.strip()][-3:]
            error = f"{why}; {len(rows)}/{len(FLOOR_TARGETS)} phases; {' | '.join(tail)}"[:800]
        return {
            "ok": ok,
            "rows": rows,
            "seconds": elapsed,
            "error": error,
            "log": f"bench/.work/logs/{d.name}.log",
        }


# -- 1. MLflow's client against the floor, labtrack's server and MLflow's, SQLite -----------
def settle(srv: Server) -> float | None:
    """Wait until the server's processes are idle; seconds waited, None if they never were."""
    t0, quiet, prev = time.perf_counter(), 0, srv.cpu_s()
    while time.perf_counter() - t0 < SETTLE_CAP_S:
        time.sleep(1.0)
        cur = srv.cpu_s()
        quiet = quiet + 1 if cur - prev < SETTLE_CPU_PER_S else 0
        prev = cur
        if quiet >= SETTLE_WINDOWS:
            return time.perf_counter() - t0
    return None


def part_startup(b: Bench, res: dict[str, Any]) -> None:
    """Startup until /health, a fresh server and database each time, the order alternating."""
    kinds = ["labtrack"] + (["mlflow"] if b.ml_py and not b.args.skip_mlflow else [])
    for rep in range(b.args.repeat):
        for kind in kinds if rep % 2 == 0 else kinds[::-1]:
            d = b.new_dir(f"startup-{kind}")
            srv = b.server(kind, d)
            entry: dict[str, Any] = {"rep": rep + 1, "kind": kind, "load1": load1()}
            try:
                with srv:
                    entry["startup_s"] = srv.start(240 if kind == "mlflow" else 60)
                    entry["health_ms"] = keepalive_health_ms(srv.port)
                entry["ok"] = True
            except ServerFailed as exc:
                entry.update(ok=False, error=str(exc))
            entry["server_log"] = f"bench/.work/logs/{srv.log_path.name}"
            entry["stopped_cleanly"], entry["port_freed"] = srv.stopped_cleanly, srv.port_freed
            res.setdefault("startup", []).append(entry)
            log(f"[1] startup {kind}: {entry.get('startup_s', float('nan')):.2f} s")
            b.done_with(d)


def part_compat(b: Bench, res: dict[str, Any]) -> None:
    """The shared workload's phases, each in a fresh `mlflow` client process, against three
    servers kept running: the floor, labtrack's and MLflow's, each settled first. Every
    repetition runs each phase on the three servers back to back, the order rotating, so
    that the machine's drift falls on all three alike."""
    if not b.ml_py:
        return  # no mlflow client: nothing to run the workload with (the report says why)
    kinds = [k for k in KINDS if k != "mlflow" or not b.args.skip_mlflow]
    servers: dict[str, Server] = {}
    try:
        for kind in kinds:
            d = b.new_dir(f"compat-{kind}")
            srv = b.server(kind, d)
            servers[kind] = srv
            srv.start(240 if kind == "mlflow" else 60)
            waited = settle(srv)
            res.setdefault("settle", {})[kind] = waited
            log(f"[1] {kind} server up; settled after {waited} s")
        invocations: list[tuple[str, int, int, list[str]]] = []
        for name, (phase, n, reps) in WORKLOAD_PHASES.items():
            n = max(1, int(n * b.args.scale))
            hit = next((i for i in invocations if i[0] == phase), None)
            if hit:
                hit[3].append(name)
            else:
                invocations.append((phase, n, reps, [name]))
        for rep in range(b.args.repeat):
            for i, (phase, n, reps, names) in enumerate(invocations):
                shift = (rep + i) % len(kinds)
                order = kinds[shift:] + kinds[:shift]
                for pos, kind in enumerate(order):
                    srv = servers[kind]
                    l1, cpu0 = load1(), srv.cpu_s()
                    r = b.ml_phase(srv.url, phase, n, reps, f"{kind}-{phase}-r{rep + 1}")
                    server_cpu = srv.cpu_s() - cpu0
                    for name in names:
                        entry: dict[str, Any] = {
                            "rep": rep + 1,
                            "kind": kind,
                            "phase": name,
                            "order": pos,
                            "load1": l1,
                            "ok": bool(r.get("ok")),
                            "log": r.get("log"),
                            "server_cpu_s": server_cpu,
                            "client_cpu_s": r.get("client_cpu_s"),
                            "requests": r.get("requests"),
                            "n": n,
                        }
                        if r.get("ok"):
                            entry["rate"] = phase_rate(name, r)
                        else:
                            entry["error"] = r.get("error")
                        res.setdefault("compat", []).append(entry)
                    log(
                        f"[1] rep {rep + 1} {phase} on {kind}: "
                        + (
                            "; ".join(
                                f"{e['phase']} {e['rate']:,.1f}/s"
                                for e in res["compat"][-len(names) :]
                            )
                            if r.get("ok")
                            else f"FAILED {r.get('error')}"
                        )
                    )
        # The shared workload script itself, once per server, as a cross-check.
        for kind in kinds:
            srv = servers[kind]
            w = b.workload(srv.url, f"{kind}-whole", 1800)
            res.setdefault("whole", {})[kind] = w
        if "floor" in servers:
            try:
                with urllib.request.urlopen(servers["floor"].url + "/floor/unknown") as f:
                    res["floor_unknown"] = json.loads(f.read())
                with urllib.request.urlopen(servers["floor"].url + "/floor/calls") as f:
                    res["floor_calls"] = json.loads(f.read())
            except OSError as exc:
                res["floor_unknown"] = {"(could not ask)": str(exc)}
    except ServerFailed as exc:
        res["compat_error"] = str(exc)
    finally:
        for kind, srv in servers.items():
            srv.stop()
            res.setdefault("compat_stop", {})[kind] = (srv.stopped_cleanly, srv.port_freed)
            res.setdefault("compat_server_log", {})[kind] = f"bench/.work/logs/{srv.log_path.name}"


# -- 2. labtrack's client over HTTP ---------------------------------------------------------
def part_client(b: Bench, res: dict[str, Any]) -> None:
    a = b.args
    plan = [
        ("fluent", "fluent_http", {"n": a.fluent_n}, a.repeat, 600),
        ("sweep", "sweep_http", {"n_runs": a.sweep_n}, a.repeat, 900),
        ("history", "history_http", {"n_points": a.history_n}, min(2, a.repeat), 1200),
    ]
    for key, phase, kwargs, reps, timeout in plan:
        d = b.new_dir(f"http-{key}")
        srv = b.server("labtrack", d)
        try:
            with srv:
                res.setdefault("client_startup_s", []).append(srv.start(60))
                for i in range(reps):
                    log(f"[2] labtrack client over HTTP: {phase} {i + 1}/{reps}")
                    cpu0 = srv.cpu_s()
                    r = b.lt_phase(phase, {"url": srv.url, **kwargs}, timeout)
                    r["server_cpu_s"] = srv.cpu_s() - cpu0
                    res.setdefault(f"http_{key}", []).append(r)
                    log(f"  -> {emb._brief(r)}")
        except ServerFailed as exc:
            res.setdefault(f"http_{key}", []).append({"ok": False, "error": str(exc)})
        b.done_with(d)


# -- 3. load on PostgreSQL ---------------------------------------------------------------------
def pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def pg_drop_stale() -> list[str]:
    """Drop this script's databases left by an earlier run that was killed (its pid is gone)."""
    import psycopg

    dropped = []
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=10) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s", (DB_PREFIX + "%",)
            )
        ]
        for name in names:
            m = re.match(rf"{DB_PREFIX}(\d+)_", name)
            if m and not Path(f"/proc/{m.group(1)}").exists():
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
                dropped.append(name)
    return dropped


def ensure_psycopg2(ml_py: Path) -> tuple[bool, str]:
    """MLflow's server reaches PostgreSQL through psycopg2: install the wheel if missing."""
    check = [str(ml_py), "-c", "import psycopg2; print(psycopg2.__version__)"]
    r = subprocess.run(check, capture_output=True, text=True, timeout=120)
    if r.returncode == 0:
        return True, f"psycopg2 {r.stdout.split()[0]}"
    log("pip install psycopg2-binary into the MLflow venv")
    with open(LOGS / "pip-psycopg2.log", "w") as out:
        p = subprocess.run(
            [str(ml_py), "-m", "pip", "install", "psycopg2-binary"],
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=900,
        )
    if p.returncode != 0:
        return False, "pip install psycopg2-binary failed (see bench/.work/logs/pip-psycopg2.log)"
    r = subprocess.run(check, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        return False, f"psycopg2 not importable after install: {r.stderr.strip()[-300:]}"
    return True, f"psycopg2 {r.stdout.split()[0]} (installed by this run)"


def part_load(b: Bench, res: dict[str, Any], meta: dict[str, Any]) -> None:
    a = b.args
    try:
        meta["pg_stale_dropped"] = pg_drop_stale()
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=10) as conn:
            meta["postgres"] = str(conn.execute("SELECT version()").fetchone()[0])  # type: ignore[index]
    except Exception as exc:
        res["load_error"] = f"PostgreSQL at {PG_ADMIN} unusable: {type(exc).__name__}: {exc}"
        log(res["load_error"])
        return
    kinds = ["labtrack"]
    if b.ml_py and not a.skip_mlflow:
        ok, text = ensure_psycopg2(b.ml_py)
        meta["ml_psycopg2"] = text
        if ok:
            kinds.append("mlflow")
        else:
            res["load_ml_skipped"] = text
    dbs = {k: f"{DB_PREFIX}{os.getpid()}_{'lt' if k == 'labtrack' else 'ml'}" for k in kinds}
    try:
        for db in dbs.values():
            pg_admin(f'CREATE DATABASE "{db}"')
        log(f"[3] PostgreSQL alone: {a.load_procs} processes, INSERT + COMMIT in a loop")
        res["pg_ceiling"] = b.lt_phase(
            "pg_ceiling",
            {
                "dsn": PG_URI["labtrack"].format(db=dbs["labtrack"]),
                "procs": a.load_procs,
                "seconds": min(a.load_seconds, 10.0),
            },
            600,
        )
        log(f"  -> {res['pg_ceiling'].get('commits_per_s') or res['pg_ceiling'].get('error')}")
        for rep in range(a.load_repeat):
            order = kinds if rep % 2 == 0 else kinds[::-1]
            for kind in order:
                d = b.new_dir(f"load-{kind}")
                srv = b.server(kind, d, backend=PG_URI[kind].format(db=dbs[kind]), workers=4)
                log(f"[3] rep {rep + 1}/{a.load_repeat}: {kind} server --workers 4 on PostgreSQL")
                try:
                    with srv:
                        startup = srv.start(300 if kind == "mlflow" else 120)
                        res.setdefault(f"load_startup_{kind}", []).append(startup)
                        res.setdefault(f"load_health_{kind}", []).append(
                            keepalive_health_ms(srv.port)
                        )
                        for mode in ("bulk", "single"):
                            l1 = load1()
                            r = b.lt_phase(
                                "load",
                                {
                                    "url": srv.url,
                                    "procs": a.load_procs,
                                    "seconds": a.load_seconds,
                                    "mode": mode,
                                    "points": 100,
                                    "server_pgid": srv.proc.pid,  # type: ignore[union-attr]
                                },
                                a.load_seconds + 900,
                            )
                            r.update(rep=rep + 1, kind=kind, load1=l1, load1_after=load1())
                            res.setdefault(f"load_{kind}_{mode}", []).append(r)
                            log(f"  -> {mode}: {load_brief(r)}")
                except ServerFailed as exc:
                    res.setdefault(f"load_{kind}_error", []).append(str(exc))
                    log(f"  -> {kind} server failed: {exc}")
                b.done_with(d)
        if not a.no_profile:
            for mode in ("single", "bulk"):
                log(f"[4] profiling labtrack's server (4 workers, PostgreSQL) under load: {mode}")
                try:
                    prof = profile_load(b, PG_URI["labtrack"].format(db=dbs["labtrack"]), mode)
                except Exception as exc:
                    prof = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
                prof["name"] = f"load on PostgreSQL, {mode} (info)"
                res.setdefault("load_profiles", []).append(prof)
    finally:
        for db in dbs.values():
            try:
                pg_admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            except Exception as exc:
                log(f"could not drop database {db}: {exc!r}")


def load_brief(r: dict[str, Any]) -> str:
    if not r.get("ok"):
        return f"FAILED: {r.get('error')}"
    return (
        f"{r['requests_per_s']:,.0f} req/s, {r['points_per_s']:,.0f} points/s, p50 "
        f"{r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, errors {r['error_count']}, "
        f"all stored {r['all_stored']}"
    )


# -- 4. profiles -------------------------------------------------------------------------------
WAIT_LEAVES = {
    "idle": (
        "Condition.wait ",
        "Event.wait ",
        "Thread.join ",
        "Thread._wait_for_tstate_lock ",
        "Queue.get ",
        "SimpleQueue.get ",
        "EpollSelector.select ",
        "SelectSelector.select ",
        "PollSelector.select ",
        "BaseSelector.select ",
        "select ",
        "Connection._recv ",
        "Connection.poll ",
        "sleep ",
        "Semaphore.acquire ",
        "Lock.acquire ",
        "TextIOWrapper.readline ",
        "main (multiprocessing/resource_tracker.py)",  # blocked reading its pipe
    ),
    "waiting on the network (the other end's answer)": (
        "SocketIO.readinto ",
        "SyncStream.read ",
        "socket.recv",
        "HTTPResponse._safe_read",
        "_safe_read ",
    ),
    "waiting on PostgreSQL": ("Connection.wait (psycopg", "wait_c "),
}
# Frames every sample of a thread goes through (process and event-loop boilerplate): left
# out of the tables, not out of the percentages.
BORING = (
    "(threading.py)",
    "(contextlib.py)",
    "importlib._bootstrap",
    "<module> (bench_",
    "<module> (<string>)",
    "<module> (labtrack)",
    "<module> (mlflow_phase.py)",
    "(click/core.py)",
    "(labtrack/cli/",
    "(uvicorn/main.py)",
    "(uvicorn/server.py)",
    "(uvicorn/_compat.py)",
    "(uvicorn/_subprocess.py)",
    "(uvicorn/supervisors/",
    "(asyncio/runners.py)",
    "BaseEventLoop.run_forever ",
    "BaseEventLoop.run_until_complete ",
    "(multiprocessing/",
    "run_worker (_common.py)",
    "main (mlflow_phase.py)",
    "WorkerThread.run (anyio",
)


_PROCESS_FRAMES = re.compile(r'(?:process \d+:"[^"]*";)*')


def summarize_profile(
    raw: Path, focus: tuple[str, ...] = (), top: int = 18
) -> tuple[str, dict[str, float]]:
    """py-spy --idle raw output -> (Markdown summary, samples by class).

    Every thread is sampled whether it runs or waits; a sample whose innermost frame is a
    known wait (a lock, a queue, select(), a socket read, psycopg waiting for PostgreSQL)
    counts as waiting, the rest as running (CPU, or I/O inside C code such as SQLite).
    With ``focus``, only samples with a frame starting with one of those names count (the
    timed part); the others are counted as "outside the timed part".
    """
    incl: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    classes: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    running = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        # Leading 'process PID:"command line"' frames (the command may contain ';').
        stack = stack[_PROCESS_FRAMES.match(stack).end() :]  # type: ignore[union-attr]
        frames = stack.split(";")
        thread = "?"
        if frames and frames[0].startswith("thread "):
            thread = frames[0].split(": ", 1)[-1].strip('"')
            frames = frames[1:]
        names = [re.sub(r":\d+\)$", ")", f) for f in frames]
        leaf = names[-1] if names else ""
        cls = next(
            (c for c, prefixes in WAIT_LEAVES.items() if leaf.startswith(prefixes)), "running"
        )
        if focus and not any(name.startswith(focus) for name in names):
            cls = "outside the timed part"
        classes[cls] += n
        if cls != "running":
            continue
        running += n
        threads[re.sub(r"[-_ ]?\d+.*$", "", thread) or thread] += n
        for name in set(names):
            incl[name] += n
        self_[leaf or "(no Python frame)"] += n
    total = sum(v for k, v in classes.items() if k != "outside the timed part")
    if not total:
        return "(no samples)", {}
    lines = [
        f"{total:,} samples ({', '.join(f'{c} {k:,}' for c, k in classes.most_common())})"
        + (f", focus {', '.join(f'`{f}`' for f in focus)}" if focus else "")
        + "; "
        "table: share of the running samples"
        + (
            "; running samples by thread: "
            + ", ".join(f"{t} {c * 100 / running:.0f}%" for t, c in threads.most_common(4))
            if running
            else ""
        )
        + ".",
        "",
    ]
    if running:
        lines += ["| inclusive | self | function |", "|---:|---:|---|"]
        shown = [name for name, _ in incl.most_common() if not any(x in name for x in BORING)]
        for name in shown[:top]:
            lines.append(
                f"| {incl[name] * 100 / running:.1f}% | {self_[name] * 100 / running:.1f}% "
                f"| `{name}` |"
            )
        lines += [
            "",
            "Top self time: "
            + "; ".join(f"`{name}` {c * 100 / running:.1f}%" for name, c in self_.most_common(10)),
        ]
    return "\n".join(lines), dict(classes)


def _pyspy_attach(pyspy: Path, pid: int, out: Path, subprocesses: bool) -> subprocess.Popen[bytes]:
    cmd = [str(pyspy), "record", "--pid", str(pid), "--idle", "--threads", "-r", "250"]
    cmd += ["-f", "raw", "-o", str(out)]
    if subprocesses:
        cmd.append("--subprocesses")
    with open(out.with_suffix(".err"), "wb") as err:
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    _LIVE[p.pid] = f"py-spy {pid}"
    return p


def _stop_pyspy(p: subprocess.Popen[bytes]) -> None:
    """py-spy writes its output when interrupted (SIGINT) or when its target exits."""
    if p.poll() is None:
        p.send_signal(signal.SIGINT)
    try:
        p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        _kill_group(p.pid, signal.SIGKILL)
        p.wait()
    _LIVE.pop(p.pid, None)


def _readline(stream: Any, timeout: float) -> str:
    ready, _, _ = select.select([stream], [], [], timeout)
    return stream.readline() if ready else ""


def profile_workload_phase(
    b: Bench, name: str, phase: str, n: int, reps: int, timeout: float = 900
) -> dict[str, Any]:
    """One workload phase, MLflow's client against a labtrack server, both under py-spy."""
    assert b.ml_py is not None
    assert b.pyspy is not None
    d = b.new_dir(f"profile-{phase}")
    srv = b.server("labtrack", d)
    out: dict[str, Any] = {"name": name, "phase": phase, "n": n, "reps": reps}
    srv_raw, cli_raw = LOGS / f"pyspy-server-{phase}.txt", LOGS / f"pyspy-client-{phase}.txt"
    for f in (srv_raw, cli_raw):
        f.unlink(missing_ok=True)
    with srv:
        srv.start(60)
        cmd = [str(b.ml_py), str(BENCH / "mlflow_phase.py"), srv.url, phase, str(n), str(reps)]
        with open(LOGS / f"profile-client-{phase}.log", "w") as err:
            client = subprocess.Popen(
                cmd,
                cwd=d,
                env=emb.clean_env("mlflow"),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                start_new_session=True,
            )
        _LIVE[client.pid] = f"profile client {phase}"
        spies: list[subprocess.Popen[bytes]] = []
        try:
            deadline = time.monotonic() + timeout
            line = ""
            while "READY" not in line and time.monotonic() < deadline:
                line = _readline(client.stdout, 5)
                if client.poll() is not None and not line:
                    break
            if "READY" not in line:
                raise RuntimeError(f"the profiled client did not get ready ({line!r})")
            spies = [
                _pyspy_attach(b.pyspy, srv.proc.pid, srv_raw, False),  # type: ignore[union-attr]
                _pyspy_attach(b.pyspy, client.pid, cli_raw, False),
            ]
            time.sleep(1.5)  # let py-spy attach
            cpu0 = srv.cpu_s()
            assert client.stdin is not None
            client.stdin.write("go\n")
            client.stdin.flush()
            stdout, _ = client.communicate(timeout=timeout)
            out["server_cpu_s"] = srv.cpu_s() - cpu0
            out.update(parse_result(stdout, "", client.returncode, timeout))
        except Exception as exc:
            out.update(ok=False, error=f"{type(exc).__name__}: {exc}")
        finally:
            if client.poll() is None:
                _kill_group(client.pid, signal.SIGKILL)
                client.wait()
            _LIVE.pop(client.pid, None)
            for spy in spies:
                _stop_pyspy(spy)
    b.done_with(d)
    if srv_raw.exists():
        out["server_profile"], out["server_classes"] = summarize_profile(srv_raw)
    if cli_raw.exists():
        out["client_profile"], out["client_classes"] = summarize_profile(
            cli_raw, focus=("main.<locals>.timed (mlflow_phase",)
        )
    return out


def profile_fluent(b: Bench) -> dict[str, Any]:
    """labtrack's fluent client over HTTP (client under py-spy, server attached)."""
    assert b.pyspy is not None
    d = b.new_dir("profile-fluent")
    srv = b.server("labtrack", d)
    out: dict[str, Any] = {"name": "fluent over HTTP", "phase": "fluent_http"}
    srv_raw, cli_raw = LOGS / "pyspy-server-fluent_http.txt", LOGS / "pyspy-client-fluent_http.txt"
    for f in (srv_raw, cli_raw):
        f.unlink(missing_ok=True)
    with srv:
        srv.start(60)
        spy = _pyspy_attach(b.pyspy, srv.proc.pid, srv_raw, False)  # type: ignore[union-attr]
        try:
            time.sleep(1.5)
            cmd = [str(b.pyspy), "record", "--idle", "--threads", "-r", "250", "-f", "raw"]
            cmd += ["-o", str(cli_raw), "--", b.lt_py, str(b.driver), "fluent_http"]
            cmd.append(json.dumps({"url": srv.url, "n": b.args.fluent_n}))
            cpu0 = srv.cpu_s()
            o, e, code, _ = run_cmd(cmd, 600, emb.clean_env("labtrack"), d, "profile-fluent")
            out["server_cpu_s"] = srv.cpu_s() - cpu0  # includes the run's setup and checks
            out.update(parse_result(o, e, code, 600))
        finally:
            _stop_pyspy(spy)
    b.done_with(d)
    if srv_raw.exists():
        out["server_profile"], out["server_classes"] = summarize_profile(srv_raw)
    if cli_raw.exists():
        out["client_profile"], out["client_classes"] = summarize_profile(
            cli_raw, focus=("log_metric (labtrack", "flush (labtrack", "LogQueue._run (labtrack")
        )
    return out


def profile_load(b: Bench, backend: str, mode: str) -> dict[str, Any]:
    """One load test on labtrack's server (4 workers) with py-spy attached to all of them."""
    b.pyspy = b.pyspy or emb.ensure_pyspy(False)
    if b.pyspy is None:
        return {"ok": False, "error": "py-spy could not be installed"}
    d = b.new_dir(f"profile-load-{mode}")
    srv = b.server("labtrack", d, backend=backend, workers=4)
    raw = LOGS / f"pyspy-server-load-{mode}.txt"
    raw.unlink(missing_ok=True)
    out: dict[str, Any] = {"phase": f"load_{mode}"}
    with srv:
        srv.start(120)
        time.sleep(1.0)  # the workers are up once /health answers; let them settle
        spy = _pyspy_attach(b.pyspy, srv.proc.pid, raw, True)  # type: ignore[union-attr]
        try:
            time.sleep(1.5)
            r = b.lt_phase(
                "load",
                {
                    "url": srv.url,
                    "procs": b.args.load_procs,
                    "seconds": b.args.load_seconds,
                    "mode": mode,
                    "points": 100,
                    "server_pgid": srv.proc.pid,  # type: ignore[union-attr]
                },
                b.args.load_seconds + 900,
            )
            out["server_cpu_s"] = r.get("server_cpu_s")
            out["load"] = r
            out["ok"] = r.get("ok", False)
            out["requests"] = r.get("requests")
            out["seconds"] = r.get("wall_s")
            if not out["ok"]:
                out["error"] = r.get("error")
        finally:
            _stop_pyspy(spy)
    b.done_with(d)
    if raw.exists():
        out["server_profile"], out["server_classes"] = summarize_profile(raw)
    return out


def run_profiles(b: Bench, res: dict[str, Any], summary: dict[str, Any]) -> list[dict[str, Any]]:
    todo = []
    for name, (phase, n, reps) in PROFILE_PHASES.items():
        target = FLOOR_TARGETS.get(name)
        share = summary["shares"].get(name, {}).get("labtrack")
        if b.args.profile_all or (
            target is not None and b.ml_py and (share is None or share < 1.2 * target)
        ):
            n = max(1, int(n * (b.args.profile_scale)))
            reps = reps if phase in ("one_by_one", "runs") else max(1, int(reps * b.args.scale))
            todo.append((name, phase, n, reps))
    fluent = summary.get("fluent_rate")
    need_fluent = b.args.profile_all or fluent is None or fluent < 1.5 * T_FLUENT_HTTP
    if not todo and not need_fluent:
        return []
    b.pyspy = emb.ensure_pyspy(False)
    if b.pyspy is None:
        return [{"name": "profiles", "ok": False, "error": "py-spy could not be installed"}]
    out = []
    for name, phase, n, reps in todo:
        log(f"[4] profiling labtrack's server: {name} ({phase} n={n} reps={reps})")
        try:
            out.append(profile_workload_phase(b, name, phase, n, reps))
        except Exception as exc:
            out.append({"name": name, "ok": False, "error": f"{type(exc).__name__}: {exc}"})
    if need_fluent:
        log("[4] profiling labtrack's fluent client over HTTP")
        try:
            out.append(profile_fluent(b))
        except Exception as exc:
            out.append({"name": "fluent", "ok": False, "error": f"{type(exc).__name__}: {exc}"})
    return out


# -- the report ----------------------------------------------------------------------------
# The floor applies no filter, so its filtered search returns more runs than a real server's:
# no share of the floor for that phase.
FLOOR_COMPARABLE = {p for p in FLOOR_TARGETS if p != "search_runs filtered x10"}


def compat_summary(res: dict[str, Any]) -> dict[str, Any]:
    """Per-phase medians; per-repetition shares of the floor (server rate / floor rate in the
    same repetition) and ratios labtrack / MLflow, and their medians."""
    entries = [e for e in res.get("compat", []) if e.get("ok")]
    out: dict[str, Any] = {
        "rates": {},
        "shares": {},
        "rep_shares": {},
        "ratios": {},
        "rep_ratios": {},
        "startup": {},
    }
    for kind in ("labtrack", "mlflow"):
        out["startup"][kind] = [
            e["startup_s"]
            for e in res.get("startup", [])
            if e["kind"] == kind and e.get("startup_s") is not None
        ]
    reps = sorted({e["rep"] for e in entries})
    for phase in FLOOR_TARGETS:
        by = {(e["kind"], e["rep"]): e["rate"] for e in entries if e["phase"] == phase}
        out["rates"][phase] = {k: [by[(k, r)] for r in reps if (k, r) in by] for k in KINDS}
        for kind in ("labtrack", "mlflow"):
            ss = [
                by[(kind, r)] / by[("floor", r)]
                for r in reps
                if (kind, r) in by and ("floor", r) in by and phase in FLOOR_COMPARABLE
            ]
            out["rep_shares"].setdefault(phase, {})[kind] = ss
            out["shares"].setdefault(phase, {})[kind] = median(ss) if ss else None
        rr = [
            by[("labtrack", r)] / by[("mlflow", r)]
            for r in reps
            if ("labtrack", r) in by and ("mlflow", r) in by
        ]
        out["rep_ratios"][phase] = rr
        out["ratios"][phase] = median(rr) if rr else None
    return out


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.0f}%"


def _med(vals: list[float]) -> float | None:
    return median(vals) if vals else None


def _x(v: float | None) -> str:
    return "n/a" if v is None else f"{v:,.1f}x"


def _rate(v: float | None, unit: str = "/s") -> str:
    return "n/a" if v is None else (f"{v:,.0f}{unit}" if v >= 100 else f"{v:,.1f}{unit}")


def build_report(
    args: argparse.Namespace,
    meta: dict[str, Any],
    res: dict[str, Any],
    summary: dict[str, Any],
    profiles: list[dict[str, Any]],
) -> str:
    rep = emb.Report()
    problems: list[str] = []
    ml_notes: list[str] = []

    # -- 1. startup and the workload
    lt_up, ml_up = summary["startup"].get("labtrack", []), summary["startup"].get("mlflow", [])
    lt_s, ml_s = _med(lt_up), _med(ml_up)
    st = rep.check(
        "labtrack server startup (SQLite)",
        None if lt_s is None else lt_s < T_STARTUP_S,
        f"{lt_s:.2f} s" if lt_s is not None else "n/a",
        "< 2 s",
        near=bool(lt_s and lt_s > T_STARTUP_S / 1.5),
    )
    rep.row(
        "server startup until `/health` answers (SQLite, new database)",
        emb.fmt_s(lt_s),
        emb.fmt_s(ml_s),
        emb.ratio_text(lt_s, ml_s, False),
        "< 2 s",
        st,
    )
    wl_rows: list[str] = []
    for phase, target in FLOOR_TARGETS.items():
        rates = summary["rates"].get(phase, {})
        fl_r, lt_r, ml_r = (_med(rates.get(k, [])) for k in KINDS)
        lt_share = summary["shares"].get(phase, {}).get("labtrack")
        ml_share = summary["shares"].get(phase, {}).get("mlflow")
        n = next((e["n"] for e in res.get("compat", []) if e["phase"] == phase), None)
        label = f"`{phase}` (n={n:,})" if n else f"`{phase}`"
        if target is None:
            status, tgt = "info", "-"
        else:
            tgt = f">= {target * 100:.0f}% of floor"
            status = rep.check(
                f"{phase}, share of the client's floor",
                None if lt_share is None else lt_share >= target,
                f"{_pct(lt_share)} (labtrack {_rate(lt_r)}, floor {_rate(fl_r)})",
                tgt,
                near=bool(lt_share and lt_share < 1.1 * target),
            )
        wl_rows.append(
            f"| {label} | {_rate(fl_r)} | {_rate(lt_r)} | {_rate(ml_r)} | {_pct(lt_share)} | "
            f"{_pct(ml_share)} | {_x(summary['ratios'].get(phase))} | {tgt} | {status} |"
        )

    # -- 2. labtrack's client over HTTP
    fl = res.get("http_fluent", [])
    fl_rate = emb.med(fl, "rate")
    fl_stored = bool(fl) and all(r.get("ok") and r.get("all_stored") for r in fl)
    st = rep.check(
        "labtrack fluent log_metric over HTTP",
        None if fl_rate is None else (fl_rate >= T_FLUENT_HTTP and fl_stored),
        f"{_rate(fl_rate)}" + ("" if fl_stored else " (NOT all points stored)"),
        ">= 50,000 points/s",
        near=bool(fl_rate and fl_rate < 1.5 * T_FLUENT_HTTP),
    )
    rep.row(
        f"labtrack client: fluent `lt.log_metric` x {args.fluent_n:,} + `lt.flush()` over "
        "HTTP (SQLite server)" + ("" if fl_stored else "; **points missing**"),
        _rate(fl_rate, " points/s"),
        "-",
        "-",
        ">= 50,000/s",
        st,
    )
    hi = res.get("http_history", [])
    hi_s = emb.med(hi, "median_s")
    rep.row(
        f"labtrack client: `get_metric_history`, {args.history_n:,} points over HTTP (info)",
        f"{emb.fmt_s(hi_s)} ({_rate(emb.med(hi, 'read_rate'), ' points/s')})",
        "-",
        "-",
        "-",
        "info",
    )
    sw = res.get("http_sweep", [])
    sw_s = emb.med(sw, "seconds")
    rep.row(
        f"labtrack client: fluent sweep, {args.sweep_n:,} runs (start_run, 5 params, 3 metrics, "
        "end_run) over HTTP (info)",
        f"{emb.fmt_s(sw_s)} ({_rate(emb.med(sw, 'rate'), ' runs/s')})",
        "-",
        "-",
        "-",
        "info",
    )
    for key, what in (
        ("http_fluent", "fluent"),
        ("http_history", "history"),
        ("http_sweep", "sweep"),
    ):
        for r in res.get(key, []):
            if not r.get("ok"):
                problems.append(
                    f"labtrack client over HTTP, {what}: {r.get('error')} ({r.get('log')})"
                )
            elif r.get("all_stored") is False or r.get("all_read") is False:
                problems.append(
                    f"labtrack client over HTTP, {what}: data check failed: "
                    + json.dumps(
                        {
                            k: r.get(k)
                            for k in (
                                "n",
                                "n_runs",
                                "stored",
                                "stored_paged",
                                "distinct_steps",
                                "stored_runs",
                                "complete_runs",
                                "length",
                            )
                            if k in r
                        }
                    )
                )

    # -- 3. load
    load_rows: list[str] = []

    def per_req(r: dict[str, Any], key: str) -> str:
        v, n = r.get(key), r.get("requests")
        return f"{v / n * 1000:.2f} ms/req" if v and n else "n/a"

    for mode, what in (
        ("bulk", "`TrackingClient.log_batch`, 100 points (4 keys x 25 steps) per request"),
        ("single", "MLflow `runs/log-metric`, 1 point per request (httpx)"),
    ):
        if args.skip_load:
            break
        per_kind = {k: res.get(f"load_{k}_{mode}", []) for k in ("labtrack", "mlflow")}
        lt_rs = per_kind["labtrack"]
        lt_ok = (
            bool(lt_rs)
            and all(r.get("ok") for r in lt_rs)
            and all(r.get("error_count") == 0 and r.get("all_stored") for r in lt_rs)
        )
        errs = sum(r.get("error_count", 0) for r in lt_rs if r.get("ok"))
        st = rep.check(
            f"load ({mode}) on labtrack's server",
            None if not lt_rs or not any(r.get("ok") for r in lt_rs) else lt_ok,
            f"{errs} errors; every point stored: {all(r.get('all_stored') for r in lt_rs)}",
            "0 errors, every point stored",
        )

        def cell(rs: list[dict[str, Any]]) -> str:
            good = [r for r in rs if r.get("ok")]
            if not good:
                return "not run" if not rs else f"failed: {emb.errors_of(rs)[:150]}"
            e = sum(r["error_count"] for r in good)
            stored = all(r["all_stored"] for r in good)
            return (
                f"{_rate(emb.med(good, 'requests_per_s'), ' req/s')} = "
                f"{_rate(emb.med(good, 'points_per_s'), ' points/s')}; p50/p99 "
                f"{emb.med(good, 'p50_ms'):.0f}/{emb.med(good, 'p99_ms'):.0f} ms; "
                f"{e} errors; {'all stored' if stored else 'POINTS MISSING'}"
            )

        rep.row(
            f"load: {args.load_procs} client processes x {args.load_seconds:g} s, {what}; "
            "`--workers 4`, PostgreSQL",
            cell(lt_rs),
            cell(per_kind["mlflow"]),
            emb.ratio_text(
                emb.med(lt_rs, "requests_per_s"),
                emb.med(per_kind["mlflow"], "requests_per_s"),
                True,
            )
            + " (req/s)",
            "0 errors, all stored",
            st,
        )
        for kind, rs in per_kind.items():
            for r in rs:
                line = f"| {mode} | {kind} | {r.get('rep')} | " + (
                    f"{r['requests']:,} | {r['wall_s']:.1f} | {r['requests_per_s']:,.0f} | "
                    f"{r['points_per_s']:,.0f} | {r['p50_ms']:.1f} | {r['p90_ms']:.1f} | "
                    f"{r['p99_ms']:.1f} | {r['max_ms']:.0f} | {r['error_count']} | "
                    f"{r['sent_total']:,} / {r['stored_total']:,} "
                    f"{'exact' if r['all_stored'] else 'MISMATCH'} | "
                    f"{r['server_cpu_s']:.1f} ({per_req(r, 'server_cpu_s')}) | "
                    f"{(r.get('postgres_cpu_s') or 0):.1f} ({per_req(r, 'postgres_cpu_s')}) | "
                    f"{r['client_cpu_s']:.1f} ({per_req(r, 'client_cpu_s')}) | "
                    + (f"{r['machine_busy'] * 100:.0f}%" if r.get("machine_busy") else "n/a")
                    + f" | {r['load1'] or 0:.1f} -> {r['load1_after'] or 0:.1f} |"
                    if r.get("ok")
                    else f"FAILED: {str(r.get('error'))[:300]} |" + " |" * 15
                )
                load_rows.append(line)
                if kind == "labtrack":
                    if not r.get("ok"):
                        problems.append(f"load {mode}: {r.get('error')} ({r.get('log')})")
                    elif r["error_count"] or not r["all_stored"]:
                        problems.append(
                            f"load {mode} rep {r['rep']}: {r['error_count']} errors "
                            f"{r['errors'][:3]}; sent {r['sent_total']:,}, stored "
                            f"{r['stored_total']:,}; mismatches {r['mismatches'][:3]}; "
                            f"verify errors {r['verify_errors'][:3]}"
                        )
                elif kind == "mlflow" and (
                    not r.get("ok") or r["error_count"] or not r["all_stored"]
                ):
                    ml_notes.append(
                        f"MLflow load {mode} rep {r.get('rep')}: "
                        + (
                            f"{r['error_count']} errors {r['errors'][:2]}; sent "
                            f"{r['sent_total']:,}, stored {r['stored_total']:,}"
                            if r.get("ok")
                            else str(r.get("error"))
                        )
                    )

    # -- keep-alive latency with several workers (TCP_NODELAY: src/labtrack/server/_serving.py)
    health = [x for x in res.get("load_health_labtrack", []) if x is not None]
    if health and emb.median(health) > 10:
        problems.append(
            f"`labtrack server --workers 4` answers `GET /health` on a keep-alive connection "
            f"in {emb.median(health):.1f} ms (median): a Nagle/delayed-ACK stall is back "
            "(each connection must get TCP_NODELAY; see src/labtrack/server/_serving.py)"
        )

    # -- failures of MLflow's side, of labtrack's servers
    for e in res.get("compat", []):
        if not e.get("ok"):
            (problems if e["kind"] != "mlflow" else ml_notes).append(
                f"{e['kind']} server, `{e['phase']}` rep {e['rep']}: {e.get('error')} "
                f"(log {e.get('log')})"
            )
    for e in res.get("startup", []):
        if not e.get("ok"):
            (problems if e["kind"] == "labtrack" else ml_notes).append(
                f"{e['kind']} server startup, rep {e['rep']}: {e.get('error')}"
            )
        if e.get("stopped_cleanly") is False and e["kind"] == "labtrack":
            problems.append(f"labtrack server (rep {e['rep']}) did not stop within 20 s of SIGTERM")
        if e.get("port_freed") is False:
            problems.append(f"{e['kind']} server (rep {e['rep']}): port still busy after stop")
    if res.get("compat_error"):
        problems.append(f"the three servers of part 1: {res['compat_error']}")
    if res.get("floor_unknown"):
        problems.append(
            "the floor server was asked for paths it does not answer, so its figures are not "
            f"a floor: {res['floor_unknown']}"
        )
    for kind, waited in res.get("settle", {}).items():
        if waited is None:
            (problems if kind != "mlflow" else ml_notes).append(
                f"{kind} server never settled (CPU above {SETTLE_CPU_PER_S:g} s/s for "
                f"{SETTLE_CAP_S:.0f} s after /health)"
            )
    for kind in ("labtrack", "mlflow"):
        for err in res.get(f"load_{kind}_error", []):
            (problems if kind == "labtrack" else ml_notes).append(
                f"{kind} server on PostgreSQL: {err}"
            )
    if res.get("load_error"):
        problems.append(res["load_error"])
    if res.get("load_ml_skipped"):
        ml_notes.append(f"MLflow load test not run: {res['load_ml_skipped']}")

    # -- text
    m = meta
    out = [
        "## Tracking server: labtrack vs MLflow",
        "",
        "Reproduce (from the repository root, in the project venv):",
        "",
        "```",
        m["command"],
        "```",
        "",
        f"Date: {m['date']}  (total bench time {m['elapsed']})",
        "",
        "Generated by `bench/tracking_server.py` (it replaces only this section of the file); "
        "do not edit by hand (see bench/README.md).",
    ]
    if args.quick:
        out += ["", "**QUICK MODE: reduced sizes; these numbers are a smoke test, not results.**"]
    out += ["", "### Summary", ""]
    if rep.missed:
        out += ["**Targets missed:**", ""] + [f"- {x}" for x in rep.missed]
    else:
        out.append("All targets met.")
    if rep.near:
        out += ["", "Close to the target (within 1.5x): " + ", ".join(rep.near) + "."]
    if m.get("lt_source_end") and m["lt_source_end"] != m.get("lt_source"):
        out += [
            "",
            "**Warning:** labtrack's source (src/labtrack) changed while this benchmark ran "
            "(it is being worked on): later phases may have measured a newer version than "
            "earlier ones (see Machine).",
        ]
    out += ["", "**Problems found in labtrack:** " + ("none" if not problems else "")]
    out += [f"- {x}" for x in problems]
    if ml_notes:
        out += ["", "**MLflow's side:**"] + [f"- {x}" for x in ml_notes]
    settled = ", ".join(
        f"{k} {'never' if v is None else f'{v:.0f} s'}" for k, v in res.get("settle", {}).items()
    )
    out += [
        "",
        "**MLflow's client, phase by phase, against three servers on SQLite.** The floor "
        "is `bench/floor_server.py`: it answers MLflow's REST calls from dicts and does "
        "nothing else, so its rate is what the `mlflow` client itself allows; no server can "
        "beat it. labtrack's and MLflow's servers run with their defaults (labtrack: 1 "
        "process; MLflow 3: uvicorn with 4 workers), each waited for until idle after "
        f"`/health` (settled after: {settled or 'n/a'}). Each phase of `{WORKLOAD_SCRIPT}` "
        "(scale "
        f"{args.scale:g}) runs in a fresh client process, on the three servers back to back "
        f"in a rotating order, {args.repeat} times; a share is the median over repetitions "
        "of the server's rate / the floor's rate in the same repetition. The floor applies "
        "no filter, so the filtered search has no share.",
        "",
        "| phase | floor | labtrack | MLflow | labtrack / floor | MLflow / floor | "
        "labtrack / MLflow | target | labtrack vs target |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    out += wl_rows
    out += [
        "",
        "Other rows: medians over the repetitions; the machine is shared and noisy (load "
        "averages below), so compare the ratios.",
        "",
        "| workload | labtrack | MLflow | ratio | target | labtrack vs target |",
        "|---|---:|---:|---:|---|---|",
    ]
    out += ["| " + " | ".join(r) + " |" for r in rep.rows]
    ka_health = {
        kind: [
            e["health_ms"]
            for e in res.get("startup", [])
            if e["kind"] == kind and e.get("health_ms") is not None
        ]
        for kind in ("labtrack", "mlflow")
    }
    if ka_health["mlflow"] and median(ka_health["mlflow"]) > 20:
        lt_health = f"{median(ka_health['labtrack']):.2f} ms" if ka_health["labtrack"] else "n/a"
        out += [
            "",
            f"Note: MLflow's server (uvicorn with 4 workers) answers `GET /health` on a "
            f"keep-alive connection in {median(ka_health['mlflow']):.0f} ms (median; labtrack's, "
            f"1 worker: {lt_health}): a delayed-ACK wait, which MLflow's per-call times "
            "above include.",
        ]

    out += ["", "### Machine", ""]
    for k, v in m["machine"].items():
        out.append(f"- {k}: {v}")
    out.append(f"- load average at the end: {m.get('load_at_end')}")
    loads = [
        r.get("load1")
        for v in res.values()
        if isinstance(v, list)
        for r in v
        if isinstance(r, dict) and r.get("load1") is not None
    ]
    if loads:
        out.append(
            f"- 1-minute load average at the start of each measurement: min {min(loads):.2f}, "
            f"median {median(loads):.2f}, max {max(loads):.2f} (2 cores; other work shares "
            "this machine)"
        )
    out.append(f"- labtrack interpreter: {json.dumps(m.get('lt_info'))}")
    out.append(f"- labtrack source measured: {m.get('lt_source')}")
    if m.get("lt_source_end") and m["lt_source_end"] != m.get("lt_source"):
        out.append(
            f"- **labtrack's source changed during the run**; at the end: {m['lt_source_end']}"
        )
    out.append(f"- MLflow interpreter: {json.dumps(m.get('ml_info'))}; {m.get('mlflow_setup')}")
    if m.get("ml_psycopg2"):
        out.append(f"- MLflow's PostgreSQL driver: {m['ml_psycopg2']}")
    if m.get("postgres"):
        out.append(
            f"- PostgreSQL: {m['postgres']} at 127.0.0.1:5432 (databases created and dropped "
            "by the run)"
        )

    # -- details
    out += ["", "### Method and every repetition", ""]
    out += [
        "**1. MLflow's client against the floor, labtrack's server and MLflow's (SQLite).** "
        "Servers started as `labtrack server --backend-store-uri sqlite:///<tmp>/lt.db "
        "--artifacts-destination <tmp>/ltart --host 127.0.0.1 --port <free>`, `mlflow server "
        "--backend-store-uri sqlite:///<tmp>/mlflow.db --artifacts-destination <tmp>/mlart "
        "--host 127.0.0.1 --port <free>` (MLflow's venv) and `python bench/floor_server.py "
        "<free>`, each in its own process group, and kept running for the whole part. "
        f"Settled = {SETTLE_WINDOWS} seconds in a row with less than {SETTLE_CPU_PER_S:g} s "
        "of CPU per second in the server's processes. Each phase: `python "
        "bench/mlflow_phase.py URL PHASE N REPS` (MLflow venv, telemetry off; setup untimed, "
        "then the same calls as the workload script, timed). Server CPU = user+system "
        "seconds of the server's processes during the client process.",
        "",
        "| rep | phase | order: server rate (server CPU s) |",
        "|---|---|---|",
    ]
    by_rep: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for e in res.get("compat", []):
        by_rep.setdefault((e["rep"], e["phase"]), []).append(e)
    for (r, ph), es in by_rep.items():
        cells = [
            f"{e['kind']} "
            + (_rate(e["rate"]) if e.get("ok") else "FAILED")
            + f" ({e.get('server_cpu_s') or 0:.1f})"
            for e in sorted(es, key=lambda e: e["order"])
        ]
        out.append(f"| {r} | {ph} | {', '.join(cells)} |")
    out.append("")
    for kind in ("labtrack", "mlflow"):
        out.append(
            f"Per-repetition shares of the floor, {kind}: "
            + "; ".join(
                f"{p}: {', '.join(f'{x * 100:.0f}%' for x in v.get(kind, [])) or '-'}"
                for p, v in summary["rep_shares"].items()
            )
        )
        out.append("")
    whole = res.get("whole", {})
    if whole:
        out.append(
            f"The whole workload script (`{WORKLOAD_SCRIPT}`), once per server after the "
            "phases, as a cross-check:"
        )
        out.append("")
        for kind, w in whole.items():
            rows = w.get("rows", {})
            out.append(
                f"- {kind}: "
                + (
                    "; ".join(f"{k} {_rate(v['rate'])}" for k, v in rows.items())
                    if w.get("ok")
                    else f"FAILED: {w.get('error')}"
                )
            )
    st = res.get("startup", [])
    if st:
        out += [
            "",
            "Startup: a fresh server and database each time, the order alternating; from "
            "spawning the command until `GET /health` answers 200 (polled every 50 ms), then "
            "30 `GET /health` on one keep-alive connection (median): "
            + "; ".join(
                f"{e['kind']} {e.get('startup_s') or float('nan'):.2f} s / "
                f"{e.get('health_ms') or float('nan'):.2f} ms"
                for e in st
            ),
        ]
    out += [
        "",
        "**2. labtrack's client over HTTP** (project venv, a fresh process per repetition, "
        "run from a temp dir outside any git repository, against a labtrack server on a "
        "new SQLite file; one server per workload):",
    ]
    for key, label, fmt in (
        (
            "http_fluent",
            f"fluent `lt.log_metric('loss', v, step=i)` x {args.fluent_n:,} in a run, timed "
            "until `lt.flush()` returns; then counted with `TrackingClient.get_metric_history` "
            "and MLflow's paged get-history (points and distinct steps)",
            lambda r: (
                f"{r['rate']:,.0f}/s (loop {r['loop_s']:.2f} s + flush {r['flush_s']:.2f} s; "
                f"stored {r['stored']:,}/{r['stored_paged']:,}/{r['distinct_steps']:,}; server CPU "
                f"{r.get('server_cpu_s', 0):.1f} s)"
            ),
        ),
        (
            "http_sweep",
            f"{args.sweep_n:,} fluent runs (start_run, 5 log_param, 3 log_metric, end_run); "
            "then every run checked (5 params, 3 metrics, FINISHED)",
            lambda r: (
                f"{r['seconds']:.2f} s ({r['rate']:,.0f} runs/s; median run "
                f"{r['median_run_ms']:.1f} ms; first {r['first_run_s'] * 1000:.0f} ms; complete "
                f"{r['complete_runs']}/{r['n_runs']})"
            ),
        ),
        (
            "http_history",
            f"{args.history_n:,} points of one key written with `TrackingClient.log_batch` "
            "(100,000 per call), then `TrackingClient.get_metric_history` 3 times in the same "
            "process (median)",
            lambda r: (
                f"reads {[round(x, 2) for x in r['read_s']]} s; write "
                f"{r['write_rate']:,.0f} points/s; all read in order {r['all_read']}"
            ),
        ),
    ):
        rs = res.get(key, [])
        out.append(
            f"- {label}: "
            + (
                "; ".join(fmt(r) if r.get("ok") else f"FAILED: {r.get('error')}" for r in rs)
                or "not run"
            )
        )
    cs = res.get("client_startup_s", [])
    if cs:
        out.append(f"- startup of those servers: {', '.join(f'{x:.2f} s' for x in cs)}")
    out += [
        "",
        f"**3. Load.** One server with `--workers 4` on a PostgreSQL database of its own, "
        f"{args.load_procs} client processes (`multiprocessing` spawn, project venv), each "
        "with its own run, one warm-up request, then a barrier, then requests in a closed "
        f"loop (no think time) for {args.load_seconds:g} s; latency = each call, measured "
        "in the client. bulk: `TrackingClient(url).log_batch(run_id, metrics=[100 points])` "
        "(labtrack's client: its bulk endpoint `/api/2.0/labtrack/runs/log-bulk` on labtrack's "
        "server, MLflow's `runs/log-batch` on MLflow's). single: `POST "
        "/api/2.0/mlflow/runs/log-metric` with a keep-alive `httpx.Client`. Afterwards every "
        "key of every run is read back with MLflow's paged `metrics/get-history` and must "
        "hold exactly the acknowledged points, with distinct steps. The clients, the server "
        "and PostgreSQL share the 2 cores, so these rates are the machine's, not the "
        "server's alone; 'machine busy' counts every process, other users' too. Each "
        "repetition restarts the server on the same database; the servers alternate.",
        "",
        "| mode | server | rep | requests | wall s | req/s | points/s | p50 ms | p90 ms | "
        "p99 ms | max ms | errors | points sent / stored | server CPU s | PostgreSQL CPU s "
        "(all its databases) | clients CPU s | machine busy (2 cores) | load1 before -> "
        "after |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    out += load_rows
    pc = res.get("pg_ceiling")
    if pc:
        out.append(
            f"- PostgreSQL alone, for reference (no server in between): {pc.get('procs')} "
            "processes each `INSERT` one row + `COMMIT` in a loop with psycopg: "
            + (
                f"{pc['commits_per_s']:,.0f} commits/s ({pc['stored']:,} rows stored)"
                if pc.get("ok")
                else f"failed: {pc.get('error') or pc.get('errors')}"
            )
        )
    for kind in ("labtrack", "mlflow"):
        st = res.get(f"load_startup_{kind}", [])
        if st:
            hs = [x for x in res.get(f"load_health_{kind}", []) if x is not None]
            out.append(
                f"- {kind} server startup on PostgreSQL with 4 workers: "
                + ", ".join(f"{x:.1f} s" for x in st)
                + " (the first includes creating the schema); keep-alive `GET /health` "
                "median: " + (", ".join(f"{x:.1f} ms" for x in hs) or "n/a")
            )
    out.append("")
    out.append(
        "Logs of every server and client: `bench/.work/logs/` (git-ignored); raw results: "
        "`bench/.work/last-server-results.json`."
    )

    # -- profiles
    profiles = profiles + res.get("load_profiles", [])
    if profiles:
        out += [
            "",
            "### Where labtrack's time goes (py-spy; workloads that miss their target or are "
            "within 1.5x of it)",
            "",
            "Each workload phase runs alone (`bench/mlflow_phase.py`: the same MLflow client "
            "calls as the workload, after its setup) against a fresh labtrack server on "
            "SQLite; py-spy (`--idle`, 250 Hz) is attached to the server and to the client "
            "for the timed part only. Per HTTP request: wall time seen by the client, the "
            "client's CPU, the server's CPU (from /proc); the rest is latency on the "
            "loopback, scheduling and I/O waits. A sample counts as running unless its "
            "innermost frame is a known wait; a thread re-acquiring the GIL after a system "
            "call counts as running too, so `_write_to_self` and "
            "`_SelectorSocketTransport.write` (asyncio) are mostly the hand-off between the "
            "event loop and the handler threads (each request goes to a worker thread and "
            "back), not CPU of their own.",
        ]
        for p in profiles:
            out += ["", f"#### {p['name']}", ""]
            if not p.get("ok"):
                out.append(f"(profiling failed: {p.get('error')})")
            calls = p.get("requests") or p.get("n")
            unit = "point" if p.get("phase") == "fluent_http" else "request"
            if str(p.get("phase", "")).startswith("load_"):
                r = p.get("load", {})
                if r.get("ok"):
                    out.append(
                        f"Under py-spy: {r['requests']:,} requests in {r['wall_s']:.1f} s "
                        f"({r['requests_per_s']:,.0f} req/s, p50 {r['p50_ms']:.0f} ms); server "
                        f"CPU {per_req(r, 'server_cpu_s')}, PostgreSQL CPU "
                        f"{per_req(r, 'postgres_cpu_s')}, clients CPU "
                        f"{per_req(r, 'client_cpu_s')}; machine busy "
                        + (f"{r['machine_busy'] * 100:.0f}%." if r.get("machine_busy") else "n/a.")
                        + " Samples of the 4 worker processes and the supervisor together."
                    )
            elif p.get("ok") and calls and p.get("seconds"):
                k = 1e6 if unit == "point" else 1e3
                wall = p["seconds"] / calls * k
                ccpu = p.get("client_cpu_s")
                scpu = p.get("server_cpu_s")
                u = "µs" if unit == "point" else "ms"
                out.append(
                    f"{calls:,} {unit}s in {p['seconds']:.2f} s: {wall:.2f} {u} per {unit} "
                    "wall; "
                    + (f"client CPU {ccpu / calls * k:.2f} {u}; " if ccpu is not None else "")
                    + (f"server CPU {scpu / calls * k:.2f} {u}." if scpu is not None else "")
                    + (
                        f" Of the wall time: labtrack's server CPU {scpu / p['seconds']:.0%}, "
                        f"the client's CPU {ccpu / p['seconds']:.0%}, the rest "
                        f"({max(0.0, 1 - (scpu + ccpu) / p['seconds']):.0%}) waits: the "
                        "loopback, scheduling on the shared cores, SQLite's commit."
                        if scpu is not None and ccpu is not None
                        else ""
                    )
                )
            if p.get("server_profile"):
                out += ["", "Server (labtrack):", "", p["server_profile"]]
            if p.get("client_profile"):
                who = "labtrack client" if p.get("phase") == "fluent_http" else "MLflow client"
                out += ["", f"Client ({who}):", "", p["client_profile"]]
    return "\n".join(out) + "\n"


# -- main --------------------------------------------------------------------------------------
def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--repeat", type=int, default=5, help="repetitions of parts 1 and 2 (median)")
    p.add_argument("--scale", type=float, default=1.0, help="scale of the shared workload script")
    p.add_argument("--load-seconds", type=float, default=15.0, help="duration of each load test")
    p.add_argument("--load-procs", type=int, default=16, help="client processes of the load test")
    p.add_argument("--load-repeat", type=int, default=3, help="repetitions of the load test")
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    p.add_argument("--skip-mlflow", action="store_true", help="labtrack only")
    p.add_argument("--skip-load", action="store_true", help="no PostgreSQL load test")
    p.add_argument("--no-profile", action="store_true", help="no py-spy profiles")
    p.add_argument("--profile-all", action="store_true", help="profile every workload phase")
    p.add_argument("--keep-tmp", action="store_true", help="keep the temp dirs")
    p.add_argument(
        "--output", default=str(RESULTS), help="results file; only its server section is replaced"
    )
    args = p.parse_args()
    args.fluent_n, args.history_n, args.sweep_n, args.profile_scale = 100_000, 1_000_000, 1_000, 1.0
    if args.quick:
        args.scale = min(args.scale, 0.2)
        args.repeat = min(args.repeat, 2)
        args.load_seconds = min(args.load_seconds, 4.0)
        args.load_repeat = 1
        args.fluent_n, args.history_n, args.sweep_n, args.profile_scale = 20_000, 100_000, 100, 0.1

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    started = time.perf_counter()
    LOGS.mkdir(parents=True, exist_ok=True)
    command = "python bench/tracking_server.py" + "".join(f" {a}" for a in sys.argv[1:])
    meta: dict[str, Any] = {
        "command": command,
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": emb.machine_info(),
        "lt_source": emb.source_state(),
        "lt_info": emb.interp_info(
            sys.executable, ["labtrack", "SQLAlchemy", "uvicorn", "fastapi", "psycopg"], "labtrack"
        ),
    }
    # MLflow's venv holds the mlflow client, which the workload needs against either
    # server; --skip-mlflow only leaves MLflow's own server out.
    ml_py, text = emb.ensure_venv(MLFLOW_VENV, "mlflow", "mlflow", False)
    meta["mlflow_setup"] = (
        f"mlflow {text} in {MLFLOW_VENV.relative_to(BENCH.parent)}" if ml_py else f"FAILED: {text}"
    )
    if args.skip_mlflow:
        meta["mlflow_setup"] += "; MLflow's server skipped (--skip-mlflow)"
    log(f"MLflow: {meta['mlflow_setup']}")
    if ml_py:
        meta["ml_info"] = emb.interp_info(
            ml_py, ["mlflow", "SQLAlchemy", "uvicorn", "psycopg2-binary"], "mlflow"
        )
        if not WORKLOAD_SCRIPT.exists():
            meta["mlflow_setup"] += f"; workload script {WORKLOAD_SCRIPT} NOT FOUND"
    b = Bench(args, ml_py)
    res: dict[str, Any] = {}
    profiles: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}
    interrupted = False
    try:
        part_startup(b, res)
        part_compat(b, res)
        part_client(b, res)
        if not args.skip_load:
            part_load(b, res, meta)
        summary = compat_summary(res)
        summary["fluent_rate"] = emb.med(res.get("http_fluent", []), "rate")
        if not args.no_profile:
            profiles = run_profiles(b, res, summary)
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted: stopping servers and clients")
    except Exception:
        traceback.print_exc()
        res["crash"] = traceback.format_exc()[-2000:]
    finally:
        stop_everything()
        b.close()
    meta["elapsed"] = f"{(time.perf_counter() - started) / 60:.1f} min"
    meta["lt_source_end"] = emb.source_state()
    meta["load_at_end"] = loadavg_text()
    (WORK / "last-server-results.json").write_text(
        json.dumps({"meta": meta, "results": res, "profiles": profiles}, indent=1, default=str)
    )
    if interrupted:
        log("not writing RESULTS.md (interrupted); raw results in .work/last-server-results.json")
        return 130
    summary = summary or compat_summary(res)
    text = build_report(args, meta, res, summary, profiles)
    if res.get("crash"):
        text += f"\n**The benchmark crashed:**\n\n```\n{res['crash']}\n```\n"
    write_section(args.output, "server", text)
    log(f"wrote the server section of {args.output}")
    print(text.split("### Machine")[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
