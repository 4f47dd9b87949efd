"""What needs ``git`` subprocesses: the dirty state and ``git diff HEAD`` of a work tree, and
HEAD of a repository whose refs are reftable files.

The subprocesses are bounded in time (:data:`GIT_TIMEOUT_SECONDS`) and output, and their
results are cached per work tree, keyed by the HEAD commit and the stat of the index, for
:data:`GIT_STATE_TTL_SECONDS`; after a timeout git is not tried again in that work tree for
:data:`GIT_TIMEOUT_BACKOFF_SECONDS`.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from labtrack.tracking.context import _file_cache
from labtrack.tracking.context._git_files import Repo, is_oid

_logger = logging.getLogger(__name__)

# --- Tunables (read at call time, so callers and tests can change them) ---------------------
GIT_STATE_TTL_SECONDS = 2.0
"""How long a computed dirty state / diff is reused for an unchanged HEAD and index."""
GIT_TIMEOUT_SECONDS = 2.0
"""Time limit for one ``git`` subprocess."""
GIT_TIMEOUT_BACKOFF_SECONDS = 60.0
"""After a ``git`` subprocess timed out, how long to not try again for that work tree."""
MAX_DIFF_BYTES = 5 * 1024 * 1024
"""Largest diff kept; a longer one is cut at a line boundary and ends with a marker line."""

_clock: Callable[[], float] = time.monotonic  # decides cache expiry; replaced in tests
_clock_real = time.monotonic  # measures subprocess timeouts
_POSIX = os.name == "posix"


class _GitFailed(Exception):
    pass


class _GitTimeout(Exception):
    pass


@dataclass(frozen=True)
class _GitState:
    key: tuple[Any, ...]
    computed_at: float
    dirty: bool | None
    diff: str | None
    timed_out: bool


_git_state_lock = threading.Lock()
_git_state_cache: dict[str, _GitState] = {}
_reftable_head_cache: dict[str, tuple[Any, tuple[str | None, str | None]]] = {}


def read_head_reftable(repo: Repo) -> tuple[str | None, str | None]:
    key = (
        _file_cache.stat_signature(os.path.join(repo.commondir, "reftable", "tables.list")),
        _file_cache.stat_signature(os.path.join(repo.gitdir, "reftable", "tables.list")),
    )
    with _git_state_lock:
        hit = _reftable_head_cache.get(repo.worktree)
        if hit is not None and hit[0] == key:
            return hit[1]
    result: tuple[str | None, str | None] = (None, None)
    git_exe = shutil.which("git")
    if git_exe is not None:
        try:
            out, _ = _run_git(git_exe, repo.worktree, ["rev-parse", "--verify", "-q", "HEAD"], 200)
            commit = out.decode("ascii", "replace").strip()
            try:
                ref_out, _ = _run_git(git_exe, repo.worktree, ["symbolic-ref", "-q", "HEAD"], 4096)
                ref = ref_out.decode("utf-8", "replace").strip()
            except _GitFailed:  # detached HEAD
                ref = ""
            branch = ref[len("refs/heads/") :] if ref.startswith("refs/heads/") else None
            result = (commit if is_oid(commit) else None, branch)
        except (_GitFailed, _GitTimeout, OSError):
            _logger.debug("Reading HEAD of reftable repository %s failed", repo.worktree)
    with _git_state_lock:
        _reftable_head_cache[repo.worktree] = (key, result)
    return result


def git_state(repo: Repo, commit: str) -> tuple[bool | None, str | None]:
    """(dirty, diff) of the work tree, reused for an unchanged HEAD and index within the TTL."""
    key = (commit, _file_cache.stat_signature(os.path.join(repo.gitdir, "index")))
    now = _clock()
    with _git_state_lock:
        hit = _git_state_cache.get(repo.worktree)
        if hit is not None:
            age = now - hit.computed_at
            if hit.timed_out:  # git is too slow here: do not make every run wait for it
                if age < GIT_TIMEOUT_BACKOFF_SECONDS:
                    return hit.dirty, hit.diff
            elif hit.key == key and age < GIT_STATE_TTL_SECONDS:
                return hit.dirty, hit.diff
        try:
            dirty, diff, timed_out = _compute_git_state(repo.worktree)
        except Exception:  # keep commit and branch; remember the failure for the TTL
            _logger.debug("Reading the git state of %s failed", repo.worktree, exc_info=True)
            dirty, diff, timed_out = None, None, False
        _git_state_cache[repo.worktree] = _GitState(key, now, dirty, diff, timed_out)
        return dirty, diff


def _compute_git_state(worktree: str) -> tuple[bool | None, str | None, bool]:
    git_exe = shutil.which("git")
    if git_exe is None:
        _logger.debug("git is not on PATH; the dirty state of %s is unknown", worktree)
        return None, None, False
    # Untracked files do not make the tree dirty: like `git describe --dirty` and MLflow
    # (GitPython's is_dirty(untracked_files=False)), only changes to tracked files count.
    try:
        out, _ = _run_git(
            git_exe, worktree, ["status", "--porcelain", "--untracked-files=no"], limit=0
        )
    except _GitTimeout:
        _logger.debug("git status timed out in %s", worktree)
        return None, None, True
    except (_GitFailed, OSError):
        _logger.debug("git status failed in %s", worktree, exc_info=True)
        return None, None, False
    if not out:
        return False, None, False
    diff_args = [
        "diff",
        "HEAD",
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        "--src-prefix=a/",
        "--dst-prefix=b/",
    ]
    limit = MAX_DIFF_BYTES
    try:
        data, truncated = _run_git(git_exe, worktree, diff_args, limit=limit)
    except _GitTimeout:
        _logger.debug("git diff timed out in %s", worktree)
        return True, None, True
    except (_GitFailed, OSError):
        _logger.debug("git diff failed in %s", worktree, exc_info=True)
        return True, None, False
    if truncated:
        data = data[:limit]
        cut = data.rfind(b"\n")
        data = data[: cut + 1] if cut >= 0 else data + b"\n"
        marker = f"# labtrack: git diff truncated here; it is longer than {limit} bytes\n"
        return True, data.decode("utf-8", "replace") + marker, False
    return True, (data.decode("utf-8", "replace") or None), False


def _git_env() -> dict[str, str]:
    env = dict(os.environ)
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR"):
        env.pop(var, None)
    env["GIT_OPTIONAL_LOCKS"] = "0"  # do not refresh (rewrite) the index behind the user
    env["GIT_TERMINAL_PROMPT"] = "0"
    return env


def _run_git(git_exe: str, cwd: str, args: list[str], limit: int) -> tuple[bytes, bool]:
    """Run git and return (stdout, truncated), reading little more than ``limit`` bytes.

    When the output is longer than ``limit`` git is stopped and truncated is True. Raises
    _GitTimeout after GIT_TIMEOUT_SECONDS, _GitFailed on a non-zero exit, OSError if git
    cannot start.
    """
    timeout = GIT_TIMEOUT_SECONDS
    proc = subprocess.Popen(
        [git_exe, *args],
        cwd=cwd,
        env=_git_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=_POSIX,  # its own process group, so that helpers it starts die too
        creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),  # no console flash on Windows
    )
    chunks: list[bytes] = []
    truncated = False

    def read() -> None:
        nonlocal truncated
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        total = 0
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                return
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                truncated = True
                return

    started = _clock_real()
    reader = threading.Thread(target=read, name="labtrack-git-reader", daemon=True)
    try:
        reader.start()
        reader.join(timeout)
        if reader.is_alive():
            raise _GitTimeout()
        if truncated:
            return b"".join(chunks), True
        remaining = max(timeout - (_clock_real() - started), 0.01)
        try:
            returncode = proc.wait(remaining)
        except subprocess.TimeoutExpired:
            raise _GitTimeout() from None
        if returncode != 0:
            raise _GitFailed(f"git {args[0]} exited with {returncode}")
        return b"".join(chunks), False
    finally:
        if proc.poll() is None:
            _kill(proc)
        proc.wait()
        reader.join(0.5)
        if reader.is_alive():  # a process git started still holds the pipe open
            _kill(proc)
            reader.join(0.5)
        # If the reader is still blocked (it is a daemon thread), leave the pipe to it.
        if proc.stdout is not None and not reader.is_alive():
            proc.stdout.close()


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if _POSIX:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
            return
        except OSError:
            pass
    if proc.poll() is None:
        proc.kill()


def clear_cache() -> None:
    """Forget every work tree's dirty state and reftable HEAD."""
    with _git_state_lock:
        _git_state_cache.clear()
        _reftable_head_cache.clear()


def _reinit_lock_after_fork() -> None:
    global _git_state_lock
    _git_state_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_lock_after_fork)
