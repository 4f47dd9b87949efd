"""Reading an MLflow API request's fields, with MLflow's errors for missing or mistyped ones.

GET requests carry fields as query parameters (a repeated key is a list), other
methods as a JSON object. int64 fields may be numbers or digit strings, as
protobuf JSON writers send them; unknown fields are ignored, as MLflow does. A field
of the wrong type gets MLflow's server's words (``Invalid value 5 for parameter 'name'
supplied:  Hint: Value was of type 'int'. ...``, see :func:`labtrack._protocol.invalid_type`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from labtrack._protocol import (
    int_from_json,
    invalid_type,
    message,
    shown_value,
    tag_from_json,
)
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
    """A value of the right type but out of the field's range or choices: MLflow's opening
    words, then labtrack's (MLflow's server keeps a garbled int64, takes an unknown enum
    name as the default, and says of an int32 too large "Value was of type 'int'")."""
    return InvalidParameterValue(
        f"Invalid value {shown_value(value)} for parameter '{name}' supplied: expected "
        f"{expected}. See the API docs for more information about request parameters."
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
            raise invalid_type(value, name)
        return value

    def _int(self, name: str, required: bool, bounds: tuple[int, int], what: str) -> int | None:
        value = self._raw(name, required)
        if value is None:
            return None
        number = int_from_json(value, name)
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
        if not self._from_query:  # JSON: true or false, not "true"
            raise invalid_type(value, name)
        if value.lower() not in ("true", "false"):
            raise InvalidParameterValue(
                f"Invalid boolean value: {value}, must be 'true' or 'false'."
            )
        return bool(value.lower() == "true")

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
        """A repeated string field: a JSON list of strings, or a query parameter given once or
        more. MLflow's words for a wrong type name the whole list (``Value was of type
        'list'``), as its server's checks do."""
        value = self._data.get(name)
        if value is None:
            return []
        if isinstance(value, str) and self._from_query:
            return [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise invalid_type(value, name)
        return value

    def objects(self, name: str, parse: Callable[[Any, str], T]) -> list[T]:
        """A repeated message field, each item parsed by ``parse(item, path)`` (the path names
        the item in errors: ``tags[2]``)."""
        value = self._data.get(name)
        if value is None:
            return []
        if self._from_query:
            raise InvalidParameterValue(f"Parameter '{name}' cannot be given in a query string")
        if not isinstance(value, list):
            raise invalid_type(value, name)
        return [
            parse(message(item, f"{name}[{i}]"), f"{name}[{i}]") for i, item in enumerate(value)
        ]

    def pairs(self, name: str) -> dict[str, str]:
        """A repeated ``{key, value}`` field as a dict (a repeated key: the last value wins;
        a left-out value is the empty string)."""
        out: dict[str, str] = {}
        for i, tag in enumerate(self.objects(name, tag_from_json)):
            if not tag.key:
                raise InvalidParameterValue(
                    f"Missing value for required parameter '{name}[{i}].key'."
                )
            out[tag.key] = tag.value or ""
        return out

    def entries(self, name: str, make: Callable[[Any, Any], T]) -> list[T]:
        """A repeated ``{key, value}`` field (params, tags), each item as ``make(key, value)``.

        An item must be an object and its key and value strings: anything else (a number,
        an array, an object) is refused with MLflow's words for a field of the wrong type,
        naming the item's field. A missing value is "", as MLflow reads an unset protobuf
        string; a missing key is None (the validation refuses it with MLflow's words).
        """
        return [
            make(pair.key, "" if pair.value is None else pair.value)
            for pair in self.objects(name, tag_from_json)
        ]

    def run_id(self) -> str:
        """MLflow accepts the run id as ``run_id`` or the older ``run_uuid``."""
        value = self.string("run_id") or self.string("run_uuid")
        if not value:
            raise _missing("run_id")
        return value
