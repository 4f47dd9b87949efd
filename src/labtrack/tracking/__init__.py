"""Tracking: the fluent API, the client and the service under them.

``from labtrack.tracking import MlflowClient`` (or ``TrackingClient``) works as MLflow's
``from mlflow.tracking import MlflowClient``; the client is imported on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__all__ = ["MlflowClient", "TrackingClient"]

if TYPE_CHECKING:
    from labtrack.tracking.client import MlflowClient, TrackingClient


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(import_module("labtrack.tracking.client"), name)
    raise AttributeError(f"module 'labtrack.tracking' has no attribute {name!r}")
