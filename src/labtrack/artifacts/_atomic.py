"""Atomic local file writes: write a temp file beside the target, then ``os.replace``.

A reader of the target sees either the old file or the complete new one, never
a partial write. Temp files are named ``.labtrack-tmp-*`` so listings can hide
writes in progress; they are removed if the write fails.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable
from typing import BinaryIO

__all__ = [
    "TEMP_PREFIX",
    "atomic_copy_file",
    "atomic_write_bytes",
    "atomic_write_stream",
    "create_temp_file",
]

TEMP_PREFIX = ".labtrack-tmp-"
_CHUNK = 1024 * 1024


def create_temp_file(directory: str, prefix: str = TEMP_PREFIX) -> tuple[str, BinaryIO]:
    """A new, exclusively created file in ``directory`` (never through a symlink), open
    for writing, and its path.

    Created with mode 0o666 so the process umask applies, as for any ordinary
    file (``tempfile.mkstemp`` would leave the artifact 0o600).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    flags |= getattr(os, "O_NOFOLLOW", 0)
    while True:
        path = os.path.join(directory, f"{prefix}{secrets.token_hex(8)}")
        try:
            fd = os.open(path, flags, 0o666)
        except FileExistsError:  # pragma: no cover - 64 random bits
            continue
        return path, os.fdopen(fd, "wb")


def _new_temp(directory: str) -> str:
    """Create an empty temp file in ``directory`` and return its path."""
    path, f = create_temp_file(directory)
    f.close()
    return path


def _atomic(target: str, fill: Callable[[str], None]) -> None:
    temp = _new_temp(os.path.dirname(target) or ".")
    try:
        fill(temp)
        os.replace(temp, target)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise


def atomic_copy_file(source: str | os.PathLike[str], target: str) -> None:
    """Copy ``source`` to ``target`` atomically, streaming (never read whole into memory)."""

    def fill(temp: str) -> None:
        shutil.copyfile(source, temp)

    _atomic(target, fill)


def atomic_write_bytes(data: bytes, target: str) -> None:
    """Write ``data`` to ``target`` atomically."""

    def fill(temp: str) -> None:
        with open(temp, "wb") as out:
            out.write(data)

    _atomic(target, fill)


def atomic_write_stream(stream: BinaryIO, target: str) -> None:
    """Copy the readable binary ``stream`` to ``target`` atomically, in chunks."""

    def fill(temp: str) -> None:
        with open(temp, "wb") as out:
            shutil.copyfileobj(stream, out, _CHUNK)

    _atomic(target, fill)
