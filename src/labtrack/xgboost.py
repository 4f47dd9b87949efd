"""XGBoost models: ``lt.xgboost.log_model``, ``save_model`` and ``load_model``.

Boosters and XGBoost's scikit-learn models are saved in XGBoost's own format
(UBJSON by default), in MLflow's ``xgboost`` flavor layout: no pickle, and MLflow
reads them natively.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labtrack.models import Model, ModelInfo, ModelSignature

__all__ = ["load_model", "log_model", "save_model"]

FLAVOR = "xgboost"


def save_model(
    xgb_model: Any,
    path: str | os.PathLike[str],
    *,
    model_format: str = "ubj",
    signature: ModelSignature | bool | None = None,
    input_example: Any = None,
    pip_requirements: str | os.PathLike[str] | Iterable[str] | None = None,
    extra_pip_requirements: str | os.PathLike[str] | Iterable[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    code_paths: Iterable[str | os.PathLike[str]] | None = None,
) -> Model:
    """Save an ``xgboost.Booster`` or XGBoost scikit-learn model at ``path``.

    ``model_format``: "ubj" (default) or "json". ``signature``: inferred from
    ``input_example`` when not given (False: none).
    """
    from labtrack.models import save_model as save

    return save(
        xgb_model,
        path,
        flavor=FLAVOR,
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        metadata=metadata,
        code_paths=code_paths,
        model_format=model_format,
    )


def log_model(
    xgb_model: Any,
    name: str | None = None,
    *,
    model_format: str = "ubj",
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
    """Log an XGBoost model to the active run as a logged model (``models:/m-<id>``)."""
    from labtrack.models import log_model as log

    return log(
        xgb_model,
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
        model_format=model_format,
    )


def load_model(
    model_uri: str | os.PathLike[str], *, dst_path: str | os.PathLike[str] | None = None
) -> Any:
    """The XGBoost model (Booster or scikit-learn model) at ``model_uri``."""
    from labtrack.models.pyfunc import load_native

    return load_native(FLAVOR, model_uri, dst_path=dst_path)
