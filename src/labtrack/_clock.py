"""The time as MLflow stores it: whole milliseconds since the Unix epoch."""

from __future__ import annotations

import time


def now_ms() -> int:
    """The current time in milliseconds since the epoch (run, metric and event timestamps)."""
    return int(time.time() * 1000)
