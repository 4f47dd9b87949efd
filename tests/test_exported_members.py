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
    # MLflow's submodules that scripts reach without importing them (imported on first use)
    "tracking",
    "entities",
    "exceptions",
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
    "MlflowException",
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


def test_import_loads_no_labtrack_submodule() -> None:
    """``import labtrack`` runs its ``__init__`` and the version, nothing else: every
    name and submodule is imported when first reached."""
    code = (
        "import sys, labtrack; "
        "print(','.join(sorted(m for m in sys.modules if m.startswith('labtrack'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "labtrack,labtrack._version"


@pytest.mark.parametrize(
    ("expression", "loaded", "name"),
    [
        ("mlflow.exceptions.MlflowException", "labtrack.exceptions", "LabtrackError"),
        ("mlflow.MlflowException", "labtrack.exceptions", "LabtrackError"),
        ("mlflow.entities.ViewType", "labtrack.entities", "ViewType"),
        ("mlflow.tracking.MlflowClient", "labtrack.tracking.client", "TrackingClient"),
    ],
)
def test_mlflow_submodules_are_reached_without_importing_them(
    expression: str, loaded: str, name: str
) -> None:
    """What an MLflow script reaches after ``import labtrack as mlflow`` alone, each in a
    fresh interpreter (so nothing else imported the submodule first), loading no heavy
    dependency."""
    code = (
        "import sys; import labtrack as mlflow; "
        f"value = {expression}; "
        f"assert {loaded!r} in sys.modules; "
        "print(value.__name__, [m for m in ('sqlalchemy', 'httpx', 'pandas', 'numpy') "
        "if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"{name} []"


def test_mlflow_exception_is_the_root_of_labtrack_errors() -> None:
    """``except MlflowException`` catches what labtrack raises, read as MLflow's."""
    import json

    from labtrack.exceptions import MlflowException

    assert labtrack.MlflowException is MlflowException is labtrack.LabtrackError
    assert labtrack.exceptions.MlflowException is MlflowException
    with pytest.raises(MlflowException) as caught:
        labtrack.MlflowClient().get_run("0" * 32)
    assert caught.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert caught.value.get_http_status_code() == 404
    assert caught.value.message == str(caught.value)

    raised = MlflowException("bad alpha", error_code="INVALID_PARAMETER_VALUE", field="alpha")
    assert raised.error_code == "INVALID_PARAMETER_VALUE"
    assert raised.get_http_status_code() == 400
    assert json.loads(raised.serialize_as_json()) == {
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": "bad alpha",
        "field": "alpha",
    }
    plain = MlflowException(ValueError("boom"))
    assert (plain.error_code, plain.message, plain.get_http_status_code()) == (
        "INTERNAL_ERROR",
        "boom",
        500,
    )
    invalid = MlflowException.invalid_parameter_value("no")
    assert isinstance(invalid, labtrack.InvalidParameterValue)
    assert (invalid.error_code, invalid.get_http_status_code()) == ("INVALID_PARAMETER_VALUE", 400)
