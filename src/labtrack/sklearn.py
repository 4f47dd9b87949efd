"""scikit-learn models: ``lt.sklearn.log_model``, ``save_model`` and ``load_model``.

Models are saved with skops by default (no pickle is needed to load them) in
MLflow's ``sklearn`` flavor format, so ``mlflow.sklearn.load_model`` and
``mlflow.pyfunc.load_model`` read them too, and labtrack reads MLflow's.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labtrack.models import Model, ModelInfo, ModelSignature

__all__ = ["load_model", "log_model", "save_model"]

FLAVOR = "sklearn"


def save_model(
    sk_model: Any,
    path: str | os.PathLike[str],
    *,
    serialization_format: str = "skops",
    skops_trusted_types: list[str] | None = None,
    pyfunc_predict_fn: str = "predict",
    signature: ModelSignature | bool | None = None,
    input_example: Any = None,
    pip_requirements: str | os.PathLike[str] | Iterable[str] | None = None,
    extra_pip_requirements: str | os.PathLike[str] | Iterable[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    code_paths: Iterable[str | os.PathLike[str]] | None = None,
) -> Model:
    """Save a scikit-learn model (estimator or pipeline) as a model directory at ``path``.

    ``serialization_format``: "skops" (default; loads without pickle), "cloudpickle" or
    "pickle" (loading needs ``trust_pickle=True``). ``skops_trusted_types``: types
    beyond scikit-learn's, NumPy's and SciPy's classes that the model holds.
    ``pyfunc_predict_fn``: the method pyfunc's predict calls ("predict_proba" ...).
    ``signature``: inferred from ``input_example`` when not given (False: none).
    """
    from labtrack.models import save_model as save

    return save(
        sk_model,
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
        pyfunc_predict_fn=pyfunc_predict_fn,
    )


def log_model(
    sk_model: Any,
    name: str | None = None,
    *,
    serialization_format: str = "skops",
    skops_trusted_types: list[str] | None = None,
    pyfunc_predict_fn: str = "predict",
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
    """Log a scikit-learn model to the active run as a logged model (``models:/m-<id>``).

    Options as :func:`save_model`; ``registered_model_name`` also registers it.
    """
    from labtrack.models import log_model as log

    return log(
        sk_model,
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
        pyfunc_predict_fn=pyfunc_predict_fn,
    )


def load_model(
    model_uri: str | os.PathLike[str],
    *,
    trusted_types: Iterable[str] | None = None,
    trust_pickle: bool | None = None,
    dst_path: str | os.PathLike[str] | None = None,
) -> Any:
    """The scikit-learn model at ``model_uri`` (a path, runs:/, models:/ ... URI).

    skops files load the classes of scikit-learn, NumPy and SciPy; other types must be
    listed in ``trusted_types``. Pickle files load only with ``trust_pickle=True`` (or
    ``LABTRACK_TRUST_PICKLE=1``).
    """
    from labtrack.models.pyfunc import load_native

    return load_native(
        FLAVOR, model_uri, trust_pickle=trust_pickle, trusted_types=trusted_types, dst_path=dst_path
    )
