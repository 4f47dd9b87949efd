"""Pausing the cyclic garbage collector while building large lists of acyclic objects.

Creating a million tuples triggers dozens of collections that find nothing (the
objects cannot form cycles) and cost more than the objects themselves.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    if enabled:
        gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
