"""A process that starts a run with the fluent API and is killed -9 (no chance to end the
run): for the tests of runs whose process died (tests/tracking, tests/compat)."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

DOOMED = """
import sys, time
import labtrack as lt
lt.set_tracking_uri(sys.argv[1])
run = lt.start_run(run_name="doomed")
lt.log_metric("loss", 0.5)
print(run.info.run_id, flush=True)
while True:  # idle: only its heartbeats say it is alive, until kill -9
    time.sleep(0.05)
"""
HEARTBEAT_INTERVAL = 0.2
HEARTBEAT_TIMEOUT = 3.0  # fifteen heartbeats: a live process is never late by that much


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"not {what} within {timeout} s")


def last_heartbeat(db: Path, run_id: str) -> int | None:
    with contextlib.closing(sqlite3.connect(db)) as con:
        row = con.execute("SELECT last_heartbeat_time FROM runs WHERE run_uuid = ?", (run_id,))
        return row.fetchone()[0]


@contextlib.contextmanager
def doomed_process(tmp_path: Path, tracking_uri: str) -> Iterator[tuple[str, Callable[[], None]]]:
    """A process that starts a run and idles; yields its run id and how to kill -9 it."""
    script = tmp_path / "doomed.py"
    script.write_text(DOOMED)
    env = {
        **os.environ,
        "LABTRACK_CAPTURE_GIT": "false",
        "LABTRACK_HEARTBEAT_INTERVAL": str(HEARTBEAT_INTERVAL),
    }
    with subprocess.Popen(
        [sys.executable, str(script), tracking_uri], stdout=subprocess.PIPE, text=True, env=env
    ) as proc:
        assert proc.stdout is not None
        run_id = proc.stdout.readline().strip()

        def kill() -> None:
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(timeout=60) == -signal.SIGKILL

        try:
            yield run_id, kill
        finally:
            if proc.poll() is None:
                kill()


def alive_then_killed(
    tmp_path: Path, db: Path, tracking_uri: str, read: Callable[[str], Any]
) -> tuple[Any, int | None]:
    """The run of a process that is killed -9: RUNNING while the process lives (for longer
    than the timeout), then crashed; returns it and its last heartbeat."""
    with doomed_process(tmp_path, tracking_uri) as (run_id, kill):
        first = wait_until(lambda: last_heartbeat(db, run_id), "a first heartbeat")
        wait_until(
            lambda: last_heartbeat(db, run_id) - first > HEARTBEAT_TIMEOUT * 1000,
            "alive for longer than the timeout",
        )
        assert read(run_id).info.status == "RUNNING"
        kill()
    beat = last_heartbeat(db, run_id)
    run = wait_until(lambda: (r := read(run_id)).info.status != "RUNNING" and r, "marked")
    return run, beat
