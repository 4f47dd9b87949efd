"""Search filters of many comparisons, timed on each database (and against a base revision).

Usage (repository root, project venv):

    python bench/filter_shapes.py [--base REV] [--postgres URL] [--mysql URL] [--cap S]

The shapes a hostile or careless client can send: N comparisons joined by AND on N
different metrics, one metric repeated N times, N params, and N metrics joined by OR, for
N in 10, 100, 250 and 600. Each runs against the same data (400 runs, 60 metrics and 60
params each) on SQLite and, when their URLs are given (default: the test suite's
``LABTRACK_TEST_POSTGRES_URL`` / ``LABTRACK_TEST_MYSQL_URL``), on PostgreSQL and
MySQL/MariaDB, in a fresh process per database and revision, each filter three times
(the median; once when it takes more than 5 s). Every query is capped at ``--cap``
seconds (30: the server's statement timeout) by the database itself, so the shapes that
took minutes before the fix end as "> 30 s" instead of holding the run up.

With ``--base REV`` the same queries also run on that revision's ``src/`` (extracted with
``git archive`` under ``bench/.work/filters/``, imported with ``PYTHONPATH``), and the
result lists of both revisions are compared. The search limits that refuse these filters
by default (``search_max_filter_terms`` = 200) are raised for the measurement.

It writes the section ``filters`` of ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULT_PREFIX, write_section

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "bench" / ".work" / "filters"
RESULTS = REPO / "bench" / "RESULTS.md"
SIZES = (10, 100, 250, 600)
RUNS, METRICS, PARAMS = 400, 60, 60
DATABASE = "lt_bench_filters"


def filters() -> dict[str, str]:
    """Shape name -> filter text. Each keeps a few runs (the first comparison is selective,
    the others hold for every run that has the key), so every run is tested and few load."""
    shapes = {
        "AND of N metrics": lambda n: " and ".join(
            ["metrics.m0 < 2", *(f"metrics.m{i} > -1" for i in range(1, n))]
        ),
        "one metric N times": lambda n: " and ".join(
            ["metrics.m0 < 2", *(f"metrics.m0 > {-i}" for i in range(1, n))]
        ),
        "AND of N params": lambda n: " and ".join(
            ["params.p0 = '0'", *(f"params.p{i} != 'x'" for i in range(1, n))]
        ),
        "OR of N metrics": lambda n: " or ".join(
            ["metrics.m0 < 2", *(f"metrics.m{i} > 1000" for i in range(1, n))]
        ),
    }
    return {f"{shape}|{n}": make(n) for shape, make in shapes.items() for n in SIZES}


# -- the worker: one database, one revision (imported from PYTHONPATH) ------------------
def work(uri: str, populate: bool, cap: float) -> dict[str, Any]:
    from labtrack.entities import Metric, Param
    from labtrack.store.sql.store import SqlStore

    with tempfile.TemporaryDirectory(prefix="filters-") as artifacts:
        store = SqlStore(uri, artifacts)
        if populate:
            for i in range(RUNS):
                run_id = store.create_run("0", "bench", 1_000 + i, [], f"r{i}").info.run_id
                store.log_batch(
                    run_id,
                    metrics=[
                        Metric(f"m{k}", float((i * 7 + k) % 50), 1, 0) for k in range(METRICS)
                    ],
                    params=[Param(f"p{k}", str((i + k) % 5)) for k in range(PARAMS)],
                    tags=[],
                )
            return {"ok": True}
        out: dict[str, Any] = {}
        for name, text in filters().items():
            times, found, error = [], None, None
            for _ in range(3):
                started = time.perf_counter()
                try:
                    page = store.search_runs(["0"], text, 1, 1000, None, None)
                except Exception as exc:  # the cap (a statement timeout) or a database limit
                    error = f"{type(exc).__name__}: {exc}"[:300]
                    times.append(time.perf_counter() - started)
                    break
                times.append(time.perf_counter() - started)
                found = sorted(r.info.run_name for r in page)
                if times[-1] > 5:
                    break
            out[name] = {"seconds": statistics.median(times), "runs": found, "error": error}
            print(f"{name}: {out[name]['seconds']:.3f} s {error or ''}", file=sys.stderr)
    return out


# -- the orchestrator ------------------------------------------------------------------
def capped(uri: str, cap: float) -> str:
    """``uri`` with the database's own statement timeout set for each connection."""
    if uri.startswith("postgresql"):
        sep = "&" if "?" in uri else "?"
        return f"{uri}{sep}options=-c%20statement_timeout%3D{int(cap * 1000)}"
    if uri.startswith("mysql"):
        sep = "&" if "?" in uri else "?"
        return f"{uri}{sep}init_command=SET%20SESSION%20max_statement_time%3D{cap:g}"
    return uri  # SQLite answers these in well under the cap


def server_database(kind: str, base_url: str, create: bool) -> str:
    """The bench's database on a PostgreSQL or MySQL server: made empty, or dropped."""
    import sqlalchemy

    url = sqlalchemy.engine.make_url(base_url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    elif url.drivername in ("mysql", "mariadb"):
        url = url.set(drivername="mysql+pymysql")
    admin = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if kind == "postgresql":
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
            if create:
                conn.exec_driver_sql(f'CREATE DATABASE "{DATABASE}"')
        else:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{DATABASE}`")
            if create:
                conn.exec_driver_sql(
                    f"CREATE DATABASE `{DATABASE}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
                )
    admin.dispose()
    return url.set(database=DATABASE).render_as_string(hide_password=False)


def source_tree(rev: str) -> tuple[Path, str]:
    """The ``src`` directory of ``rev`` (extracted once), and its short commit id."""
    sha = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", rev], check=True, capture_output=True, text=True
    ).stdout.strip()
    path = WORK / sha[:12]
    if not (path / "src").is_dir():
        path.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", sha, "src"], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(path)], input=archive, check=True)
    return path / "src", sha[:7]


def run_worker(src: Path, uri: str, populate: bool, cap: float) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABTRACK_", "MLFLOW_"))}
    env.update(
        PYTHONPATH=str(src),
        LABTRACK_SEARCH_MAX_FILTER_TERMS="100000",
        LABTRACK_SEARCH_MAX_FILTER_LENGTH="10000000",
    )
    args = json.dumps({"uri": uri, "populate": populate, "cap": cap})
    with tempfile.TemporaryDirectory(prefix="filters-cwd-") as cwd:
        out = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--worker", args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=3600,
        )
    for line in out.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            result: dict[str, Any] = json.loads(line[len(RESULT_PREFIX) :])
            return result
    raise RuntimeError(f"the worker on {uri} printed no result: {out.stderr[-3000:]}")


def cell(result: dict[str, Any], cap: float) -> str:
    if result["error"]:
        if "statement timeout" in result["error"] or "max_statement_time" in result["error"]:
            return f"> {cap:g} s (stopped)"
        return "error: " + result["error"].split(":", 1)[0]
    return f"{result['seconds']:.3f} s"


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        kwargs = json.loads(sys.argv[2])
        result = work(**kwargs)
        sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--base", help="also time this revision (e.g. c609645) and compare")
    p.add_argument("--postgres", default=os.environ.get("LABTRACK_TEST_POSTGRES_URL"))
    p.add_argument("--mysql", default=os.environ.get("LABTRACK_TEST_MYSQL_URL"))
    p.add_argument("--cap", type=float, default=30.0, help="seconds any one query may take")
    p.add_argument("--output", type=Path, default=RESULTS)
    args = p.parse_args()

    revisions = {"head": (REPO / "src", "working tree")}
    if args.base:
        revisions["base"] = source_tree(args.base)
    databases = {"sqlite": "", "postgresql": args.postgres, "mysql": args.mysql}
    figures: dict[str, dict[str, dict[str, Any]]] = {}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="filters-db-") as tmp:
        for kind, base_url in databases.items():
            if kind != "sqlite" and not base_url:
                print(f"{kind}: no URL given, skipped", flush=True)
                continue
            uri = f"sqlite:///{tmp}/filters.db"
            if kind != "sqlite":
                uri = server_database(kind, base_url, create=True)
            try:
                run_worker(REPO / "src", uri, True, args.cap)
                for side, (src, _) in revisions.items():
                    print(f"{kind} {side}...", flush=True)
                    figures[f"{kind}|{side}"] = run_worker(
                        src, capped(uri, args.cap), False, args.cap
                    )
            finally:
                if kind != "sqlite":
                    server_database(kind, base_url, create=False)
    report(args, revisions, figures, time.monotonic() - started)


def report(
    args: argparse.Namespace,
    revisions: dict[str, tuple[Path, str]],
    figures: dict[str, dict[str, dict[str, Any]]],
    seconds: float,
) -> None:
    kinds = [k for k in ("sqlite", "postgresql", "mysql") if f"{k}|head" in figures]
    compare = "base" in revisions
    header = ["shape", "N"]
    for kind in kinds:
        header += [f"{kind} before", f"{kind} after"] if compare else [kind]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * 2 + "---:|" * (len(header) - 2)]
    differ = []
    for name in filters():
        shape, n = name.split("|")
        cells = [shape, n]
        for kind in kinds:
            head = figures[f"{kind}|head"][name]
            if compare:
                base = figures[f"{kind}|base"][name]
                cells.append(cell(base, args.cap))
                answered = base["runs"] is not None and head["runs"] is not None
                if answered and base["runs"] != head["runs"]:
                    differ.append(f"{kind} {shape} N={n}")
            cells.append(cell(head, args.cap))
        rows.append("| " + " | ".join(cells) + " |")
    command = "python bench/filter_shapes.py" + (f" --base {args.base}" if compare else "")
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    versions = ", ".join(f"{side} = {label}" for side, (_, label) in revisions.items())
    body = [
        "## Search filters of many comparisons (issue 13)",
        "",
        f"Reproduce: `{command}` (PostgreSQL and MySQL/MariaDB from `--postgres` / "
        "`--mysql`, default the test suite's URLs).",
        "",
        f"Date: {now} (total {seconds / 60:.1f} min) on {platform.node()} "
        f"({os.cpu_count()} cores, shared). {versions}. {RUNS} runs with {METRICS} metrics "
        f"and {PARAMS} params each; the median of 3 searches (1 when over 5 s); every query "
        f"capped at {args.cap:g} s by the database's statement timeout. Filters over 200 "
        "comparisons are refused by default now (`search_max_filter_terms`); the limit is "
        "raised here to time them.",
        "",
        *rows,
        "",
    ]
    if compare:
        body.append(
            "Both revisions found the same runs for every filter both answered."
            if not differ
            else "DIFFERENT results: " + ", ".join(differ)
        )
    write_section(args.output, "filters", "\n".join(body))
    print("\n".join(body))


if __name__ == "__main__":
    main()
