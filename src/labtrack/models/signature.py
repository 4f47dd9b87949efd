"""Model signatures: what a model takes and returns, in MLflow's JSON schema format.

A signature has an input schema, an optional output schema and an optional params
schema. A schema is a list of column specs (``{"type": "double", "name": "a",
"required": true}``) or of tensor specs (``{"type": "tensor", "tensor-spec":
{"dtype": "float64", "shape": [-1, 4]}}``), never a mix. In an ``MLmodel`` file
each of the three is stored as a JSON string, exactly as MLflow writes it, so
either tool reads the other's signatures.

This module is pure Python; :func:`~labtrack.models.infer_signature` (which
needs NumPy and pandas) lives in ``_infer``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from labtrack.errors import InvalidParameterValue

__all__ = [
    "DATA_TYPES",
    "AnyType",
    "Array",
    "ColSpec",
    "ColumnType",
    "Map",
    "ModelSignature",
    "Object",
    "ParamSchema",
    "ParamSpec",
    "Property",
    "Schema",
    "TensorSpec",
]

#: The scalar column types of MLflow's schema format.
DATA_TYPES = ("boolean", "integer", "long", "float", "double", "string", "binary", "datetime")


@dataclass(frozen=True)
class Array:
    """A column whose values are lists of ``items``."""

    items: ColumnType

    def to_dict(self) -> dict[str, Any]:
        return {"type": "array", "items": _type_dict(self.items)}


@dataclass(frozen=True)
class Property:
    """One key of an :class:`Object` column."""

    name: str
    type: ColumnType
    required: bool = True


@dataclass(frozen=True)
class Object:
    """A column whose values are dicts with these keys."""

    properties: tuple[Property, ...]

    def to_dict(self) -> dict[str, Any]:
        props = {p.name: {**_type_dict(p.type), "required": p.required} for p in self.properties}
        return {"type": "object", "properties": props}


@dataclass(frozen=True)
class Map:
    """A column whose values are dicts from strings to ``values``."""

    values: ColumnType

    def to_dict(self) -> dict[str, Any]:
        return {"type": "map", "values": _type_dict(self.values)}


@dataclass(frozen=True)
class AnyType:
    """A column of any values (not checked)."""

    def to_dict(self) -> dict[str, Any]:
        return {"type": "any"}


#: A column's type: a scalar type name from :data:`DATA_TYPES` or a composite type.
ColumnType = str | Array | Object | Map | AnyType


def _type_dict(t: ColumnType) -> dict[str, Any]:
    return {"type": t} if isinstance(t, str) else t.to_dict()


def _check_scalar(name: str) -> str:
    if name not in DATA_TYPES:
        raise InvalidParameterValue(
            f"Unknown column type {name!r}: expected one of {', '.join(DATA_TYPES)}, "
            "array, object, map or any"
        )
    return name


def _type_from_dict(d: Mapping[str, Any]) -> ColumnType:
    kind = d.get("type")
    if kind == "array":
        return Array(_type_from_dict(_mapping(d.get("items"), "array items")))
    if kind == "object":
        props = _mapping(d.get("properties"), "object properties")
        return Object(
            tuple(
                Property(
                    str(k), _type_from_dict(_mapping(v, f"property {k!r}")), v.get("required", True)
                )
                for k, v in props.items()
            )
        )
    if kind == "map":
        return Map(_type_from_dict(_mapping(d.get("values"), "map values")))
    if kind == "any":
        return AnyType()
    if not isinstance(kind, str):
        raise InvalidParameterValue(f"Invalid schema entry {dict(d)!r}: it has no type")
    return _check_scalar(kind)


def _mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidParameterValue(f"Invalid schema: {what} must be a JSON object, got {value!r}")
    return value


@dataclass(frozen=True)
class ColSpec:
    """A column: its type, its name (None for unnamed, positional columns), whether required."""

    type: ColumnType
    name: str | None = None
    required: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.type, str):
            _check_scalar(self.type)

    def to_dict(self) -> dict[str, Any]:
        d = _type_dict(self.type)
        if self.name is not None:
            d["name"] = self.name
        d["required"] = self.required
        return d


@dataclass(frozen=True)
class TensorSpec:
    """A tensor: a NumPy dtype name (``"float64"``) and a shape where -1 is any size."""

    dtype: str
    shape: tuple[int, ...]
    name: str | None = None
    required: bool = field(default=True, init=False)

    def to_dict(self) -> dict[str, Any]:
        spec = {"type": "tensor", "tensor-spec": {"dtype": self.dtype, "shape": list(self.shape)}}
        return spec if self.name is None else {"name": self.name, **spec}


Spec = ColSpec | TensorSpec


class Schema:
    """An ordered list of column specs or of tensor specs (not both), all named or none."""

    def __init__(self, inputs: Sequence[Spec]) -> None:
        inputs = list(inputs)
        if not inputs:
            raise InvalidParameterValue("A schema needs at least one column or tensor")
        kinds = {type(s) for s in inputs}
        if len(kinds) > 1:
            raise InvalidParameterValue("A schema cannot mix column specs and tensor specs")
        named = [s.name is not None for s in inputs]
        if any(named) and not all(named):
            raise InvalidParameterValue(
                "A schema's inputs must be all named or all unnamed, got names "
                f"{[s.name for s in inputs]}"
            )
        names = [s.name for s in inputs if s.name is not None]
        if len(set(names)) != len(names):
            raise InvalidParameterValue(f"Duplicate names in schema: {names}")
        if not any(named) and any(not s.required for s in inputs):
            raise InvalidParameterValue("Unnamed inputs of a schema cannot be optional")
        if kinds == {TensorSpec} and len(inputs) > 1 and not all(named):
            raise InvalidParameterValue("Several tensors in a schema must each have a name")
        self.inputs: list[Spec] = inputs

    def __iter__(self) -> Iterator[Spec]:
        return iter(self.inputs)

    def __len__(self) -> int:
        return len(self.inputs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schema) and self.inputs == other.inputs

    def __repr__(self) -> str:
        return f"Schema({self.inputs!r})"

    def is_tensor_spec(self) -> bool:
        return isinstance(self.inputs[0], TensorSpec)

    def has_input_names(self) -> bool:
        return self.inputs[0].name is not None

    def input_names(self) -> list[str]:
        return [s.name for s in self.inputs if s.name is not None]

    def required_input_names(self) -> list[str]:
        return [s.name for s in self.inputs if s.name is not None and s.required]

    def to_dict(self) -> list[dict[str, Any]]:
        return [s.to_dict() for s in self.inputs]

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str | Sequence[Mapping[str, Any]]) -> Schema:
        items = json.loads(text) if isinstance(text, str) else text
        if not isinstance(items, list):
            raise InvalidParameterValue(f"Invalid schema {text!r}: expected a JSON list")
        return cls([_spec_from_dict(_mapping(d, "schema entry")) for d in items])


def _spec_from_dict(d: Mapping[str, Any]) -> Spec:
    name = d.get("name")
    if name is not None and not isinstance(name, str):
        name = str(name)
    if d.get("type") == "tensor":
        spec = _mapping(d.get("tensor-spec"), "tensor-spec")
        shape = spec.get("shape")
        if not isinstance(shape, list) or not all(isinstance(n, int) for n in shape):
            raise InvalidParameterValue(f"Invalid tensor shape {shape!r}: expected a list of ints")
        return TensorSpec(str(spec.get("dtype")), tuple(shape), name)
    required = d.get("required", True)
    return ColSpec(_type_from_dict(d), name, True if required is None else bool(required))


@dataclass(frozen=True)
class ParamSpec:
    """An inference parameter: name, type, default and shape (None: scalar; (-1,): list)."""

    name: str
    type: ColumnType
    default: Any
    shape: tuple[int, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        default = self.default
        if self.type == "datetime" and default is not None:
            default = [v.isoformat() for v in default] if self.shape else default.isoformat()
        shape = list(self.shape) if self.shape is not None else None
        # MLflow's key order; an object's "properties" sit beside its "type"
        return {"name": self.name, "default": default, "shape": shape, **_type_dict(self.type)}


class ParamSchema:
    """The params a model's ``predict`` accepts, each with a default."""

    def __init__(self, params: Sequence[ParamSpec]) -> None:
        names = [p.name for p in params]
        if len(set(names)) != len(names):
            raise InvalidParameterValue(f"Duplicate param names: {names}")
        self.params = list(params)

    def __iter__(self) -> Iterator[ParamSpec]:
        return iter(self.params)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ParamSchema) and self.params == other.params

    def __repr__(self) -> str:
        return f"ParamSchema({self.params!r})"

    def to_json(self) -> str:
        return json.dumps([p.to_dict() for p in self.params])

    @classmethod
    def from_json(cls, text: str) -> ParamSchema:
        items = json.loads(text)
        if not isinstance(items, list):
            raise InvalidParameterValue(f"Invalid params schema {text!r}: expected a JSON list")
        params = []
        for d in items:
            d = _mapping(d, "param spec")
            kind = d.get("type", d.get("dtype"))
            ptype = _type_from_dict({**d, "type": kind})
            shape = d.get("shape")
            params.append(
                ParamSpec(
                    str(d.get("name")), ptype, d.get("default"), tuple(shape) if shape else None
                )
            )
        return cls(params)


@dataclass(frozen=True)
class ModelSignature:
    """Input schema, output schema (optional) and params schema (optional) of a model."""

    inputs: Schema | None = None
    outputs: Schema | None = None
    params: ParamSchema | None = None

    def to_dict(self) -> dict[str, str | None]:
        """The three JSON strings MLflow stores under ``signature:`` in an MLmodel file."""
        return {
            "inputs": self.inputs.to_json() if self.inputs is not None else None,
            "outputs": self.outputs.to_json() if self.outputs is not None else None,
            "params": self.params.to_json() if self.params is not None else None,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelSignature:
        def schema(key: str) -> Schema | None:
            value = d.get(key)
            return Schema.from_json(value) if value else None

        params = d.get("params")
        return cls(
            schema("inputs"), schema("outputs"), ParamSchema.from_json(params) if params else None
        )
