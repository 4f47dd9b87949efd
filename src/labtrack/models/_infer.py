"""Signature inference from example data, with MLflow's rules (NumPy and pandas needed).

- pandas DataFrame: a column spec per column; a column with missing values is optional.
- pandas Series: one column spec, named after the series if it has a name.
- NumPy array: one tensor spec, first dimension variable (-1).
- dict of NumPy arrays: one named tensor spec per key.
- other dict: one column spec per key (a list value is an ``array`` column).
- list of dicts: one column spec per key, optional when a row lacks it or has None.
- list of scalars: one unnamed column; a scalar: one unnamed column.

Types: bool -> boolean, int8/16/32 and uint8/16 -> integer, int64 and uint32 -> long,
float16/32 -> float, float64 -> double, str -> string, bytes -> binary,
datetime64 -> datetime; pandas' nullable dtypes (Int64, Float64, boolean, string)
map like their NumPy counterparts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from labtrack.errors import InvalidParameterValue
from labtrack.models.signature import (
    AnyType,
    Array,
    ColSpec,
    ColumnType,
    ModelSignature,
    Object,
    ParamSchema,
    ParamSpec,
    Property,
    Schema,
    TensorSpec,
)

__all__ = ["infer_params_schema", "infer_schema", "infer_signature", "numpy_column_type"]


def infer_signature(
    model_input: Any = None, model_output: Any = None, params: Mapping[str, Any] | None = None
) -> ModelSignature:
    """The signature of a model that takes ``model_input`` and returns ``model_output``.

    ``params`` maps inference param names to their default values.
    """
    inputs = infer_schema(model_input) if model_input is not None else None
    outputs = infer_schema(model_output) if model_output is not None else None
    return ModelSignature(inputs, outputs, infer_params_schema(params) if params else None)


def numpy_column_type(dtype: Any) -> str:
    """The column type of a NumPy dtype or pandas extension dtype (not object)."""
    kind = getattr(dtype, "kind", None)
    size = getattr(dtype, "itemsize", 8)
    if kind == "b":
        return "boolean"
    if kind == "i":
        return "integer" if size <= 4 else "long"
    if kind == "u":
        if size <= 2:
            return "integer"
        if size <= 4:
            return "long"
    if kind == "f":
        return "float" if size <= 4 else "double"
    if kind == "U":
        return "string"
    if kind == "S":
        return "binary"
    if kind == "M":
        return "datetime"
    raise InvalidParameterValue(f"Unsupported data type {dtype!s} for a model signature")


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return value != value
    import pandas as pd

    return value is pd.NA or value is pd.NaT


def _value_type(value: Any) -> ColumnType | None:
    """The type of one value; None when it tells nothing (a missing value)."""
    import numpy as np

    if _is_missing(value):
        return None
    if isinstance(value, (bool, np.bool_)):
        return "boolean"
    if isinstance(value, np.integer):
        return numpy_column_type(value.dtype)
    if isinstance(value, int):
        return "long"
    if isinstance(value, np.floating):
        return numpy_column_type(value.dtype)
    if isinstance(value, float):
        return "double"
    if isinstance(value, (str, np.str_)):
        return "string"
    if isinstance(value, (bytes, bytearray, np.bytes_)):
        return "binary"
    if isinstance(value, (dt.date, np.datetime64)):
        return "datetime"
    if isinstance(value, Mapping):
        if not value:
            return AnyType()
        return Object(
            tuple(
                Property(str(k), t if t is not None else AnyType(), t is not None)
                for k, t in ((k, _value_type(v)) for k, v in value.items())
            )
        )
    if isinstance(value, (list, tuple, np.ndarray)):
        return _sequence_type(value)
    raise InvalidParameterValue(
        f"Cannot infer a signature type for a value of type {type(value).__name__}: {value!r:.80}"
    )


def _merge(a: ColumnType | None, b: ColumnType | None, where: str) -> ColumnType | None:
    if a is None or isinstance(a, AnyType):
        return b if b is not None else a
    if b is None or isinstance(b, AnyType) or a == b:
        return a
    if isinstance(a, Object) and isinstance(b, Object):
        props: dict[str, Property] = {p.name: p for p in a.properties}
        for p in b.properties:
            q = props.get(p.name)
            if q is None:
                props[p.name] = Property(p.name, p.type, False)
            else:
                merged = _merge(q.type, p.type, where) or AnyType()
                props[p.name] = Property(p.name, merged, q.required and p.required)
        for name in set(props) - {p.name for p in b.properties}:
            props[name] = Property(name, props[name].type, False)
        return Object(tuple(props[n] for n in sorted(props)))
    if isinstance(a, Array) and isinstance(b, Array):
        return Array(_merge(a.items, b.items, where) or AnyType())
    raise InvalidParameterValue(f"Values of several types in {where}: {a!r} and {b!r}")


def _sequence_type(values: Any) -> Array | AnyType:
    result: ColumnType | None = None
    for value in values:
        result = _merge(result, _value_type(value), "a list")
    return AnyType() if result is None else Array(result)


def _column_type(values: Any, where: str) -> ColumnType:
    """The one type of the non-missing values of a column."""
    result: ColumnType | None = None
    for value in values:
        result = _merge(result, _value_type(value), where)
    if result is None:
        raise InvalidParameterValue(
            f"Cannot infer the type of {where}: it has no values (only missing ones)"
        )
    return result


def _series_type(series: Any, where: str) -> ColumnType:
    if series.dtype.kind == "O":
        series = series.infer_objects()
    if series.dtype.kind == "O" or str(series.dtype) == "category":
        return _column_type(series.tolist(), where)
    return numpy_column_type(series.dtype)


def _tensor_spec(array: Any, name: str | None = None) -> TensorSpec:
    dtype = array.dtype
    if dtype.kind == "O":
        raise InvalidParameterValue(
            "Cannot infer a tensor spec from an array of Python objects; pass a typed array"
        )
    dtype_name = {"U": "str", "S": "bytes"}.get(dtype.kind, dtype.name)
    shape = (-1, *array.shape[1:]) if array.ndim else ()
    return TensorSpec(dtype_name, tuple(int(n) for n in shape), name)


def infer_schema(data: Any) -> Schema:
    """The schema of ``data`` (see the module's docstring for the rules)."""
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return Schema(
            [
                ColSpec(
                    _series_type(data[col], f"column {col!r}"),
                    str(col),
                    not data[col].isna().any(),
                )
                for col in data.columns
            ]
        )
    if isinstance(data, pd.Series):
        name = None if data.name is None else str(data.name)
        return Schema(
            [ColSpec(_series_type(data, "the series"), name, name is None or not data.isna().any())]
        )
    if isinstance(data, np.ndarray):
        return Schema([_tensor_spec(data)])
    if isinstance(data, Mapping):
        if data and all(isinstance(v, np.ndarray) for v in data.values()):
            return Schema([_tensor_spec(v, str(k)) for k, v in data.items()])
        specs = []
        for key, value in data.items():
            if not isinstance(key, str):
                raise InvalidParameterValue(f"Dict keys must be strings, got {key!r}")
            if isinstance(value, np.ndarray):
                value = value.tolist()
            t = _value_type(value)
            specs.append(ColSpec(t if t is not None else AnyType(), key, t is not None))
        return Schema(specs)
    if isinstance(data, list):
        if not data:
            return Schema([ColSpec("string")])
        if all(isinstance(row, Mapping) for row in data):
            keys: dict[str, None] = {}
            for row in data:
                keys.update(dict.fromkeys(str(k) for k in row))
            return Schema(
                [
                    ColSpec(
                        _column_type([row.get(k) for row in data], f"key {k!r}"),
                        k,
                        all(not _is_missing(row.get(k)) for row in data),
                    )
                    for k in keys
                ]
            )
        return Schema([ColSpec(_column_type(data, "the list"))])
    t = _value_type(data)
    if t is None:
        raise InvalidParameterValue(f"Cannot infer a schema from {data!r}")
    return Schema([ColSpec(t)])


def infer_params_schema(params: Mapping[str, Any]) -> ParamSchema:
    """Param specs whose defaults are the given values (scalars or 1-D lists)."""
    specs = []
    for name, value in params.items():
        if isinstance(value, (list, tuple)) or getattr(value, "ndim", 0) == 1:
            items = list(value)
            item_type = _column_type(items, f"param {name!r}") if items else "string"
            if not isinstance(item_type, str):
                raise InvalidParameterValue(
                    f"Param {name!r} must be a scalar or a 1-D list of scalars"
                )
            specs.append(ParamSpec(name, item_type, items, (-1,)))
            continue
        t = _value_type(value)
        if t is None or isinstance(t, (Array, AnyType)):
            raise InvalidParameterValue(
                f"Cannot infer the type of param {name!r} from {value!r:.80}"
            )
        if hasattr(value, "item"):
            value = value.item()
        specs.append(ParamSpec(name, t, value))
    return ParamSchema(specs)
