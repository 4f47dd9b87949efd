"""Reading an MLflow API request's fields, with MLflow's errors for missing or mistyped ones.

GET requests carry fields as query parameters (a repeated key is a list), other
methods as a JSON object. int64 fields may be numbers or digit strings, as
protobuf JSON writers send them; unknown fields are ignored, as MLflow does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from labtrack._protocol import int_from_json
from labtrack.errors import InvalidParameterValue
from labtrack.validation import INT64_MAX, INT64_MIN

T = TypeVar("T")
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (INT64_MIN, INT64_MAX)


def _missing(name: str) -> InvalidParameterValue:
    return InvalidParameterValue(
        f"Missing value for required parameter '{name}'. "
        "See the API docs for more information about request parameters."
    )


def _invalid(name: str, value: Any, expected: str) -> InvalidParameterValue:
    # The value as MLflow's server shows it: JSON ("foo", 5, [1, 2]), not Python's repr.
    try:
        shown = json.dumps(value, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        shown = repr(value)
    if len(shown) > 100:
        shown = shown[:100] + "..."
    return InvalidParameterValue(
        f"Invalid value {shown} for parameter '{name}' supplied: expected {expected}. "
        "See the API docs for more information about request parameters."
    )


class Params:
    """The fields of one request."""

    def __init__(self, data: Mapping[str, Any], *, from_query: bool = False) -> None:
        self._data = data
        self._from_query = from_query

    def has(self, name: str) -> bool:
        return self._data.get(name) not in (None, "")

    def _raw(self, name: str, required: bool) -> Any:
        value = self._data.get(name)
        if self._from_query and isinstance(value, list):
            value = value[-1] if value else None
        if value is None or (required and value == ""):
            if required:
                raise _missing(name)
            return None
        return value

    def string(self, name: str, *, required: bool = False, default: str | None = None) -> Any:
        value = self._raw(name, required)
        if value is None:
            return default
        if not isinstance(value, str):
            raise _invalid(name, value, "a string")
        return value

    def _int(self, name: str, required: bool, bounds: tuple[int, int], what: str) -> int | None:
        value = self._raw(name, required)
        if value is None:
            return None
        try:
            number = int_from_json(value, name)
        except InvalidParameterValue:
            raise _invalid(name, value, what) from None
        if not bounds[0] <= number <= bounds[1]:
            raise _invalid(name, value, what)
        return number

    def int64(self, name: str, *, required: bool = False) -> int | None:
        return self._int(name, required, _INT64, "a 64-bit integer")

    def int32(self, name: str, *, required: bool = False) -> int | None:
        return self._int(name, required, _INT32, "a 32-bit integer")

    def boolean(self, name: str, *, default: bool = False) -> bool:
        value = self._raw(name, False)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _invalid(name, value, "true or false")

    def enum(self, name: str, choices: tuple[str, ...], *, default: str | None = None) -> Any:
        """A protobuf enum: its name (as MLflow clients send it) or its number."""
        value = self._raw(name, False)
        if value is None:
            return default
        if isinstance(value, str) and value in choices:
            return value
        if isinstance(value, str) and value.isascii() and value.isdigit():  # not "¹" or "٣"
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= len(choices):
            return choices[value - 1]
        raise _invalid(name, value, f"one of {', '.join(choices)}")

    def str_list(self, name: str) -> list[str]:
        value = self._data.get(name)
        if value is None:
            return []
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _invalid(name, value, "a list of strings")
        return value

    def objects(self, name: str, parse: Callable[[Any], T]) -> list[T]:
        """A repeated message field, each item parsed by ``parse``."""
        value = self._data.get(name)
        if value is None:
            return []
        if self._from_query:
            raise InvalidParameterValue(f"Parameter '{name}' cannot be given in a query string")
        if not isinstance(value, list):
            raise _invalid(name, value, "a list")
        parsed = []
        for i, item in enumerate(value):
            if not isinstance(item, Mapping):
                raise _invalid(f"{name}[{i}]", item, "an object")
            parsed.append(parse(item))
        return parsed

    def entries(self, name: str, make: Callable[[Any, Any], T]) -> list[T]:
        """A repeated ``{key, value}`` field (params, tags), each item as ``make(key, value)``.

        A key must be a string and a value a string or a number (taken as its text, as
        labtrack has always stored it); an array or an object in either place is refused,
        naming the item's field. A missing value is "", as MLflow reads an unset protobuf
        string. Missing keys and the keys' rules are the validation's.
        """
        entries = []
        for i, item in enumerate(self.objects(name, lambda d: d)):
            key, value = item.get("key"), item.get("value")
            if key is not None and not isinstance(key, str):
                raise _invalid(f"{name}[{i}].key", key, "a string")
            if isinstance(value, (Mapping, list)):
                raise _invalid(f"{name}[{i}].value", value, "a string")
            entries.append(make(key, "" if value is None else value))
        return entries

    def run_id(self) -> str:
        """MLflow accepts the run id as ``run_id`` or the older ``run_uuid``."""
        value = self.string("run_id") or self.string("run_uuid")
        if not value:
            raise _missing("run_id")
        return value
