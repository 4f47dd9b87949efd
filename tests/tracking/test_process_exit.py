"""Runs left open when a process ends are ended with the right status, and their data kept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from doomed import HEARTBEAT_TIMEOUT, alive_then_killed
from labtrack.store.sql.store import SqlStore

PRELUDE = """
import sys, time
import labtrack as lt
lt.set_tracking_uri(sys.argv[1])
run = lt.start_run()
print(run.info.run_id, flush=True)
for i in range(5000):
    lt.log_metric("m", float(i), step=i)
"""


def run_script(tmp_path: Path, body: str) -> tuple[subprocess.CompletedProcess[str], str, str]:
    uri = f"sqlite:///{tmp_path / 'exit.db'}"
    script = tmp_path / "train.py"
    script.write_text(PRELUDE + textwrap.dedent(body))
    proc = subprocess.run(
        [sys.executable, str(script), uri],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "LABTRACK_CAPTURE_GIT": "false"},
    )
    return proc, uri, proc.stdout.split()[0]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("", "FINISHED", 0),
        ("sys.exit(0)", "FINISHED", 0),
        ("raise RuntimeError('training diverged')", "FAILED", 1),
        ("sys.exit(3)", "FINISHED", 3),
        ("raise KeyboardInterrupt", "KILLED", -signal.SIGINT),
    ],
)
def test_exit_with_a_run_open(tmp_path: Path, body: str, status: str, code: int) -> None:
    proc, uri, run_id = run_script(tmp_path, body)
    assert proc.returncode == code, proc.stderr
    run = SqlStore(uri, "file:///unused").get_run(run_id)
    assert run.info.status == status
    assert run.info.end_time is not None
    assert run.data.metric_summaries["m"].count == 5000


def test_sigterm_ends_the_run_killed(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'exit.db'}"
    script = tmp_path / "train.py"
    script.write_text(PRELUDE + "print('ready', flush=True)\ntime.sleep(60)\n")
    with subprocess.Popen(
        [sys.executable, str(script), uri],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "LABTRACK_CAPTURE_GIT": "false"},
    ) as proc:
        assert proc.stdout is not None
        run_id = proc.stdout.readline().strip()
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    run = SqlStore(uri, "file:///unused").get_run(run_id)
    assert run.info.status == "KILLED"
    assert run.data.metric_summaries["m"].count == 5000


WRITER = """
import sys
import labtrack as lt
lt.set_tracking_uri(sys.argv[1])
with lt.start_run(run_name=f"writer-{sys.argv[2]}"):
    lt.log_params({"worker": sys.argv[2], "points": sys.argv[3]})
    for i in range(int(sys.argv[3])):
        lt.log_metric("loss", 1.0 / (i + 1), step=i)
        if i % 500 == 0:
            lt.flush()
"""


def test_eight_processes_share_one_sqlite_file(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'shared.db'}"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    points = 3000
    env = {**os.environ, "LABTRACK_CAPTURE_GIT": "false"}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), uri, str(n), str(points)],
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for n in range(8)
    ]
    deadline = time.monotonic() + 180
    for proc in procs:
        _, err = proc.communicate(timeout=max(1, deadline - time.monotonic()))
        assert proc.returncode == 0, err
        assert "locked" not in err
    store = SqlStore(uri, "file:///unused")
    runs = store.search_runs(["0"], None, 1, 100, None, None)
    assert len(runs) == 8
    for run in runs:
        assert run.info.status == "FINISHED"
        assert store.count_metric_points(run.info.run_id) == points
        assert run.data.metric_summaries["loss"].count == points


def test_a_run_from_a_dirty_git_tree_keeps_its_diff(tmp_path: Path) -> None:
    """The script's repository is recorded: commit, branch, dirty flag, and the diff."""
    repo = tmp_path / "project"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    (repo / "train.py").write_text(
        "import sys\nimport labtrack as lt\nlt.set_tracking_uri(sys.argv[1])\n"
        "with lt.start_run() as run:\n    print(run.info.run_id)\n"
    )
    subprocess.run([*git, "add", "train.py"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "first"], check=True)
    commit = subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    with (repo / "train.py").open("a") as f:
        f.write("# tuning alpha\n")
    uri = f"sqlite:///{tmp_path / 'git.db'}"
    proc = subprocess.run(
        [sys.executable, str(repo / "train.py"), uri],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "LABTRACK_CAPTURE_GIT": "true"},
    )
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.split()[0]
    store = SqlStore(uri, "file:///unused")
    tags = store.get_run(run_id).data.tags
    assert tags["mlflow.source.git.commit"] == commit
    assert tags["mlflow.source.git.branch"] == "main"
    assert tags["mlflow.source.git.dirty"] == "true"
    assert tags["mlflow.source.name"].endswith("train.py")
    from labtrack.artifacts import get_artifact_repository

    repo_artifacts = get_artifact_repository(store.get_run(run_id).info.artifact_uri)
    with repo_artifacts.open("labtrack/git.diff") as f:
        diff = f.read().decode()
    assert "+# tuning alpha" in diff


# -- a process that dies without ending its run (kill -9) ----------------------------------
def test_a_killed_process_leaves_its_run_crashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Embedded: the process that reads the database marks the run."""
    monkeypatch.setenv("LABTRACK_HEARTBEAT_TIMEOUT", str(HEARTBEAT_TIMEOUT))
    db = tmp_path / "crash.db"
    uri = f"sqlite:///{db}"
    store = SqlStore(uri, "file:///unused")
    run, beat = alive_then_killed(tmp_path, db, uri, store.get_run)
    assert (run.info.status, run.data.tags["labtrack.crashed"]) == ("KILLED", "true")
    assert run.info.end_time == beat  # it ended when it was last heard of
    assert run.data.metrics["loss"] == 0.5
    found = store.search_runs(["0"], "tags.`labtrack.crashed` = 'true'", 1, 10, None, None)
    assert [r.info.run_id for r in found] == [run.info.run_id]


def test_a_killed_process_leaves_its_run_crashed_on_a_server(tmp_path: Path) -> None:
    """Through a server of two worker processes (either marks the run), whose heartbeat
    timeout is the server's setting."""
    from labtrack.tracking.client import TrackingClient
    from livesrv import serve_in_process

    db = tmp_path / "server.db"
    with serve_in_process(
        f"sqlite:///{db}",
        tmp_path / "artifacts",
        workers=2,
        extra_env={"LABTRACK_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT)},
    ) as url:
        client = TrackingClient(url)
        # A run made by a client that sends no heartbeats, as MLflow's clients are.
        quiet = client.create_run("0", run_name="quiet")
        run, beat = alive_then_killed(tmp_path, db, url, client.get_run)
        assert run.crashed
        assert run.info.end_time == beat
        started = quiet.info.start_time
        assert started is not None
        assert time.time() * 1000 - started > 2 * HEARTBEAT_TIMEOUT * 1000
        assert client.get_run(quiet.info.run_id).info.status == "RUNNING"  # never marked
        listed = client.search_runs(["0"], "attributes.status = 'KILLED'")
        assert [r.info.run_id for r in listed] == [run.info.run_id]
