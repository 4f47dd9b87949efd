"""MLflow's validation rules, with specific messages.

Every entry point (fluent API, client, server) goes through these functions, so
a bad key is refused with the same message wherever it comes from. The checks on
the logging hot path are cheap: a key that passed once is remembered.
"""

from __future__ import annotations

import json
import logging
import math
import numbers
import posixpath
import re
from collections.abc import Iterable, Sequence
from typing import Any

from labtrack.config import settings
from labtrack.entities import Metric, Param, RunTag
from labtrack.errors import InvalidParameterValue

logger = logging.getLogger(__name__)

MAX_ENTITY_KEY_LENGTH = 250
MAX_PARAM_VAL_LENGTH = 6000
MAX_TAG_VAL_LENGTH = 8000
MAX_EXPERIMENT_NAME_LENGTH = 500
MAX_EXPERIMENT_TAG_VAL_LENGTH = 20000
MAX_RUN_NAME_LENGTH = 250
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000
MAX_BATCH_LOG_REQUEST_SIZE = 1_000_000
# labtrack's bulk endpoint (runs/log-bulk), per request: far larger batches than MLflow's
# log-batch, still bounded, so that one request cannot make every read of a run large.
MAX_BULK_METRIC_POINTS = 200_000
MAX_BULK_METRIC_KEYS = 1000
MAX_BULK_PARAMS = 1000
MAX_BULK_TAGS = 1000
#: Characters of the keys and values of one request's params and tags, together.
MAX_BULK_TEXT = 1_000_000
MAX_RESULTS_SEARCH_RUNS = 50_000
MAX_RESULTS_SEARCH_EXPERIMENTS = 50_000
MAX_RESULTS_METRIC_HISTORY = 25_000
MAX_DATASET_NAME_SIZE = 500
MAX_DATASET_DIGEST_SIZE = 36
MAX_INPUT_TAG_KEY_SIZE = 255
MAX_INPUT_TAG_VALUE_SIZE = 500

_KEY_RE = re.compile(r"^[/\w.\- :]*$")
_RUN_ID_RE = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}$")
_EXPERIMENT_ID_RE = re.compile(r"^[a-zA-Z0-9][\w\-]{0,63}$")
_MODEL_ID_RE = re.compile(r"^[A-Za-z0-9][\w\-]{0,35}$")
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

_valid_keys: set[str] = set()


def fits_int64(number: int) -> bool:
    """Whether ``number`` fits a signed 64-bit integer: MLflow's int64 fields and the
    database's BIGINT columns (ids, timestamps, steps, version numbers) hold no more.

    Callers raise their own error when it does not, naming the field. The metric checks'
    fast path compares with :data:`INT64_MIN` and :data:`INT64_MAX` inline, to spare a call.
    """
    return INT64_MIN <= number <= INT64_MAX


def validate_key(key: Any, what: str, path: str | None = None) -> str:
    """A metric, param or tag key: allowed characters, a path that cannot escape, <= 250 chars.

    A key with characters MLflow does not allow, or that resolves to another path, is
    refused with MLflow's message, naming the request field ``path`` (default: ``name``
    for a metric, ``key`` otherwise, as MLflow's)."""
    if type(key) is str and key in _valid_keys:
        return key
    if key is None or key == "":
        raise InvalidParameterValue(f"{what} key must be a non-empty string")
    if not isinstance(key, str):
        where = f" (parameter '{path}')" if path else ""
        raise InvalidParameterValue(f"{what} key must be a string, got {type(key).__name__}{where}")
    field = path or ("name" if what == "Metric" else "key")
    if len(key) > MAX_ENTITY_KEY_LENGTH:
        raise InvalidParameterValue(
            f"{what} key {key[:50]!r}... is {len(key)} characters long; "
            f"the limit is {MAX_ENTITY_KEY_LENGTH}"
        )
    if not _KEY_RE.match(key):
        raise InvalidParameterValue(
            f"Invalid value {json.dumps(key)} for parameter '{field}' supplied: Names may only "
            "contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), "
            "colon(:) and slashes (/)."
        )
    norm = posixpath.normpath(key)
    if norm != key or norm == "." or norm.startswith("..") or norm.startswith("/"):
        raise InvalidParameterValue(
            f"Invalid value {json.dumps(key)} for parameter '{field}' supplied: Names may be "
            "treated as files in certain cases, and must not resolve to other names when "
            f"treated as such. This name would resolve to {norm!r}"
        )
    if len(_valid_keys) < 100_000:
        _valid_keys.add(key)
    return key


def _truncate(value: str, limit: int, what: str, truncate: bool) -> str:
    if len(value) <= limit:
        return value
    if truncate:
        logger.warning(
            "%s %r... (%d characters) truncated to the limit of %d characters",
            what,
            value[:100],
            len(value),
            limit,
        )
        return value[:limit]
    raise InvalidParameterValue(f"{what} is {len(value)} characters long; the limit is {limit}")


def validate_metric(key: Any, value: Any, timestamp: Any, step: Any, *, path: str = "") -> Metric:
    """Check one metric point and return it with value as float, timestamp and step as int."""
    # The common case (a known key, a float, int timestamp and step) costs five type checks.
    if (
        type(key) is str
        and key in _valid_keys
        and type(value) is float
        and type(timestamp) is int
        and type(step) is int
        and 0 <= timestamp <= INT64_MAX
        and INT64_MIN <= step <= INT64_MAX
    ):
        return _new_metric((key, value, timestamp, step))
    return _validate_metric_slowly(key, value, timestamp, step, path)


def validate_metric_point(metric: Any, *, path: str = "") -> Metric:
    """Like :func:`validate_metric` for a Metric (or 4-tuple); a valid Metric is returned as is."""
    if type(metric) is Metric:
        key, value, timestamp, step = metric
        if (
            type(key) is str
            and key in _valid_keys
            and type(value) is float
            and type(timestamp) is int
            and type(step) is int
            and 0 <= timestamp <= INT64_MAX
            and INT64_MIN <= step <= INT64_MAX
        ):
            return metric
    if isinstance(metric, Metric):
        return validate_metric(metric.key, metric.value, metric.timestamp, metric.step, path=path)
    if isinstance(metric, tuple) and len(metric) == 4:
        return validate_metric(*metric, path=path)
    where = f" ({path})" if path else ""
    raise InvalidParameterValue(
        f"Expected a Metric or a (key, value, timestamp, step) tuple{where}, got {metric!r:.200}"
    )


def _new_metric(fields: tuple[str, float, int, int]) -> Metric:
    return tuple.__new__(Metric, fields)


def _validate_metric_slowly(key: Any, value: Any, timestamp: Any, step: Any, path: str) -> Metric:
    where = f" ({path})" if path else ""
    key = validate_key(key, "Metric", f"{path}.name" if path else None)
    if value is None or isinstance(value, bool) or not isinstance(value, numbers.Number):
        raise InvalidParameterValue(
            f"Got invalid value {value!r} for metric {key!r}{where}: "
            "the value must be a number (a 64-bit float)"
        )
    try:
        fvalue = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidParameterValue(
            f"Got invalid value {value!r} for metric {key!r}{where}: {exc}"
        ) from None
    ts = _as_int64(timestamp, f"timestamp of metric {key!r}{where}")
    if ts < 0:
        raise InvalidParameterValue(
            f"Got invalid timestamp {timestamp!r} for metric {key!r}{where}: "
            "it must be a non-negative number of milliseconds"
        )
    return Metric(key, fvalue, ts, _as_int64(step, f"step of metric {key!r}{where}"))


def _as_int64(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Number):
        raise InvalidParameterValue(f"Got invalid {what}: {value!r} is not an integer")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidParameterValue(f"Got invalid {what}: {value!r} is not an integer")
    ivalue = int(value)  # type: ignore[call-overload]
    if not fits_int64(ivalue):
        raise InvalidParameterValue(f"Got invalid {what}: {value!r} does not fit in 64 bits")
    return ivalue


def validate_timestamp(value: Any, what: str) -> int:
    """A non-negative number of milliseconds since the epoch."""
    ts = _as_int64(value, what)
    if ts < 0:
        raise InvalidParameterValue(f"Got invalid {what}: {value!r} is negative")
    return ts


def validate_param(key: Any, value: Any, *, truncate: bool = True, path: str = "") -> Param:
    key = validate_key(key, "Param", f"{path}.key" if path else None)
    text = _stringify(value)
    return Param(key, _truncate(text, MAX_PARAM_VAL_LENGTH, f"Value of param {key!r}", truncate))


def validate_tag(key: Any, value: Any, *, truncate: bool = True, path: str = "") -> RunTag:
    key = validate_key(key, "Tag", f"{path}.key" if path else None)
    text = _stringify(value)
    return RunTag(key, _truncate(text, MAX_TAG_VAL_LENGTH, f"Value of tag {key!r}", truncate))


def _stringify(value: Any) -> str:
    if value is None:
        return "None"
    return value if isinstance(value, str) else str(value)


def validate_experiment_name(name: Any) -> str:
    if not isinstance(name, str):
        raise InvalidParameterValue(
            f"Invalid experiment name {name!r}: it must be a string, got {type(name).__name__}"
        )
    if not name.strip():
        raise InvalidParameterValue("Invalid experiment name: it must not be empty")
    if len(name) > MAX_EXPERIMENT_NAME_LENGTH:
        raise InvalidParameterValue(
            f"Experiment name {name[:50]!r}... is {len(name)} characters long; "
            f"the limit is {MAX_EXPERIMENT_NAME_LENGTH}"
        )
    return name


def validate_experiment_tag(key: Any, value: Any) -> tuple[str, str]:
    key = validate_key(key, "Experiment tag")
    text = _stringify(value)
    if len(text) > MAX_EXPERIMENT_TAG_VAL_LENGTH:
        raise InvalidParameterValue(
            f"Value of experiment tag {key!r} is {len(text)} characters long; "
            f"the limit is {MAX_EXPERIMENT_TAG_VAL_LENGTH}"
        )
    return key, text


def validate_run_id(run_id: Any) -> str:
    if not isinstance(run_id, str) or not _RUN_ID_RE.match(run_id):
        raise InvalidParameterValue(f"Invalid run ID {run_id!r}")
    return run_id


def validate_experiment_id(experiment_id: Any) -> str:
    if isinstance(experiment_id, int) and not isinstance(experiment_id, bool):
        experiment_id = str(experiment_id)
    if not isinstance(experiment_id, str) or not _EXPERIMENT_ID_RE.match(experiment_id):
        raise InvalidParameterValue(f"Invalid experiment ID {experiment_id!r}")
    return experiment_id


def validate_search_experiment_ids(experiment_ids: Any) -> list[str]:
    """The experiments one search names (a string is one id): valid ids, at most the
    ``search_max_experiments`` setting's number of them."""
    ids = [experiment_ids] if isinstance(experiment_ids, str) else list(experiment_ids)
    limit = settings.get("search_max_experiments")
    if len(ids) > limit:
        raise InvalidParameterValue(
            f"A search may name at most {limit:,} experiments, not {len(ids):,} "
            "(setting search_max_experiments)"
        )
    return [validate_experiment_id(e) for e in ids]


def validate_model_id(model_id: Any) -> str:
    """A logged model's id (``m-`` and 32 hex digits when labtrack or MLflow made it)."""
    if not isinstance(model_id, str) or not _MODEL_ID_RE.match(model_id):
        raise InvalidParameterValue(f"Invalid logged model ID {model_id!r}")
    return model_id


def validate_run_name(name: Any) -> str:
    if not isinstance(name, str):
        raise InvalidParameterValue(f"Invalid run name {name!r}: it must be a string")
    if len(name) > MAX_RUN_NAME_LENGTH:
        raise InvalidParameterValue(
            f"Run name {name[:50]!r}... is {len(name)} characters long; "
            f"the limit is {MAX_RUN_NAME_LENGTH}"
        )
    return name


def validate_batch_limits(
    metrics: Sequence[Any], params: Sequence[Any], tags: Sequence[Any]
) -> None:
    """MLflow's per-request limits for log-batch (the labtrack bulk endpoint has none)."""
    for what, items, limit in (
        ("metrics", metrics, MAX_METRICS_PER_BATCH),
        ("params", params, MAX_PARAMS_TAGS_PER_BATCH),
        ("tags", tags, MAX_PARAMS_TAGS_PER_BATCH),
    ):
        if len(items) > limit:
            raise InvalidParameterValue(
                f"A batch logging request can contain at most {limit} {what}. Got "
                f"{len(items)} {what}. Please split up {what} across multiple requests "
                "and try again."
            )
    total = len(metrics) + len(params) + len(tags)
    if total > MAX_ENTITIES_PER_BATCH:
        raise InvalidParameterValue(
            f"A batch logging request can contain at most {MAX_ENTITIES_PER_BATCH} metrics, "
            f"params, and tags. Got {total}. Please split up the batch and try again."
        )


def validate_bulk_limits(points: int, keys: int, params: int, tags: int) -> None:
    """The per-request limits of labtrack's bulk endpoint on how many items it logs: metric
    ``points`` of ``keys`` distinct keys, ``params`` and ``tags``."""
    for what, count, limit in (
        ("metric points", points, MAX_BULK_METRIC_POINTS),
        ("metric keys", keys, MAX_BULK_METRIC_KEYS),
        ("params", params, MAX_BULK_PARAMS),
        ("tags", tags, MAX_BULK_TAGS),
    ):
        if count > limit:
            raise InvalidParameterValue(
                f"A bulk logging request can contain at most {limit} {what}. Got {count} "
                f"{what}. Please split up the batch across several requests and try again."
            )


def validate_bulk_text(params: Iterable[Param], tags: Iterable[RunTag]) -> None:
    """The bulk endpoint's limit on the text of one request's params and tags (checked on
    the values as they will be stored, after any truncation)."""
    size = sum(len(p.key) + len(p.value) for p in params)
    size += sum(len(t.key) + len(t.value) for t in tags)
    if size > MAX_BULK_TEXT:
        raise InvalidParameterValue(
            f"A bulk logging request can contain at most {MAX_BULK_TEXT} characters of param "
            f"and tag keys and values. Got {size}. Please split up the params and tags across "
            "several requests and try again."
        )


def validate_param_keys_unique(params: Iterable[Param]) -> None:
    seen: set[str] = set()
    dupes: list[str] = []
    for p in params:
        if p.key in seen:
            dupes.append(p.key)
        seen.add(p.key)
    if dupes:
        raise InvalidParameterValue(
            f"Duplicate parameter keys have been submitted: {dupes}. Please ensure the "
            "request contains only one param value per param key."
        )


def validate_max_results(max_results: Any, limit: int, what: str) -> int:
    if isinstance(max_results, bool) or not isinstance(max_results, int):
        raise InvalidParameterValue(
            f"Invalid max_results {max_results!r} for {what}: it must be a positive integer"
        )
    if max_results <= 0 or max_results > limit:
        raise InvalidParameterValue(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be "
            f"a positive integer at most {limit}"
        )
    return max_results
