"""Embedded (SQLite) tracking benchmark: labtrack vs MLflow, in one run.

    . .venv/bin/activate && python bench/tracking_embedded.py

Creates (or reuses) MLflow's own venv at bench/.work/mlflow-venv, runs every workload
on labtrack (this venv) and on MLflow (that venv, always in a subprocess with a timeout),
each on a fresh SQLite file in a temp dir, and writes bench/RESULTS.md.
Options: --repeat N (default 5), --quick (small sizes, smoke test only), --no-profile,
--skip-mlflow, --upgrade-mlflow, --keep-tmp. See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
WORK = BENCH / ".work"
LOGS = WORK / "logs"
MLFLOW_VENV = WORK / "mlflow-venv"
TOOLS_VENV = WORK / "tools-venv"
RESULTS = BENCH / "RESULTS.md"
# The team's shared MLflow-client workload, beside the project root (../shared/bench).
WORKLOAD_SCRIPT = Path(__file__).resolve().parents[2] / "shared" / "bench" / "mlflow_workload.py"

sys.path.insert(0, str(BENCH))
from _common import (  # noqa: E402
    RESULT_PREFIX,
    SEARCH_FILTER,
    SEARCH_ORDER,
    median,
    write_section,
)

# Targets (from the project's performance issue).
T_IMPORT_MS = 150.0
T_FLUENT_RATE = 50_000.0
T_SWEEP_S = 3.0
T_SEARCH_MS = 50.0
T_HISTORY_S = 1.5


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# -- environments -------------------------------------------------------------------
def clean_env(kind: str) -> dict[str, str]:
    """The environment of a benchmark subprocess: no tracking settings leak in."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LABTRACK_", "MLFLOW_")) and k not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # .pyc caching is part of a normal import
    if kind == "mlflow":
        # No network here: keep MLflow's usage telemetry from trying to phone home.
        env["MLFLOW_DISABLE_TELEMETRY"] = "true"
        env["DO_NOT_TRACK"] = "true"
    return env


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _base_python() -> str:
    return getattr(sys, "_base_executable", None) or sys.executable


def ensure_venv(
    venv: Path, requirement: str, module: str, upgrade: bool, timeout: float = 1800
) -> tuple[Path | None, str]:
    """A venv with ``requirement`` installed; returns (python, version or error text)."""
    py = venv_python(venv)
    check = [str(py), "-c", f"import importlib.metadata as m; print(m.version({module!r}))"]
    if py.exists() and not upgrade:
        r = subprocess.run(check, capture_output=True, text=True, timeout=120)
        if r.returncode == 0:
            return py, r.stdout.strip()
    try:
        WORK.mkdir(parents=True, exist_ok=True)
        if not py.exists():
            log(f"creating {venv}")
            subprocess.run([_base_python(), "-m", "venv", str(venv)], check=True, timeout=300)
        log(f"pip install {requirement} into {venv} (may take a few minutes)")
        with open(LOGS / f"pip-{venv.name}.log", "w") as out:
            cmd = [str(py), "-m", "pip", "install", "--upgrade", requirement]
            r = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
        if r.returncode != 0:
            return None, f"pip install {requirement} failed (exit {r.returncode}); see {out.name}"
        r = subprocess.run(check, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            return None, f"{module} not importable after install: {r.stderr.strip()[-500:]}"
        return py, r.stdout.strip()
    except Exception as exc:
        return None, f"could not set up {venv}: {exc!r}"


def interp_info(py: Path | str, modules: list[str], kind: str) -> dict[str, str]:
    code = (
        "import json, sys, sqlite3, importlib.metadata as m\n"
        "out = {'python': sys.version.split()[0], 'sqlite': sqlite3.sqlite_version}\n"
        f"for name in {modules!r}:\n"
        "    try: out[name] = m.version(name)\n"
        "    except Exception: out[name] = 'not installed'\n"
        "print(json.dumps(out))\n"
    )
    r = subprocess.run(
        [str(py), "-c", code], capture_output=True, text=True, timeout=120, env=clean_env(kind)
    )
    try:
        return json.loads(r.stdout)
    except Exception:
        return {"error": r.stderr.strip()[-300:]}


def source_state() -> str:
    """Which labtrack source was measured: git HEAD and a digest of src/ (it may be uncommitted)."""
    import hashlib

    src = BENCH.parent / "src" / "labtrack"
    digest = hashlib.sha256()
    files = sorted(p for p in src.rglob("*.py") if "__pycache__" not in p.parts)
    for path in files:
        digest.update(str(path.relative_to(src)).encode())
        digest.update(path.read_bytes())
    try:
        head = subprocess.run(
            ["git", "-C", str(BENCH.parent), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        head_text = head.stdout.strip() if head.returncode == 0 else "no commit"
        dirty = subprocess.run(
            ["git", "-C", str(BENCH.parent), "status", "--porcelain", "src"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
        state = f"git HEAD {head_text}" + (", src/ has uncommitted changes" if dirty else "")
    except Exception:
        state = "git unavailable"
    return f"{state}; sha256 of src/labtrack/**/*.py ({len(files)} files) {digest.hexdigest()[:16]}"


def machine_info() -> dict[str, str]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = next(
            line.split()[1]
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        mem = f"{int(mem) / 1024 / 1024:.1f} GiB"
    except Exception:
        mem = "unknown"
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "unknown"
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": mem,
        "os": platform.platform(),
        "load_at_start": load,
    }


# -- running phases ---------------------------------------------------------------------
DRIVER = """\
import sys
sys.path.insert(0, {bench!r})
if __name__ == "__main__":
    import {module} as worker
    from _common import run_worker
    run_worker(worker.PHASES)
"""


class Runner:
    def __init__(self, lt_python: str, mlflow_python: Path | None, keep_tmp: bool) -> None:
        self.python = {
            "labtrack": lt_python,
            "mlflow": str(mlflow_python) if mlflow_python else None,
        }
        self.keep_tmp = keep_tmp
        self.tmp_root = Path(tempfile.mkdtemp(prefix="labtrack-bench-"))
        self.counter = 0

    def close(self) -> None:
        if not self.keep_tmp:
            shutil.rmtree(self.tmp_root, ignore_errors=True)

    def _driver(self, kind: str, where: Path) -> Path:
        module = "lt_worker" if kind == "labtrack" else "mlflow_worker"
        path = where / f"bench_{module}.py"
        if not path.exists():
            path.write_text(DRIVER.format(bench=str(BENCH), module=module))
        return path

    def new_dir(self, label: str) -> Path:
        self.counter += 1
        d = self.tmp_root / f"{self.counter:03d}-{label}"
        d.mkdir()
        return d

    def phase(
        self,
        kind: str,
        phase: str,
        args: dict[str, Any],
        timeout: float,
        driver_dir: Path | None = None,
        prefix: list[str] | None = None,
    ) -> dict[str, Any]:
        """Run one worker phase in a fresh process on a fresh SQLite file."""
        py = self.python[kind]
        if py is None:
            return {"ok": False, "error": "MLflow is not installed (see setup)"}
        run_dir = self.new_dir(f"{kind}-{phase}")
        args = {"db": str(run_dir / "track.db"), **args}
        driver = self._driver(kind, driver_dir or run_dir)
        cmd = [*(prefix or []), py, str(driver), phase, json.dumps(args)]
        label = f"{run_dir.name}"
        try:
            load1 = os.getloadavg()[0]
        except OSError:
            load1 = None
        t0 = time.perf_counter()
        try:
            r = subprocess.run(
                cmd,
                cwd=run_dir,
                env=clean_env(kind),
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            stdout, stderr, code = r.stdout, r.stderr, r.returncode
        except subprocess.TimeoutExpired as exc:
            stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            stderr = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
            code = None
        elapsed = time.perf_counter() - t0
        (LOGS / f"{label}.log").write_text(
            f"$ {' '.join(cmd)}\n# exit={code} elapsed={elapsed:.1f}s\n"
            f"--- stdout\n{stdout}\n--- stderr\n{stderr}\n"
        )
        result: dict[str, Any] | None = None
        for line in stdout.splitlines():
            if line.startswith(RESULT_PREFIX):
                result = json.loads(line[len(RESULT_PREFIX) :])
        if result is None:
            why = f"timed out after {timeout:.0f}s" if code is None else f"exit code {code}"
            tail = stderr.strip().splitlines()[-3:]
            result = {"ok": False, "error": f"{why}; {' | '.join(tail)}"[:800]}
        result["log"] = str((LOGS / f"{label}.log").relative_to(BENCH))
        result["process_s"] = elapsed
        result["load1"] = load1
        if not self.keep_tmp:
            shutil.rmtree(run_dir, ignore_errors=True)
        return result


# -- import time ----------------------------------------------------------------------------
def _wall(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, check=True, capture_output=True, timeout=120)
    return time.perf_counter() - t0


def _importtime_us(py: str, code: str, module: str, env: dict[str, str], cwd: Path) -> float:
    r = subprocess.run(
        [py, "-X", "importtime", "-c", code],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found = None
    for line in r.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)", line)
        if m and m.group(4) == module and not m.group(3):
            found = int(m.group(2))
    if found is None:
        raise RuntimeError(f"no -X importtime line for {module}")
    return float(found)


FIRST_RUN = {
    "labtrack": (
        "import labtrack as lt; lt.set_tracking_uri('sqlite:///{db}'); lt.start_run(); "
        "lt.log_metric('loss', 1.0); lt.end_run()"
    ),
    "mlflow": (
        "import mlflow; mlflow.set_tracking_uri('sqlite:///{db}'); mlflow.start_run(); "
        "mlflow.log_metric('loss', 1.0); mlflow.end_run()"
    ),
}


def measure_imports(runner: Runner, n: int) -> dict[str, Any]:
    """Fresh interpreters: wall(python -c CODE) - wall(python -c 'pass'), and importtime.

    Also, for information, a whole short script: import, one run with one metric, on a new
    SQLite file (what a user waits for before the first point is stored).
    """
    cases = [
        ("labtrack", "labtrack", "import labtrack"),
        ("labtrack", "labtrack", "import labtrack as lt; lt.start_run"),
        ("mlflow", "mlflow", "import mlflow"),
        ("labtrack", None, FIRST_RUN["labtrack"]),
        ("mlflow", None, FIRST_RUN["mlflow"]),
    ]
    cwd = runner.new_dir("imports")
    out: dict[str, Any] = {}
    samples: dict[str, dict[str, list[float]]] = {
        code: {"bare": [], "wall": [], "importtime": []} for _, _, code in cases
    }
    available = [c for c in cases if runner.python[c[0]]]
    counter = 0

    def concrete(code: str) -> str:
        nonlocal counter
        counter += 1
        return code.replace("{db}", str(cwd / f"first-{counter}.db"))

    for kind, _, code in available:  # warm the OS file cache once
        _wall([runner.python[kind], "-c", concrete(code)], clean_env(kind), cwd)
    for _ in range(n):
        for kind, module, code in available:
            py, env = runner.python[kind], clean_env(kind)
            s = samples[code]
            s["bare"].append(_wall([py, "-c", "pass"], env, cwd))
            s["wall"].append(_wall([py, "-c", concrete(code)], env, cwd))
            if module is not None:
                s["importtime"].append(_importtime_us(py, code, module, env, cwd) / 1000)
    for kind, _module, code in available:
        s = samples[code]
        diffs = [w - b for w, b in zip(s["wall"], s["bare"], strict=True)]
        out[code] = {
            "kind": kind,
            "import_ms": median(diffs) * 1000,
            "wall_ms": median(s["wall"]) * 1000,
            "bare_ms": median(s["bare"]) * 1000,
            "importtime_ms": median(s["importtime"]) if s["importtime"] else None,
            "all_import_ms": [round(d * 1000, 1) for d in diffs],
            "all_importtime_ms": [round(x, 1) for x in s["importtime"]],
        }
    return out


# -- the MLflow-client workload script ---------------------------------------------------
def run_workload_script(runner: Runner, timeout: float) -> dict[str, Any]:
    py = runner.python["mlflow"]
    if py is None:
        return {"ok": False, "error": "MLflow is not installed"}
    if not WORKLOAD_SCRIPT.exists():
        return {"ok": False, "error": f"{WORKLOAD_SCRIPT} not found"}
    d = runner.new_dir("mlflow-workload")
    uri = f"sqlite:///{d / 'workload.db'}"
    cmd = [py, str(WORKLOAD_SCRIPT), uri, "1"]
    t0 = time.perf_counter()
    try:
        r = subprocess.run(
            cmd, cwd=d, env=clean_env("mlflow"), capture_output=True, text=True, timeout=timeout
        )
        stdout, stderr, code = r.stdout, r.stderr, r.returncode
    except subprocess.TimeoutExpired as exc:
        stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        stderr, code = "timeout", None
    (LOGS / "mlflow-workload.log").write_text(
        f"$ {' '.join(cmd)}\n# exit={code}\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n"
    )
    rows = []
    for line in stdout.splitlines():
        m = re.match(r"(.+?)\s+n=(\d+)\s+([\d.]+)s\s+([\d.]+)/s", line)
        if m:
            rows.append(
                {
                    "phase": m.group(1).strip(),
                    "n": int(m.group(2)),
                    "seconds": float(m.group(3)),
                    "rate": float(m.group(4)),
                }
            )
    return {
        "ok": code == 0,
        "rows": rows,
        "seconds": time.perf_counter() - t0,
        "error": None if code == 0 else f"exit {code}: {stderr.strip()[-400:]}",
    }


# -- profiling --------------------------------------------------------------------------
def summarize_pyspy(raw: Path, focus: tuple[str, ...] = (), top: int = 20) -> str:
    """Collapsed stacks -> a table of inclusive and self samples per function.

    Only stacks with a frame starting with one of ``focus`` count (the timed work, not the
    setup), or all stacks when ``focus`` is empty.
    """
    incl: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = skipped = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        if frames and frames[0].startswith("process "):
            frames = frames[1:]
        thread = "?"
        if frames and frames[0].startswith("thread "):
            thread = frames[0].split(": ", 1)[-1]
            frames = frames[1:]
        names = [re.sub(r":\d+\)$", ")", f) for f in frames]
        if focus and not any(name.startswith(focus) for name in names):
            skipped += n
            continue
        total += n
        threads[thread] += n
        for name in set(names):
            incl[name] += n
        self_[names[-1] if names else f"(no Python frame: {thread})"] += n
    if not total:
        return "(no samples)"
    lines = [
        f"{total} samples at 250 Hz (CPU only: py-spy does not sample idle threads)"
        + (
            f"; {skipped} samples of setup/verification left out (focus: "
            + ", ".join(f"`{f}`" for f in focus)
            + ")"
            if focus
            else ""
        )
        + ". By thread: "
        + ", ".join(f"{t} {c * 100 / total:.0f}%" for t, c in threads.most_common()),
        "",
        "| inclusive | self | function |",
        "|---:|---:|---|",
    ]
    boring = ("importlib._bootstrap", "(threading.py)", "(contextlib.py)", "<locals>.<lambda>")
    shown = [
        name
        for name, _ in incl.most_common()
        if not any(b in name for b in boring)
        and not name.startswith("<module> (bench_")
        and not name.startswith("run_worker (")
    ][:top]
    for name in shown:
        lines.append(
            f"| {incl[name] * 100 / total:.1f}% | {self_[name] * 100 / total:.1f}% | `{name}` |"
        )
    lines.append("")
    lines.append(
        "(Frames of threading.py, contextlib.py, lambdas and imports are left out of the "
        "table, not out of the percentages.)"
    )
    lines.append("")
    lines.append(
        "Top self time: "
        + "; ".join(f"`{name}` {c * 100 / total:.1f}%" for name, c in self_.most_common(12))
    )
    return "\n".join(lines)


def ensure_pyspy(upgrade: bool) -> Path | None:
    py, _ = ensure_venv(TOOLS_VENV, "py-spy", "py-spy", upgrade, timeout=600)
    if py is None:
        return None
    exe = TOOLS_VENV / "bin" / "py-spy"
    return exe if exe.exists() else None


def profile_phase(
    runner: Runner,
    pyspy: Path,
    phase: str,
    args: dict[str, Any],
    timeout: float,
    focus: tuple[str, ...],
) -> str:
    out = LOGS / f"pyspy-{phase}.txt"
    prefix = [
        str(pyspy),
        "record",
        "--threads",
        "--subprocesses",
        "-r",
        "250",
        "-f",
        "raw",
        "-o",
        str(out),
        "--",
    ]
    result = runner.phase("labtrack", phase, args, timeout, prefix=prefix)
    if not out.exists():
        return f"(py-spy produced no profile: {result.get('error')})"
    return summarize_pyspy(out, focus)


# -- the report -------------------------------------------------------------------------
def fmt_rate(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.0f}/s"


def fmt_s(x: float | None) -> str:
    return "n/a" if x is None else (f"{x * 1000:,.0f} ms" if x < 1 else f"{x:,.2f} s")


def fmt_ms(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.1f} ms"


def med(results: list[dict[str, Any]], key: str) -> float | None:
    vals = [r[key] for r in results if r.get("ok") and r.get(key) is not None]
    return median(vals) if vals else None


def errors_of(results: list[dict[str, Any]]) -> str:
    errs = [r.get("error") for r in results if not r.get("ok")]
    return "; ".join(sorted({str(e) for e in errs}))[:600]


def ratio_text(lt: float | None, ml: float | None, higher_is_better: bool) -> str:
    if not lt or not ml:
        return "n/a"
    r = lt / ml if higher_is_better else ml / lt
    return f"{r:,.1f}x faster" if r >= 1 else f"{1 / r:,.1f}x slower"


class Report:
    def __init__(self) -> None:
        self.rows: list[list[str]] = []
        self.details: list[str] = []
        self.missed: list[str] = []
        self.near: list[str] = []

    def row(self, workload: str, lt: str, ml: str, ratio: str, target: str, status: str) -> None:
        self.rows.append([workload, lt, ml, ratio, target, status])

    def check(
        self, name: str, ok: bool | None, measured: str, target: str, near: bool = False
    ) -> str:
        if ok is None:
            self.missed.append(f"**{name}**: not measured (the phase failed) - target {target}")
            return "**FAIL** (not measured)"
        if not ok:
            self.missed.append(f"**{name}**: measured {measured}, target {target}")
            return "**FAIL**"
        if near:
            self.near.append(name)
        return "PASS"


def build_report(
    args: argparse.Namespace, meta: dict[str, Any], res: dict[str, Any], profiles: dict[str, str]
) -> str:
    rep = Report()
    rp = args.repeat

    # import
    imp = res.get("imports", {})
    lt_imp, ml_imp = imp.get("import labtrack"), imp.get("import mlflow")
    lt_use = imp.get("import labtrack as lt; lt.start_run")
    if lt_imp:
        v = lt_imp["import_ms"]
        st = rep.check(
            "import labtrack (wall)",
            v < T_IMPORT_MS,
            f"{v:.0f} ms",
            "< 150 ms",
            near=v > T_IMPORT_MS / 1.5,
        )
        rep.row(
            "`import` (wall, minus bare `python -c pass`)",
            fmt_ms(v),
            fmt_ms(ml_imp["import_ms"]) if ml_imp else "n/a",
            ratio_text(v, ml_imp["import_ms"] if ml_imp else None, False),
            "< 150 ms",
            st,
        )
        v2 = lt_imp["importtime_ms"]
        st2 = rep.check(
            "import labtrack (-X importtime)",
            v2 < T_IMPORT_MS,
            f"{v2:.0f} ms",
            "< 150 ms",
            near=v2 > T_IMPORT_MS / 1.5,
        )
        rep.row(
            "`import` (`-X importtime` cumulative)",
            fmt_ms(v2),
            fmt_ms(ml_imp["importtime_ms"]) if ml_imp else "n/a",
            ratio_text(v2, ml_imp["importtime_ms"] if ml_imp else None, False),
            "< 150 ms",
            st2,
        )
    else:
        rep.row(
            "`import`",
            "failed",
            "",
            "",
            "< 150 ms",
            rep.check("import labtrack", None, "", "< 150 ms"),
        )
    if lt_use:
        rep.row(
            "`import labtrack as lt; lt.start_run` (fluent API loaded; info)",
            fmt_ms(lt_use["import_ms"]),
            fmt_ms(ml_imp["import_ms"]) if ml_imp else "n/a",
            ratio_text(lt_use["import_ms"], ml_imp["import_ms"] if ml_imp else None, False),
            "-",
            "info",
        )

    lt_first, ml_first = imp.get(FIRST_RUN["labtrack"]), imp.get(FIRST_RUN["mlflow"])
    if lt_first or ml_first:
        a = lt_first["import_ms"] if lt_first else None
        b = ml_first["import_ms"] if ml_first else None
        rep.row(
            "short script: import, one run with one metric, new SQLite file (wall minus "
            "bare python; info)",
            fmt_ms(a),
            fmt_ms(b),
            ratio_text(a, b, False),
            "-",
            "info",
        )

    # fluent log_metric
    lt_f, ml_f = res.get("lt_fluent", []), res.get("ml_fluent", [])
    ml_async, ml_batch, lt_batch = (
        res.get("ml_async", []),
        res.get("ml_batch", []),
        res.get("lt_batch", []),
    )
    lt_rate, ml_rate = med(lt_f, "rate"), med(ml_f, "rate")
    all_stored = bool(lt_f) and all(r.get("ok") and r.get("all_stored") for r in lt_f)
    st = rep.check(
        "fluent log_metric",
        None if lt_rate is None else (lt_rate >= T_FLUENT_RATE and all_stored),
        f"{fmt_rate(lt_rate)}{'' if all_stored else ' (NOT all points stored)'}",
        ">= 50,000/s",
        near=bool(lt_rate and lt_rate < T_FLUENT_RATE * 1.5),
    )
    n_lt = lt_f[0].get("n", args.fluent_n) if lt_f else args.fluent_n
    rep.row(
        f"fluent `log_metric` loop + `flush()` (labtrack {n_lt:,} pts; MLflow synchronous, "
        f"{args.ml_fluent_n:,} pts)",
        fmt_rate(lt_rate),
        fmt_rate(ml_rate),
        ratio_text(lt_rate, ml_rate, True),
        ">= 50,000/s",
        st,
    )
    rep.row(
        f"  same, MLflow async (`synchronous=False` + `flush_async_logging`, "
        f"{args.ml_fluent_n:,} pts; info)",
        fmt_rate(lt_rate),
        fmt_rate(med(ml_async, "rate")),
        ratio_text(lt_rate, med(ml_async, "rate"), True),
        "-",
        "info",
    )
    rep.row(
        f"client `log_batch`, 1,000 metrics per call (labtrack {args.fluent_n:,} pts, MLflow "
        f"{args.ml_batch_n:,}; info)",
        fmt_rate(med(lt_batch, "rate")),
        fmt_rate(med(ml_batch, "rate")),
        ratio_text(med(lt_batch, "rate"), med(ml_batch, "rate"), True),
        "-",
        "info",
    )

    # sweep
    for key, title, is_target in (("", "", True), ("_git", " inside a git repo (info)", False)):
        lt_s, ml_s = res.get(f"lt_sweep{key}", []), res.get(f"ml_sweep{key}", [])
        lt_t = med(lt_s, "seconds")
        lt_t1000 = lt_t * 1000 / args.sweep_n if lt_t is not None else None
        ml_rate_s = med(ml_s, "rate")
        ml_t1000 = 1000 / ml_rate_s if ml_rate_s else None
        ok = bool(lt_s) and all(r.get("ok") and r.get("all_stored") for r in lt_s)
        label = (
            f"sweep: 1,000 fluent runs (start_run, 5 params, 3 metrics, end_run){title}; "
            f"MLflow {args.ml_sweep_n} runs, extrapolated"
        )
        if is_target:
            st = rep.check(
                "1,000-run sweep",
                None if lt_t1000 is None else (lt_t1000 < T_SWEEP_S and ok),
                f"{fmt_s(lt_t1000)}",
                "< 3 s",
                near=bool(lt_t1000 and lt_t1000 > T_SWEEP_S / 1.5),
            )
            target = "< 3 s"
        else:
            st, target = "info", "-"
        lt_txt = f"{fmt_s(lt_t1000)} ({fmt_rate(med(lt_s, 'rate'))})"
        ml_txt = f"{fmt_s(ml_t1000)} ({fmt_rate(ml_rate_s)})"
        rep.row(label, lt_txt, ml_txt, ratio_text(lt_t1000, ml_t1000, False), target, st)

    # search
    lt_q, ml_q = res.get("lt_search", []), res.get("ml_search", [])
    lt_ms, ml_ms = med(lt_q, "median_ms"), med(ml_q, "median_ms")
    lt_correct = bool(lt_q) and all(r.get("ok") and r.get("correct") for r in lt_q)
    lt_n = lt_q[0].get("n_runs") if lt_q and lt_q[0].get("ok") else None
    ml_n = ml_q[0].get("n_runs") if ml_q and ml_q[0].get("ok") else None
    st = rep.check(
        "search_runs over 10,000 runs",
        None if lt_ms is None else (lt_ms < T_SEARCH_MS and lt_correct),
        f"{fmt_ms(lt_ms)}{'' if lt_correct else ' (WRONG results)'}",
        "< 50 ms",
        near=bool(lt_ms and lt_ms > T_SEARCH_MS / 1.5),
    )
    rep.row(
        f"`search_runs` metric+param filter, order_by, max_results=100 (labtrack "
        f"{lt_n or '?':,} runs; MLflow {ml_n or '?':,} runs)"
        if isinstance(lt_n, int) and isinstance(ml_n, int)
        else f"`search_runs` metric+param filter, order_by, max_results=100 (labtrack {lt_n} runs, "
        f"MLflow {ml_n} runs)",
        fmt_ms(lt_ms),
        fmt_ms(ml_ms),
        ratio_text(lt_ms, ml_ms, False),
        "< 50 ms",
        st,
    )

    # history
    lt_h, ml_h = res.get("lt_history", []), res.get("ml_history", [])
    lt_hs = med(lt_h, "median_s")
    ml_rate_h = med(ml_h, "read_rate")
    ml_h1m = args.history_n / ml_rate_h if ml_rate_h else None
    h_ok = bool(lt_h) and all(r.get("ok") and r.get("all_read") for r in lt_h)
    st = rep.check(
        "get_metric_history of 1M points",
        None if lt_hs is None else (lt_hs < T_HISTORY_S and h_ok),
        fmt_s(lt_hs),
        "< 1.5 s",
        near=bool(lt_hs and lt_hs > T_HISTORY_S / 1.5),
    )
    rep.row(
        f"`get_metric_history`, {args.history_n:,} points (MLflow: {args.ml_history_n:,} read, "
        "extrapolated)",
        f"{fmt_s(lt_hs)} ({fmt_rate(med(lt_h, 'read_rate'))})",
        f"{fmt_s(ml_h1m)} ({fmt_rate(ml_rate_h)})",
        ratio_text(lt_hs, ml_h1m, False),
        "< 1.5 s",
        st,
    )
    rep.row(
        f"  writing those points with client `log_batch` (labtrack batches of "
        f"{args.history_batch:,}, MLflow 1,000; info)",
        fmt_rate(med(lt_h, "write_rate")),
        fmt_rate(med(ml_h, "write_rate")),
        ratio_text(med(lt_h, "write_rate"), med(ml_h, "write_rate"), True),
        "-",
        "info",
    )

    # concurrency
    lt_c, ml_c = res.get("lt_concurrent", []), res.get("ml_concurrent", [])

    def conc_text(rs: list[dict[str, Any]], kind: str) -> tuple[str, bool | None]:
        if not rs:
            return "not run", None
        if not all(r.get("ok") for r in rs):
            return f"failed: {errors_of(rs)[:200]}", None
        locked = sum(1 for r in rs if r.get("locked"))
        stored_ok = all(r.get("all_stored") for r in rs)
        errs = sum(r.get("error_count", 0) for r in rs)
        failed_calls = sum(r.get("failed_calls", 0) for r in rs)
        stored = "all points stored" if stored_ok else "POINTS MISSING"
        txt = (
            f"{fmt_rate(med(rs, 'rate'))}; {stored}"
            f"; 'database is locked' in {locked}/{len(rs)} runs"
        )
        if errs or failed_calls:
            txt += f"; {errs} errors{f', {failed_calls} failed calls' if failed_calls else ''}"
        return txt, (stored_ok and locked == 0 and errs == 0)

    lt_txt, lt_ok = conc_text(lt_c, "labtrack")
    ml_txt, _ = conc_text(ml_c, "mlflow")
    st = rep.check(
        "8 processes on one SQLite file",
        lt_ok,
        lt_txt,
        "no 'database is locked', every point stored",
    )
    rep.row(
        f"{args.procs} processes logging into one SQLite file (labtrack {args.procs}x"
        f"{args.proc_points:,} fluent pts; MLflow {args.procs}x{args.ml_proc_points} "
        "synchronous)",
        lt_txt,
        ml_txt,
        ratio_text(med(lt_c, "rate"), med(ml_c, "rate"), True),
        "no lock errors, all stored",
        st,
    )

    # -- problems: failed phases, lost data, search results that differ from MLflow
    problems: list[str] = []
    ml_failures: list[str] = []
    for key, rs in res.items():
        if not isinstance(rs, list):
            continue
        for r in rs:
            if not r.get("ok"):
                where = f"{key} (log `{r.get('log')}`)"
                (problems if key.startswith("lt_") else ml_failures).append(
                    f"{where}: {r.get('error')}"
                )
            elif key.startswith("lt_") and (
                r.get("all_stored") is False
                or r.get("all_read") is False
                or r.get("correct") is False
            ):
                problems.append(
                    f"{key}: data check failed: "
                    + json.dumps(
                        {
                            k: r.get(k)
                            for k in (
                                "n",
                                "n_runs",
                                "stored",
                                "stored_runs",
                                "stored_per_run",
                                "length",
                                "results",
                                "expected_results",
                            )
                            if k in r
                        }
                    )
                )
    problems += parity_check(res)[1]
    if res.get("imports_error"):
        problems.append(f"import measurement failed: {res['imports_error']}")
    wl = res.get("workload")
    if wl is not None and not wl.get("ok"):
        ml_failures.append(f"workload script: {wl.get('error')}")

    # -- text
    m = meta
    out = [
        "## Embedded tracking (SQLite): labtrack vs MLflow",
        "",
        "Reproduce (from the repository root, in the project venv):",
        "",
        "```",
        f"{m['command']}",
        "```",
        "",
        f"Date: {m['date']}  (total bench time {m['elapsed']})",
        "",
        "Generated by `bench/tracking_embedded.py` (it replaces only this section of the "
        "file); do not edit by hand (see bench/README.md).",
    ]
    if args.quick:
        out += ["", "**QUICK MODE: reduced sizes; these numbers are a smoke test, not results.**"]
    out += ["", "### Summary", ""]
    if rep.missed:
        out.append("**Targets missed:**")
        out.append("")
        out += [f"- {x}" for x in rep.missed]
    else:
        out.append("All targets met.")
    if rep.near:
        out += ["", "Close to the target (within 1.5x): " + ", ".join(rep.near) + "."]
    out += ["", "**Problems found in labtrack:** " + ("none" if not problems else "")]
    out += [f"- {x}" for x in problems]
    if ml_failures or not meta.get("ml_info"):
        out += [
            "",
            "**MLflow phases that failed:** "
            + ("" if ml_failures else f"MLflow not available: {meta.get('mlflow_setup')}"),
        ]
        out += [f"- {x}" for x in ml_failures]
    out += [
        "",
        f"Every figure is the median of {rp} repetitions (fresh process and fresh SQLite file "
        f"each) except: import, {args.import_n} interpreters each; search, one populated store "
        "per library and 10 timed queries; metric history, 2 processes x 3 reads. labtrack "
        "and MLflow ran interleaved in the same run, so compare them as ratios. MLflow runs "
        "in its own venv and process. The machine is shared and noisy (see the load averages "
        "under Machine): short workloads vary by up to 2x between repetitions.",
        "",
        "| workload | labtrack | MLflow | ratio | target | labtrack vs target |",
        "|---|---:|---:|---:|---|---|",
    ]
    out += ["| " + " | ".join(r) + " |" for r in rep.rows]
    out += ["", "### Machine", ""]
    for k, v in m["machine"].items():
        out.append(f"- {k}: {v}")
    out.append(f"- labtrack interpreter: {json.dumps(m['lt_info'])}")
    out.append(f"- labtrack source measured: {m.get('lt_source')}")
    out.append(
        f"- MLflow interpreter ({MLFLOW_VENV.relative_to(BENCH.parent)}): "
        f"{json.dumps(m.get('ml_info'))}"
    )
    out.append(f"- MLflow setup: {m['mlflow_setup']}")
    loads = [
        r["load1"]
        for rs in res.values()
        if isinstance(rs, list)
        for r in rs
        if r.get("load1") is not None
    ]
    if loads:
        out.append(
            f"- 1-minute load average at the start of each phase: min {min(loads):.2f}, "
            f"median {median(loads):.2f}, max {max(loads):.2f} (2 cores; other work "
            "shares this machine)"
        )
    out += ["", "### Method and details", ""]
    out += details_text(args, res)
    if profiles:
        out += [
            "",
            "### Where labtrack's time goes (py-spy, workloads that miss or are near their target)",
            "",
        ]
        sw = [r for r in res.get("lt_sweep", []) if r.get("ok")]
        if sw:
            out += [
                "Sweep, wall-clock per run (median over repetitions of the per-run medians): "
                f"start_run {median([r['median_start_run_ms'] for r in sw]):.2f} ms, the 8 "
                f"logging calls {median([r['median_log_calls_ms'] for r in sw]):.2f} ms, "
                f"end_run {median([r['median_end_run_ms'] for r in sw]):.2f} ms (it waits for "
                "the writer thread to store the queued params and metrics, then ends the run); "
                f"first run {median([r['first_run_s'] for r in sw]) * 1000:.0f} ms.",
                "",
            ]
        for name, text in profiles.items():
            out += [f"#### {name}", "", text, ""]
    return "\n".join(out) + "\n"


def _vals(rs: list[dict[str, Any]], key: str, fmt: Callable[[float], str]) -> str:
    return (
        ", ".join(fmt(r[key]) if r.get("ok") and r.get(key) is not None else "failed" for r in rs)
        or "not run"
    )


def parity_check(res: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(lines for the report, problems of labtrack) from the search parity queries."""
    lt = next((r for r in res.get("lt_search", []) if r.get("ok")), None)
    ml = next((r for r in res.get("ml_search", []) if r.get("ok")), None)
    lines: list[str] = []
    problems: list[str] = []
    if lt is None:
        return lines, problems
    for text, got in lt.get("extensions", {}).items():
        if not got.get("ok"):
            why = got.get("error") or f"{got.get('got')} runs, expected {got.get('expected')}"
            problems.append(f"search_runs `{text}` (labtrack's OR/parentheses): {why}")
    ext_ok = sum(1 for g in lt.get("extensions", {}).values() if g.get("ok"))
    lines.append(
        f"- labtrack's own grammar (OR, parentheses), counted against Python: "
        f"{ext_ok}/{len(lt.get('extensions', {}))} right."
    )
    if ml is None or ml.get("n_runs") != lt.get("n_runs"):
        lines.append("- Parity with MLflow not checked (the stores do not hold the same runs).")
        return lines, problems
    same = 0
    rows = []
    for query, lt_names in lt.get("parity", {}).items():
        ml_names = ml.get("parity", {}).get(query)
        if isinstance(lt_names, list) and isinstance(ml_names, list):
            if lt_names == ml_names:
                same += 1
                rows.append(f"  - `{query}`: same {len(lt_names)} runs, same order")
            else:
                first = next(
                    (i for i, (a, b) in enumerate(zip(lt_names, ml_names, strict=False)) if a != b),
                    min(len(lt_names), len(ml_names)),
                )
                rows.append(
                    f"  - `{query}`: DIFFERENT: labtrack {len(lt_names)} runs, MLflow "
                    f"{len(ml_names)}; first difference at position {first}"
                )
                problems.append(
                    f"search_runs `{query}` differs from MLflow (labtrack "
                    f"{len(lt_names)} runs, MLflow {len(ml_names)}, first difference "
                    f"at {first})"
                )
        elif isinstance(ml_names, list):
            rows.append(f"  - `{query}`: labtrack FAILED ({lt_names}); MLflow {len(ml_names)} runs")
            problems.append(
                f"search_runs `{query}`: labtrack fails ({lt_names}) where MLflow answers"
            )
        elif isinstance(lt_names, list):
            rows.append(
                f"  - `{query}`: MLflow rejects it ({ml_names}); labtrack {len(lt_names)} runs"
            )
        else:
            rows.append(f"  - `{query}`: both reject it (labtrack: {lt_names}; MLflow: {ml_names})")
    lines.append(
        f"- Parity with MLflow on {len(rows)} queries (every page, run names in "
        f"order; the last order key makes the order total): {same} identical."
    )
    lines += rows
    return lines, problems


def parity_text(res: dict[str, Any]) -> list[str]:
    return parity_check(res)[0]


def details_text(args: argparse.Namespace, res: dict[str, Any]) -> list[str]:
    d: list[str] = []
    imp = res.get("imports", {})
    d.append(
        f"**import** - {args.import_n} fresh interpreters each, interleaved: "
        '`python -c "import X"` wall minus `python -c pass` wall (its own venv\'s '
        "interpreter), and `-X importtime` cumulative of the top-level module."
    )
    for code, r in imp.items():
        it = (
            f"; importtime {r['importtime_ms']:.0f} ms, all importtime ms {r['all_importtime_ms']}"
            if r.get("importtime_ms") is not None
            else ""
        )
        d.append(
            f"- `{code}`: {r['import_ms']:.0f} ms (wall {r['wall_ms']:.0f} ms - bare "
            f"{r['bare_ms']:.0f} ms); all ms {r['all_import_ms']}{it}"
        )
    if res.get("imports_error"):
        d.append(f"- error: {res['imports_error']}")
    d.append("")
    d.append(
        '**fluent log_metric** - timed region: the `log_metric("loss", v, step=i)` loop and '
        "`flush()` (labtrack; MLflow's synchronous calls are stored when they return, its "
        "async mode is flushed with `mlflow.flush_async_logging()`), inside an active run; "
        "the stored points are then counted (labtrack `SqlStore.count_metric_points` and "
        "`get_metric_history`; MLflow `get_metric_history`)."
    )
    for key, label in (
        ("lt_fluent", "labtrack"),
        ("ml_fluent", "MLflow sync"),
        ("ml_async", "MLflow async"),
        ("lt_batch", "labtrack log_batch"),
        ("ml_batch", "MLflow log_batch"),
    ):
        rs = res.get(key, [])
        d.append(
            f"- {label}: rates {_vals(rs, 'rate', lambda x: f'{x:,.0f}/s')}; all stored: "
            f"{[r.get('all_stored') for r in rs]}"
            + (
                f"; start_run {_vals(rs, 'start_run_s', lambda x: f'{x * 1000:.0f} ms')}"
                if key in ("lt_fluent", "ml_fluent")
                else ""
            )
            + (f"; errors: {errors_of(rs)}" if errors_of(rs) else "")
        )
    d.append("")
    d.append(
        "**sweep** - `start_run(run_name=...)`, 5 x `log_param`, 3 x `log_metric`, "
        "`end_run()`, with both libraries' default context capture (source, user, git; "
        "labtrack also its environment snapshot artifact). The driver script lives in a temp "
        "dir outside any git repo; the git variant runs it from a temp git repo with one "
        "commit and a clean tree. Afterwards every run is checked (5 params, 3 metrics, "
        "FINISHED)."
    )
    for key, label in (
        ("lt_sweep", "labtrack"),
        ("ml_sweep", "MLflow"),
        ("lt_sweep_git", "labtrack in git repo"),
        ("ml_sweep_git", "MLflow in git repo"),
    ):
        rs = res.get(key, [])
        ok = [r for r in rs if r.get("ok")]
        d.append(
            f"- {label}: seconds {_vals(rs, 'seconds', lambda x: f'{x:.2f}')} for "
            f"{rs[0].get('n_runs') if ok else '?'} runs; first run "
            f"{_vals(rs, 'first_run_s', lambda x: f'{x * 1000:.0f} ms')}; median run "
            f"{_vals(rs, 'median_run_ms', lambda x: f'{x:.2f} ms')} (start_run "
            f"{_vals(rs, 'median_start_run_ms', lambda x: f'{x:.2f}')} ms; 8 log calls "
            f"{_vals(rs, 'median_log_calls_ms', lambda x: f'{x:.2f}')} ms; end_run "
            f"{_vals(rs, 'median_end_run_ms', lambda x: f'{x:.2f}')} ms); all stored "
            f"{[r.get('all_stored') for r in rs]}; git tags "
            f"{ok[0].get('git_tags') if ok else '-'}"
            + (f"; errors: {errors_of(rs)}" if errors_of(rs) else "")
        )
    d.append("")
    d.append(
        f"**search_runs** - query `{SEARCH_FILTER}`, order_by {SEARCH_ORDER}, "
        "max_results=100, via the client's `search_runs`; 1 warm-up then 10 timed, median. "
        "Populated with the client (create_run, log_batch of 2 metrics + 3 params + 1 tag, "
        "set_terminated); results checked against the expected runs and order."
    )
    for key, label in (("lt_search", "labtrack"), ("ml_search", "MLflow")):
        for r in res.get(key, []):
            if r.get("ok"):
                d.append(
                    f"- {label}: {r['n_runs']:,} runs populated in {r['populate_s']:.1f} s "
                    f"({r['populate_rate']:,.0f} runs/s); warm-up {r['warmup_ms']:.1f} ms; "
                    f"query ms {[round(x, 1) for x in r['query_ms']]}; {r['results']} "
                    f"results (expected {r['expected_results']}, {r['matching_total']} match "
                    f"in total); correct: {r['correct']}"
                )
            else:
                d.append(f"- {label}: FAILED: {r.get('error')} (log {r.get('log')})")
    d += parity_text(res)
    if (
        res.get("ml_search")
        and res["ml_search"][0].get("ok")
        and res["ml_search"][0]["n_runs"] < args.search_n
    ):
        d.append(
            f"- MLflow's store holds fewer runs than labtrack's: populating stopped at the "
            f"{args.ml_search_budget:.0f} s budget (MLflow would need about "
            f"{args.search_n / res['ml_search'][0]['populate_rate']:.0f} s for "
            f"{args.search_n:,} runs)."
        )
    d.append("")
    d.append(
        "**metric history** - one key written with the client's `log_batch`, then "
        "`get_metric_history(run_id, key)` timed 3 times in the same process (median); "
        f"MLflow reads {args.ml_history_n:,} points and its time is extrapolated linearly to "
        f"{args.history_n:,}."
    )
    for key, label in (("lt_history", "labtrack"), ("ml_history", "MLflow")):
        for r in res.get(key, []):
            if r.get("ok"):
                d.append(
                    f"- {label}: {r['n']:,} points written in {r['write_s']:.1f} s; reads "
                    f"{[round(x, 3) for x in r['read_s']]} s; all read back in order: "
                    f"{r['all_read']}"
                )
            else:
                d.append(f"- {label}: FAILED: {r.get('error')} (log {r.get('log')})")
    d.append("")
    d.append(
        "**concurrency** - `multiprocessing` spawn processes, each with its own run in the "
        "same experiment and SQLite file: log 3 params, wait on a barrier, then log the "
        "points (labtrack fluent `log_metric` + `flush()`; MLflow synchronous "
        "`log_metric`, each failure caught and counted), end the run. Rate = all stored "
        "points / (last end - first start). The parent then counts each run's points."
    )
    for key, label in (("lt_concurrent", "labtrack"), ("ml_concurrent", "MLflow")):
        for r in res.get(key, []):
            if r.get("ok"):
                d.append(
                    f"- {label}: {r['wall_s']:.2f} s, {fmt_rate(r['rate'])}; stored per run "
                    f"{r['stored_per_run']}; all stored {r['all_stored']}; "
                    f"locked: {r['locked']}; errors {r['error_count']}"
                    + (f", failed calls {r.get('failed_calls')}" if "failed_calls" in r else "")
                    + (f": {r['errors'][:2]}" if r["errors"] else "")
                )
            else:
                d.append(f"- {label}: FAILED: {r.get('error')} (log {r.get('log')})")
    d.append("")
    wl = res.get("workload")
    d.append(
        f"**MLflow-client workload script** (`{WORKLOAD_SCRIPT}`, scale 1, real `mlflow` "
        "client against `sqlite:///`, in the MLflow venv), for reference. The same script "
        "against labtrack's and MLflow's servers: the server section of this file."
    )
    if wl:
        if wl.get("rows"):
            d += ["", "| phase | n | seconds | rate |", "|---|---:|---:|---:|"]
            d += [
                f"| {r['phase']} | {r['n']:,} | {r['seconds']:.3f} | {r['rate']:,.1f}/s |"
                for r in wl["rows"]
            ]
        if not wl.get("ok"):
            d.append(f"- FAILED: {wl.get('error')}")
    else:
        d.append("- not run")
    d.append("")
    d.append("Logs of every subprocess: `bench/.work/logs/` (git-ignored).")
    return d


# -- main -------------------------------------------------------------------------------
def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--repeat", type=int, default=5, help="repetitions per workload (median)")
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    p.add_argument("--skip-mlflow", action="store_true", help="labtrack only")
    p.add_argument("--upgrade-mlflow", action="store_true", help="pip install -U mlflow first")
    p.add_argument(
        "--no-profile",
        action="store_true",
        help="do not py-spy labtrack workloads that miss or are near their target",
    )
    p.add_argument("--keep-tmp", action="store_true", help="keep the temp databases")
    p.add_argument(
        "--output",
        default=str(RESULTS),
        help="results file; only its embedded section is replaced",
    )
    args = p.parse_args()
    sizes = dict(
        import_n=10,
        fluent_n=100_000,
        ml_fluent_n=2_000,
        ml_batch_n=20_000,
        sweep_n=1_000,
        ml_sweep_n=200,
        search_n=10_000,
        ml_search_budget=280.0,
        history_n=1_000_000,
        ml_history_n=100_000,
        history_batch=100_000,
        procs=8,
        proc_points=20_000,
        ml_proc_points=200,
    )
    if args.quick:
        sizes.update(
            import_n=3,
            fluent_n=10_000,
            ml_fluent_n=200,
            ml_batch_n=2_000,
            sweep_n=100,
            ml_sweep_n=20,
            search_n=500,
            ml_search_budget=20.0,
            history_n=50_000,
            ml_history_n=5_000,
            history_batch=10_000,
            proc_points=2_000,
            ml_proc_points=20,
        )
    for k, v in sizes.items():
        setattr(args, k, v)

    started = time.perf_counter()
    LOGS.mkdir(parents=True, exist_ok=True)
    command = "python bench/tracking_embedded.py" + "".join(f" {a}" for a in sys.argv[1:])
    meta: dict[str, Any] = {
        "command": command,
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(),
    }
    meta["lt_source"] = source_state()
    meta["lt_info"] = interp_info(sys.executable, ["labtrack", "SQLAlchemy", "alembic"], "labtrack")

    ml_py: Path | None = None
    if args.skip_mlflow:
        meta["mlflow_setup"] = "skipped (--skip-mlflow)"
    else:
        ml_py, text = ensure_venv(MLFLOW_VENV, "mlflow", "mlflow", args.upgrade_mlflow)
        meta["mlflow_setup"] = (
            f"mlflow {text} in {MLFLOW_VENV.relative_to(BENCH.parent)}"
            if ml_py
            else f"FAILED: {text}"
        )
        log(f"MLflow: {meta['mlflow_setup']}")
        if ml_py:
            meta["ml_info"] = interp_info(ml_py, ["mlflow", "SQLAlchemy", "alembic"], "mlflow")

    runner = Runner(sys.executable, ml_py, args.keep_tmp)
    res: dict[str, Any] = {}
    has_ml = ml_py is not None
    R = args.repeat

    def both(
        key: str,
        phase: str,
        lt_args: dict[str, Any] | None,
        ml_args: dict[str, Any] | None,
        timeout_lt: float,
        timeout_ml: float,
        reps: int = R,
        **kw: Any,
    ) -> None:
        for i in range(reps):
            if lt_args is not None:
                log(f"labtrack {key} {i + 1}/{reps}")
                r = runner.phase("labtrack", phase, lt_args, timeout_lt, **kw)
                res.setdefault(f"lt_{key}", []).append(r)
                log(f"  -> {_brief(r)}")
            if ml_args is not None and has_ml:
                log(f"mlflow {key} {i + 1}/{reps}")
                r = runner.phase("mlflow", phase, ml_args, timeout_ml, **kw)
                res.setdefault(f"ml_{key}", []).append(r)
                log(f"  -> {_brief(r)}")

    try:
        log("import times")
        try:
            res["imports"] = measure_imports(runner, args.import_n)
        except Exception as exc:
            res["imports_error"] = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        both("fluent", "fluent_log_metric", {"n": args.fluent_n}, {"n": args.ml_fluent_n}, 300, 600)
        both(
            "async",
            "fluent_log_metric",
            None,
            {"n": args.ml_fluent_n, "synchronous": False},
            300,
            600,
        )
        both("batch", "client_log_batch", {"n": args.fluent_n}, {"n": args.ml_batch_n}, 300, 600)
        both("sweep", "sweep", {"n_runs": args.sweep_n}, {"n_runs": args.ml_sweep_n}, 300, 900)
        git_dir = make_git_repo(runner)
        if git_dir is not None:
            both(
                "sweep_git",
                "sweep",
                {"n_runs": args.sweep_n},
                {"n_runs": args.ml_sweep_n},
                300,
                900,
                driver_dir=git_dir,
            )
        both(
            "search",
            "search",
            {"n_runs": args.search_n, "budget_s": 900},
            {"n_runs": args.search_n, "budget_s": args.ml_search_budget},
            1200,
            args.ml_search_budget + 600,
            reps=1,
        )
        both(
            "history",
            "history",
            {"n_points": args.history_n, "batch": args.history_batch},
            {"n_points": args.ml_history_n},
            900,
            900,
            reps=min(R, 2),
        )
        both(
            "concurrent",
            "concurrent",
            {"procs": args.procs, "points": args.proc_points},
            {"procs": args.procs, "points": args.ml_proc_points},
            900,
            1200,
        )
        if has_ml:
            log("MLflow workload script")
            res["workload"] = run_workload_script(runner, 1200)
            log(f"  -> ok={res['workload'].get('ok')}")

        profiles: dict[str, str] = {}
        if not args.no_profile:
            profiles = run_profiles(runner, args, res)
    finally:
        runner.close()
    elapsed = time.perf_counter() - started
    meta["elapsed"] = f"{elapsed / 60:.1f} min"
    (WORK / "last-results.json").write_text(
        json.dumps({"meta": meta, "results": res}, indent=1, default=str)
    )
    text = build_report(args, meta, res, profiles)
    write_section(args.output, "embedded", text)
    log(f"wrote {args.output}")
    summary = text.split("### Machine")[0]
    print(summary)
    return 0


def _brief(r: dict[str, Any]) -> str:
    if not r.get("ok"):
        return f"FAILED: {r.get('error')} (log {r.get('log')})"
    keys = (
        "rate",
        "seconds",
        "median_ms",
        "median_s",
        "n_runs",
        "all_stored",
        "correct",
        "all_read",
        "locked",
        "error_count",
    )
    return ", ".join(
        f"{k}={r[k]:.4g}" if isinstance(r[k], float) else f"{k}={r[k]}" for k in keys if k in r
    )


def make_git_repo(runner: Runner) -> Path | None:
    git = shutil.which("git")
    if git is None:
        return None
    d = runner.new_dir("gitrepo")
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.com",
    }
    try:
        subprocess.run([git, "init", "-q", str(d)], check=True, env=env, timeout=60)
        for kind in ("labtrack", "mlflow"):
            runner._driver(kind, d)
        (d / "README").write_text("benchmark repo\n")
        subprocess.run([git, "-C", str(d), "add", "-A"], check=True, env=env, timeout=60)
        subprocess.run(
            [git, "-C", str(d), "commit", "-q", "-m", "init"], check=True, env=env, timeout=60
        )
        return d
    except Exception as exc:
        log(f"could not create a git repo: {exc!r}")
        return None


def run_profiles(runner: Runner, args: argparse.Namespace, res: dict[str, Any]) -> dict[str, str]:
    """py-spy the labtrack phases that missed their target or came within 1.5x of it."""
    writer = ("LogQueue._run (labtrack/tracking/_batching.py",)
    todo: list[tuple[str, str, dict[str, Any], tuple[str, ...]]] = []
    fl = med(res.get("lt_fluent", []), "rate")
    if fl is None or fl < T_FLUENT_RATE * 1.5:
        todo.append(
            (
                f"fluent log_metric ({args.fluent_n:,} points): the loop, flush and the "
                "writer thread",
                "fluent_log_metric",
                {"n": args.fluent_n},
                ("log_metric (labtrack", "flush (labtrack", *writer),
            )
        )
    sw = med(res.get("lt_sweep", []), "seconds")
    if sw is None or sw * 1000 / args.sweep_n > T_SWEEP_S / 1.5:
        todo.append(
            (
                f"sweep ({args.sweep_n:,} runs): start_run, log_param/log_metric, end_run "
                "and the writer thread",
                "sweep",
                {"n_runs": args.sweep_n},
                (
                    "start_run (labtrack",
                    "end_run (labtrack",
                    "log_param (labtrack",
                    "log_metric (labtrack",
                    *writer,
                ),
            )
        )
    se = med(res.get("lt_search", []), "median_ms")
    if se is None or se > T_SEARCH_MS / 1.5:
        todo.append(
            (
                f"search_runs ({args.search_n:,} runs, 200 queries)",
                "search",
                {"n_runs": args.search_n, "reps": 200},
                ("TrackingClient.search_runs (labtrack",),
            )
        )
    hi = med(res.get("lt_history", []), "median_s")
    if hi is None or hi > T_HISTORY_S / 1.5:
        todo.append(
            (
                f"get_metric_history ({args.history_n:,} points, 3 reads)",
                "history",
                {"n_points": args.history_n, "batch": args.history_batch},
                ("TrackingClient.get_metric_history (labtrack",),
            )
        )
    if not todo:
        return {}
    pyspy = ensure_pyspy(False)
    if pyspy is None:
        return {name: "(py-spy could not be installed; no profile)" for name, *_ in todo}
    out = {}
    for name, phase, kw, focus in todo:
        log(f"profiling labtrack {phase}")
        try:
            out[name] = profile_phase(runner, pyspy, phase, kw, 1200, focus)
        except Exception as exc:
            out[name] = f"(profiling failed: {exc!r})"
    return out


if __name__ == "__main__":
    sys.exit(main())
