"""Custom python models: a :class:`labtrack.pyfunc.PythonModel` with artifacts and code.

The model object is saved with cloudpickle (``python_model.pkl``), so loading it
needs ``trust_pickle=True`` (or ``LABTRACK_TRUST_PICKLE=1``). ``artifacts`` (name ->
URI or path) are copied into ``artifacts/`` and handed to ``load_context`` as local
paths. The keys are MLflow's (``python_model``, ``artifacts``, ``code``,
``cloudpickle_version``); ``loader_module`` is ``labtrack.pyfunc``, because the
pickled object is a labtrack class: MLflow loads these models through labtrack.
"""

from __future__ import annotations

import inspect
import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labtrack.errors import InvalidParameterValue
from labtrack.models._dependencies import require
from labtrack.models._environment import pinned
from labtrack.models._trust import Trust
from labtrack.models.flavors.base import Flavor

__all__ = ["PythonModelFlavor"]

MODEL_FILE = "python_model.pkl"
ARTIFACTS_DIR = "artifacts"


def _copy_artifacts(artifacts: Mapping[str, Any], path: Path) -> dict[str, dict[str, str]]:
    from labtrack.models._uri import download_artifact

    conf = {}
    root = path / ARTIFACTS_DIR
    for name, uri in artifacts.items():
        if not isinstance(name, str) or not name or "/" in name:
            raise InvalidParameterValue(f"Invalid artifact name {name!r}")
        text = os.fspath(uri)
        local = download_artifact(text, root)
        conf[name] = {"path": local.relative_to(path).as_posix(), "uri": text}
    return conf


class PythonModelFlavor(Flavor):
    name = "python_model"
    conf_key = "python_function"

    def check(
        self,
        model: Any,
        *,
        artifacts: Mapping[str, Any] | None = None,
        model_config: Mapping[str, Any] | None = None,
    ) -> None:
        from labtrack.pyfunc import PythonModel

        if not isinstance(model, PythonModel):
            raise InvalidParameterValue(
                f"python_model must be a labtrack.pyfunc.PythonModel, got {type(model).__name__}"
            )
        require(
            "cloudpickle",
            purpose="Saving a python model",
            install='pip install "labtrack[models]" (or pip install cloudpickle)',
        )

    def save(
        self,
        model: Any,
        path: Path,
        *,
        artifacts: Mapping[str, Any] | None = None,
        model_config: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        self.check(model)
        import cloudpickle

        conf: dict[str, Any] = {
            "cloudpickle_version": cloudpickle.__version__,
            "python_model": MODEL_FILE,
        }
        if artifacts:
            conf["artifacts"] = _copy_artifacts(artifacts, path)
        if model_config:
            conf["model_config"] = dict(model_config)
        with open(path / MODEL_FILE, "wb") as f:
            cloudpickle.dump(model, f, protocol=pickle.DEFAULT_PROTOCOL)
        return conf

    def load(self, path: Path, conf: dict[str, Any], trust: Trust) -> Any:
        """The PythonModel, its ``load_context`` called with the model's artifacts."""
        return self._load(path, conf, trust)[0]

    def pyfunc(self, path: Path, conf: dict[str, Any], trust: Trust) -> Any:
        return PythonModelPredictor(*self._load(path, conf, trust))

    def _load(self, path: Path, conf: dict[str, Any], trust: Trust) -> tuple[Any, Any]:
        import cloudpickle

        from labtrack.pyfunc import PythonModelContext

        file = path / str(conf.get("python_model", MODEL_FILE))
        trust.require_pickle(str(file), "cloudpickle")
        with open(file, "rb") as f:
            model = cloudpickle.load(f)
        artifacts = {
            name: str(path / str(entry["path"]))
            for name, entry in (conf.get("artifacts") or {}).items()
        }
        context = PythonModelContext(artifacts, dict(conf.get("model_config") or {}))
        model.load_context(context)
        return model, context

    def requirements(self, model: Any, conf: dict[str, Any]) -> list[str]:
        from labtrack import __version__

        return [f"labtrack=={__version__}", pinned("cloudpickle")]


class PythonModelPredictor:
    def __init__(self, model: Any, context: Any) -> None:
        self.model = model
        self.context = context
        self._takes_params = "params" in inspect.signature(model.predict).parameters

    def unwrap_python_model(self) -> Any:
        return self.model

    get_raw_model = unwrap_python_model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        if self._takes_params:
            return self.model.predict(self.context, data, params=params)
        return self.model.predict(self.context, data)
