"""MLflow's validation rules (``labtrack.validation``): what each public validator accepts,
what it returns, and the message of each refusal."""

from __future__ import annotations

import logging
import math
import re
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from labtrack import validation as v
from labtrack.entities import Metric, Param, RunTag
from labtrack.errors import InvalidParameterValue

INT64_MAX = 2**63 - 1


def refused(message: str) -> Any:
    """``pytest.raises`` for an InvalidParameterValue whose message starts with ``message``."""
    return pytest.raises(InvalidParameterValue, match="^" + re.escape(message))


# -- keys ------------------------------------------------------------------------------------
# MLflow's message for a metric key that resolves to another path (after the value).
RESOLVES = "for parameter 'name' supplied: Names may be treated as files"


@pytest.mark.parametrize(
    "key", ["loss", "train/loss", "a.b-c_d", "with space", "ns:key", "ümlaut", "x" * 250]
)
def test_valid_keys(key: str) -> None:
    assert v.validate_key(key, "Metric") == key


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (None, "Metric key must be a non-empty string"),
        ("", "Metric key must be a non-empty string"),
        (3, "Metric key must be a string, got int"),
        ("x" * 251, f"Metric key {'x' * 50!r}... is 251 characters long; the limit is 250"),
        ("bad?key", "Invalid value \"bad?key\" for parameter 'name' supplied: Names may only"),
        ("tab\tkey", "Invalid value \"tab\\tkey\" for parameter 'name' supplied: Names may only"),
        (
            "../up",
            f'Invalid value "../up" {RESOLVES}',
        ),
        (
            "/abs",
            f'Invalid value "/abs" {RESOLVES}',
        ),
        (
            "a//b",
            f'Invalid value "a//b" {RESOLVES}',
        ),
        (
            "a/",
            f'Invalid value "a/" {RESOLVES}',
        ),
        (
            ".",
            f'Invalid value "." {RESOLVES}',
        ),
        (
            "a/./b",
            f'Invalid value "a/./b" {RESOLVES}',
        ),
    ],
)
def test_invalid_keys(key: Any, message: str) -> None:
    with refused(message):
        v.validate_key(key, "Metric")


def test_a_key_message_says_what_it_resolves_to() -> None:
    # MLflow's message: the value JSON-encoded, the request field named.
    with refused(
        "Invalid value \"a/../b\" for parameter 'key' supplied: Names may be treated as files "
        "in certain cases, and must not resolve to other names when treated as such. This "
        "name would resolve to 'b'"
    ):
        v.validate_key("a/../b", "Tag")
    with refused("Invalid value \"a?\" for parameter 'params[3].key' supplied: Names may only"):
        v.validate_param("a?", "1", path="params[3]")
    with refused("Invalid value \"m!\" for parameter 'metrics[0].name' supplied"):
        v.validate_metric_point(("m!", 1.0, 0, 0), path="metrics[0]")


_KEY_REFUSALS = re.compile(r"^(Param key|Invalid value .* for parameter 'key' supplied)", re.S)


@given(st.text(max_size=60))
def test_a_key_is_accepted_only_as_itself(key: str) -> None:
    """Any text: either the key comes back unchanged or the refusal names the key."""
    message = ""
    try:
        accepted = v.validate_key(key, "Param")
    except InvalidParameterValue as exc:
        message = exc.message
    else:
        assert accepted == key
    assert not message or _KEY_REFUSALS.match(message)


# -- metrics ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "timestamp", "step", "expected"),
    [
        (1.5, 0, 0, Metric("m", 1.5, 0, 0)),
        (2, 10, 3, Metric("m", 2.0, 10, 3)),
        (np.float32(0.5), np.int64(7), np.int32(-1), Metric("m", 0.5, 7, -1)),
        (Fraction(1, 4), 1, 1, Metric("m", 0.25, 1, 1)),
        (math.nan, 1, 0, None),  # NaN and the infinities are values MLflow stores
        (math.inf, 1, 0, Metric("m", math.inf, 1, 0)),
        (1.0, INT64_MAX, -(2**63), Metric("m", 1.0, INT64_MAX, -(2**63))),
        (1.0, 5.0, 2.0, Metric("m", 1.0, 5, 2)),
    ],
)
def test_valid_metrics(value: Any, timestamp: Any, step: Any, expected: Metric | None) -> None:
    metric = v.validate_metric("m", value, timestamp, step)
    assert type(metric.value) is float
    assert type(metric.timestamp) is int
    assert type(metric.step) is int
    if expected is None:
        assert math.isnan(metric.value)
    else:
        assert metric == expected
    assert v.validate_metric_point(metric) == metric


@pytest.mark.parametrize(
    ("value", "timestamp", "step", "message"),
    [
        (None, 0, 0, "Got invalid value None for metric 'm': the value must be a number"),
        (True, 0, 0, "Got invalid value True for metric 'm': the value must be a number"),
        ("1.0", 0, 0, "Got invalid value '1.0' for metric 'm': the value must be a number"),
        (10**400, 0, 0, f"Got invalid value {10**400!r} for metric 'm': int too large"),
        (1.0, -1, 0, "Got invalid timestamp -1 for metric 'm': it must be a non-negative"),
        (1.0, "now", 0, "Got invalid timestamp of metric 'm': 'now' is not an integer"),
        (1.0, math.nan, 0, "Got invalid timestamp of metric 'm': nan is not an integer"),
        (1.0, 2**63, 0, f"Got invalid timestamp of metric 'm': {2**63} does not fit in 64 bits"),
        (1.0, 0, None, "Got invalid step of metric 'm': None is not an integer"),
        (1.0, 0, False, "Got invalid step of metric 'm': False is not an integer"),
        (1.0, 0, -(2**63) - 1, f"Got invalid step of metric 'm': {-(2**63) - 1} does not fit"),
    ],
)
def test_invalid_metrics(value: Any, timestamp: Any, step: Any, message: str) -> None:
    with refused(message):
        v.validate_metric("m", value, timestamp, step)


def test_a_metric_message_names_where_it_came_from() -> None:
    with refused("Got invalid value 'x' for metric 'm' (metrics[3]): the value must be a number"):
        v.validate_metric("m", "x", 0, 0, path="metrics[3]")
    with refused("Got invalid step of metric 'm' (metrics[3]): 'x' is not an integer"):
        v.validate_metric_point(Metric("m", 1.0, 0, "x"), path="metrics[3]")  # type: ignore[arg-type]


def test_a_metric_point_is_converted_to_its_types() -> None:
    point = v.validate_metric_point(Metric("m", 1, 2, 3))
    assert point == Metric("m", 1.0, 2, 3)
    assert type(point.value) is float


def test_a_metric_point_may_be_a_plain_tuple() -> None:
    point = v.validate_metric_point(("m", 1, 2, 3))
    assert point == Metric("m", 1.0, 2, 3)
    assert type(point) is Metric


@pytest.mark.parametrize("point", [("m", 1.0, 2), {"key": "m"}, "m", None])
def test_a_metric_point_of_another_shape_is_refused(point: object) -> None:
    with refused("Expected a Metric or a (key, value, timestamp, step) tuple (metrics[0]), got"):
        v.validate_metric_point(point, path="metrics[0]")


@given(
    value=st.floats(allow_nan=False) | st.integers(-(2**53), 2**53),
    timestamp=st.integers(0, INT64_MAX),
    step=st.integers(-(2**63), INT64_MAX),
)
def test_every_number_in_range_is_a_valid_metric(value: float, timestamp: int, step: int) -> None:
    assert v.validate_metric("k", value, timestamp, step) == Metric(
        "k", float(value), timestamp, step
    )


@given(st.integers(min_value=INT64_MAX + 1) | st.integers(max_value=-(2**63) - 1))
def test_steps_beyond_64_bits_are_refused(step: int) -> None:
    with refused("Got invalid step of metric 'k':"):
        v.validate_metric("k", 1.0, 0, step)


# -- timestamps ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"), [(0, 0), (1_700_000_000_000, 1_700_000_000_000), (3.0, 3)]
)
def test_valid_timestamps(value: Any, expected: int) -> None:
    assert v.validate_timestamp(value, "start_time") == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-5, "Got invalid start_time: -5 is negative"),
        ("1", "Got invalid start_time: '1' is not an integer"),
        (math.inf, "Got invalid start_time: inf is not an integer"),
        (2**64, f"Got invalid start_time: {2**64} does not fit in 64 bits"),
    ],
)
def test_invalid_timestamps(value: Any, message: str) -> None:
    with refused(message):
        v.validate_timestamp(value, "start_time")


# -- params and tags -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"), [("0.1", "0.1"), (0.1, "0.1"), (None, "None"), (3, "3"), ("", "")]
)
def test_params_and_tags_are_stored_as_text(value: Any, expected: str) -> None:
    assert v.validate_param("p", value) == Param("p", expected)
    assert v.validate_tag("t", value) == RunTag("t", expected)


@pytest.mark.parametrize(
    ("validate", "limit", "what"),
    [(v.validate_param, 6000, "Value of param 'k'"), (v.validate_tag, 8000, "Value of tag 'k'")],
)
def test_long_values_are_truncated_or_refused(
    validate: Any, limit: int, what: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert validate("k", "x" * limit).value == "x" * limit
    with caplog.at_level(logging.WARNING, logger="labtrack.validation"):
        assert validate("k", "x" * (limit + 1)).value == "x" * limit
    assert f"truncated to the limit of {limit} characters" in caplog.text
    with refused(f"{what} is {limit + 1} characters long; the limit is {limit}"):
        validate("k", "x" * (limit + 1), truncate=False)


def test_param_and_tag_keys_are_checked() -> None:
    with refused("Invalid value \"a?\" for parameter 'key' supplied: Names may only contain"):
        v.validate_param("a?", "1")
    with refused("Tag key must be a non-empty string"):
        v.validate_tag("", "1")


@pytest.mark.parametrize("key", [[], {}, ["loss"], {"a": 1}])
def test_a_key_that_is_not_even_hashable_is_refused(key: Any) -> None:
    """A list or a dict as a key (a hostile log-batch item) is a clear refusal, naming the
    request field when there is one, not a TypeError from the cache of valid keys."""
    kind = type(key).__name__
    with refused(f"Metric key must be a string, got {kind} (parameter 'metrics[0].name')"):
        v.validate_metric(key, 1.0, 1, 0, path="metrics[0]")
    with refused(f"Metric key must be a string, got {kind}"):
        v.validate_metric_point(Metric(key, 1.0, 1, 0))
    with refused(f"Param key must be a string, got {kind} (parameter 'params[2].key')"):
        v.validate_param(key, "1", path="params[2]")
    with refused(f"Tag key must be a string, got {kind}"):
        v.validate_tag(key, "1")


def test_experiment_tags() -> None:
    assert v.validate_experiment_tag("k", 5) == ("k", "5")
    assert v.validate_experiment_tag("k", "e" * 20_000) == ("k", "e" * 20_000)
    with refused("Value of experiment tag 'k' is 20001 characters long; the limit is 20000"):
        v.validate_experiment_tag("k", "e" * 20_001)


def test_param_keys_must_be_unique_in_a_request() -> None:
    v.validate_param_keys_unique([Param("a", "1"), Param("b", "1")])
    with refused("Duplicate parameter keys have been submitted: ['a']. Please ensure"):
        v.validate_param_keys_unique([Param("a", "1"), Param("b", "1"), Param("a", "2")])


# -- names and ids ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "message"),
    [
        (None, "Invalid experiment name None: it must be a string, got NoneType"),
        (1, "Invalid experiment name 1: it must be a string, got int"),
        ("", "Invalid experiment name: it must not be empty"),
        ("n" * 501, f"Experiment name {'n' * 50!r}... is 501 characters long; the limit is 500"),
    ],
)
def test_invalid_experiment_names(name: Any, message: str) -> None:
    with refused(message):
        v.validate_experiment_name(name)


@pytest.mark.parametrize("name", ["Default", "n" * 500, "team/exp 1"])
def test_valid_experiment_names(name: str) -> None:
    assert v.validate_experiment_name(name) == name


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (None, "Invalid run name None: it must be a string"),
        ("r" * 251, f"Run name {'r' * 50!r}... is 251 characters long; the limit is 250"),
    ],
)
def test_invalid_run_names(name: Any, message: str) -> None:
    with refused(message):
        v.validate_run_name(name)


@pytest.mark.parametrize("run_id", ["0123456789abcdef0123456789abcdef", "a", "A-b_c"])
def test_valid_run_ids(run_id: str) -> None:
    assert v.validate_run_id(run_id) == run_id


@pytest.mark.parametrize("run_id", ["", "-a", "a/b", "a" * 257, None, 5, "../x"])
def test_invalid_run_ids(run_id: Any) -> None:
    with refused(f"Invalid run ID {run_id!r}"):
        v.validate_run_id(run_id)


@pytest.mark.parametrize(("experiment_id", "expected"), [("0", "0"), (12, "12"), ("e-1", "e-1")])
def test_valid_experiment_ids(experiment_id: Any, expected: str) -> None:
    assert v.validate_experiment_id(experiment_id) == expected


@pytest.mark.parametrize("experiment_id", ["", True, None, "a" * 65, "1/2", 1.0])
def test_invalid_experiment_ids(experiment_id: Any) -> None:
    with refused(f"Invalid experiment ID {experiment_id!r}"):
        v.validate_experiment_id(experiment_id)


# -- request limits --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ((1001, 0, 0), "A batch logging request can contain at most 1000 metrics. Got 1001"),
        ((0, 101, 0), "A batch logging request can contain at most 100 params. Got 101"),
        ((0, 0, 101), "A batch logging request can contain at most 100 tags. Got 101"),
        (
            (900, 100, 1),
            "A batch logging request can contain at most 1000 metrics, params, and tags. Got 1001",
        ),
    ],
)
def test_batch_limits(counts: tuple[int, int, int], message: str) -> None:
    v.validate_batch_limits([0] * 1000, [], [])
    v.validate_batch_limits([0] * 800, [0] * 100, [0] * 100)
    metrics, params, tags = ([0] * n for n in counts)
    with refused(message):
        v.validate_batch_limits(metrics, params, tags)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "Invalid value 0 for parameter 'max_results' supplied. It must be a positive"),
        (-1, "Invalid value -1 for parameter 'max_results' supplied"),
        (
            1001,
            "Invalid value 1001 for parameter 'max_results' supplied. It must be a positive "
            "integer at most 1000",
        ),
        ("10", "Invalid max_results '10' for runs: it must be a positive integer"),
        (True, "Invalid max_results True for runs: it must be a positive integer"),
        (None, "Invalid max_results None for runs: it must be a positive integer"),
    ],
)
def test_max_results(value: Any, message: str) -> None:
    assert v.validate_max_results(1000, 1000, "runs") == 1000
    assert v.validate_max_results(1, 1000, "runs") == 1
    with refused(message):
        v.validate_max_results(value, 1000, "runs")


def test_search_experiment_ids_are_checked_and_bounded_by_the_setting() -> None:
    from labtrack.config import settings

    assert v.validate_search_experiment_ids("3") == ["3"]
    assert v.validate_search_experiment_ids([0, "1"]) == ["0", "1"]
    assert len(v.validate_search_experiment_ids([str(i) for i in range(1000)])) == 1000
    with refused("A search may name at most 1,000 experiments, not 1,001"):
        v.validate_search_experiment_ids([str(i) for i in range(1001)])
    settings.set("search_max_experiments", 2)
    with refused("A search may name at most 2 experiments, not 3 (setting search_max_experiments)"):
        v.validate_search_experiment_ids(["1", "2", "3"])
    with refused("Invalid experiment ID '../x'"):
        v.validate_search_experiment_ids(["../x"])
