"""The ``MLmodel`` file: the manifest of a model directory, in MLflow's layout.

A model directory holds the model's files, the environment files and ``MLmodel``::

    artifact_path: <where the model was logged>     # log_model only
    flavors:
      python_function: {loader_module: ..., env: {conda: conda.yaml,
                        virtualenv: python_env.yaml}, python_version: 3.11.7, ...}
      sklearn: {pickled_model: model.skops, serialization_format: skops, ...}
    labtrack_version: 0.1.0          # who wrote it (MLflow writes mlflow_version)
    model_id: m-...                  # log_model only
    model_size_bytes: 11626
    model_uuid: ...
    run_id: ...                      # log_model in a run only
    saved_input_example_info: {artifact_path: input_example.json, type: dataframe, ...}
    signature: {inputs: '<JSON>', outputs: '<JSON>', params: '<JSON>'}
    utc_time_created: '2025-01-01 12:00:00.000000'

Keys this module does not know (``mlflow_version``, ``databricks_runtime`` ...) are
kept as they were when a file is read and written back.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from labtrack.errors import InvalidParameterValue, ResourceDoesNotExist
from labtrack.models.signature import ModelSignature

__all__ = ["MLMODEL_FILE", "Model", "ModelInfo"]

MLMODEL_FILE = "MLmodel"
PYFUNC = "python_function"


def _now() -> str:
    # MLflow's format: str() of a naive UTC datetime
    return str(dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))


@dataclass
class Model:
    """The contents of an ``MLmodel`` file."""

    flavors: dict[str, dict[str, Any]] = field(default_factory=dict)
    signature: ModelSignature | None = None
    saved_input_example_info: dict[str, Any] | None = None
    run_id: str | None = None
    artifact_path: str | None = None
    model_id: str | None = None
    model_uuid: str | None = field(default_factory=lambda: uuid.uuid4().hex)
    utc_time_created: str = field(default_factory=_now)
    labtrack_version: str | None = None
    metadata: dict[str, Any] | None = None
    model_size_bytes: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.labtrack_version is None:
            from labtrack import __version__

            self.labtrack_version = __version__

    # -- reading ------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Model:
        d = dict(d)
        flavors = d.pop("flavors", None) or {}
        if not isinstance(flavors, dict) or not all(isinstance(v, dict) for v in flavors.values()):
            raise InvalidParameterValue(
                f"Invalid MLmodel: flavors must be a mapping, got {flavors!r}"
            )
        signature = d.pop("signature", None)
        for internal in ("is_signature_from_type_hint", "type_hint_from_example"):
            d.pop(internal, None)
        known = {
            "saved_input_example_info",
            "run_id",
            "artifact_path",
            "model_id",
            "model_uuid",
            "utc_time_created",
            "labtrack_version",
            "metadata",
            "model_size_bytes",
        }
        kwargs = {k: d.pop(k) for k in known if k in d}
        kwargs.setdefault("model_uuid", None)
        kwargs.setdefault("labtrack_version", "")
        if "utc_time_created" in kwargs:
            kwargs["utc_time_created"] = str(kwargs["utc_time_created"])
        return cls(
            flavors=flavors,
            signature=ModelSignature.from_dict(signature) if signature else None,
            extra=d,
            **kwargs,
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Model:
        """Read ``MLmodel`` from a model directory (or the file itself)."""
        file = Path(path)
        if file.is_dir():
            file = file / MLMODEL_FILE
        if not file.is_file():
            raise ResourceDoesNotExist(
                f"No {MLMODEL_FILE} file in {str(file.parent)!r}: not a model directory"
            )
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise InvalidParameterValue(
                f"Invalid {MLMODEL_FILE} file {str(file)!r}: {exc}"
            ) from exc
        if not isinstance(data, dict):
            raise InvalidParameterValue(f"Invalid {MLMODEL_FILE} file {str(file)!r}: not a mapping")
        return cls.from_dict(data)

    # -- writing ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = dict(self.extra)
        d.update(
            flavors=self.flavors,
            model_uuid=self.model_uuid,
            utc_time_created=self.utc_time_created,
        )
        optional = {
            "artifact_path": self.artifact_path,
            "run_id": self.run_id,
            "model_id": self.model_id,
            "labtrack_version": self.labtrack_version or None,
            "signature": self.signature.to_dict() if self.signature is not None else None,
            "saved_input_example_info": self.saved_input_example_info,
            "metadata": self.metadata,
            "model_size_bytes": self.model_size_bytes,
        }
        d.update({k: v for k, v in optional.items() if v is not None})
        return d

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), default_flow_style=False)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``MLmodel`` into the model directory ``path``."""
        Path(path, MLMODEL_FILE).write_text(self.to_yaml(), encoding="utf-8")

    # -- flavors ------------------------------------------------------------------
    def add_flavor(self, name: str, **conf: Any) -> Model:
        self.flavors[name] = conf
        return self

    @property
    def pyfunc_conf(self) -> dict[str, Any] | None:
        return self.flavors.get(PYFUNC)

    def load_input_example(self, path: str | os.PathLike[str]) -> Any:
        """The input example saved with the model, or None."""
        from labtrack.models._example import read_input_example

        return read_input_example(self, path)

    def get_model_info(self, **extra: Any) -> ModelInfo:
        return ModelInfo(
            artifact_path=self.artifact_path,
            flavors=self.flavors,
            model_uri=f"models:/{self.model_id}" if self.model_id else "",
            model_uuid=self.model_uuid,
            run_id=self.run_id,
            saved_input_example_info=self.saved_input_example_info,
            signature=self.signature,
            utc_time_created=self.utc_time_created,
            labtrack_version=self.labtrack_version,
            metadata=self.metadata,
            model_id=self.model_id,
            **extra,
        )


@dataclass(frozen=True)
class ModelInfo:
    """What ``log_model`` returns: where the model is and what it is (MLflow's ModelInfo)."""

    artifact_path: str | None
    flavors: dict[str, dict[str, Any]]
    model_uri: str
    model_uuid: str | None
    run_id: str | None
    saved_input_example_info: dict[str, Any] | None
    signature: ModelSignature | None
    utc_time_created: str
    labtrack_version: str | None
    metadata: dict[str, Any] | None = None
    model_id: str | None = None
    name: str | None = None
    registered_model_version: int | None = None
