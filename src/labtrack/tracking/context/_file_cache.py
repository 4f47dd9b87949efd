"""Small files read again only when they change (git refs and config, MLflow credentials).

A parsed file is cached under its path and the parser's name, and reused while its mtime,
size and inode are unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

_T = TypeVar("_T")

_file_cache: dict[tuple[str, str], tuple[tuple[int, int, int], Any]] = {}


def stat_signature(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def cached_parse(path: str, parse: Callable[[str], _T]) -> _T | None:
    """``parse(text of path)``, reused while the file's mtime, size and inode are unchanged."""
    signature = stat_signature(path)
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


def read_small(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read(4096).decode("utf-8", "replace").strip()
    except OSError:
        return None


def clear() -> None:
    """Forget every parsed file."""
    _file_cache.clear()
