"""Finding flavors: the ``labtrack.flavors`` entry point group, read on first use.

labtrack's own flavors are declared in its pyproject.toml like any third-party
one. Only if labtrack's installed metadata predates them (a source tree that
was not reinstalled) are they taken from the table below instead.
"""

from __future__ import annotations

import threading
from importlib import metadata
from typing import Any

from labtrack.errors import InvalidParameterValue
from labtrack.models.flavors.base import Flavor

__all__ = [
    "ENTRY_POINT_GROUP",
    "Flavor",
    "flavor_for_loader",
    "flavor_names",
    "get_flavor",
    "reset_flavors",
]

ENTRY_POINT_GROUP = "labtrack.flavors"

BUILTIN_FLAVORS = {
    "sklearn": "labtrack.models.flavors.sklearn:SklearnFlavor",
    "xgboost": "labtrack.models.flavors.xgboost:XGBoostFlavor",
    "lightgbm": "labtrack.models.flavors.lightgbm:LightGBMFlavor",
    "python_model": "labtrack.models.flavors.python_model:PythonModelFlavor",
}

_lock = threading.Lock()
_targets: dict[str, str] | None = None
_loaded: dict[str, Flavor] = {}


def _discover() -> dict[str, str]:
    global _targets
    with _lock:
        if _targets is None:
            found = {ep.name: ep.value for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
            _targets = {**BUILTIN_FLAVORS, **found}
        return _targets


def reset_flavors() -> None:
    """Forget what was discovered (after installing a flavor package in this process)."""
    global _targets
    with _lock:
        _targets = None
        _loaded.clear()


def flavor_names() -> list[str]:
    """The names of every flavor available, sorted."""
    return sorted(_discover())


def _load(name: str, target: str) -> Flavor:
    module_name, _, attr = target.partition(":")
    import importlib

    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split(".") if attr else ():
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise InvalidParameterValue(
            f"Flavor {name!r} is registered as {target!r}, which cannot be imported: {exc}"
        ) from exc
    flavor = obj() if isinstance(obj, type) else obj
    if not isinstance(flavor, Flavor):
        raise InvalidParameterValue(
            f"Flavor {name!r} ({target}) is not a labtrack.models.flavors.Flavor"
        )
    return flavor


def get_flavor(name: str | Flavor) -> Flavor:
    """The flavor registered as ``name`` (a Flavor instance is returned as is)."""
    if isinstance(name, Flavor):
        return name
    flavor = _loaded.get(name)
    if flavor is not None:
        return flavor
    targets = _discover()
    if name not in targets:
        raise InvalidParameterValue(
            f"Unknown model flavor {name!r}; available: {', '.join(sorted(targets))}. A "
            f"package adds one through the {ENTRY_POINT_GROUP!r} entry point group."
        )
    flavor = _load(name, targets[name])
    _loaded[name] = flavor
    return flavor


def flavor_for_loader(loader_module: str, pyfunc_conf: dict[str, Any]) -> Flavor:
    """The flavor that loads a model whose ``python_function`` conf is ``pyfunc_conf``."""
    if loader_module == Flavor.loader_module:
        return get_flavor(str(pyfunc_conf.get("flavor", "python_model")))
    for name in flavor_names():
        flavor = get_flavor(name)
        if loader_module == flavor.loader_module or loader_module in flavor.also_loads:
            return flavor
    hint = (
        " (an MLflow PythonModel: load it with mlflow.pyfunc.load_model)"
        if loader_module == "mlflow.pyfunc.model"
        else ""
    )
    raise InvalidParameterValue(
        f"No labtrack flavor loads models whose python_function loader_module is "
        f"{loader_module!r}{hint}; available flavors: {', '.join(flavor_names())}"
    )
