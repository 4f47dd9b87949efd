"""Models: the MLmodel format, signatures, flavors, saving, logging and loading.

    import labtrack as lt
    signature = lt.models.infer_signature(X_train, model.predict(X_train))
    with lt.start_run():
        info = lt.sklearn.log_model(model, name="model", input_example=X_train[:5])
    lt.pyfunc.load_model(info.model_uri).predict(X_test)

Flavor-specific entry points are ``labtrack.sklearn``, ``labtrack.xgboost``,
``labtrack.lightgbm`` and ``labtrack.pyfunc`` (custom python models, and loading
any model as a pyfunc). ``save_model`` and ``log_model`` here take the flavor by
name, for flavors other packages add through the ``labtrack.flavors`` entry points.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from labtrack.models._enforce import SchemaError
from labtrack.models._infer import infer_signature
from labtrack.models._log import log_model
from labtrack.models._save import save_model
from labtrack.models._trust import UntrustedModelError
from labtrack.models._uri import download_model, resolve_model_uri
from labtrack.models.flavors import flavor_names, get_flavor
from labtrack.models.flavors.base import Flavor
from labtrack.models.model import Model, ModelInfo
from labtrack.models.pyfunc import load_native as _load_native
from labtrack.models.signature import (
    AnyType,
    Array,
    ColSpec,
    Map,
    ModelSignature,
    Object,
    ParamSchema,
    ParamSpec,
    Property,
    Schema,
    TensorSpec,
)


def load_model(
    model_uri: str | os.PathLike[str],
    *,
    flavor: str | Flavor,
    trust_pickle: bool | None = None,
    trusted_types: Iterable[str] | None = None,
    dst_path: str | os.PathLike[str] | None = None,
) -> Any:
    """The native model of ``flavor`` at ``model_uri`` (``lt.sklearn.load_model`` and the
    like are this with their flavor; use it for flavors other packages add)."""
    return _load_native(
        flavor, model_uri, trust_pickle=trust_pickle, trusted_types=trusted_types, dst_path=dst_path
    )


__all__ = [
    "AnyType",
    "Array",
    "ColSpec",
    "Flavor",
    "Map",
    "Model",
    "ModelInfo",
    "ModelSignature",
    "Object",
    "ParamSchema",
    "ParamSpec",
    "Property",
    "Schema",
    "SchemaError",
    "TensorSpec",
    "UntrustedModelError",
    "download_model",
    "flavor_names",
    "get_flavor",
    "infer_signature",
    "load_model",
    "log_model",
    "resolve_model_uri",
    "save_model",
]
