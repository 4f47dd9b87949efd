"""XGBoost models (Boosters and the scikit-learn API), in MLflow's ``xgboost`` flavor format.

Saved with XGBoost's own format (UBJSON ``model.ubj`` by default, or JSON): no
pickle. ``loader_module`` is ``mlflow.xgboost``, so MLflow loads these models
natively; labtrack loads MLflow's. The class to rebuild comes from MLmodel's
``model_class``, which must be an XGBoost model class (a file cannot name any
other class to instantiate).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from labtrack.errors import InvalidParameterValue
from labtrack.models._environment import pinned
from labtrack.models._trust import Trust
from labtrack.models.flavors.base import Flavor

__all__ = ["XGBoostFlavor"]

FORMATS = ("ubj", "json", "deprecated")


def _class_name(model: Any) -> str:
    return f"{type(model).__module__}.{type(model).__name__}"


def _model_class(name: str) -> type:
    import importlib

    import xgboost as xgb

    module_name, _, attr = name.rpartition(".")
    cls = None
    if module_name.split(".")[0] == "xgboost":
        try:
            cls = getattr(importlib.import_module(module_name), attr, None)
        except ImportError:
            cls = None
    if not (isinstance(cls, type) and issubclass(cls, (xgb.Booster, xgb.XGBModel))):
        raise InvalidParameterValue(
            f"Refusing to load an XGBoost model of class {name!r}: not an XGBoost model class"
        )
    return cls


class XGBoostFlavor(Flavor):
    name = "xgboost"
    loader_module = "mlflow.xgboost"
    also_loads = ("labtrack.xgboost",)

    def save(self, model: Any, path: Path, *, model_format: str = "ubj") -> dict[str, Any]:
        import xgboost as xgb

        if not isinstance(model, (xgb.Booster, xgb.XGBModel)):
            raise InvalidParameterValue(
                f"The xgboost flavor saves xgboost.Booster and XGBoost scikit-learn models, "
                f"got {type(model).__name__}"
            )
        if model_format not in FORMATS:
            raise InvalidParameterValue(
                f"Unknown model_format {model_format!r}: use {', '.join(FORMATS)}"
            )
        file = f"model.{model_format}"
        model.save_model(str(path / file))
        return {
            "code": None,
            "data": file,
            "model_class": _class_name(model),
            "model_format": model_format,
            "xgb_version": xgb.__version__,
            "python_function": {"data": file},
        }

    def load(self, path: Path, conf: dict[str, Any], trust: Trust) -> Any:
        cls = _model_class(str(conf.get("model_class", "xgboost.core.Booster")))
        model = cls()
        model.load_model(str(path / str(conf.get("data", "model.xgb"))))
        return model

    def pyfunc(self, path: Path, conf: dict[str, Any], trust: Trust) -> Any:
        return XGBoostPredictor(self.load(path, conf, trust))

    def requirements(self, model: Any, conf: dict[str, Any]) -> list[str]:
        import xgboost as xgb

        extra = [pinned("sklearn")] if isinstance(model, xgb.XGBModel) else []
        return [pinned("xgboost"), *extra, pinned("numpy")]


def _known_kwargs(fn: Any, params: dict[str, Any]) -> dict[str, Any]:
    accepted = inspect.signature(fn).parameters
    if any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
        return params
    return {k: v for k, v in params.items() if k in accepted}


class XGBoostPredictor:
    """Predicts from a DataFrame or array with a Booster (through a DMatrix) or a model."""

    def __init__(self, model: Any) -> None:
        self.model = model
        if hasattr(model, "predict_proba"):
            self.predict_proba = model.predict_proba

    def get_raw_model(self) -> Any:
        return self.model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        import xgboost as xgb

        kwargs = _known_kwargs(self.model.predict, dict(params or {}))
        kwargs.setdefault("validate_features", True)
        if isinstance(self.model, xgb.Booster):
            return self.model.predict(xgb.DMatrix(data), **kwargs)
        return self.model.predict(data, **kwargs)
