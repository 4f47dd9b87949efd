"""scikit-learn models, in MLflow's ``sklearn`` flavor format.

Saved with skops (``model.skops``, ``serialization_format: skops``) by default, so
loading needs no pickle. The files and MLmodel sections are exactly MLflow's and
``loader_module`` is ``mlflow.sklearn``: MLflow loads these models with its own
code, without labtrack, and labtrack loads MLflow's sklearn models (skops, and
pickle/cloudpickle ones when the caller trusts pickles) without MLflow.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from labtrack.errors import InvalidParameterValue
from labtrack.models._dependencies import require
from labtrack.models._environment import pinned
from labtrack.models._trust import Trust, UntrustedModelError, load_skops, skops_untrusted
from labtrack.models.flavors.base import Flavor

__all__ = ["SklearnFlavor"]

SKOPS, PICKLE, CLOUDPICKLE = "skops", "pickle", "cloudpickle"
FORMATS = (SKOPS, PICKLE, CLOUDPICKLE)
_FILES = {SKOPS: "model.skops", PICKLE: "model.pkl", CLOUDPICKLE: "model.pkl"}
PREDICT_FNS = ("predict", "predict_proba", "predict_log_proba", "predict_joint_log_proba", "score")


def check_format(serialization_format: str, extra: str) -> None:
    """Raise unless ``serialization_format`` is known and its library is installed.

    ``extra`` is the labtrack extra that installs the library (``sklearn``, ``lightgbm``).
    """
    if serialization_format not in FORMATS:
        raise InvalidParameterValue(
            f"Unknown serialization_format {serialization_format!r}: use {', '.join(FORMATS)}"
        )
    if serialization_format == SKOPS:
        require(
            "skops.io",
            purpose="Saving a model with skops (serialization_format='skops', the default)",
            install=f'pip install "labtrack[{extra}]" (or pip install skops)',
        )
    elif serialization_format == CLOUDPICKLE:
        require(
            "cloudpickle",
            purpose="Saving a model with serialization_format='cloudpickle'",
            install='pip install "labtrack[models]" (or pip install cloudpickle)',
        )


def save_estimator(
    model: Any,
    file: Path,
    serialization_format: str,
    trusted_types: list[str] | None,
    extra_packages: tuple[str, ...] = (),
) -> list[str] | None:
    """Write ``model`` to ``file``; return the skops trusted types to record (skops only).

    Types a skops file holds beyond skops' own defaults are recorded in MLmodel (MLflow's
    loader trusts only those): the scikit-learn, NumPy and SciPy classes labtrack trusts
    by default, plus ``trusted_types``. Any other type is an error here, not at load.
    """
    if serialization_format not in FORMATS:
        raise InvalidParameterValue(
            f"Unknown serialization_format {serialization_format!r}: use {', '.join(FORMATS)}"
        )
    if serialization_format == SKOPS:
        import skops.io

        try:
            skops.io.dump(model, str(file))
        except Exception as exc:
            raise InvalidParameterValue(
                f"{type(model).__name__} cannot be saved with skops ({exc}); classes and "
                "functions must be importable. Use serialization_format='cloudpickle' (loading "
                "it will then need trust_pickle=True)."
            ) from exc
        allowed, refused = skops_untrusted(
            str(file), Trust(types=tuple(trusted_types or ())), extra_packages
        )
        if refused:
            raise UntrustedModelError(
                f"The model holds types that are not trusted by default: {refused}. If they "
                f"are safe to rebuild, save it with skops_trusted_types={refused!r} (loading "
                "it will need the same list as trusted_types)."
            )
        return sorted(set(allowed)) or None
    if serialization_format == CLOUDPICKLE:
        import cloudpickle

        with open(file, "wb") as f:
            cloudpickle.dump(model, f, protocol=pickle.DEFAULT_PROTOCOL)
    else:
        with open(file, "wb") as f:
            pickle.dump(model, f, protocol=pickle.DEFAULT_PROTOCOL)
    return None


def load_estimator(
    file: Path, serialization_format: str, trust: Trust, extra_packages: tuple[str, ...] = ()
) -> Any:
    if serialization_format == SKOPS:
        return load_skops(str(file), trust, extra_packages)
    if serialization_format not in FORMATS:
        raise InvalidParameterValue(f"Unknown serialization_format {serialization_format!r}")
    trust.require_pickle(str(file), serialization_format)
    with open(file, "rb") as f:
        if serialization_format == CLOUDPICKLE:
            import cloudpickle

            return cloudpickle.load(f)
        return pickle.load(f)


def format_requirements(conf: dict[str, Any]) -> list[str]:
    """The serialization library a saved estimator needs (none for plain pickle)."""
    fmt = conf.get("serialization_format")
    return (
        [pinned("skops")] if fmt == SKOPS else [pinned("cloudpickle")] if fmt == CLOUDPICKLE else []
    )


class SklearnFlavor(Flavor):
    name = "sklearn"
    loader_module = "mlflow.sklearn"
    also_loads = ("labtrack.sklearn",)

    def check(
        self,
        model: Any,
        *,
        serialization_format: str = SKOPS,
        skops_trusted_types: list[str] | None = None,
        pyfunc_predict_fn: str = "predict",
    ) -> None:
        if pyfunc_predict_fn not in PREDICT_FNS:
            raise InvalidParameterValue(
                f"Invalid pyfunc_predict_fn {pyfunc_predict_fn!r}: use one of {PREDICT_FNS}"
            )
        if not hasattr(model, pyfunc_predict_fn):
            raise InvalidParameterValue(
                f"{type(model).__name__} has no {pyfunc_predict_fn}() to predict with"
            )
        check_format(serialization_format, "sklearn")

    def save(
        self,
        model: Any,
        path: Path,
        *,
        serialization_format: str = SKOPS,
        skops_trusted_types: list[str] | None = None,
        pyfunc_predict_fn: str = "predict",
    ) -> dict[str, Any]:
        import sklearn

        self.check(
            model,
            serialization_format=serialization_format,
            pyfunc_predict_fn=pyfunc_predict_fn,
        )
        file = _FILES.get(serialization_format, "model")
        trusted = save_estimator(model, path / file, serialization_format, skops_trusted_types)
        return {
            "code": None,
            "pickled_model": file,
            "serialization_format": serialization_format,
            "sklearn_version": sklearn.__version__,
            "skops_trusted_types": trusted,
            "python_function": {"model_path": file, "predict_fn": pyfunc_predict_fn},
        }

    def load(self, path: Path, conf: dict[str, Any], trust: Trust) -> Any:
        file = path / str(conf.get("pickled_model", "model.pkl"))
        return load_estimator(file, str(conf.get("serialization_format", PICKLE)), trust)

    def pyfunc(self, path: Path, conf: dict[str, Any], trust: Trust) -> Any:
        return SklearnPredictor(self.load(path, conf, trust))

    def requirements(self, model: Any, conf: dict[str, Any]) -> list[str]:
        return [pinned("sklearn"), *format_requirements(conf), pinned("numpy")]


class SklearnPredictor:
    """A scikit-learn model behind pyfunc's predict; its other predict_* methods too."""

    def __init__(self, model: Any) -> None:
        self.model = model
        for fn in PREDICT_FNS[1:]:
            if hasattr(model, fn):
                setattr(self, fn, getattr(model, fn))

    def get_raw_model(self) -> Any:
        return self.model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return self.model.predict(data)
