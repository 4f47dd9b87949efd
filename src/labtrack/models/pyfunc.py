"""Loading models: as a generic predictor (pyfunc) or as the flavor's native object.

``load_pyfunc(uri)`` reads MLmodel, picks the flavor from the ``python_function``
section's ``loader_module`` (``mlflow.sklearn`` -> the sklearn flavor, and so on;
``labtrack.pyfunc`` -> the flavor named there), puts the model's ``code/`` on
``sys.path`` and wraps what the flavor returns in a :class:`PyFuncModel`, whose
``predict`` checks the input against the signature first.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from labtrack.errors import InvalidParameterValue
from labtrack.models._trust import Trust
from labtrack.models.flavors import flavor_for_loader, get_flavor
from labtrack.models.flavors.base import Flavor
from labtrack.models.model import PYFUNC, Model
from labtrack.models.signature import ParamSchema, Schema

__all__ = ["PyFuncModel", "load_native", "load_pyfunc"]


class PyFuncModel:
    """A loaded model behind one interface: ``predict(data, params=None)``."""

    def __init__(self, metadata: Model, impl: Any, path: Path, predict_fn: str = "predict") -> None:
        self.metadata = metadata
        self.path = path
        self._impl = impl
        self._predict: Any = getattr(impl, predict_fn, None)
        if self._predict is None:
            raise InvalidParameterValue(f"The loaded model has no {predict_fn}() to predict with")
        self._takes_params = "params" in inspect.signature(self._predict).parameters

    def __repr__(self) -> str:
        """MLflow's block, so ``print(model)`` reads as it does there::

            mlflow.pyfunc.loaded_model:
              artifact_path: <where it was logged>
              flavor: mlflow.sklearn
              run_id: <the run that logged it>

        (``artifact_path`` and ``run_id`` only for a logged model; ``flavor`` is the
        ``python_function`` section's ``loader_module``.)
        """
        import yaml

        info: dict[str, Any] = {}
        if self.metadata.run_id is not None:
            info["run_id"] = self.metadata.run_id
        if self.metadata.artifact_path is not None:
            info["artifact_path"] = self.metadata.artifact_path
        info["flavor"] = (self.metadata.pyfunc_conf or {}).get("loader_module")
        text: str = yaml.safe_dump({"mlflow.pyfunc.loaded_model": info}, default_flow_style=False)
        return text

    @property
    def input_schema(self) -> Schema | None:
        return self.metadata.signature.inputs if self.metadata.signature else None

    @property
    def output_schema(self) -> Schema | None:
        return self.metadata.signature.outputs if self.metadata.signature else None

    @property
    def params_schema(self) -> ParamSchema | None:
        return self.metadata.signature.params if self.metadata.signature else None

    @property
    def model_id(self) -> str | None:
        return self.metadata.model_id

    @property
    def input_example(self) -> Any:
        return self.metadata.load_input_example(self.path)

    def predict(self, data: Any, params: Mapping[str, Any] | None = None) -> Any:
        """Predictions for ``data``, checked against (and converted to) the input schema."""
        from labtrack.models._enforce import enforce_params, enforce_schema

        if self.input_schema is not None:
            data = enforce_schema(data, self.input_schema)
        checked = enforce_params(params, self.params_schema)
        if self._takes_params:
            return self._predict(data, params=checked)
        return self._predict(data)

    def get_raw_model(self) -> Any:
        """What the flavor loaded (an estimator, a Booster ...), unwrapped."""
        getter = getattr(self._impl, "get_raw_model", None)
        return getter() if getter is not None else self._impl

    def unwrap_python_model(self) -> Any:
        """The PythonModel of a custom python model."""
        unwrap = getattr(self._impl, "unwrap_python_model", None)
        if unwrap is None:
            raise InvalidParameterValue("This model is not a custom python model")
        return unwrap()


def _add_code_to_path(path: Path, conf: Mapping[str, Any]) -> None:
    code = conf.get("code")
    if code:
        directory = str((path / str(code)).resolve())
        if directory not in sys.path:
            sys.path.insert(0, directory)


def _trust(trust_pickle: bool | None, trusted_types: Iterable[str] | None) -> Trust:
    return Trust.from_args(trust_pickle, trusted_types)


def _local_model(uri: str | os.PathLike[str], dst_path: str | os.PathLike[str] | None) -> Path:
    from labtrack.models._uri import download_model

    path = download_model(uri, dst_path)
    if path.is_file() and path.name == "MLmodel":
        path = path.parent
    return path


def load_pyfunc(
    model_uri: str | os.PathLike[str],
    *,
    trust_pickle: bool | None = None,
    trusted_types: Iterable[str] | None = None,
    dst_path: str | os.PathLike[str] | None = None,
) -> PyFuncModel:
    """Load a model as a :class:`PyFuncModel`, whatever its flavor."""
    path = _local_model(model_uri, dst_path)
    return pyfunc_from_path(path, _trust(trust_pickle, trusted_types))


def pyfunc_from_path(path: Path, trust: Trust) -> PyFuncModel:
    meta = Model.load(path)
    conf = meta.pyfunc_conf
    if conf is None:
        raise InvalidParameterValue(
            f"The model at {str(path)!r} has no python_function flavor (flavors: "
            f"{', '.join(meta.flavors) or 'none'}): it cannot be loaded as a pyfunc"
        )
    flavor = flavor_for_loader(str(conf.get("loader_module")), conf)
    _add_code_to_path(path, conf)
    impl = flavor.pyfunc(path, _section(meta, flavor, path), trust)
    return PyFuncModel(meta, impl, path, str(conf.get("predict_fn", "predict")))


def _section(meta: Model, flavor: Flavor, path: Path) -> dict[str, Any]:
    conf = meta.flavors.get(flavor.section)
    if conf is None:
        raise InvalidParameterValue(
            f"The model at {str(path)!r} has no {flavor.section!r} flavor "
            f"(flavors: {', '.join(meta.flavors) or 'none'})"
        )
    return conf


def load_native(
    flavor: str | Flavor,
    model_uri: str | os.PathLike[str],
    *,
    trust_pickle: bool | None = None,
    trusted_types: Iterable[str] | None = None,
    dst_path: str | os.PathLike[str] | None = None,
) -> Any:
    """Load the flavor's native model (an estimator, a Booster, a PythonModel ...)."""
    chosen = get_flavor(flavor)
    path = _local_model(model_uri, dst_path)
    meta = Model.load(path)
    section = _section(meta, chosen, path)
    _add_code_to_path(path, meta.flavors.get(PYFUNC) or section)
    return chosen.load(path, section, _trust(trust_pickle, trusted_types))
