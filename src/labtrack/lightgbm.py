"""LightGBM models: ``lt.lightgbm.log_model``, ``save_model`` and ``load_model``.

A ``lightgbm.Booster`` is saved in LightGBM's text format, a LightGBM
scikit-learn model (``LGBMClassifier`` ...) with skops, in MLflow's ``lightgbm``
flavor layout: no pickle, and MLflow reads them natively.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labtrack.models import Model, ModelInfo, ModelSignature

__all__ = ["load_model", "log_model", "save_model"]

FLAVOR = "lightgbm"


def save_model(
    lgb_model: Any,
    path: str | os.PathLike[str],
    *,
    serialization_format: str = "skops",
    skops_trusted_types: list[str] | None = None,
    signature: ModelSignature | bool | None = None,
    input_example: Any = None,
    pip_requirements: str | os.PathLike[str] | Iterable[str] | None = None,
    extra_pip_requirements: str | os.PathLike[str] | Iterable[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    code_paths: Iterable[str | os.PathLike[str]] | None = None,
) -> Model:
    """Save a ``lightgbm.Booster`` or LightGBM scikit-learn model at ``path``.

    ``serialization_format`` applies to scikit-learn models: "skops" (default),
    "cloudpickle" or "pickle". ``signature``: inferred from ``input_example`` when not
    given (False: none).
    """
    from labtrack.models import save_model as save

    return save(
        lgb_model,
        path,
        flavor=FLAVOR,
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        metadata=metadata,
        code_paths=code_paths,
        serialization_format=serialization_format,
        skops_trusted_types=skops_trusted_types,
    )


def log_model(
    lgb_model: Any,
    name: str | None = None,
    *,
    serialization_format: str = "skops",
    skops_trusted_types: list[str] | None = None,
    signature: ModelSignature | bool | None = None,
    input_example: Any = None,
    registered_model_name: str | None = None,
    pip_requirements: str | os.PathLike[str] | Iterable[str] | None = None,
    extra_pip_requirements: str | os.PathLike[str] | Iterable[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    code_paths: Iterable[str | os.PathLike[str]] | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    model_type: str | None = None,
    step: int = 0,
    artifact_path: str | None = None,
) -> ModelInfo:
    """Log a LightGBM model to the active run as a logged model (``models:/m-<id>``)."""
    from labtrack.models import log_model as log

    return log(
        lgb_model,
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
        serialization_format=serialization_format,
        skops_trusted_types=skops_trusted_types,
    )


def load_model(
    model_uri: str | os.PathLike[str],
    *,
    trusted_types: Iterable[str] | None = None,
    trust_pickle: bool | None = None,
    dst_path: str | os.PathLike[str] | None = None,
) -> Any:
    """The LightGBM model at ``model_uri`` (Booster or scikit-learn model)."""
    from labtrack.models.pyfunc import load_native

    return load_native(
        FLAVOR, model_uri, trust_pickle=trust_pickle, trusted_types=trusted_types, dst_path=dst_path
    )
