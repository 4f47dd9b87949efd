"""Checking inputs against a signature at predict time: conversions allowed and errors."""

from __future__ import annotations

import re
from typing import Any

import pytest

from labtrack.models import ColSpec, ParamSchema, ParamSpec, Schema, SchemaError, TensorSpec
from labtrack.models._enforce import enforce_params, enforce_schema

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")


def one(type_: str) -> Schema:
    return Schema([ColSpec(type_, "x")])


ACCEPTED = [
    # (expected type, given values, dtype of the result)
    ("double", pd.Series([1.5, 2.0]), "float64"),
    ("double", pd.Series([1.5, 2.0], dtype="float32"), "float64"),
    ("double", pd.Series([1, 2]), "float64"),  # int -> double: exact
    ("double", pd.Series([1, 2], dtype="int8"), "float64"),
    ("double", pd.Series([1.5, None], dtype="Float64"), "float64"),
    ("float", pd.Series([1.5], dtype="float32"), "float32"),
    ("float", pd.Series([3], dtype="int16"), "float32"),
    ("long", pd.Series([1, 2]), "int64"),
    ("long", pd.Series([1, 2], dtype="int32"), "int64"),
    ("long", pd.Series([1, 2], dtype="uint16"), "int64"),
    ("long", pd.Series([1, None], dtype="Int64"), "Int64"),
    ("integer", pd.Series([1, 2], dtype="int64"), "int32"),  # values fit
    ("integer", pd.Series([1, 2], dtype="int8"), "int32"),
    ("boolean", pd.Series([True, False]), "bool"),
    ("boolean", pd.Series([True, None], dtype="boolean"), "boolean"),
    ("string", pd.Series(["a", "b"], dtype=object), "object"),
    ("string", pd.Series(["a", None], dtype=object), "object"),
    ("binary", pd.Series([b"a", b"b"]), "object"),
    ("datetime", pd.Series(pd.to_datetime(["2024-01-01"])), "datetime64"),
    ("datetime", pd.Series(["2024-01-01T10:00:00"]), "datetime64"),
]


@pytest.mark.parametrize(("expected", "values", "dtype"), ACCEPTED)
def test_safe_conversions(expected: str, values: Any, dtype: str) -> None:
    out = enforce_schema(pd.DataFrame({"x": values}), one(expected))
    assert str(out["x"].dtype).startswith(dtype)
    if expected != "datetime":
        assert list(out["x"].dropna()) == list(values.dropna())


REFUSED = [
    (
        "double",
        pd.Series(["abc", "1.5"], dtype=object),
        "Column 'x' must be double, got string values ('abc', '1.5')",
    ),
    (
        "double",
        pd.Series([True, False]),
        "Column 'x' must be double, got boolean values (True, False)",
    ),
    (
        "double",
        pd.Series([2**60]),
        "Column 'x' must be double, got integers too large to convert exactly "
        "(1152921504606846976)",
    ),
    ("float", pd.Series([1.5]), "Column 'x' must be float, got double values (1.5)"),
    ("long", pd.Series([1.5, 2.0]), "Column 'x' must be long, got double values (1.5, 2.0)"),
    ("long", pd.Series(["7"], dtype=object), "Column 'x' must be long, got string values ('7')"),
    (
        "integer",
        pd.Series([2**40]),
        "Column 'x' must be integer, got integers out of its range (1099511627776)",
    ),
    ("string", pd.Series([1, 2]), "Column 'x' must be string, got long values (1, 2)"),
    (
        "string",
        pd.Series(["a", 1], dtype=object),
        "Column 'x' must be string, got string and integer values ('a', 1)",
    ),
    ("boolean", pd.Series([0, 1]), "Column 'x' must be boolean, got long values (0, 1)"),
    (
        "binary",
        pd.Series(["a"], dtype=object),
        "Column 'x' must be binary, got string values ('a')",
    ),
    (
        "datetime",
        pd.Series(["not a date"], dtype=object),
        "Column 'x' must be datetime, got string values ('not a date')",
    ),
]


@pytest.mark.parametrize(("expected", "values", "message"), REFUSED)
def test_unsafe_conversions_name_the_column_and_type(
    expected: str, values: Any, message: str
) -> None:
    with pytest.raises(SchemaError, match=f"^{re.escape(message)}"):
        enforce_schema(pd.DataFrame({"x": values}), one(expected))


def test_values_shown_are_distinct_and_few() -> None:
    values = pd.Series(["abc"] * 10 + ["d", "e", "f"], dtype=object)
    with pytest.raises(SchemaError, match=re.escape("got string values ('abc', 'd', 'e', ...)")):
        enforce_schema(
            pd.DataFrame({"trip_distance": values}), Schema([ColSpec("double", "trip_distance")])
        )


def test_integers_with_missing_values_get_a_hint() -> None:
    with pytest.raises(SchemaError, match="Missing values make pandas store integers as floats"):
        enforce_schema(pd.DataFrame({"x": [1.0, None]}), one("long"))


SCHEMA = Schema(
    [ColSpec("double", "a"), ColSpec("long", "b"), ColSpec("string", "c", required=False)]
)


def test_missing_required_column() -> None:
    with pytest.raises(
        SchemaError,
        match=re.escape(
            "Column 'b' (long) is required by the model signature but missing from the input"
        ),
    ):
        enforce_schema(pd.DataFrame({"a": [1.0]}), SCHEMA)


def test_missing_optional_column_is_fine_and_extra_columns_are_dropped() -> None:
    out = enforce_schema(pd.DataFrame({"z": [0], "b": [2], "a": [1.0]}), SCHEMA)
    assert list(out.columns) == ["a", "b"]


@pytest.mark.parametrize(
    "data",
    [
        {"a": [1.0, 2.0], "b": [1, 2]},
        [{"a": 1.0, "b": 1}, {"a": 2.0, "b": 2}],
        np.array([[1.0, 1], [2.0, 2]]),
    ],
    ids=["dict of columns", "list of rows", "2-d array"],
)
def test_other_containers_become_frames(data: Any) -> None:
    schema = Schema([ColSpec("double", "a"), ColSpec("double", "b")])
    out = enforce_schema(data, schema)
    assert list(out.columns) == ["a", "b"]
    assert out["b"].tolist() == [1.0, 2.0]


def test_a_dict_of_scalars_is_one_row() -> None:
    """0-d arrays too: what a scoring request's {"inputs": {"a": 1.5, "b": 2}} becomes."""
    out = enforce_schema({"a": np.asarray(1.5), "b": np.asarray(2)}, SCHEMA)
    assert out.to_dict(orient="list") == {"a": [1.5], "b": [2]}
    assert str(out["b"].dtype) == "int64"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"a": [1.0], "b": [1, 2]},
            "The input's columns must all have as many values; got 'a': 1, 'b': 2",
        ),
        (
            {"a": np.array([[1.0, 2.0]]), "b": [1]},
            "Column 'a' must be double, got array values ([1.0, 2.0])",
        ),
        ({"a": [[1.0, 2.0]], "b": [1]}, "Column 'a' must be double, got list values ([1.0, 2.0])"),
    ],
    ids=["different lengths", "a 2-d array column", "a column of lists"],
)
def test_a_dict_of_columns_that_is_not_a_table(data: Any, message: str) -> None:
    with pytest.raises(SchemaError, match=re.escape(message)):
        enforce_schema(data, SCHEMA)


def test_array_of_wrong_width() -> None:
    with pytest.raises(SchemaError, match=r"takes 3 column\(s\), got an array of shape \(1, 2\)"):
        enforce_schema(np.array([[1.0, 2.0]]), SCHEMA)


def test_unnamed_columns_are_positional() -> None:
    out = enforce_schema(pd.DataFrame([[1, "x"]]), Schema([ColSpec("double"), ColSpec("string")]))
    assert out.iloc[0, 0] == 1.0


# -- tensors -------------------------------------------------------------------------------
TENSOR = Schema([TensorSpec("float64", (-1, 2))])


def test_tensor_safe_cast_and_shape() -> None:
    out = enforce_schema(np.array([[1, 2]], dtype="int32"), TENSOR)
    assert out.dtype == np.float64
    assert enforce_schema(pd.DataFrame({"a": [1.0], "b": [2.0]}), TENSOR).shape == (1, 2)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (np.array([[1.0, 2.0, 3.0]]), r"must have shape \[-1, 2\], got \[1, 3\]"),
        (np.array([["a", "b"]]), r"must have dtype float64, got <U1"),
    ],
)
def test_tensor_errors(data: Any, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        enforce_schema(data, TENSOR)


def test_float_tensor_is_not_cast_to_int() -> None:
    with pytest.raises(SchemaError, match="must have dtype int64, got float64"):
        enforce_schema(np.array([1.5]), Schema([TensorSpec("int64", (-1,))]))


def test_named_tensors() -> None:
    schema = Schema([TensorSpec("float64", (-1,), "a"), TensorSpec("int64", (-1,), "b")])
    out = enforce_schema({"a": np.array([1.0]), "b": np.array([1])}, schema)
    assert set(out) == {"a", "b"}
    with pytest.raises(SchemaError, match=r"Missing required tensor\(s\) \['b'\]"):
        enforce_schema({"a": np.array([1.0])}, schema)


# -- params ----------------------------------------------------------------------------------
PARAMS = ParamSchema(
    [
        ParamSpec("temperature", "double", 0.5),
        ParamSpec("top_k", "long", 3),
        ParamSpec("stop", "string", ["x"], (-1,)),
    ]
)


def test_params_defaults_and_conversions() -> None:
    assert enforce_params({"temperature": 1}, PARAMS) == {
        "temperature": 1.0,
        "top_k": 3,
        "stop": ["x"],
    }
    assert enforce_params({"stop": ["a", "b"], "unknown": 1}, PARAMS) == {
        "temperature": 0.5,
        "top_k": 3,
        "stop": ["a", "b"],
    }


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"top_k": 2.5}, "Param 'top_k' must be long, got double value 2.5"),
        ({"temperature": "hot"}, "Param 'temperature' must be double, got string value 'hot'"),
        ({"stop": "a"}, "Param 'stop' must be a list"),
    ],
)
def test_param_errors(params: dict[str, Any], message: str) -> None:
    with pytest.raises(SchemaError, match=re.escape(message)):
        enforce_params(params, PARAMS)


def test_params_without_a_params_schema_are_ignored() -> None:
    assert enforce_params({"a": 1}, None) is None


def test_a_frame_that_already_conforms_is_passed_through() -> None:
    """The fast path (scoring requests, batches): no conversion, a new frame, same values."""
    schema = Schema([ColSpec("double", "a"), ColSpec("long", "n"), ColSpec("boolean", "b")])
    frame = pd.DataFrame({"a": [0.5, 1.5], "n": [1, 2], "b": [True, False]}, index=[7, 8])
    checked = enforce_schema(frame, schema)
    assert checked is not frame
    pd.testing.assert_frame_equal(checked, frame)
    checked["a"] = 0.0
    assert frame["a"].tolist() == [0.5, 1.5]
    # one column out of order, of another dtype, or extra: the full checks run
    reordered = enforce_schema(frame[["n", "a", "b"]], schema)
    assert list(reordered.columns) == ["a", "n", "b"]
    converted = enforce_schema(frame.astype({"n": "int32"}), schema)
    assert str(converted["n"].dtype) == "int64"
    with pytest.raises(SchemaError, match="Column 'a' must be double"):
        enforce_schema(frame.astype({"a": str}), schema)
