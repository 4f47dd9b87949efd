"""LightGBM models, in MLflow's ``lightgbm`` flavor format.

A ``lightgbm.Booster`` is saved in LightGBM's own text format (``model.lgb``); a
model of LightGBM's scikit-learn API (``LGBMClassifier`` ...) with skops
(``model.skops``), as MLflow 3 does, trusting LightGBM's classes besides
scikit-learn's, NumPy's and SciPy's. No pickle either way. ``loader_module`` is
``mlflow.lightgbm``, so MLflow loads these models natively.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from labtrack.errors import InvalidParameterValue
from labtrack.models._environment import pinned
from labtrack.models._trust import Trust
from labtrack.models.flavors.base import Flavor
from labtrack.models.flavors.sklearn import (
    SKOPS,
    check_format,
    format_requirements,
    load_estimator,
    save_estimator,
)

__all__ = ["LightGBMFlavor"]

BOOSTER_CLASS = "lightgbm.basic.Booster"
_PACKAGES = ("lightgbm",)
_TYPES = ("collections.OrderedDict",)  # LightGBM's scikit-learn models hold one


def _with_lightgbm_types(trust: Trust) -> Trust:
    return replace(trust, types=trust.types + _TYPES)


class LightGBMFlavor(Flavor):
    name = "lightgbm"
    loader_module = "mlflow.lightgbm"
    also_loads = ("labtrack.lightgbm",)

    def check(
        self,
        model: Any,
        *,
        serialization_format: str = SKOPS,
        skops_trusted_types: list[str] | None = None,
    ) -> None:
        import lightgbm as lgb

        if isinstance(model, lgb.LGBMModel):  # a Booster is saved in LightGBM's own format
            check_format(serialization_format, "lightgbm")

    def save(
        self,
        model: Any,
        path: Path,
        *,
        serialization_format: str = SKOPS,
        skops_trusted_types: list[str] | None = None,
    ) -> dict[str, Any]:
        import lightgbm as lgb

        model_class = f"{type(model).__module__}.{type(model).__name__}"
        if isinstance(model, lgb.Booster):
            file = "model.lgb"
            model.save_model(str(path / file))
            trusted = None
        elif isinstance(model, lgb.LGBMModel):
            self.check(model, serialization_format=serialization_format)
            file = "model.skops" if serialization_format == SKOPS else "model.pkl"
            trusted = save_estimator(
                model,
                path / file,
                serialization_format,
                [*_TYPES, *(skops_trusted_types or ())],
                _PACKAGES,
            )
        else:
            raise InvalidParameterValue(
                f"The lightgbm flavor saves lightgbm.Booster and LightGBM scikit-learn models, "
                f"got {type(model).__name__}"
            )
        return {
            "code": None,
            "data": file,
            "lgb_version": lgb.__version__,
            "model_class": model_class,
            "serialization_format": serialization_format,
            "skops_trusted_types": trusted,
            "python_function": {"data": file},
        }

    def load(self, path: Path, conf: dict[str, Any], trust: Trust) -> Any:
        import lightgbm as lgb

        file = path / str(conf.get("data", "model.lgb"))
        if conf.get("model_class", BOOSTER_CLASS) == BOOSTER_CLASS:
            return lgb.Booster(model_file=str(file))
        fmt = str(conf.get("serialization_format", "cloudpickle"))
        return load_estimator(file, fmt, _with_lightgbm_types(trust), _PACKAGES)

    def requirements(self, model: Any, conf: dict[str, Any]) -> list[str]:
        import lightgbm as lgb

        if isinstance(model, lgb.Booster):
            return [pinned("lightgbm"), pinned("numpy")]
        return [pinned("lightgbm"), pinned("sklearn"), *format_requirements(conf), pinned("numpy")]
