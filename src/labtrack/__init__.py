"""labtrack: experiment tracking and model management, compatible with MLflow.

    import labtrack as lt
    lt.set_experiment("nyc-taxi")
    with lt.start_run():
        lt.log_param("alpha", 0.01)
        lt.log_metric("rmse", 6.3)

Everything here is imported on first use, so ``import labtrack`` stays fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from labtrack._version import __version__

_FLUENT = "labtrack.tracking.fluent"
_ENTITIES = "labtrack.entities"

_EXPORTS: dict[str, str] = {
    # fluent API
    **dict.fromkeys(
        (
            "set_tracking_uri",
            "get_tracking_uri",
            "set_experiment",
            "create_experiment",
            "get_experiment",
            "get_experiment_by_name",
            "search_experiments",
            "delete_experiment",
            "restore_experiment",
            "start_run",
            "end_run",
            "active_run",
            "last_active_run",
            "log_param",
            "log_params",
            "log_metric",
            "log_metrics",
            "set_tag",
            "set_tags",
            "delete_tag",
            "log_artifact",
            "log_artifacts",
            "log_text",
            "log_dict",
            "log_figure",
            "log_image",
            "log_table",
            "get_run",
            "search_runs",
            "delete_run",
            "get_artifact_uri",
            "flush",
            "ActiveRun",
            "log_input",
            "register_model",
            "search_registered_models",
            "search_model_versions",
        ),
        _FLUENT,
    ),
    # clients
    "TrackingClient": "labtrack.tracking.client",
    "MlflowClient": "labtrack.tracking.client",
    # entities
    **dict.fromkeys(
        (
            "Experiment",
            "Run",
            "RunInfo",
            "RunData",
            "Metric",
            "Param",
            "RunTag",
            "ExperimentTag",
            "MetricSummary",
            "RunStatus",
            "LifecycleStage",
            "ViewType",
            "Dataset",
            "DatasetInput",
            "InputTag",
            "FileInfo",
            "RegisteredModel",
            "ModelVersion",
            "ModelVersionStage",
            "ModelVersionLineage",
            "RegistryEvent",
            "RegistryAction",
        ),
        _ENTITIES,
    ),
    # errors
    **dict.fromkeys(
        (
            "LabtrackError",
            "InvalidParameterValue",
            "ResourceAlreadyExists",
            "ResourceDoesNotExist",
            "LoggingError",
            "ConfigurationError",
        ),
        "labtrack.errors",
    ),
    "MlflowException": "labtrack.exceptions",
}

# Submodules reached as attributes (``lt.pyfunc``, and for MLflow scripts
# ``mlflow.tracking.MlflowClient()``, ``mlflow.entities.ViewType``,
# ``mlflow.exceptions.MlflowException``), imported on first use.
_SUBMODULES = (
    "data",
    "models",
    "pyfunc",
    "sklearn",
    "xgboost",
    "lightgbm",
    "tracking",
    "entities",
    "exceptions",
)

__all__ = ["__version__", *_EXPORTS, *_SUBMODULES]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        value = import_module(f"labtrack.{name}")
        globals()[name] = value
        return value
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'labtrack' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from labtrack import (
        data,
        entities,
        exceptions,
        lightgbm,
        models,
        pyfunc,
        sklearn,
        tracking,
        xgboost,
    )
    from labtrack.entities import (
        Dataset,
        DatasetInput,
        Experiment,
        ExperimentTag,
        FileInfo,
        InputTag,
        LifecycleStage,
        Metric,
        MetricSummary,
        ModelVersion,
        ModelVersionLineage,
        ModelVersionStage,
        Param,
        RegisteredModel,
        RegistryAction,
        RegistryEvent,
        Run,
        RunData,
        RunInfo,
        RunStatus,
        RunTag,
        ViewType,
    )
    from labtrack.errors import (
        ConfigurationError,
        InvalidParameterValue,
        LabtrackError,
        LoggingError,
        ResourceAlreadyExists,
        ResourceDoesNotExist,
    )
    from labtrack.exceptions import MlflowException
    from labtrack.tracking.client import MlflowClient, TrackingClient
    from labtrack.tracking.fluent import (
        ActiveRun,
        active_run,
        create_experiment,
        delete_experiment,
        delete_run,
        delete_tag,
        end_run,
        flush,
        get_artifact_uri,
        get_experiment,
        get_experiment_by_name,
        get_run,
        get_tracking_uri,
        last_active_run,
        log_artifact,
        log_artifacts,
        log_dict,
        log_figure,
        log_image,
        log_input,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        log_table,
        log_text,
        register_model,
        restore_experiment,
        search_experiments,
        search_model_versions,
        search_registered_models,
        search_runs,
        set_experiment,
        set_tag,
        set_tags,
        set_tracking_uri,
        start_run,
    )
