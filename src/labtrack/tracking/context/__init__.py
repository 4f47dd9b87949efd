"""Automatic run metadata: where a run came from.

:func:`collect_run_context` gathers the tags MLflow sets on a new run (entry
point, source type, user, git commit/branch/remote) plus a few labtrack extras
(git dirty state, the command line, the Python version), and two payloads the
caller stores as artifacts (the ``git diff HEAD`` of a dirty work tree and an
environment snapshot). It never raises: a group that cannot be determined is
left out.

It is called once per run, so it is built to be cheap after the first call in
a process (tens of microseconds):

* the environment snapshot is computed once per process (:mod:`._environment`);
* git commit, branch and remote are read straight from the ``.git`` directory
  (:mod:`._git_files`), parsed files being cached by their stat signature
  (:mod:`._file_cache`);
* the dirty state and diff need ``git`` subprocesses (:mod:`._git_state`), so they
  are cached per work tree, keyed by the HEAD commit and the stat of the index, for
  ``GIT_STATE_TTL_SECONDS``.

The source and notebook detection is in :mod:`._source`, the user in :mod:`._user`
(:func:`current_user`, also used for the user of registry changes).

Tag names and values follow MLflow (``mlflow/utils/mlflow_tags.py`` and
``mlflow/tracking/context/``), so tools that read MLflow runs keep working.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from labtrack._tags import (
    LABTRACK_COMMAND,
    LABTRACK_PYTHON_VERSION,
    MLFLOW_GIT_BRANCH,
    MLFLOW_GIT_COMMIT,
    MLFLOW_GIT_DIRTY,
    MLFLOW_GIT_REPO_URL,
    MLFLOW_SOURCE_NAME,
    MLFLOW_SOURCE_TYPE,
    MLFLOW_USER,
)
from labtrack.tracking.context import (
    _environment,
    _file_cache,
    _git_files,
    _git_state,
    _source,
    _user,
)
from labtrack.tracking.context._git_files import strip_url_credentials
from labtrack.tracking.context._user import current_user
from labtrack.validation import MAX_TAG_VAL_LENGTH

__all__ = [
    "LABTRACK_COMMAND",
    "LABTRACK_PYTHON_VERSION",
    "MLFLOW_GIT_BRANCH",
    "MLFLOW_GIT_COMMIT",
    "MLFLOW_GIT_DIRTY",
    "MLFLOW_GIT_REPO_URL",
    "MLFLOW_SOURCE_NAME",
    "MLFLOW_SOURCE_TYPE",
    "MLFLOW_USER",
    "RunContext",
    "clear_context_caches",
    "collect_run_context",
    "current_user",
    "strip_url_credentials",
]

_logger = logging.getLogger(__name__)

MAX_TAG_VALUE_LENGTH = MAX_TAG_VAL_LENGTH
"""MLflow's limit on a run tag value; longer values are cut (ending in ``...``)."""

_T = TypeVar("_T")


@dataclass(frozen=True)
class RunContext:
    """Metadata for a new run.

    Attributes:
        tags: Tags to set on the run at creation.
        git_diff: ``git diff HEAD`` of a dirty work tree (tracked files, staged and
            unstaged), for the caller to store as an artifact; None when clean, unknown or
            not in a git repository.
        environment: Text snapshot of the interpreter and installed distributions, for the
            caller to store as an artifact (it is a valid pip requirements file).
    """

    tags: dict[str, str]
    git_diff: str | None = field(default=None, repr=False)
    environment: str | None = field(default=None, repr=False)


def collect_run_context(
    *,
    source: bool = True,
    git: bool = True,
    user: bool = True,
    command: bool = True,
    environment: bool = True,
    source_path: str | None = None,
) -> RunContext:
    """Collect the metadata of a run starting now in this process. Never raises.

    Args:
        source: Set ``mlflow.source.name`` and ``mlflow.source.type``.
        git: Set the ``mlflow.source.git.*`` tags and return the diff of a dirty work tree.
            Only when the source file, or else the working directory, is inside a git work
            tree with at least one commit.
        user: Set ``mlflow.user``.
        command: Set ``labtrack.command`` and ``labtrack.python.version``.
        environment: Return the environment snapshot.
        source_path: The entry point to record instead of the one detected (the script,
            or the notebook for a path ending in ``.ipynb``); it is recorded as given and
            git information is looked up from it.
    """
    tags: dict[str, str] = {}
    git_diff: str | None = None
    env_text: str | None = None
    try:
        entry = _guarded(_source.resolve_entry_point, source_path) if (source or git) else None
        if source and entry is not None:
            tags[MLFLOW_SOURCE_NAME] = entry.name
            tags[MLFLOW_SOURCE_TYPE] = entry.source_type
        if user:
            name = _guarded(_user.current_user)
            if name:
                tags[MLFLOW_USER] = name
        if git and entry is not None:
            info = _guarded(_collect_git, entry.path)
            if info is not None:
                tags.update(info[0])
                git_diff = info[1]
        if command:
            line = _guarded(_source.command_line)
            if line:
                tags[LABTRACK_COMMAND] = line
            tags[LABTRACK_PYTHON_VERSION] = platform.python_version()
        if environment:
            env_text = _guarded(_environment.environment_snapshot)
        tags = {key: _truncate(value) for key, value in tags.items() if isinstance(value, str)}
    except Exception:
        _logger.debug("Collecting the run context failed", exc_info=True)
    return RunContext(tags=tags, git_diff=git_diff, environment=env_text)


def clear_context_caches() -> None:
    """Forget everything cached (environment, notebook name, git state, parsed files)."""
    _environment.clear_cache()
    _source.clear_cache()
    _git_state.clear_cache()
    _user.clear_cache()
    _file_cache.clear()


def _guarded(func: Callable[..., _T], *args: Any) -> _T | None:
    try:
        return func(*args)
    except Exception:
        _logger.debug("Run context: %s failed", func.__name__, exc_info=True)
        return None


def _truncate(value: str, limit: int | None = None) -> str:
    limit = MAX_TAG_VALUE_LENGTH if limit is None else limit
    if len(value) <= limit:
        return value
    return value[: max(limit - 3, 0)] + "..."


def _collect_git(entry_path: str | None) -> tuple[dict[str, str], str | None] | None:
    repo = _git_files.find_repo_for(entry_path)
    if repo is None:
        return None
    if _git_files.uses_reftable(repo):
        commit, branch = _git_state.read_head_reftable(repo)
    else:
        commit, branch = _git_files.read_head(repo)
    if commit is None:  # as MLflow: no commit (e.g. an empty repository), no git tags
        return None
    tags = {MLFLOW_GIT_COMMIT: commit}
    if branch:
        tags[MLFLOW_GIT_BRANCH] = branch
    url = _guarded(_git_files.remote_url, repo)
    if url:
        tags[MLFLOW_GIT_REPO_URL] = url
    dirty, diff = _git_state.git_state(repo, commit)
    if dirty is not None:
        tags[MLFLOW_GIT_DIRTY] = "true" if dirty else "false"
    return tags, diff
