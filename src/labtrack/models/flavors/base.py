"""The interface of a model flavor: how one kind of model is saved, loaded and predicted with.

A flavor is a class with a ``name`` (its key under ``flavors:`` in MLmodel) and
four methods (and an optional ``check``)::

    check(model, **options)                  # raise before anything is written
    save(model, path, **options) -> conf    # write the model's files into path
    load(path, conf, trust) -> model         # the native model back
    pyfunc(path, conf, trust) -> object      # something with .predict(data[, params])
    requirements(model, conf) -> [pip lines] # what the model needs installed

``conf`` is the flavor's section of MLmodel. A ``python_function`` dict in the conf
``save`` returns is moved into the ``python_function`` section instead (for keys
such as ``model_path`` or ``predict_fn`` that MLflow reads there).

Flavors are found through the ``labtrack.flavors`` entry point group, the built-in
ones included, so a package adds one by declaring, in its pyproject.toml::

    [project.entry-points."labtrack.flavors"]
    myflavor = "mypackage.flavor:MyFlavor"

and then ``labtrack.models.save_model(model, path, flavor="myflavor")``,
``log_model(..., flavor="myflavor")`` and ``labtrack.pyfunc.load_model(uri)`` work
for its models.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from labtrack.models._trust import Trust

__all__ = ["Flavor"]


class Flavor(ABC):
    """One kind of model. Subclass it and register it under ``labtrack.flavors``."""

    #: The key of this flavor's section under ``flavors:`` in MLmodel.
    name: ClassVar[str]
    #: The ``python_function`` loader_module written for models of this flavor. MLflow
    #: imports it and calls its ``_load_pyfunc(path)``; ``labtrack.pyfunc`` loads any
    #: labtrack flavor (it finds the flavor from ``flavor:`` in the python_function conf).
    loader_module: ClassVar[str] = "labtrack.pyfunc"
    #: Other loader modules whose models this flavor loads (e.g. ``mlflow.sklearn``).
    also_loads: ClassVar[tuple[str, ...]] = ()
    #: The MLmodel section holding this flavor's conf (``python_function`` for custom
    #: python models, whose conf lives there as in MLflow).
    conf_key: ClassVar[str | None] = None

    @property
    def section(self) -> str:
        return self.conf_key or self.name

    def check(self, model: Any, *args: Any, **options: Any) -> None:
        """Raise if ``model`` cannot be saved with ``options`` (a value out of range, a
        library that is not installed: see ``labtrack.models._dependencies.require``).

        Called before a logged model, a run output or a directory is created, so a model
        that cannot be saved leaves nothing behind. The default checks nothing.
        """
        return None

    @abstractmethod
    def save(self, model: Any, path: Path, *args: Any, **options: Any) -> dict[str, Any]:
        """Write ``model``'s files into the existing directory ``path``; return the flavor's
        conf (written under ``flavors: <name>:``, but for its ``python_function`` dict,
        which goes into that section). Unknown options are an error."""

    @abstractmethod
    def load(self, path: Path, conf: dict[str, Any], trust: Trust) -> Any:
        """The native model saved in ``path`` (``conf`` is its flavor section)."""

    def pyfunc(self, path: Path, conf: dict[str, Any], trust: Trust) -> Any:
        """An object whose ``predict(data)`` (or ``predict(data, params=None)``) scores.

        The default wraps :meth:`load`'s model and calls its ``predict``.
        """
        return _PredictWrapper(self.load(path, conf, trust))

    def requirements(self, model: Any, conf: dict[str, Any]) -> list[str]:
        """pip requirement lines the model needs, pinned to the installed versions."""
        return []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class _PredictWrapper:
    def __init__(self, model: Any) -> None:
        self.model = model

    def get_raw_model(self) -> Any:
        return self.model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return self.model.predict(data, **(params or {}))
