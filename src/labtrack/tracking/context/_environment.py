"""The environment snapshot: the interpreter and the installed distributions, as a text
that is also a valid pip requirements file. Computed once per process."""

from __future__ import annotations

import logging
import os
import platform
import re
import sys
import threading
from collections.abc import Callable

_logger = logging.getLogger(__name__)

_env_lock = threading.Lock()
_env_snapshot: str | None = None


def environment_snapshot() -> str:
    """The snapshot of this process's environment (computed on the first call)."""
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


def clear_cache() -> None:
    """Forget the snapshot, so that the next call computes it again."""
    global _env_snapshot
    with _env_lock:
        _env_snapshot = None


def _reinit_lock_after_fork() -> None:
    global _env_lock
    _env_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_lock_after_fork)
