"""Tests for labtrack.tracking.context: the metadata recorded when a run starts."""

from __future__ import annotations

import http.server
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labtrack.tracking import context
from labtrack.tracking.context import (
    LABTRACK_COMMAND,
    LABTRACK_PYTHON_VERSION,
    MLFLOW_GIT_BRANCH,
    MLFLOW_GIT_COMMIT,
    MLFLOW_GIT_DIRTY,
    MLFLOW_GIT_REPO_URL,
    MLFLOW_SOURCE_NAME,
    MLFLOW_SOURCE_TYPE,
    MLFLOW_USER,
    RunContext,
    _environment,
    _git_files,
    _git_state,
    _user,
    collect_run_context,
    strip_url_credentials,
)

GIT_TAGS = (MLFLOW_GIT_COMMIT, MLFLOW_GIT_BRANCH, MLFLOW_GIT_REPO_URL, MLFLOW_GIT_DIRTY)
HAVE_GIT = shutil.which("git") is not None
needs_git = pytest.mark.skipif(not HAVE_GIT, reason="the git CLI is not installed")


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=30
    )
    return done.stdout.strip()


def git_tags(ctx: RunContext) -> dict[str, str]:
    return {k: v for k, v in ctx.tags.items() if k.startswith("mlflow.source.git.")}


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Fresh caches; the process looks like `python <tmp>/outside/main.py` run outside git."""
    context.clear_context_caches()
    for var in (
        "MLFLOW_TRACKING_USERNAME",
        "__vsc_ipynb_file__",
        "IPYNB_FILE",
        "JPY_SESSION_NAME",
        "JUPYTER_RUNTIME_DIR",
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.mlflow/credentials
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "main.py").write_text("pass\n")
    monkeypatch.chdir(outside)
    monkeypatch.setattr(sys, "argv", [str(outside / "main.py")])
    yield outside
    context.clear_context_caches()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    if not HAVE_GIT:
        pytest.skip("the git CLI is not installed")
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Test User")
    git(root, "config", "user.email", "test@example.com")
    (root / "train.py").write_text("print('train')\n")
    (root / "data.txt").write_text("one\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "initial")
    return root


def collect(where: Path, /, **flags: Any) -> RunContext:
    """Collect with `where/train.py` as the entry point (environment off unless asked)."""
    flags.setdefault("environment", False)
    return collect_run_context(source_path=str(where / "train.py"), **flags)


# --- git: commit, branch, remote -----------------------------------------------------------


def test_clean_repository(repo: Path) -> None:
    ctx = collect(repo)
    assert git_tags(ctx) == {
        MLFLOW_GIT_COMMIT: git(repo, "rev-parse", "HEAD"),
        MLFLOW_GIT_BRANCH: "main",
        MLFLOW_GIT_DIRTY: "false",
    }
    assert ctx.git_diff is None


def test_modified_tracked_file_is_dirty_and_diff_is_not_a_tag(repo: Path) -> None:
    (repo / "train.py").write_text("print('changed')\n")
    ctx = collect(repo)
    assert ctx.tags[MLFLOW_GIT_DIRTY] == "true"
    assert ctx.git_diff is not None
    assert "diff --git a/train.py b/train.py" in ctx.git_diff
    assert "+print('changed')" in ctx.git_diff
    assert "mlflow.source.git.diff" not in ctx.tags
    assert all(len(v) <= 8000 for v in ctx.tags.values())


def test_staged_change_is_dirty_and_in_diff(repo: Path) -> None:
    (repo / "data.txt").write_text("two\n")
    git(repo, "add", "data.txt")
    ctx = collect(repo)
    assert ctx.tags[MLFLOW_GIT_DIRTY] == "true"
    assert ctx.git_diff is not None
    assert "+two" in ctx.git_diff


def test_untracked_file_does_not_make_the_tree_dirty(repo: Path) -> None:
    # As `git describe --dirty` and MLflow (GitPython is_dirty(untracked_files=False)).
    (repo / "notes.txt").write_text("scratch\n")
    ctx = collect(repo)
    assert ctx.tags[MLFLOW_GIT_DIRTY] == "false"
    assert ctx.git_diff is None


def test_branch_name_with_slash(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature/faster-loader")
    assert collect(repo).tags[MLFLOW_GIT_BRANCH] == "feature/faster-loader"


def test_detached_head_has_commit_but_no_branch(repo: Path) -> None:
    (repo / "data.txt").write_text("two\n")
    git(repo, "commit", "-q", "-am", "second")
    first = git(repo, "rev-parse", "HEAD~1")
    git(repo, "checkout", "-q", "--detach", first)
    ctx = collect(repo)
    assert ctx.tags[MLFLOW_GIT_COMMIT] == first
    assert MLFLOW_GIT_BRANCH not in ctx.tags
    assert ctx.tags[MLFLOW_GIT_DIRTY] == "false"


def test_packed_refs(repo: Path) -> None:
    git(repo, "pack-refs", "--all")
    assert not (repo / ".git" / "refs" / "heads" / "main").exists()
    head = git(repo, "rev-parse", "HEAD")
    ctx = collect(repo)
    assert ctx.tags[MLFLOW_GIT_COMMIT] == head
    assert ctx.tags[MLFLOW_GIT_BRANCH] == "main"
    # A new commit writes a loose ref, which wins over the stale packed one.
    (repo / "data.txt").write_text("two\n")
    git(repo, "commit", "-q", "-am", "second")
    assert collect(repo).tags[MLFLOW_GIT_COMMIT] == git(repo, "rev-parse", "HEAD")


def test_remote_url_has_credentials_stripped(repo: Path) -> None:
    git(repo, "remote", "add", "origin", "https://user:s3cret@git.example.com/team/proj.git")
    ctx = collect(repo)
    assert ctx.tags[MLFLOW_GIT_REPO_URL] == "https://git.example.com/team/proj.git"
    assert "s3cret" not in json.dumps(ctx.tags)


def test_origin_is_preferred_else_first_remote(repo: Path) -> None:
    git(repo, "remote", "add", "upstream", "git@github.com:up/proj.git")
    assert collect(repo).tags[MLFLOW_GIT_REPO_URL] == "git@github.com:up/proj.git"
    git(repo, "remote", "add", "origin", "ssh://git@github.com/me/proj.git")
    assert collect(repo).tags[MLFLOW_GIT_REPO_URL] == "ssh://github.com/me/proj.git"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:token@host/x.git", "https://host/x.git"),
        ("https://token@host:8443/x.git?a=b#c", "https://host:8443/x.git?a=b#c"),
        ("http://a:b@c@host/x", "http://host/x"),
        ("ssh://git@host/x.git", "ssh://host/x.git"),
        ("https://host/path/with@sign.git", "https://host/path/with@sign.git"),
        ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
        ("/srv/git/repo.git", "/srv/git/repo.git"),
        ("file:///srv/git/repo.git", "file:///srv/git/repo.git"),
    ],
)
def test_strip_url_credentials(url: str, expected: str) -> None:
    assert strip_url_credentials(url) == expected


def test_git_config_parsing() -> None:
    text = (
        "[core]\n"
        "\tbare = false\n"
        '[remote "upstream"]\n'
        '\turl = "https://example.com/up.git" ; a comment\n'
        '[Remote "origin"] url = git@github.com:Org/Repo.git # comment\n'
        "\turl = https://example.com/second-url-is-ignored.git\n"
        "\tfetch = +refs/heads/*:refs/remotes/origin/*\n"
        "[remote.Legacy]\n"
        "\turl = https://example.com/legacy.git\n"
        '[remote "with space"]\n'
        "\turl = https://example.com/long\\\n"
        "-name.git\n"
        "\tprune\n"
    )
    assert _git_files._parse_remote_urls(text) == {
        "upstream": "https://example.com/up.git",
        "origin": "git@github.com:Org/Repo.git",
        "legacy": "https://example.com/legacy.git",
        "with space": "https://example.com/long-name.git",
    }


def test_linked_worktree(repo: Path, tmp_path: Path) -> None:
    git(repo, "remote", "add", "origin", "https://tok@example.com/proj.git")
    worktree = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "-b", "experiment", str(worktree))
    assert (worktree / ".git").is_file()
    ctx = collect(worktree)
    assert git_tags(ctx) == {
        MLFLOW_GIT_COMMIT: git(repo, "rev-parse", "HEAD"),
        MLFLOW_GIT_BRANCH: "experiment",
        MLFLOW_GIT_REPO_URL: "https://example.com/proj.git",
        MLFLOW_GIT_DIRTY: "false",
    }
    (worktree / "train.py").write_text("print('worktree change')\n")
    (worktree / "data.txt").write_text("two\n")
    git(worktree, "commit", "-q", "-m", "on experiment", "data.txt")
    ctx = collect(worktree)
    assert ctx.tags[MLFLOW_GIT_COMMIT] == git(worktree, "rev-parse", "HEAD")
    assert ctx.tags[MLFLOW_GIT_DIRTY] == "true"
    assert ctx.git_diff is not None
    assert "worktree change" in ctx.git_diff
    # The main work tree is unaffected.
    main = collect(repo)
    assert main.tags[MLFLOW_GIT_BRANCH] == "main"
    assert main.tags[MLFLOW_GIT_DIRTY] == "false"


def test_git_dir_elsewhere_via_gitdir_file(repo: Path, tmp_path: Path) -> None:
    # A .git *file* with a relative path, as submodules have.
    (repo / ".git").rename(tmp_path / "store.git")
    (repo / ".git").write_text("gitdir: ../store.git\n")
    ctx = collect(repo)
    assert ctx.tags[MLFLOW_GIT_COMMIT] == git(repo, "rev-parse", "HEAD")
    assert ctx.tags[MLFLOW_GIT_BRANCH] == "main"
    assert ctx.tags[MLFLOW_GIT_DIRTY] == "false"


def test_source_in_a_subdirectory(repo: Path) -> None:
    sub = repo / "src" / "pkg"
    sub.mkdir(parents=True)
    (sub / "train.py").write_text("pass\n")
    ctx = collect(sub)
    assert ctx.tags[MLFLOW_GIT_BRANCH] == "main"
    assert ctx.tags[MLFLOW_GIT_DIRTY] == "false"  # the new file is untracked


def test_repository_without_commits_has_no_git_tags(tmp_path: Path) -> None:
    if not HAVE_GIT:
        pytest.skip("the git CLI is not installed")
    root = tmp_path / "empty"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "train.py").write_text("pass\n")
    ctx = collect(root)
    assert git_tags(ctx) == {}
    assert ctx.git_diff is None


def test_no_repository_no_git_tags(isolated: Path) -> None:
    ctx = collect_run_context(environment=False)
    assert git_tags(ctx) == {}
    assert ctx.git_diff is None
    assert ctx.tags[MLFLOW_SOURCE_NAME] == str(isolated / "main.py")


@needs_git
def test_git_missing_from_path(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / "train.py").write_text("print('changed')\n")
    monkeypatch.setenv("PATH", "")
    ctx = collect(repo)
    assert ctx.tags[MLFLOW_GIT_COMMIT]
    assert ctx.tags[MLFLOW_GIT_BRANCH] == "main"
    assert MLFLOW_GIT_DIRTY not in ctx.tags
    assert ctx.git_diff is None


@pytest.mark.skipif(os.name != "posix", reason="uses a shell script as a fake git")
def test_slow_git_times_out_and_is_not_retried_at_once(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    fake = bin_dir / "git"
    sleep = shutil.which("sleep") or "/bin/sleep"
    fake.write_text(f'#!/bin/sh\necho "$@" >> "{log}"\nexec {sleep} 30\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr(_git_state, "GIT_TIMEOUT_SECONDS", 0.2)
    started = time.monotonic()
    ctx = collect(repo)
    assert time.monotonic() - started < 10  # killed after the timeout, not after 30 s
    assert ctx.tags[MLFLOW_GIT_BRANCH] == "main"
    assert MLFLOW_GIT_DIRTY not in ctx.tags
    assert ctx.git_diff is None
    collect(repo)  # within the back-off: git is not run again
    assert len(log.read_text().splitlines()) == 1
    monkeypatch.setattr(_git_state, "GIT_TIMEOUT_BACKOFF_SECONDS", 0.0)
    collect(repo)
    assert len(log.read_text().splitlines()) == 2


@needs_git
def test_failing_to_start_git_is_silent(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise OSError("cannot run")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    ctx = collect(repo)
    assert ctx.tags[MLFLOW_GIT_BRANCH] == "main"
    assert MLFLOW_GIT_DIRTY not in ctx.tags


# --- git: the dirty-state cache ------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(_git_state, "_clock", fake)
    monkeypatch.setattr(_git_state, "GIT_STATE_TTL_SECONDS", 2.0)
    return fake


def test_dirty_state_is_reused_within_ttl_and_refreshed_after(repo: Path, clock: FakeClock) -> None:
    assert collect(repo).tags[MLFLOW_GIT_DIRTY] == "false"
    (repo / "train.py").write_text("print('edited in a notebook')\n")  # index untouched
    clock.now += 1.0
    assert collect(repo).tags[MLFLOW_GIT_DIRTY] == "false"  # cached
    clock.now += 1.5
    ctx = collect(repo)
    assert ctx.tags[MLFLOW_GIT_DIRTY] == "true"
    assert ctx.git_diff is not None
    assert "edited in a notebook" in ctx.git_diff


def test_index_or_head_change_invalidates_the_cache_at_once(repo: Path, clock: FakeClock) -> None:
    assert collect(repo).tags[MLFLOW_GIT_DIRTY] == "false"
    (repo / "data.txt").write_text("two\n")
    git(repo, "add", "data.txt")  # rewrites the index
    assert collect(repo).tags[MLFLOW_GIT_DIRTY] == "true"
    git(repo, "commit", "-q", "-m", "second")  # moves HEAD
    ctx = collect(repo)
    assert ctx.tags[MLFLOW_GIT_COMMIT] == git(repo, "rev-parse", "HEAD")
    assert ctx.tags[MLFLOW_GIT_DIRTY] == "false"


def test_small_real_ttl(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_git_state, "GIT_STATE_TTL_SECONDS", 0.05)
    assert collect(repo).tags[MLFLOW_GIT_DIRTY] == "false"
    (repo / "train.py").write_text("print('changed')\n")
    time.sleep(0.1)
    assert collect(repo).tags[MLFLOW_GIT_DIRTY] == "true"


def test_git_runs_at_most_once_per_ttl(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / "train.py").write_text("print('changed')\n")
    calls: list[str] = []
    real_run_git = _git_state._run_git

    def counting(git_exe: str, cwd: str, args: list[str], limit: int) -> tuple[bytes, bool]:
        calls.append(args[0])
        return real_run_git(git_exe, cwd, args, limit)

    monkeypatch.setattr(_git_state, "_run_git", counting)
    monkeypatch.setattr(_git_state, "GIT_STATE_TTL_SECONDS", 3600.0)
    first = collect(repo)
    assert calls == ["status", "diff"]
    for _ in range(200):
        again = collect(repo)
    assert calls == ["status", "diff"]
    assert again.git_diff == first.git_diff


def test_large_diff_is_truncated_with_a_marker(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_git_state, "MAX_DIFF_BYTES", 2000)
    (repo / "data.txt").write_text("".join(f"line {i}\n" for i in range(5000)))
    diff = collect(repo).git_diff
    assert diff is not None
    body, marker = diff[:-1].rsplit("\n", 1)
    assert marker == "# labtrack: git diff truncated here; it is longer than 2000 bytes"
    assert len(body.encode()) <= 2000
    assert body.startswith("diff --git a/data.txt b/data.txt")
    assert re.fullmatch(r"\+line \d+", body.splitlines()[-1])  # cut at a line boundary


def test_reftable_repository_asks_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "rt"
    (root / ".git" / "reftable").mkdir(parents=True)
    (root / ".git" / "HEAD").write_text("ref: refs/heads/.invalid\n")
    (root / ".git" / "reftable" / "tables.list").write_text("0x01.ref\n")
    (root / "train.py").write_text("pass\n")
    calls: list[str] = []

    def fake_run_git(git_exe: str, cwd: str, args: list[str], limit: int) -> tuple[bytes, bool]:
        calls.append(args[0])
        outputs = {
            "rev-parse": b"ab" * 20 + b"\n",
            "symbolic-ref": b"refs/heads/trunk\n",
            "status": b"",
        }
        return outputs[args[0]], False

    monkeypatch.setattr(_git_state, "_run_git", fake_run_git)
    monkeypatch.setattr(_git_state.shutil, "which", lambda name: "/usr/bin/git")
    ctx = collect(root)
    assert git_tags(ctx) == {
        MLFLOW_GIT_COMMIT: "ab" * 20,
        MLFLOW_GIT_BRANCH: "trunk",
        MLFLOW_GIT_DIRTY: "false",
    }
    collect(root)
    assert calls.count("rev-parse") == 1  # cached while the tables are unchanged


# --- source name and type ------------------------------------------------------------------


def test_script_name_is_argv0_as_given(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    monkeypatch.setattr(sys, "argv", ["train.py", "--lr", "0.1"])
    ctx = collect_run_context(environment=False)
    assert ctx.tags[MLFLOW_SOURCE_NAME] == "train.py"
    assert ctx.tags[MLFLOW_SOURCE_TYPE] == "LOCAL"
    assert ctx.tags[MLFLOW_GIT_BRANCH] == "main"


def test_git_is_found_from_the_script_not_only_the_cwd(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", [str(repo / "train.py")])  # cwd is outside any repo
    ctx = collect_run_context(environment=False)
    assert ctx.tags[MLFLOW_SOURCE_NAME] == str(repo / "train.py")
    assert ctx.tags[MLFLOW_GIT_COMMIT] == git(repo, "rev-parse", "HEAD")


def test_python_dash_c_uses_cwd_for_git(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["-c"])
    monkeypatch.delattr(sys.modules["__main__"], "__file__", raising=False)
    ctx = collect_run_context(environment=False)
    assert ctx.tags[MLFLOW_SOURCE_NAME] == "-c"
    assert git_tags(ctx) == {}
    monkeypatch.chdir(repo)
    ctx = collect_run_context(environment=False)
    assert ctx.tags[MLFLOW_SOURCE_NAME] == "-c"
    assert ctx.tags[MLFLOW_SOURCE_TYPE] == "LOCAL"
    assert ctx.tags[MLFLOW_GIT_BRANCH] == "main"


@pytest.mark.parametrize("argv", [[""], []])
def test_interactive_interpreter_is_console(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", argv)
    monkeypatch.delattr(sys.modules["__main__"], "__file__", raising=False)
    ctx = collect_run_context(environment=False)
    assert ctx.tags[MLFLOW_SOURCE_NAME] == "<console>"
    assert ctx.tags[MLFLOW_SOURCE_TYPE] == "LOCAL"
    assert ctx.tags[LABTRACK_COMMAND] == shlex.quote(sys.executable)


def test_source_path_override(tmp_path: Path) -> None:
    ctx = collect_run_context(source_path="pipelines/train.py", environment=False)
    assert ctx.tags[MLFLOW_SOURCE_NAME] == "pipelines/train.py"
    assert ctx.tags[MLFLOW_SOURCE_TYPE] == "LOCAL"
    ctx = collect_run_context(source_path=str(tmp_path / "eda.ipynb"), environment=False)
    assert ctx.tags[MLFLOW_SOURCE_NAME] == str(tmp_path / "eda.ipynb")
    assert ctx.tags[MLFLOW_SOURCE_TYPE] == "NOTEBOOK"


class ZMQInteractiveShell:  # the class name is what marks a Jupyter kernel's shell
    def __init__(self, user_ns: dict[str, Any] | None = None) -> None:
        self.user_ns = user_ns or {}


class TerminalInteractiveShell:
    user_ns: dict[str, Any] = {}


def install_ipython(monkeypatch: pytest.MonkeyPatch, shell: object) -> None:
    module = types.ModuleType("IPython")
    module.get_ipython = lambda: shell  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", module)


def test_vscode_notebook(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    notebook = repo / "analysis.ipynb"
    install_ipython(monkeypatch, ZMQInteractiveShell({"__vsc_ipynb_file__": str(notebook)}))
    ctx = collect_run_context(environment=False)
    assert ctx.tags[MLFLOW_SOURCE_NAME] == "analysis.ipynb"
    assert ctx.tags[MLFLOW_SOURCE_TYPE] == "NOTEBOOK"
    assert ctx.tags[MLFLOW_GIT_BRANCH] == "main"  # found from the notebook's folder


def test_notebook_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/me/work/explore.ipynb")
    install_ipython(monkeypatch, ZMQInteractiveShell())
    ctx = collect_run_context(environment=False)
    assert ctx.tags[MLFLOW_SOURCE_NAME] == "explore.ipynb"
    assert ctx.tags[MLFLOW_SOURCE_TYPE] == "NOTEBOOK"


def test_notebook_name_not_discoverable(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_ipython(monkeypatch, ZMQInteractiveShell())
    monkeypatch.chdir(repo)  # a kernel runs in the notebook's folder
    ctx = collect_run_context(environment=False)
    assert ctx.tags[MLFLOW_SOURCE_NAME] == "<notebook>"
    assert ctx.tags[MLFLOW_SOURCE_TYPE] == "NOTEBOOK"
    assert ctx.tags[MLFLOW_GIT_BRANCH] == "main"


def test_terminal_ipython_is_recorded_like_a_script(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_ipython(monkeypatch, TerminalInteractiveShell())
    ctx = collect_run_context(environment=False)
    assert ctx.tags[MLFLOW_SOURCE_NAME] == str(isolated / "main.py")
    assert ctx.tags[MLFLOW_SOURCE_TYPE] == "LOCAL"


def test_notebook_from_jupyter_server_sessions(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    requests: list[str | None] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.headers.get("Authorization"))
            sessions = [
                {"path": "other.ipynb", "kernel": {"id": "zzz"}},
                {"path": "nb/model.ipynb", "kernel": {"id": "abc-123"}},
            ]
            body = json.dumps(sessions).encode()
            ok = self.path == "/api/sessions" and requests[-1] == "token t0k"
            self.send_response(200 if ok else 403)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        runtime = tmp_path / "runtime"
        runtime.mkdir()
        info = {
            "url": f"http://127.0.0.1:{server.server_address[1]}/",
            "token": "t0k",
            "root_dir": str(repo),
        }
        (runtime / "jpserver-4242.json").write_text(json.dumps(info))
        monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
        ipykernel = types.ModuleType("ipykernel")
        ipykernel.get_connection_file = lambda: "/run/kernel-abc-123.json"  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "ipykernel", ipykernel)
        install_ipython(monkeypatch, ZMQInteractiveShell())
        ctx = collect_run_context(environment=False)
        assert ctx.tags[MLFLOW_SOURCE_NAME] == "model.ipynb"
        assert ctx.tags[MLFLOW_SOURCE_TYPE] == "NOTEBOOK"
        assert ctx.tags[MLFLOW_GIT_BRANCH] == "main"  # from <root_dir>/nb/
        collect_run_context(environment=False)
        assert requests == ["token t0k"]  # looked up once per process
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# --- user, command, environment ------------------------------------------------------------


def test_user_prefers_mlflow_tracking_username(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "svc-trainer")
    assert collect_run_context(environment=False).tags[MLFLOW_USER] == "svc-trainer"


def test_user_from_mlflow_credentials_file(tmp_path: Path) -> None:
    creds = tmp_path / "home" / ".mlflow" / "credentials"
    creds.parent.mkdir(parents=True)
    creds.write_text("[mlflow]\nmlflow_tracking_username = alice\n")
    assert collect_run_context(environment=False).tags[MLFLOW_USER] == "alice"


def test_user_is_login_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGNAME", "bob")
    assert collect_run_context(environment=False).tags[MLFLOW_USER] == "bob"
    monkeypatch.setenv("LOGNAME", "carol")
    assert collect_run_context(environment=False).tags[MLFLOW_USER] == "carol"


def test_user_falls_back_to_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail() -> str:
        raise OSError("no user")

    monkeypatch.setattr(_user.getpass, "getuser", fail)
    monkeypatch.setattr(_user.os, "getlogin", fail)
    assert collect_run_context(environment=False).tags[MLFLOW_USER] == "unknown"


def test_command_and_python_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["train.py", "--name", "two words", "--lr=0.1"])
    tags = collect_run_context(environment=False).tags
    expected = shlex.join([sys.executable, "train.py", "--name", "two words", "--lr=0.1"])
    assert tags[LABTRACK_COMMAND] == expected
    assert tags[LABTRACK_PYTHON_VERSION] == platform.python_version()


def test_long_command_is_truncated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["train.py", *[f"--flag{i}=x" for i in range(3000)]])
    command = collect_run_context(environment=False).tags[LABTRACK_COMMAND]
    assert len(command) == 8000
    assert command.endswith("...")


def test_environment_snapshot_is_computed_once() -> None:
    first = collect_run_context().environment
    assert first is not None
    lines = first.splitlines()
    assert f"# python_version: {platform.python_version()}" in lines
    assert f"# python_implementation: {platform.python_implementation()}" in lines
    assert f"# executable: {sys.executable}" in lines
    assert any(line.startswith("# platform: ") for line in lines)
    assert f"pytest=={pytest.__version__}" in lines
    packages = [line for line in lines if not line.startswith("#")]
    keys = [re.sub(r"[-_.]+", "-", line.split("==")[0]).lower() for line in packages]
    assert keys == sorted(keys)
    assert len(keys) == len(set(keys))
    assert all(re.fullmatch(r"[^=\s]+==\S+", line) for line in packages)
    assert collect_run_context().environment is first


# --- switches and robustness ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "dropped"),
    [
        ("source", {MLFLOW_SOURCE_NAME, MLFLOW_SOURCE_TYPE}),
        ("git", set(GIT_TAGS)),
        ("user", {MLFLOW_USER}),
        ("command", {LABTRACK_COMMAND, LABTRACK_PYTHON_VERSION}),
        ("environment", set()),
    ],
)
def test_each_flag_drops_its_group(repo: Path, flag: str, dropped: set[str]) -> None:
    git(repo, "remote", "add", "origin", "https://example.com/proj.git")
    (repo / "train.py").write_text("print('changed')\n")
    full = collect(repo, environment=True)
    assert set(GIT_TAGS) <= set(full.tags)
    assert full.git_diff is not None
    assert full.environment is not None
    ctx = collect(repo, **{"environment": True, flag: False})
    assert set(ctx.tags) == set(full.tags) - dropped
    assert (ctx.git_diff is None) == (flag == "git")
    assert (ctx.environment is None) == (flag == "environment")


def test_everything_off(repo: Path) -> None:
    (repo / "train.py").write_text("print('changed')\n")
    ctx = collect_run_context(source=False, git=False, user=False, command=False, environment=False)
    assert ctx == RunContext(tags={}, git_diff=None, environment=None)


@needs_git
def test_internal_failures_do_not_raise(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(_git_files, "read_head", boom)
    monkeypatch.setattr(_user, "current_user", boom)
    monkeypatch.setattr(_environment, "_installed_distributions", boom)
    ctx = collect(repo, environment=True)
    assert git_tags(ctx) == {}
    assert MLFLOW_USER not in ctx.tags
    assert ctx.tags[MLFLOW_SOURCE_NAME] == str(repo / "train.py")
    assert ctx.tags[LABTRACK_COMMAND]
    assert ctx.environment is not None
    assert "# unavailable: RuntimeError" in ctx.environment


@needs_git
def test_git_state_failure_keeps_commit_and_branch(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state_calls: list[str] = []

    def broken_state(worktree: str) -> Any:
        state_calls.append(worktree)
        raise RuntimeError("boom")

    def broken_remote(repo: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(_git_state, "_compute_git_state", broken_state)
    monkeypatch.setattr(_git_files, "remote_url", broken_remote)
    ctx = collect(repo)
    assert git_tags(ctx) == {
        MLFLOW_GIT_COMMIT: git(repo, "rev-parse", "HEAD"),
        MLFLOW_GIT_BRANCH: "main",
    }
    collect(repo)
    assert state_calls == [str(repo)]  # the failure is remembered for the TTL too


def test_run_context_repr_leaves_out_payloads() -> None:
    ctx = RunContext(tags={"a": "b"}, git_diff="x" * 100, environment="y" * 100)
    assert "xxx" not in repr(ctx)
    assert "yyy" not in repr(ctx)
