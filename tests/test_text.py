"""Durations as people read them, in the web UI's spelling (the CLI's compact one is
tested with its tables in tests/cli/test_output.py)."""

from __future__ import annotations

import pytest

from labtrack._text import duration_text


@pytest.mark.parametrize(
    ("ms", "expected"),
    [
        (0, "0 ms"),
        (999, "999 ms"),
        (1_000, "1.0 s"),
        (59_949, "59.9 s"),
        (245_000, "4 min 05 s"),
        (7_380_000, "2 h 03 min"),
        ((3 * 24 + 4) * 3_600_000, "3 d 04 h"),
    ],
)
def test_duration_text(ms: int, expected: str) -> None:
    assert duration_text(ms) == expected
