"""Where a run starts: the script or notebook (``mlflow.source.name`` / ``.type``) and the
command line (``labtrack.command``).

A notebook's file name is looked up once per process: from VS Code's variables, the
environment (``JPY_SESSION_NAME``, also as ipykernel's ``__session__``), papermill's
injected ``PAPERMILL_INPUT_PATH``, by asking the local Jupyter servers which session owns
this kernel, or from the command line of the ``jupyter nbconvert --execute`` or
``papermill`` process that started the kernel.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

_logger = logging.getLogger(__name__)

# Values of mlflow.source.type (MLflow's SourceType names).
SOURCE_TYPE_LOCAL = "LOCAL"
SOURCE_TYPE_NOTEBOOK = "NOTEBOOK"

# Source names when there is no script file, as MLflow records them (``<console>``), or when
# a notebook's file name cannot be discovered (labtrack's choice).
CONSOLE_SOURCE_NAME = "<console>"
NOTEBOOK_SOURCE_NAME = "<notebook>"


@dataclass(frozen=True)
class EntryPoint:
    name: str
    source_type: str
    path: str | None  # absolute file or directory to look for a git repository from


def resolve_entry_point(source_path: str | None) -> EntryPoint:
    if source_path is not None:
        given = os.fspath(source_path)
        kind = SOURCE_TYPE_NOTEBOOK if given.lower().endswith(".ipynb") else SOURCE_TYPE_LOCAL
        return EntryPoint(given, kind, os.path.abspath(given))

    shell = _ipython_shell()
    if shell is not None and _is_notebook_shell(shell):
        notebook = _notebook_path(shell)
        if notebook:
            where = notebook if os.path.isabs(notebook) else None
            return EntryPoint(os.path.basename(notebook), SOURCE_TYPE_NOTEBOOK, where)
        return EntryPoint(NOTEBOOK_SOURCE_NAME, SOURCE_TYPE_NOTEBOOK, None)

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
    return EntryPoint(main if main is not None else CONSOLE_SOURCE_NAME, SOURCE_TYPE_LOCAL, path)


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
                try:
                    path = _discover_notebook_path(shell)
                except Exception:
                    _logger.debug("Discovering the notebook's path failed", exc_info=True)
                    path = None
                _notebook_lookup = (path,)
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
    if isinstance(user_ns, dict):
        # ipykernel copies JPY_SESSION_NAME there; papermill's --inject-input-path (or
        # --inject-paths) injects PAPERMILL_INPUT_PATH as a parameter
        for name in ("__session__", "PAPERMILL_INPUT_PATH"):
            value = user_ns.get(name)
            if isinstance(value, str) and value.lower().endswith(".ipynb"):
                return value
    return _notebook_path_from_jupyter_server() or _notebook_path_from_executor()


# Programs that run a notebook in a kernel they start (the kernel's parent process), and
# their options whose value is another notebook (the output, not the one running).
_EXECUTORS = ("nbconvert", "papermill", "jupyter-execute", "nbclient")
_OUTPUT_OPTIONS = ("--output", "-o", "--output-dir")


def _notebook_path_from_executor() -> str | None:
    """The notebook a ``jupyter nbconvert --execute`` or ``papermill`` parent is running.

    Those start the kernel themselves and tell it nothing of the notebook (nbconvert starts
    it in the notebook's folder), but their command line names it: papermill's input
    notebook is its first ``.ipynb`` argument; nbconvert's and ``jupyter execute``'s is the
    only one (with several, which one is running cannot be told). Read from ``/proc``, so
    on Linux only; relative paths are resolved against the parent's working directory.
    """
    parent = os.getppid()
    try:
        with open(f"/proc/{parent}/cmdline", "rb") as f:
            argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
        cwd = os.readlink(f"/proc/{parent}/cwd")
    except OSError:
        return None
    found = notebook_from_executor_argv(argv)
    if found is None:
        return None
    path = os.path.join(cwd, found)
    return path if os.path.isfile(path) else None


def notebook_from_executor_argv(argv: list[str]) -> str | None:
    """The notebook named by an executor's command line (see above), as given there."""
    program = " ".join(os.path.basename(a) for a in argv[:3])
    executor = next((e for e in _EXECUTORS if e in program), None)
    if executor is None:
        return None
    notebooks = []
    skip = False
    for arg in argv[1:]:
        if skip:
            skip = False
            continue
        if arg in _OUTPUT_OPTIONS:
            skip = True
            continue
        if arg.startswith("-"):
            continue
        if arg.lower().endswith(".ipynb"):
            notebooks.append(arg)
    if executor == "papermill":
        return notebooks[0] if notebooks else None
    return notebooks[0] if len(notebooks) == 1 else None


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


# --- Command line --------------------------------------------------------------------------


def command_line() -> str:
    argv = [str(arg) for arg in (getattr(sys, "argv", None) or [])]
    if argv and argv[0] == "":  # interactive interpreter
        argv = argv[1:]
    return shlex.join([sys.executable or "python", *argv])


def clear_cache() -> None:
    """Forget the notebook name found."""
    global _notebook_lookup
    with _notebook_lock:
        _notebook_lookup = None


def _reinit_lock_after_fork() -> None:
    global _notebook_lock
    _notebook_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_lock_after_fork)
