"""Signatures: inference from data (table-tested, and checked against MLflow's), JSON format."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest

from labtrack.errors import InvalidParameterValue
from labtrack.models import (
    Array,
    ColSpec,
    ModelSignature,
    Object,
    ParamSchema,
    ParamSpec,
    Property,
    Schema,
    TensorSpec,
    infer_signature,
)

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")


def _inputs(data: Any) -> list[dict[str, Any]]:
    schema = infer_signature(data).inputs
    assert schema is not None
    return schema.to_dict()


def col(t: Any, name: str | None = None, required: bool = True) -> dict[str, Any]:
    d = {"type": t} if isinstance(t, str) else dict(t)
    if name is not None:
        d["name"] = name
    d["required"] = required
    return d


PANDAS_COLUMNS = [
    (pd.Series([1.5, 2.5], dtype="float64"), "double", True),
    (pd.Series([1.5, 2.5], dtype="float32"), "float", True),
    (pd.Series([1, 2], dtype="int64"), "long", True),
    (pd.Series([1, 2], dtype="int32"), "integer", True),
    (pd.Series([1, 2], dtype="int16"), "integer", True),
    (pd.Series([1, 2], dtype="uint32"), "long", True),
    (pd.Series([True, False]), "boolean", True),
    (pd.Series(["x", "y"], dtype=object), "string", True),
    (pd.Series(["x", "y"]), "string", True),
    (pd.Series([b"x", b"y"]), "binary", True),
    (pd.Series(pd.to_datetime(["2024-01-01", "2024-01-02"])), "datetime", True),
    # nullable dtypes: the type of the values, optional when some are missing
    (pd.Series([1, None], dtype="Int64"), "long", False),
    (pd.Series([1, 2], dtype="Int32"), "integer", True),
    (pd.Series([1.5, None], dtype="Float64"), "double", False),
    (pd.Series([True, None], dtype="boolean"), "boolean", False),
    (pd.Series(["x", None], dtype="string"), "string", False),
    (pd.Series([1.5, np.nan]), "double", False),
    (pd.Series(["x", None], dtype=object), "string", False),
    (pd.Series([[1, 2], [3]]), {"type": "array", "items": {"type": "long"}}, True),
]


@pytest.mark.parametrize(("series", "expected", "required"), PANDAS_COLUMNS)
def test_dataframe_column_types(series: Any, expected: Any, required: bool) -> None:
    assert _inputs(pd.DataFrame({"x": series})) == [col(expected, "x", required)]


NUMPY_ARRAYS = [
    (np.zeros((3, 4)), "float64", [-1, 4]),
    (np.zeros((3,), dtype="float32"), "float32", [-1]),
    (np.zeros((2, 2, 3), dtype="int64"), "int64", [-1, 2, 3]),
    (np.array(["a", "bc"]), "str", [-1]),
    (np.array([b"a", b"bc"]), "bytes", [-1]),
    (np.array([True, False]), "bool", [-1]),
]


@pytest.mark.parametrize(("array", "dtype", "shape"), NUMPY_ARRAYS)
def test_numpy_tensor_specs(array: Any, dtype: str, shape: list[int]) -> None:
    assert _inputs(array) == [{"type": "tensor", "tensor-spec": {"dtype": dtype, "shape": shape}}]


OTHER_INPUTS = [
    (pd.Series([1.0, 2.0], name="x"), [col("double", "x")]),
    (pd.Series([1.0, 2.0]), [col("double")]),
    (
        {"a": np.zeros((2, 3)), "b": np.zeros(2, dtype="int32")},
        [
            {"name": "a", "type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 3]}},
            {"name": "b", "type": "tensor", "tensor-spec": {"dtype": "int32", "shape": [-1]}},
        ],
    ),
    (
        {"text": "hello", "n": 3, "ok": True},
        [col("string", "text"), col("long", "n"), col("boolean", "ok")],
    ),
    ({"ids": ["a", "b"]}, [col({"type": "array", "items": {"type": "string"}}, "ids")]),
    ({"x": None}, [col({"type": "any"}, "x", False)]),
    (
        [{"a": 1, "b": "x"}, {"a": 2}],
        [col("long", "a"), col("string", "b", False)],
    ),
    (["a", "b"], [col("string")]),
    ([1.5, 2.5], [col("double")]),
    ([], [col("string")]),
    ("one sentence", [col("string")]),
    (dt.datetime(2024, 1, 1), [col("datetime")]),
    (
        {"meta": {"k": "v", "n": 1}},
        [
            col(
                {
                    "type": "object",
                    "properties": {
                        "k": {"type": "string", "required": True},
                        "n": {"type": "long", "required": True},
                    },
                },
                "meta",
            )
        ],
    ),
]


@pytest.mark.parametrize(("data", "expected"), OTHER_INPUTS)
def test_series_dicts_lists_and_scalars(data: Any, expected: list[dict[str, Any]]) -> None:
    assert _inputs(data) == expected


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            pd.DataFrame({"x": [1, "a"]}),
            "Values of several types in column 'x': 'long' and 'string'",
        ),
        ([1, "a"], "Values of several types in the list: 'long' and 'string'"),
        ({"x": object()}, "Cannot infer a signature type for a value of type object"),
        (
            np.array([object()], dtype=object),
            "Cannot infer a tensor spec from an array of Python objects",
        ),
    ],
)
def test_uninferable_data_is_an_error(data: Any, message: str) -> None:
    with pytest.raises(InvalidParameterValue, match=re.escape(message)):
        infer_signature(data)


def test_params_schema() -> None:
    sig = infer_signature(
        pd.DataFrame({"x": [1.0]}),
        params={"temperature": 0.5, "top_k": 3, "stop": ["a", "b"], "verbose": False},
    )
    assert sig.params is not None
    assert json.loads(sig.params.to_json()) == [
        {"name": "temperature", "default": 0.5, "shape": None, "type": "double"},
        {"name": "top_k", "default": 3, "shape": None, "type": "long"},
        {"name": "stop", "default": ["a", "b"], "shape": [-1], "type": "string"},
        {"name": "verbose", "default": False, "shape": None, "type": "boolean"},
    ]


def test_output_inferred_like_the_input() -> None:
    sig = infer_signature(pd.DataFrame({"x": [1.0]}), np.array([1, 0]))
    assert sig.outputs is not None
    assert sig.outputs.to_dict() == [
        {"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}
    ]


def test_signature_json_round_trip() -> None:
    sig = ModelSignature(
        Schema(
            [
                ColSpec("double", "a"),
                ColSpec("string", "b", required=False),
                ColSpec(Array("long"), "c"),
                ColSpec(Object((Property("k", "string"), Property("v", "double", False))), "d"),
            ]
        ),
        Schema([TensorSpec("float32", (-1, 2))]),
        ParamSchema([ParamSpec("alpha", "double", 0.1), ParamSpec("tags", "string", ["x"], (-1,))]),
    )
    assert ModelSignature.from_dict(sig.to_dict()) == sig
    assert json.loads(sig.to_dict()["inputs"] or "")[1] == {
        "type": "string",
        "name": "b",
        "required": False,
    }


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        ([], "A schema needs at least one column or tensor"),
        (
            [ColSpec("double", "a"), TensorSpec("float64", (-1,), "b")],
            "A schema cannot mix column specs and tensor specs",
        ),
        (
            [ColSpec("double", "a"), ColSpec("double")],
            "A schema's inputs must be all named or all unnamed, got names ['a', None]",
        ),
        ([ColSpec("double", "a"), ColSpec("long", "a")], "Duplicate names in schema: ['a', 'a']"),
        ([ColSpec("double", required=False)], "Unnamed inputs of a schema cannot be optional"),
    ],
)
def test_invalid_schemas(specs: list[Any], message: str) -> None:
    with pytest.raises(InvalidParameterValue, match=re.escape(message)):
        Schema(specs)


def test_unknown_column_type() -> None:
    with pytest.raises(InvalidParameterValue, match="Unknown column type 'decimal'"):
        ColSpec("decimal", "a")


# -- the same inference as MLflow's ---------------------------------------------------------
SAME_AS_MLFLOW = [
    pd.DataFrame(
        {
            "d": [1.5, 2.5],
            "f": np.array([1, 2], dtype="float32"),
            "l": [1, 2],
            "i": np.array([1, 2], dtype="int32"),
            "s": ["a", "b"],
            "b": [True, False],
            "t": pd.to_datetime(["2024-01-01", "2024-01-02"]),
            "o": [1.0, None],
            "nl": pd.array([1, None], dtype="Int64"),
        }
    ),
    np.zeros((4, 3)),
    {"a": np.zeros((2, 3)), "b": np.ones(2, dtype="int32")},
    [{"a": 1, "b": "x"}, {"a": 2, "b": None}],
    {"text": "hi", "ids": ["a", "b"]},
    ["x", "y"],
]


@pytest.mark.parametrize("data", SAME_AS_MLFLOW)
def test_inference_matches_mlflow(mlflow: Any, data: Any) -> None:
    from mlflow.models import infer_signature as mlflow_infer

    theirs = mlflow_infer(data).to_dict()
    ours = infer_signature(data).to_dict()
    assert json.loads(ours["inputs"] or "") == json.loads(theirs["inputs"])


def test_mlflow_reads_our_signature_and_we_read_theirs(mlflow: Any) -> None:
    from mlflow.models.signature import ModelSignature as MlflowSignature

    data = SAME_AS_MLFLOW[0]
    ours = infer_signature(data, np.array([1, 0]), params={"alpha": 0.5})
    theirs = MlflowSignature.from_dict(ours.to_dict())
    assert theirs.to_dict() == ours.to_dict()
    assert ModelSignature.from_dict(theirs.to_dict()) == ours
