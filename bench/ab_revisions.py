"""Is a change slower? The same labtrack workloads at two git revisions, interleaved.

Usage (repository root, project venv):

    python bench/ab_revisions.py BASE [HEAD] [--repeat N] [--output PATH]

Each revision is checked out into its own worktree under ``bench/.work/ab/`` and imported
from there (``PYTHONPATH=<worktree>/src``, the project venv's packages), so both run on
the same interpreter and libraries. For every repetition the two revisions run one after
the other, each in a fresh process on a fresh SQLite file, so slow drift of the machine
hits both alike. Workloads:

- embedded: the fluent ``log_metric`` loop, a 1,000-run sweep, filtered search over
  10,000 runs, and a 1,000,000-point history read (``bench/lt_worker.py`` phases);
- server: ``labtrack server`` of each revision on a fresh SQLite store, timed with the
  real ``mlflow`` client running ``shared/bench/mlflow_workload.py`` (the MLflow venv of
  ``make test``).

It writes the section ``ab`` of ``bench/RESULTS.md`` (the medians, HEAD / BASE ratios and
every repetition). A ratio within the machine's noise (about 10% here) is no change.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "bench" / ".work"
MLFLOW_PY = WORK / "mlflow-venv" / "bin" / "python"
WORKLOAD = REPO.parent / "shared" / "bench" / "mlflow_workload.py"
RESULTS = REPO / "bench" / "RESULTS.md"

# (name shown, lt_worker phase, its arguments, the figure read, unit, higher is better)
EMBEDDED = [
    ("fluent log_metric, 100,000 points", "fluent_log_metric", {"n": 100_000}, "rate", "/s", True),
    ("sweep, 1,000 runs", "sweep", {"n_runs": 1000}, "seconds", "s", False),
    ("search_runs over 10,000 runs", "search", {"n_runs": 10_000}, "median_ms", "ms", False),
    ("metric history, 1,000,000 points", "history", {"n_points": 10**6}, "median_s", "s", False),
]
# mlflow_workload.py phases: the rate it prints per phase (higher is better).
SERVER_PHASES = [
    "log_metric one-by-one",
    "log_batch metrics",
    "get_metric_history",
    "create+log+end runs",
    "search_runs filtered x10",
]


def worktree(rev: str) -> Path:
    """A checkout of ``rev`` under bench/.work/ab/ (made once, reused while it matches)."""
    sha = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", rev], check=True, capture_output=True, text=True
    ).stdout.strip()
    path = WORK / "ab" / sha[:12]
    if not path.exists():
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", str(path), sha],
            check=True,
            capture_output=True,
        )
    return path


def env_for(tree: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(tree / "src"))
    env.pop("LABTRACK_TRACKING_URI", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def run_embedded(tree: Path, phase: str, args: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ab-") as tmp:
        kwargs = {"db": os.path.join(tmp, "bench.db"), **args}
        out = subprocess.run(
            [sys.executable, str(tree / "bench" / "lt_worker.py"), phase, json.dumps(kwargs)],
            cwd=tmp,  # outside any git repository: no git context to capture
            env=env_for(tree),
            capture_output=True,
            text=True,
            timeout=900,
        )
    for line in out.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            result: dict[str, Any] = json.loads(line[len("BENCH_RESULT ") :])
            if result.get("ok"):
                return result
            raise RuntimeError(f"{phase} failed at {tree.name}: {result.get('error')}")
    raise RuntimeError(f"{phase} printed no result at {tree.name}: {out.stderr[-2000:]}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(tree: Path, tmp: str) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "labtrack.cli",
            "server",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{tmp}/server.db",
            "--artifacts-destination",
            f"{tmp}/artifacts",
        ],
        cwd=tmp,
        env=env_for(tree),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the server of {tree.name} did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def run_server(tree: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="ab-srv-") as tmp, server(tree, tmp) as url:
        out = subprocess.run(
            [str(MLFLOW_PY), str(WORKLOAD), url],
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=900,
            env={k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PYTHON"))},
        )
    rates: dict[str, float] = {}
    for line in out.stdout.splitlines():
        m = re.match(r"(.+?)\s+n=\d+\s+[\d.]+s\s+([\d.]+)/s", line)
        if m:
            rates[m.group(1).strip()] = float(m.group(2))
    missing = [p for p in SERVER_PHASES if p not in rates]
    if missing:
        raise RuntimeError(f"workload against {tree.name} lacks {missing}: {out.stderr[-2000:]}")
    return rates


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("base", help="the revision to compare against (e.g. main~5, a commit)")
    p.add_argument("head", nargs="?", default="HEAD", help="the revision measured (HEAD)")
    p.add_argument("--repeat", type=int, default=5, help="interleaved repetitions (median)")
    p.add_argument("--skip-server", action="store_true", help="embedded workloads only")
    p.add_argument("--quick", action="store_true", help="embedded sizes / 20: a smoke test")
    p.add_argument("--output", type=Path, default=RESULTS)
    args = p.parse_args()

    trees = {"base": worktree(args.base), "head": worktree(args.head)}
    figures: dict[str, dict[str, list[float]]] = {"base": {}, "head": {}}
    started = time.monotonic()
    for rep in range(args.repeat):
        for name, phase, kwargs, key, _, _ in EMBEDDED:
            for side in ("base", "head") if rep % 2 == 0 else ("head", "base"):
                sized = {k: max(1, v // 20) for k, v in kwargs.items()} if args.quick else kwargs
                value = float(run_embedded(trees[side], phase, sized)[key])
                figures[side].setdefault(name, []).append(value)
                print(f"[{rep + 1}/{args.repeat}] {side:4s} {name}: {value:,.3f}", flush=True)
        if args.skip_server or not MLFLOW_PY.exists():
            continue
        for side in ("base", "head") if rep % 2 == 0 else ("head", "base"):
            for phase_name, rate in run_server(trees[side]).items():
                if phase_name in SERVER_PHASES:
                    figures[side].setdefault(f"server: {phase_name}", []).append(rate)
            print(f"[{rep + 1}/{args.repeat}] {side:4s} server workload done", flush=True)
    write_section(args, trees, figures, time.monotonic() - started)


def write_section(
    args: argparse.Namespace,
    trees: dict[str, Path],
    figures: dict[str, dict[str, list[float]]],
    seconds: float,
) -> None:
    units = {name: (unit, better) for name, _, _, _, unit, better in EMBEDDED}
    units.update({f"server: {p}": ("/s", True) for p in SERVER_PHASES})
    rows = []
    for name, base_values in figures["base"].items():
        unit, higher_better = units[name]
        b = statistics.median(base_values)
        h = statistics.median(figures["head"][name])
        change = (h / b if higher_better else b / h) if b and h else float("nan")
        verdict = "same" if 0.9 <= change <= 1.1 else ("faster" if change > 1 else "SLOWER")
        rows.append(f"| {name} | {b:,.3f} {unit} | {h:,.3f} {unit} | {change:.2f}x | {verdict} |")
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = f"python bench/ab_revisions.py {args.base} {args.head} --repeat {args.repeat}"
    if args.quick:
        command += " --quick  (small sizes: a smoke test, not a measurement)"
    lines = [
        "<!-- BEGIN ab -->",
        "## One revision against another (is a change slower?)",
        "",
        f"Reproduce: `{command}`",
        "",
        f"Date: {now} (total {seconds / 60:.1f} min). base = `{args.base}` "
        f"({trees['base'].name}), head = `{args.head}` ({trees['head'].name}). Medians of "
        f"{args.repeat} interleaved repetitions, each a fresh process and SQLite file; "
        "speed = head vs base, above 1 is faster; within 0.9-1.1 is the machine's noise.",
        "",
        "| workload | base | head | speed | verdict |",
        "|---|---:|---:|---:|---|",
        *rows,
        "",
        "Every repetition: "
        + json.dumps({side: figures[side] for side in ("base", "head")}, separators=(",", ":")),
        "<!-- END ab -->",
    ]
    text = args.output.read_text() if args.output.exists() else ""
    section = "\n".join(lines)
    if "<!-- BEGIN ab -->" in text:
        text = re.sub(r"<!-- BEGIN ab -->.*?<!-- END ab -->", lambda _: section, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    args.output.write_text(text)
    print("\n".join(lines[9:-3]))


if __name__ == "__main__":
    main()
