"""Tests for labtrack.cli._output: tables, JSON, CSV, times and sizes."""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import datetime, timezone

import pytest

from labtrack.cli import _output as out


@pytest.mark.parametrize(
    ("text", "width", "expected"),
    [
        ("short", 10, "short"),
        ("exactly10!", 10, "exactly10!"),
        ("this is too long", 10, "this is t…"),
        ("anything", None, "anything"),
        ("ab", 1, "…"),
    ],
)
def test_truncate(text: str, width: int | None, expected: str) -> None:
    assert out.truncate(text, width) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        (True, "true"),
        (0.123456789, "0.123457"),
        (3.0, "3"),
        (float("nan"), "NaN"),
        (float("-inf"), "-Infinity"),
        (42, "42"),
        ("two\nlines\tand tab", "two lines and tab"),
    ],
)
def test_cell_text(value: object, expected: str) -> None:
    assert out.cell_text(value) == expected


def test_render_table_aligns_and_truncates() -> None:
    columns = [out.Column("Name", width=8), out.Column("Value", align_right=True)]
    text = out.render_table(columns, [("a", 1.5), ("a-very-long-name", 10)])
    assert text.splitlines() == [
        "Name      Value",
        "--------  -----",
        "a           1.5",
        "a-very-…     10",
    ]


def test_render_table_without_rows_is_header_only() -> None:
    assert out.render_table([out.Column("A"), out.Column("B")], []).splitlines() == [
        "A  B",
        "-  -",
    ]


def test_render_fields() -> None:
    assert out.render_fields([("ID", 1), ("Long label", "x")]).splitlines() == [
        "ID:         1",
        "Long label: x",
    ]


def test_to_json_keeps_it_valid_for_non_finite_numbers() -> None:
    text = out.to_json({"a": [float("nan"), float("inf"), -math.inf, 1.5], "b": ("x",)})
    assert json.loads(text) == {"a": ["NaN", "Infinity", "-Infinity", 1.5], "b": ["x"]}


def test_to_csv() -> None:
    text = out.to_csv(["a", "b"], [[1, None], ["x,y", 0.1 + 0.2]])
    assert list(csv.reader(io.StringIO(text))) == [
        ["a", "b"],
        ["1", ""],
        ["x,y", "0.30000000000000004"],
    ]


def test_format_time_is_local() -> None:
    ms = 1_700_000_000_123
    assert out.format_time(ms) == datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")
    assert out.format_time(None) == ""


def test_iso_time_is_utc() -> None:
    assert out.iso_time(1_700_000_000_123) == "2023-11-14T22:13:20.123+00:00"
    assert datetime.fromisoformat(out.iso_time(0) or "") == datetime(
        1970, 1, 1, tzinfo=timezone.utc
    )
    assert out.iso_time(None) is None


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (0, 850, "850ms"),
        (0, 12_340, "12.3s"),
        (0, 245_000, "4m 05s"),
        (0, 7_380_000, "2h 03m"),
        (0, (3 * 24 + 4) * 3_600_000, "3d 04h"),
        (0, None, ""),
        (None, 5, ""),
        (10, 5, ""),
    ],
)
def test_format_duration(start: int | None, end: int | None, expected: str) -> None:
    assert out.format_duration(start, end) == expected


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (None, ""),
        (0, "0 B"),
        (1023, "1023 B"),
        (1536, "1.5 KB"),
        (5 * 1024**2, "5.0 MB"),
        (3 * 1024**5, "3072.0 TB"),
    ],
)
def test_format_size(size: int | None, expected: str) -> None:
    assert out.format_size(size) == expected
