"""Checking a model's input against its signature at predict time.

Column-based signatures:

- the input becomes a pandas DataFrame (from a DataFrame, a dict of columns, a
  list of row dicts, or a 2-D array whose columns are the signature's, in order);
- a required column that is missing is an error; extra columns are dropped (as
  MLflow does), and the columns are put in the signature's order;
- each column is converted only where no value can change: any integer to long
  or integer when every value fits, any integer to double/float when every value
  is exactly representable, float32 to double, ISO strings to datetime. A float
  is never turned into an integer, nor a number into a string. Otherwise the
  error names the column, the type expected and a few of the values given:
  ``Column 'trip_distance' must be double, got string values ('abc', ...)``.

Tensor-based signatures take arrays (a DataFrame's values for a single tensor)
whose dtype casts safely to the expected one and whose shape matches.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from labtrack.errors import InvalidParameterValue
from labtrack.models.signature import ColSpec, ParamSchema, Schema, TensorSpec
from labtrack.validation import INT64_MAX, INT64_MIN

__all__ = ["SchemaError", "enforce_params", "enforce_schema"]

_log = logging.getLogger(__name__)

_INT_RANGES = {"integer": (-(2**31), 2**31 - 1), "long": (INT64_MIN, INT64_MAX)}
_EXACT_INT = {"double": 2**53, "float": 2**24}


class SchemaError(InvalidParameterValue):
    """The input of a model does not match its signature."""


def _values_text(values: Any, limit: int = 3) -> str:
    """A few distinct values, as ``('abc', 'd', ...)``."""
    distinct: list[Any] = []
    for value in values:
        if not any(value is seen or _same(value, seen) for seen in distinct):
            distinct.append(value)
    shown = [repr(_plain(v)) for v in distinct[:limit]]
    more = ", ..." if len(distinct) > limit else ""
    return f"({', '.join(shown)}{more})"


def _plain(value: Any) -> Any:
    """A NumPy value as the Python value it prints as (an array as a list)."""
    if hasattr(value, "tolist") and _ndim(value) > 0:
        return value.tolist()
    if hasattr(value, "item"):
        try:
            return value.item()
        except (ValueError, TypeError):
            return value
    return value


def _same(a: Any, b: Any) -> bool:
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:
        return False


def _describe_kind(series: Any) -> str:
    """What the values of a column are, in signature words."""
    from labtrack.models._infer import numpy_column_type

    dtype = series.dtype
    if dtype.kind not in ("O", "T") and str(dtype) not in ("string", "str"):
        try:
            return numpy_column_type(dtype)
        except InvalidParameterValue:
            return str(dtype)
    kinds = []
    for value in series:
        if value is None or (isinstance(value, float) and value != value):
            continue
        kind = _python_kind(value)
        if kind not in kinds:
            kinds.append(kind)
    return " and ".join(kinds) or "missing"


def _python_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (bytes, bytearray)):
        return "binary"
    if isinstance(value, (dt.date, dt.datetime)):
        return "datetime"
    if type(value).__name__ == "ndarray":
        return "array"
    return type(value).__name__


def _type_error(name: Any, expected: str, series: Any, hint: str = "") -> SchemaError:
    bad = series.dropna()
    sample = _values_text(bad.tolist() if len(bad) else series.tolist())
    return SchemaError(
        f"Column {name!r} must be {expected}, got {_describe_kind(series)} values {sample}{hint}"
    )


def _enforce_column(name: Any, series: Any, expected: Any) -> Any:
    """``series`` converted to the expected column type, or a SchemaError."""
    import numpy as np
    import pandas as pd

    if not isinstance(expected, str):  # array, object, map, any: not checked value by value
        return series
    if series.dtype.kind == "O" and expected not in ("string", "binary"):
        series = series.infer_objects()
    dtype = series.dtype
    kind = dtype.kind
    if expected == "string":
        textual = kind in ("O", "T", "U") or isinstance(dtype, pd.StringDtype)
        if textual and all(isinstance(v, str) for v in series.dropna()):
            return series
        raise _type_error(name, expected, series)
    if expected == "binary":
        if kind == "S" or (
            kind == "O" and all(isinstance(v, (bytes, bytearray)) for v in series.dropna())
        ):
            return series
        raise _type_error(name, expected, series)
    if expected == "boolean":
        if kind == "b":
            return series
        if kind == "O" and all(isinstance(v, (bool, np.bool_)) for v in series.dropna()):
            return series
        raise _type_error(name, expected, series)
    if expected == "datetime":
        if kind == "M":
            return series
        if kind in ("O", "T") or isinstance(dtype, pd.StringDtype):
            try:
                return pd.to_datetime(series, errors="raise")
            except (ValueError, TypeError):
                pass
        raise _type_error(name, expected, series)
    if expected in _INT_RANGES:
        if kind in ("i", "u"):
            low, high = _INT_RANGES[expected]
            values = series.dropna()
            if len(values) == 0 or (values.min() >= low and values.max() <= high):
                target = "int32" if expected == "integer" else "int64"
                if getattr(series, "hasnans", False):  # nullable Int dtype with <NA>
                    return series.astype(target.capitalize())
                return series.astype(target)
            raise SchemaError(
                f"Column {name!r} must be {expected}, got integers out of its range "
                f"{_values_text(values[(values < low) | (values > high)].tolist())}"
            )
        hint = ""
        if kind == "f" and series.hasnans:
            whole = series.dropna()
            if len(whole) and bool((whole == whole.round()).all()):
                hint = (
                    ". Missing values make pandas store integers as floats: fill them, or "
                    "declare the column double in the signature"
                )
        raise _type_error(name, expected, series, hint)
    # double or float
    if kind == "f":
        if expected == "double" or dtype.itemsize <= 4:
            return series.astype("float64" if expected == "double" else "float32")
        raise _type_error(name, expected, series)  # double -> float loses precision
    if kind in ("i", "u"):
        limit = _EXACT_INT[expected]
        values = series.dropna()
        if len(values) == 0 or (values.min() >= -limit and values.max() <= limit):
            return series.astype("float64" if expected == "double" else "float32")
        raise SchemaError(
            f"Column {name!r} must be {expected}, got integers too large to convert exactly "
            f"{_values_text(values[(values < -limit) | (values > limit)].tolist())}"
        )
    raise _type_error(name, expected, series)


def _ndim(value: Any) -> int:
    """Dimensions of a column's value without converting it (a ragged list stays a list)."""
    if isinstance(value, (list, tuple)):
        return 1
    return int(getattr(value, "ndim", 0))


def _frame_from_columns(data: Mapping[Any, Any]) -> Any:
    """A dict of columns as a DataFrame; a dict of scalars (0-d arrays too: a scoring
    request's ``{"inputs": {"a": 1}}``) is one row. A 2-D array is a column of rows (an
    array-typed column). Columns of different lengths are an error naming them."""
    import numpy as np
    import pandas as pd

    if all(_ndim(v) == 0 for v in data.values()):
        # v[()]: a 0-d array's value as a NumPy scalar, which keeps its dtype
        row = {k: v[()] if isinstance(v, np.ndarray) else v for k, v in data.items()}
        return pd.DataFrame([row])
    columns = {
        k: list(v) if _ndim(v) > 1 else v if _ndim(v) else [_plain(v)] for k, v in data.items()
    }
    lengths = {k: len(v) for k, v in columns.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{k!r}: {n}" for k, n in lengths.items())
        raise SchemaError(f"The input's columns must all have as many values; got {shown}")
    return pd.DataFrame(columns)


def _as_frame(data: Any, schema: Schema) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        return data.to_frame()
    if isinstance(data, Mapping):
        return _frame_from_columns(data)
    if isinstance(data, list) and data and all(isinstance(row, Mapping) for row in data):
        return pd.DataFrame(data)
    array = np.asarray(data) if isinstance(data, (list, tuple)) else data
    if isinstance(array, np.ndarray):
        if array.ndim == 1:
            array = array.reshape(-1, 1) if len(schema) == 1 else array.reshape(1, -1)
        if array.ndim != 2 or array.shape[1] != len(schema):
            raise SchemaError(
                f"The model takes {len(schema)} column(s), got an array of shape {array.shape}"
            )
        names = schema.input_names() if schema.has_input_names() else list(range(len(schema)))
        return pd.DataFrame(array, columns=names)
    raise SchemaError(
        f"Cannot use a {type(data).__name__} as input of a model with a column-based "
        "signature: pass a pandas DataFrame, a dict of columns, a list of row dicts or a 2-D array"
    )


# Column types whose check is "already this NumPy dtype" (the fast path below).
_EXACT_DTYPES = {
    "double": "float64",
    "float": "float32",
    "long": "int64",
    "integer": "int32",
    "boolean": "bool",
}


def _conforms(frame: Any, specs: list[ColSpec]) -> bool:
    """Whether ``frame`` already is what the checks would make of it: the signature's
    columns, in order, each of exactly the target dtype (the usual case of a scoring
    request or a batch). Then nothing needs converting."""
    if len(frame.columns) != len(specs):
        return False
    for spec, name, dtype in zip(specs, frame.columns, frame.dtypes, strict=True):
        if not isinstance(spec.type, str) or name != spec.name:
            return False
        if str(dtype) != _EXACT_DTYPES.get(spec.type):
            return False
    return True


def _enforce_columns(data: Any, schema: Schema) -> Any:
    import pandas as pd

    frame = _as_frame(data, schema)
    specs = [s for s in schema if isinstance(s, ColSpec)]
    if schema.has_input_names() and _conforms(frame, specs):
        return frame.copy(deep=False)  # a new frame, as the checks below give, sharing data
    if not schema.has_input_names():
        if frame.shape[1] < len(specs):
            raise SchemaError(f"The model takes {len(specs)} column(s), got {frame.shape[1]}")
        columns = {
            frame.columns[i]: _enforce_column(frame.columns[i], frame.iloc[:, i], spec.type)
            for i, spec in enumerate(specs)
        }
        return pd.DataFrame(columns, index=frame.index)
    given = [str(c) for c in frame.columns]
    if given != list(frame.columns):
        frame = frame.set_axis(given, axis=1)
    missing = [s.name for s in specs if s.required and s.name not in frame.columns]
    if missing:
        described = ", ".join(
            f"{s.name!r} ({s.type if isinstance(s.type, str) else s.type.to_dict()['type']})"
            for s in specs
            if s.name in missing
        )
        plural = "s" if len(missing) > 1 else ""
        verb = "are" if len(missing) > 1 else "is"
        raise SchemaError(
            f"Column{plural} {described} {verb} required by the model signature but missing "
            f"from the input (its columns: {given})"
        )
    extra = [c for c in given if c not in schema.input_names()]
    if extra:
        _log.info("Ignoring input columns the model signature does not name: %s", extra)
    columns = {
        s.name: _enforce_column(s.name, frame[s.name], s.type)
        for s in specs
        if s.name in frame.columns
    }
    return pd.DataFrame(columns, index=frame.index)


def _enforce_tensor(name: str | None, array: Any, spec: TensorSpec) -> Any:
    import numpy as np

    what = f"Tensor {name!r}" if name else "The input tensor"
    expected = np.dtype(spec.dtype)
    array = np.asarray(array)
    if array.dtype != expected:
        if array.dtype.kind == "O" or not np.can_cast(array.dtype, expected, "safe"):
            raise SchemaError(
                f"{what} must have dtype {spec.dtype}, got {array.dtype} (values "
                f"{_values_text(array.ravel().tolist())}), which does not convert safely"
            )
        array = array.astype(expected)
    if len(spec.shape) != array.ndim or any(
        want != -1 and want != got for want, got in zip(spec.shape, array.shape, strict=True)
    ):
        raise SchemaError(f"{what} must have shape {list(spec.shape)}, got {list(array.shape)}")
    return array


def _enforce_tensors(data: Any, schema: Schema) -> Any:
    import pandas as pd

    specs = [s for s in schema if isinstance(s, TensorSpec)]
    if isinstance(data, Mapping) and schema.has_input_names():
        missing = [s.name for s in specs if s.name not in data]
        if missing:
            raise SchemaError(f"Missing required tensor(s) {missing}; the input has {list(data)}")
        return {s.name: _enforce_tensor(s.name, data[s.name], s) for s in specs if s.name}
    if len(specs) != 1:
        raise SchemaError(
            f"The model takes {len(specs)} named tensors: pass a dict of arrays "
            f"with keys {[s.name for s in specs]}"
        )
    if isinstance(data, (pd.DataFrame, pd.Series)):
        data = data.to_numpy()
    return _enforce_tensor(specs[0].name, data, specs[0])


def enforce_schema(data: Any, schema: Schema) -> Any:
    """``data`` checked against (and safely converted to) ``schema``."""
    if schema.is_tensor_spec():
        return _enforce_tensors(data, schema)
    return _enforce_columns(data, schema)


_PARAM_CONVERSIONS = {
    "long": ("integer",),
    "float": ("integer", "long"),
    "double": ("integer", "long", "float"),
}


def _param_value(name: str, value: Any, expected: Any) -> Any:
    if not isinstance(expected, str):
        return value
    if expected == "datetime":
        if isinstance(value, (dt.date, dt.datetime)):
            return value
        try:
            return dt.datetime.fromisoformat(str(value))
        except ValueError:
            raise SchemaError(f"Param {name!r} must be datetime, got {value!r}") from None
    kind = _python_kind(value.item() if hasattr(value, "item") else value)
    if kind == "integer":
        kind = "long"
    if (
        kind == expected
        or kind in _PARAM_CONVERSIONS.get(expected, ())
        or (expected == "integer" and kind == "long")
    ):
        python = {"boolean": bool, "integer": int, "long": int, "float": float, "double": float}
        return python.get(expected, lambda v: v)(value)
    raise SchemaError(f"Param {name!r} must be {expected}, got {kind} value {value!r}")


def enforce_params(
    params: Mapping[str, Any] | None, schema: ParamSchema | None
) -> dict[str, Any] | None:
    """The params to pass to the model: defaults filled in, values checked, unknown ones dropped."""
    if schema is None:
        if params:
            _log.warning(
                "Ignoring params %s: the model's signature declares no params", sorted(params)
            )
        return None
    params = dict(params or {})
    unknown = sorted(set(params) - {p.name for p in schema})
    if unknown:
        _log.warning("Ignoring params the model's signature does not declare: %s", unknown)
    result: dict[str, Any] = {}
    for spec in schema:
        if spec.name not in params:
            result[spec.name] = spec.default
            continue
        value = params[spec.name]
        if value is None:
            result[spec.name] = None
        elif spec.shape:
            if not isinstance(value, (list, tuple)):
                raise SchemaError(f"Param {spec.name!r} must be a list, got {value!r}")
            result[spec.name] = [_param_value(spec.name, v, spec.type) for v in value]
        else:
            result[spec.name] = _param_value(spec.name, value, spec.type)
    return result
