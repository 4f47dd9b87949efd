"""The public surface of ``labtrack`` is deliberate, and importing it stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

import labtrack

PUBLIC = {
    "__version__",
    # fluent API
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
    "TrackingClient",
    "MlflowClient",
    "log_input",
    "data",
    # model namespaces (submodules, imported on first use)
    "models",
    "pyfunc",
    "sklearn",
    "xgboost",
    "lightgbm",
    # model registry
    "register_model",
    "search_registered_models",
    "search_model_versions",
    "RegisteredModel",
    "ModelVersion",
    "ModelVersionStage",
    "ModelVersionLineage",
    "RegistryEvent",
    "RegistryAction",
    # entities
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
    # errors
    "LabtrackError",
    "InvalidParameterValue",
    "ResourceAlreadyExists",
    "ResourceDoesNotExist",
    "LoggingError",
    "ConfigurationError",
}


def test_all_is_exactly_the_public_surface() -> None:
    assert set(labtrack.__all__) == PUBLIC
    for name in labtrack.__all__:
        assert getattr(labtrack, name) is not None, name


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        labtrack.no_such_thing  # noqa: B018


def test_import_does_not_load_heavy_dependencies() -> None:
    code = (
        "import sys, labtrack; "
        "heavy = [m for m in ('sqlalchemy', 'alembic', 'pandas', 'numpy', 'httpx', 'fastapi', "
        "'uvicorn', 'click', 'yaml') if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
