"""The optional libraries saving and loading models need, checked before anything is written.

labtrack installs no ML library itself: each flavor's library comes with its extra
(``pip install "labtrack[sklearn]"``). A model object proves its own library is
there, but not the serialization library beside it (skops for scikit-learn models,
cloudpickle for python models) nor pandas for signatures: those are checked here,
so that a missing one is a one-line :class:`~labtrack.errors.MissingDependency`
naming the command that fixes it, raised before a run, a logged model or a
registry version is touched.
"""

from __future__ import annotations

import importlib

from labtrack.errors import MissingDependency

__all__ = ["require"]


def require(module: str, *, purpose: str, install: str) -> None:
    """Import ``module`` or raise MissingDependency: "``purpose`` needs ``module`` ...".

    ``install`` is the pip command line(s) to suggest, e.g.
    ``'pip install "labtrack[sklearn]" (or pip install skops)'``.
    """
    try:
        importlib.import_module(module)
    except ImportError as exc:
        package = module.partition(".")[0]
        raise MissingDependency(
            f"{purpose} needs {package}, which is not installed: {install}"
        ) from exc
