"""Any model as a predictor (``lt.pyfunc.load_model(uri).predict(df)``), and custom models.

A custom model subclasses :class:`PythonModel`::

    class Scaled(lt.pyfunc.PythonModel):
        def load_context(self, context):
            self.factor = float(open(context.artifacts["factor"]).read())

        def predict(self, context, model_input, params=None):
            return model_input["x"] * self.factor

    lt.pyfunc.log_model(Scaled(), name="scaled", artifacts={"factor": "factor.txt"},
                        code_paths=["mypkg/"])

The object is saved with cloudpickle, so loading it runs code from the model file:
``load_model(uri, trust_pickle=True)`` (or ``LABTRACK_TRUST_PICKLE=1``) says you trust
it. This module is also the ``loader_module`` MLflow imports for labtrack's custom
models (its ``_load_pyfunc``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labtrack.models import Model, ModelInfo, ModelSignature
    from labtrack.models.pyfunc import PyFuncModel

__all__ = [
    "PyFuncModel",
    "PythonModel",
    "PythonModelContext",
    "load_model",
    "log_model",
    "save_model",
    "spark_udf",
]

FLAVOR = "python_model"


@dataclass(frozen=True)
class PythonModelContext:
    """What ``load_context`` and ``predict`` receive: the model's artifacts as local paths."""

    artifacts: dict[str, str] = field(default_factory=dict)
    model_config: dict[str, Any] = field(default_factory=dict)


class PythonModel:
    """Base class of custom models: override ``predict`` (and ``load_context`` if needed)."""

    def load_context(self, context: PythonModelContext) -> None:
        """Called once when the model is loaded, before any predict."""

    def predict(
        self, context: PythonModelContext, model_input: Any, params: dict[str, Any] | None = None
    ) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement predict()")


def save_model(
    python_model: PythonModel,
    path: str | os.PathLike[str],
    *,
    artifacts: Mapping[str, str | os.PathLike[str]] | None = None,
    code_paths: Iterable[str | os.PathLike[str]] | None = None,
    model_config: Mapping[str, Any] | None = None,
    signature: ModelSignature | bool | None = None,
    input_example: Any = None,
    pip_requirements: str | os.PathLike[str] | Iterable[str] | None = None,
    extra_pip_requirements: str | os.PathLike[str] | Iterable[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Model:
    """Save a custom model at ``path``.

    ``artifacts`` (name -> path or URI: runs:/, models:/, s3:// ...) are copied into the
    model; ``code_paths`` (files or directories) are copied too and put on ``sys.path``
    when the model is loaded.
    """
    from labtrack.models import save_model as save

    return save(
        python_model,
        path,
        flavor=FLAVOR,
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        metadata=metadata,
        code_paths=code_paths,
        artifacts=artifacts,
        model_config=model_config,
    )


def log_model(
    python_model: PythonModel,
    name: str | None = None,
    *,
    artifacts: Mapping[str, str | os.PathLike[str]] | None = None,
    code_paths: Iterable[str | os.PathLike[str]] | None = None,
    model_config: Mapping[str, Any] | None = None,
    signature: ModelSignature | bool | None = None,
    input_example: Any = None,
    registered_model_name: str | None = None,
    pip_requirements: str | os.PathLike[str] | Iterable[str] | None = None,
    extra_pip_requirements: str | os.PathLike[str] | Iterable[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    model_type: str | None = None,
    step: int = 0,
    artifact_path: str | None = None,
) -> ModelInfo:
    """Log a custom model to the active run as a logged model (``models:/m-<id>``)."""
    from labtrack.models import log_model as log

    return log(
        python_model,
        name,
        flavor=FLAVOR,
        signature=signature,
        input_example=input_example,
        registered_model_name=registered_model_name,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        metadata=metadata,
        code_paths=code_paths,
        params=params,
        tags=tags,
        model_type=model_type,
        step=step,
        artifact_path=artifact_path,
        artifacts=artifacts,
        model_config=model_config,
    )


def load_model(
    model_uri: str | os.PathLike[str],
    *,
    trust_pickle: bool | None = None,
    trusted_types: Iterable[str] | None = None,
    dst_path: str | os.PathLike[str] | None = None,
) -> PyFuncModel:
    """Load any model (sklearn, xgboost, lightgbm, custom, MLflow's) as a predictor.

    ``model_uri``: a path, ``runs:/<run_id>/<name>``, ``models:/<name>/<version>``,
    ``models:/<name>@<alias>``, ``models:/<name>/<stage>``, ``models:/<name>/latest``,
    ``models:/<model_id>`` or an artifact URI. ``trust_pickle``: allow pickle and
    cloudpickle files (default: ``LABTRACK_TRUST_PICKLE``). ``trusted_types``: types a
    skops file may hold beyond the classes of scikit-learn, NumPy and SciPy.
    """
    from labtrack.models.pyfunc import load_pyfunc

    return load_pyfunc(
        model_uri, trust_pickle=trust_pickle, trusted_types=trusted_types, dst_path=dst_path
    )


def spark_udf(
    spark: Any,
    model_uri: str | os.PathLike[str],
    result_type: Any = "double",
    *,
    params: Mapping[str, Any] | None = None,
    trust_pickle: bool | None = None,
    trusted_types: Iterable[str] | None = None,
) -> Any:
    """A Spark pandas UDF predicting with the model at ``model_uri`` (loaded once per executor).

    ``df.withColumn("prediction", udf(struct(*map(col, df.columns))))`` passes the columns
    by name; ``udf(*cols)`` names them after the signature's inputs; ``udf()`` takes the
    signature's columns. ``result_type``: a Spark type or DDL string, ``"double"`` by
    default; a primitive type takes the leftmost output column, ``"array<double>"`` every
    column. ``params`` go to every predict call. Needs pyspark (``labtrack[spark]``).
    """
    from labtrack.models._spark import spark_udf as make

    return make(
        spark,
        model_uri,
        result_type,
        params=params,
        trust_pickle=trust_pickle,
        trusted_types=trusted_types,
    )


def _load_pyfunc(data_path: str) -> Any:
    """MLflow's loader contract: the predictor of the model directory at (or above) ``data_path``.

    Trust comes from the environment (``LABTRACK_TRUST_PICKLE``), as the caller is MLflow.
    """
    from labtrack.models._trust import Trust
    from labtrack.models.pyfunc import pyfunc_from_path

    path = Path(data_path)
    if not (path / "MLmodel").is_file() and (path.parent / "MLmodel").is_file():
        path = path.parent
    return pyfunc_from_path(path, Trust.from_args())._impl


def __getattr__(name: str) -> Any:
    if name == "PyFuncModel":
        from labtrack.models.pyfunc import PyFuncModel

        return PyFuncModel
    raise AttributeError(f"module 'labtrack.pyfunc' has no attribute {name!r}")
