"""Automatic run metadata: where a run came from.

:func:`collect_run_context` gathers the tags MLflow sets on a new run (entry
point, source type, user, git commit/branch/remote) plus a few labtrack extras
(git dirty state, the command line, the Python version), and two payloads the
caller stores as artifacts (the ``git diff HEAD`` of a dirty work tree and an
environment snapshot). It never raises: a group that cannot be determined is
left out.

It is called once per run, so it is built to be cheap after the first call in
a process (tens of microseconds):

* the environment snapshot is computed once per process;
* git commit, branch and remote are read straight from the ``.git`` directory,
  parsed files being cached by their stat signature;
* the dirty state and diff need ``git`` subprocesses, so they are cached per
  work tree, keyed by the HEAD commit and the stat of the index, for
  :data:`GIT_STATE_TTL_SECONDS`.

Tag names and values follow MLflow (``mlflow/utils/mlflow_tags.py`` and
``mlflow/tracking/context/``), so tools that read MLflow runs keep working.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import platform
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

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
    "strip_url_credentials",
]

_logger = logging.getLogger(__name__)

# --- Tag names (MLflow's exact spelling) ---------------------------------------------------
MLFLOW_USER = "mlflow.user"
MLFLOW_SOURCE_NAME = "mlflow.source.name"
MLFLOW_SOURCE_TYPE = "mlflow.source.type"
MLFLOW_GIT_COMMIT = "mlflow.source.git.commit"
MLFLOW_GIT_BRANCH = "mlflow.source.git.branch"
MLFLOW_GIT_REPO_URL = "mlflow.source.git.repoURL"
MLFLOW_GIT_DIRTY = "mlflow.source.git.dirty"
LABTRACK_COMMAND = "labtrack.command"
LABTRACK_PYTHON_VERSION = "labtrack.python.version"

# Values of mlflow.source.type (MLflow's SourceType names).
SOURCE_TYPE_LOCAL = "LOCAL"
SOURCE_TYPE_NOTEBOOK = "NOTEBOOK"

# Source names when there is no script file, as MLflow records them (``<console>``), or when
# a notebook's file name cannot be discovered (labtrack's choice).
CONSOLE_SOURCE_NAME = "<console>"
NOTEBOOK_SOURCE_NAME = "<notebook>"

# mlflow.user when no name can be found (MLflow's default).
UNKNOWN_USER = "unknown"

# --- Tunables (read at call time, so callers and tests can change them) ---------------------
GIT_STATE_TTL_SECONDS = 2.0
"""How long a computed dirty state / diff is reused for an unchanged HEAD and index."""
GIT_TIMEOUT_SECONDS = 2.0
"""Time limit for one ``git`` subprocess."""
GIT_TIMEOUT_BACKOFF_SECONDS = 60.0
"""After a ``git`` subprocess timed out, how long to not try again for that work tree."""
MAX_DIFF_BYTES = 5 * 1024 * 1024
"""Largest diff kept; a longer one is cut at a line boundary and ends with a marker line."""
MAX_TAG_VALUE_LENGTH = 8000
"""MLflow's limit on a run tag value; longer values are cut (ending in ``...``)."""

_clock: Callable[[], float] = time.monotonic  # decides cache expiry; replaced in tests
_clock_real = time.monotonic  # measures subprocess timeouts

_MLFLOW_CREDENTIALS_FILE = os.path.join("~", ".mlflow", "credentials")
_OID_RE = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
_PER_WORKTREE_REF_PREFIXES = ("refs/worktree/", "refs/bisect/", "refs/rewritten/")
_T = TypeVar("_T")
_POSIX = os.name == "posix"


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
        entry = _guarded(_resolve_entry_point, source_path) if (source or git) else None
        if source and entry is not None:
            tags[MLFLOW_SOURCE_NAME] = entry.name
            tags[MLFLOW_SOURCE_TYPE] = entry.source_type
        if user:
            name = _guarded(_get_user)
            if name:
                tags[MLFLOW_USER] = name
        if git and entry is not None:
            info = _guarded(_collect_git, entry.path)
            if info is not None:
                tags.update(info[0])
                git_diff = info[1]
        if command:
            line = _guarded(_command_line)
            if line:
                tags[LABTRACK_COMMAND] = line
            tags[LABTRACK_PYTHON_VERSION] = platform.python_version()
        if environment:
            env_text = _guarded(_environment_snapshot)
        tags = {key: _truncate(value) for key, value in tags.items() if isinstance(value, str)}
    except Exception:
        _logger.debug("Collecting the run context failed", exc_info=True)
    return RunContext(tags=tags, git_diff=git_diff, environment=env_text)


def clear_context_caches() -> None:
    """Forget everything cached (environment, notebook name, git state, parsed files)."""
    global _env_snapshot, _notebook_lookup, _user_cache
    with _env_lock:
        _env_snapshot = None
    with _notebook_lock:
        _notebook_lookup = None
    with _git_state_lock:
        _git_state_cache.clear()
        _reftable_head_cache.clear()
    _user_cache = None
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


# --- Entry point (mlflow.source.name / mlflow.source.type) ---------------------------------


@dataclass(frozen=True)
class _EntryPoint:
    name: str
    source_type: str
    path: str | None  # absolute file or directory to look for a git repository from


def _resolve_entry_point(source_path: str | None) -> _EntryPoint:
    if source_path is not None:
        given = os.fspath(source_path)
        kind = SOURCE_TYPE_NOTEBOOK if given.lower().endswith(".ipynb") else SOURCE_TYPE_LOCAL
        return _EntryPoint(given, kind, os.path.abspath(given))

    shell = _ipython_shell()
    if shell is not None and _is_notebook_shell(shell):
        notebook = _notebook_path(shell)
        if notebook:
            where = notebook if os.path.isabs(notebook) else None
            return _EntryPoint(os.path.basename(notebook), SOURCE_TYPE_NOTEBOOK, where)
        return _EntryPoint(NOTEBOOK_SOURCE_NAME, SOURCE_TYPE_NOTEBOOK, None)

    # As MLflow: the script is sys.argv[0] as given ("-c" for python -c, the full path of the
    # module for python -m); "<console>" when there is none (interactive interpreter).
    argv = getattr(sys, "argv", None)
    main = argv[0] if argv and isinstance(argv[0], str) and argv[0] else None
    path: str | None = None
    if main is not None and os.path.isfile(main):
        path = os.path.abspath(main)
    else:
        main_file = getattr(sys.modules.get("__main__"), "__file__", None)
        if isinstance(main_file, str) and os.path.isfile(main_file):
            path = os.path.abspath(main_file)
    return _EntryPoint(main if main is not None else CONSOLE_SOURCE_NAME, SOURCE_TYPE_LOCAL, path)


def _ipython_shell() -> Any:
    # Only look if IPython is already imported: importing it here would be slow and would put
    # it into processes that do not use it.
    module = sys.modules.get("IPython")
    get_ipython = getattr(module, "get_ipython", None)
    return get_ipython() if callable(get_ipython) else None


def _is_notebook_shell(shell: Any) -> bool:
    # As MLflow: a Jupyter kernel's shell is a ZMQInteractiveShell (or has a kernel); the
    # terminal IPython shell is not a notebook and is recorded like a script.
    return type(shell).__name__ == "ZMQInteractiveShell" or hasattr(shell, "kernel")


_notebook_lock = threading.Lock()
_notebook_lookup: tuple[str | None] | None = None  # (result,) once looked up


def _notebook_path(shell: Any) -> str | None:
    """The notebook's path (or name), found once per process."""
    global _notebook_lookup
    found = _notebook_lookup
    if found is None:
        with _notebook_lock:
            if _notebook_lookup is None:
                _notebook_lookup = (_guarded(_discover_notebook_path, shell),)
            found = _notebook_lookup
    return found[0]


def _discover_notebook_path(shell: Any) -> str | None:
    # VS Code puts the notebook's path in the user namespace and the environment.
    user_ns = getattr(shell, "user_ns", None)
    if isinstance(user_ns, dict):
        value = user_ns.get("__vsc_ipynb_file__")
        if isinstance(value, str) and value:
            return value
    for var in ("__vsc_ipynb_file__", "IPYNB_FILE", "JPY_SESSION_NAME"):
        value = os.environ.get(var)
        if value:
            return value
    return _notebook_path_from_jupyter_server()


def _notebook_path_from_jupyter_server() -> str | None:
    """Ask the local Jupyter servers which notebook owns this kernel."""
    kernel_id = _jupyter_kernel_id()
    if not kernel_id:
        return None
    for info in _jupyter_server_infos():
        try:
            found = _notebook_from_sessions(info, kernel_id)
        except Exception:
            _logger.debug("Jupyter server query failed", exc_info=True)
            continue
        if found:
            return found
    return None


def _jupyter_kernel_id() -> str | None:
    ipykernel = sys.modules.get("ipykernel")
    get_connection_file = getattr(ipykernel, "get_connection_file", None)
    if not callable(get_connection_file):
        return None
    stem = os.path.basename(str(get_connection_file()))
    if stem.endswith(".json"):
        stem = stem[: -len(".json")]
    prefix, _, kernel_id = stem.partition("-")  # kernel-<uuid>.json
    return kernel_id if prefix == "kernel" and kernel_id else None


def _jupyter_server_infos() -> Iterator[dict[str, Any]]:
    runtime_dir = os.environ.get("JUPYTER_RUNTIME_DIR")
    if not runtime_dir:
        try:
            from jupyter_core.paths import jupyter_runtime_dir

            runtime_dir = jupyter_runtime_dir()
        except Exception:
            return
    try:
        names = [n for n in os.listdir(runtime_dir) if n.endswith(".json")]
    except OSError:
        return
    files = [
        os.path.join(runtime_dir, n) for n in names if n.startswith(("jpserver-", "nbserver-"))
    ]
    files.sort(key=_mtime_or_zero, reverse=True)  # the most recently started server first
    for path in files[:10]:
        try:
            with open(path, encoding="utf-8") as f:
                info = json.load(f)
        except (OSError, ValueError):
            continue
        if isinstance(info, dict):
            yield info


def _mtime_or_zero(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def _notebook_from_sessions(info: dict[str, Any], kernel_id: str) -> str | None:
    base = str(info.get("url") or "")
    if not base.startswith(("http://", "https://")):
        return None
    import urllib.request  # only in notebooks, once per process

    request = urllib.request.Request(base.rstrip("/") + "/api/sessions")
    token = info.get("token")
    if token:
        request.add_header("Authorization", f"token {token}")
    # No proxies: the server is local, and its token must not go anywhere else.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=0.5) as response:
        sessions = json.load(response)
    for session in sessions if isinstance(sessions, list) else ():
        if not isinstance(session, dict):
            continue
        kernel = session.get("kernel")
        if not isinstance(kernel, dict) or kernel.get("id") != kernel_id:
            continue
        notebook = session.get("notebook")
        path = session.get("path") or (notebook.get("path") if isinstance(notebook, dict) else None)
        if not isinstance(path, str) or not path:
            return None
        root = info.get("root_dir") or info.get("notebook_dir")
        if isinstance(root, str) and root and not os.path.isabs(path):
            path = os.path.join(os.path.expanduser(root), path)
        return path
    return None


# --- User ----------------------------------------------------------------------------------

_USER_ENV_VARS = ("LOGNAME", "USER", "LNAME", "USERNAME")  # what getpass.getuser reads
_user_cache: tuple[tuple[str | None, ...], str] | None = None


def _get_user() -> str:
    # As MLflow: the tracking user name (environment, then ~/.mlflow/credentials) wins over
    # the login name.
    name = os.environ.get("MLFLOW_TRACKING_USERNAME")
    if name:
        return name
    name = _cached_parse(os.path.expanduser(_MLFLOW_CREDENTIALS_FILE), _parse_credentials)
    if name:
        return name
    global _user_cache
    key = tuple(os.environ.get(var) for var in _USER_ENV_VARS)
    cached = _user_cache
    if cached is not None and cached[0] == key:
        return cached[1]
    name = _login_name()
    _user_cache = (key, name)
    return name


def _login_name() -> str:
    try:
        name = getpass.getuser()  # environment, then the password database
        if name:
            return name
    except Exception:  # KeyError, OSError, ImportError depending on platform and version
        pass
    try:
        name = os.getlogin()
        if name:
            return name
    except Exception:
        pass
    return UNKNOWN_USER


def _parse_credentials(text: str) -> str | None:
    import configparser  # only when the file exists, then cached with its result

    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
        return parser.get("mlflow", "mlflow_tracking_username", fallback=None) or None
    except configparser.Error:
        return None


# --- Command line --------------------------------------------------------------------------


def _command_line() -> str:
    argv = [str(arg) for arg in (getattr(sys, "argv", None) or [])]
    if argv and argv[0] == "":  # interactive interpreter
        argv = argv[1:]
    return shlex.join([sys.executable or "python", *argv])


# --- Environment snapshot ------------------------------------------------------------------

_env_lock = threading.Lock()
_env_snapshot: str | None = None


def _environment_snapshot() -> str:
    global _env_snapshot
    snapshot = _env_snapshot
    if snapshot is None:
        with _env_lock:
            if _env_snapshot is None:
                _env_snapshot = _build_environment_snapshot()
            snapshot = _env_snapshot
    return snapshot


def _build_environment_snapshot() -> str:
    header: list[tuple[str, Callable[[], str]]] = [
        ("python_version", platform.python_version),
        ("python_implementation", platform.python_implementation),
        ("platform", platform.platform),
        ("executable", lambda: sys.executable or ""),
    ]
    lines = ["# labtrack environment snapshot"]
    for label, getter in header:
        try:
            value = getter()
        except Exception:
            value = "unknown"
        lines.append(f"# {label}: {value}")
    lines.append("# installed distributions:")
    try:
        lines.extend(_installed_distributions())
    except Exception as exc:
        _logger.debug("Listing installed distributions failed", exc_info=True)
        lines.append(f"# unavailable: {type(exc).__name__}")
    return "\n".join(lines) + "\n"


def _installed_distributions() -> list[str]:
    from importlib import metadata

    seen: dict[str, str] = {}
    for dist in metadata.distributions():
        try:
            name = dist.metadata["Name"]
            version = dist.version
        except Exception:
            continue
        if not name or not version:
            continue
        key = re.sub(r"[-_.]+", "-", str(name)).lower()
        # The first one found on sys.path is the one that imports.
        seen.setdefault(key, f"{name}=={version}")
    return [seen[key] for key in sorted(seen)]


# --- Files parsed once per change ----------------------------------------------------------

_file_cache: dict[tuple[str, str], tuple[tuple[int, int, int], Any]] = {}


def _stat_signature(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _cached_parse(path: str, parse: Callable[[str], _T]) -> _T | None:
    """``parse(text of path)``, reused while the file's mtime, size and inode are unchanged."""
    signature = _stat_signature(path)
    if signature is None:
        return None
    key = (parse.__name__, path)
    hit = _file_cache.get(key)
    if hit is not None and hit[0] == signature:
        return hit[1]
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    value = parse(text)
    if len(_file_cache) > 256:
        _file_cache.clear()
    _file_cache[key] = (signature, value)
    return value


def _read_small(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read(4096).decode("utf-8", "replace").strip()
    except OSError:
        return None


# --- Git: reading the repository directly --------------------------------------------------


@dataclass(frozen=True)
class _Repo:
    worktree: str  # top directory of the work tree
    gitdir: str  # this work tree's git directory (HEAD, index)
    commondir: str  # the git directory shared by all work trees (refs, packed-refs, config)


def _collect_git(entry_path: str | None) -> tuple[dict[str, str], str | None] | None:
    repo = _find_repo_for(entry_path)
    if repo is None:
        return None
    commit, branch = _read_head(repo)
    if commit is None:  # as MLflow: no commit (e.g. an empty repository), no git tags
        return None
    tags = {MLFLOW_GIT_COMMIT: commit}
    if branch:
        tags[MLFLOW_GIT_BRANCH] = branch
    url = _guarded(_remote_url, repo)
    if url:
        tags[MLFLOW_GIT_REPO_URL] = url
    dirty, diff = _git_state(repo, commit)
    if dirty is not None:
        tags[MLFLOW_GIT_DIRTY] = "true" if dirty else "false"
    return tags, diff


def _find_repo_for(entry_path: str | None) -> _Repo | None:
    """The work tree holding the entry point, else the one holding the working directory."""
    starts: list[str] = []
    if entry_path:
        starts.append(entry_path if os.path.isdir(entry_path) else os.path.dirname(entry_path))
    try:
        cwd = os.getcwd()
    except OSError:  # the working directory was deleted
        cwd = None
    if cwd and cwd not in starts:
        starts.append(cwd)
    for start in starts:
        repo = _find_repo(start)
        if repo is not None:
            return repo
    return None


def _find_repo(start: str) -> _Repo | None:
    directory = os.path.abspath(start)
    while True:
        dotgit = os.path.join(directory, ".git")
        try:
            mode: int | None = os.stat(dotgit).st_mode
        except OSError:
            mode = None
        if mode is not None:
            gitdir: str | None = None
            if stat.S_ISDIR(mode):
                gitdir = dotgit
            elif stat.S_ISREG(mode):  # a linked work tree or submodule: "gitdir: <path>"
                content = _read_small(dotgit) or ""
                if content.startswith("gitdir:"):
                    target = content[len("gitdir:") :].strip()
                    gitdir = os.path.normpath(os.path.join(directory, target))
            if gitdir and os.path.isfile(os.path.join(gitdir, "HEAD")):
                return _Repo(directory, gitdir, _common_dir(gitdir))
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def _common_dir(gitdir: str) -> str:
    target = _read_small(os.path.join(gitdir, "commondir"))
    if not target:
        return gitdir
    return os.path.normpath(os.path.join(gitdir, target))


def _is_oid(text: str) -> bool:
    return _OID_RE.fullmatch(text) is not None


def _read_head(repo: _Repo) -> tuple[str | None, str | None]:
    """(commit, branch) of HEAD; branch is None when HEAD is detached."""
    if os.path.isdir(os.path.join(repo.commondir, "reftable")):
        return _read_head_reftable(repo)
    head = _read_small(os.path.join(repo.gitdir, "HEAD"))
    if not head:
        return None, None
    if _is_oid(head):
        return head, None
    if not head.startswith("ref:"):
        return None, None
    ref = head[len("ref:") :].strip()
    branch = ref[len("refs/heads/") :] if ref.startswith("refs/heads/") else None
    return _resolve_ref(repo, ref), branch


def _resolve_ref(repo: _Repo, ref: str) -> str | None:
    for _ in range(5):  # a symbolic ref may point to another one
        parts = ref.split("/")
        if not ref.startswith("refs/") or any(p in ("", ".", "..") for p in parts):
            return None
        base = repo.gitdir if ref.startswith(_PER_WORKTREE_REF_PREFIXES) else repo.commondir
        content = _read_small(os.path.join(base, *parts))
        if content is None:  # not a loose ref: look in packed-refs
            packed = _cached_parse(os.path.join(repo.commondir, "packed-refs"), _parse_packed_refs)
            return packed.get(ref) if packed else None
        if content.startswith("ref:"):
            ref = content[len("ref:") :].strip()
            continue
        return content if _is_oid(content) else None
    return None


def _parse_packed_refs(text: str) -> dict[str, str]:
    refs: dict[str, str] = {}
    for line in text.splitlines():
        if not line or line[0] in "#^":  # header, or the peeled target of the tag above
            continue
        oid, _, name = line.partition(" ")
        if name and _is_oid(oid):
            refs[name.strip()] = oid
    return refs


def _remote_url(repo: _Repo) -> str | None:
    """The URL of remote "origin", else of the first remote (MLflow takes the first one)."""
    urls = _cached_parse(os.path.join(repo.commondir, "config"), _parse_remote_urls)
    if not urls:
        return None
    url = urls.get("origin") or next(iter(urls.values()))
    return strip_url_credentials(url)


def strip_url_credentials(url: str) -> str:
    """Drop the user name and password from a URL: ``https://u:t@host/x`` -> ``https://host/x``.

    Like MLflow, only URLs with a scheme are changed; ``git@host:org/repo.git`` is returned
    as is.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme:
        return url
    end = len(rest)
    for stop in "/?#":
        index = rest.find(stop)
        if index != -1:
            end = min(end, index)
    netloc = rest[:end]
    if "@" not in netloc:
        return url
    return f"{scheme}://{netloc.rpartition('@')[2]}{rest[end:]}"


def _parse_remote_urls(text: str) -> dict[str, str]:
    """``{remote name: first url}`` in the order of the config file."""
    urls: dict[str, str] = {}
    for section, subsection, key, value in _parse_git_config(text):
        if section == "remote" and key == "url" and subsection is not None:
            urls.setdefault(subsection, value)
    return urls


_CONFIG_ESCAPES = {"n": "\n", "t": "\t", "b": "\b", "\\": "\\", '"': '"'}


def _parse_git_config(text: str) -> list[tuple[str, str | None, str, str]]:
    """(section, subsection, key, value) of each variable in a git config file.

    Section and key names are lowercased; subsections keep their case. Includes are not
    followed.
    """
    entries: list[tuple[str, str | None, str, str]] = []
    lines = text.splitlines()
    section, subsection = "", None
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        index += 1
        if line.startswith("["):
            header = _parse_section_header(line)
            if header is None:
                section, subsection = "", None
                continue
            section, subsection, line = header
            line = line.strip()
        if not line or line[0] in "#;":
            continue
        match = re.match(r"([A-Za-z][A-Za-z0-9-]*)\s*(=?)", line)
        if match is None:
            continue
        key = match.group(1).lower()
        if not match.group(2):
            value = "true"  # "key" alone is a boolean
        else:
            value, index = _parse_config_value(line[match.end() :], lines, index)
        if section:
            entries.append((section, subsection, key, value))
    return entries


def _parse_section_header(line: str) -> tuple[str, str | None, str] | None:
    """Parse ``[name "sub"]`` / ``[name.sub]`` / ``[name]``; returns (name, sub, rest of line)."""
    match = re.match(r"\[([A-Za-z0-9.-]+)", line)
    if match is None:
        return None
    name, position = match.group(1), match.end()
    subsection: str | None = None
    if position < len(line) and line[position] in " \t":
        position += len(line[position:]) - len(line[position:].lstrip(" \t"))
        if position >= len(line) or line[position] != '"':
            return None
        position += 1
        chars: list[str] = []
        while position < len(line) and line[position] != '"':
            if line[position] == "\\" and position + 1 < len(line):
                position += 1
            chars.append(line[position])
            position += 1
        if position >= len(line):
            return None
        subsection = "".join(chars)
        position += 1
    elif "." in name:  # deprecated [section.subsection] syntax
        name, _, subsection = name.partition(".")
        subsection = subsection.lower()
    if position >= len(line) or line[position] != "]":
        return None
    return name.lower(), subsection, line[position + 1 :]


def _parse_config_value(rest: str, lines: list[str], index: int) -> tuple[str, int]:
    out: list[str] = []
    pending_space = ""
    in_quotes = False
    rest = rest.lstrip()
    position = 0
    while True:
        if position >= len(rest):
            break
        char = rest[position]
        if char == "\\":
            if position + 1 >= len(rest):  # line continuation
                if index >= len(lines):
                    break
                rest, position, index = lines[index], 0, index + 1
                continue
            out.append(pending_space)
            pending_space = ""
            following = rest[position + 1]
            out.append(_CONFIG_ESCAPES.get(following, following))
            position += 2
            continue
        if char == '"':
            in_quotes = not in_quotes
        elif not in_quotes and char in "#;":
            break
        elif not in_quotes and char in " \t":
            pending_space += char
        else:
            out.append(pending_space)
            pending_space = ""
            out.append(char)
        position += 1
    return "".join(out), index


# --- Git: reftable repositories (refs are binary; ask git, cached by the tables' stat) -----

_reftable_head_cache: dict[str, tuple[Any, tuple[str | None, str | None]]] = {}


def _read_head_reftable(repo: _Repo) -> tuple[str | None, str | None]:
    key = (
        _stat_signature(os.path.join(repo.commondir, "reftable", "tables.list")),
        _stat_signature(os.path.join(repo.gitdir, "reftable", "tables.list")),
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
            result = (commit if _is_oid(commit) else None, branch)
        except (_GitFailed, _GitTimeout, OSError):
            _logger.debug("Reading HEAD of reftable repository %s failed", repo.worktree)
    with _git_state_lock:
        _reftable_head_cache[repo.worktree] = (key, result)
    return result


# --- Git: dirty state and diff (subprocesses, cached) ---------------------------------------


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


def _git_state(repo: _Repo, commit: str) -> tuple[bool | None, str | None]:
    """(dirty, diff) of the work tree, reused for an unchanged HEAD and index within the TTL."""
    key = (commit, _stat_signature(os.path.join(repo.gitdir, "index")))
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


def _reinit_locks_after_fork() -> None:
    global _env_lock, _notebook_lock, _git_state_lock
    _env_lock = threading.Lock()
    _notebook_lock = threading.Lock()
    _git_state_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_locks_after_fork)
