"""Text for people, shared by the CLI's tables and the web UI's pages."""

from __future__ import annotations

import datetime as _dt

__all__ = ["duration_text", "moment"]

_COMPACT = ("ms", "s", "m", "h", "d")
_SPACED = (" ms", " s", " min", " h", " d")


def duration_text(ms: int, *, compact: bool = False) -> str:
    """How long something took, to the precision a reader wants at that size:
    ``850 ms``, ``12.3 s``, ``4 min 05 s``, ``2 h 03 min``, ``3 d 04 h``
    (``compact``: ``850ms``, ``12.3s``, ``4m 05s``, ``2h 03m``, ``3d 04h``)."""
    unit_ms, unit_s, unit_min, unit_h, unit_d = _COMPACT if compact else _SPACED
    if ms < 1000:
        return f"{ms}{unit_ms}"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}{unit_s}"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}{unit_min} {secs:02d}{unit_s}"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}{unit_h} {minutes:02d}{unit_min}"
    days, hours = divmod(hours, 24)
    return f"{days}{unit_d} {hours:02d}{unit_h}"


def moment(ms: int, *, local: bool = False) -> _dt.datetime | None:
    """The time ``ms`` milliseconds after the epoch (UTC, or the machine's zone with
    ``local``); None when no calendar holds it, as for a timestamp logged in nanoseconds:
    a page or a table then shows the number instead of failing."""
    try:
        if local:
            return _dt.datetime.fromtimestamp(ms / 1000)
        return _dt.datetime.fromtimestamp(ms / 1000, _dt.timezone.utc)
    except (ValueError, OverflowError, OSError):
        return None
