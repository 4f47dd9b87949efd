"""Fixtures of the model tests: small training data, fitted models, the real mlflow."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

# MLflow decides on telemetry when first imported; these tests import it.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

# Warnings the mlflow package (not labtrack) raises while these tests use it to save and
# load models for comparison; the project turns warnings into errors.
MLFLOW_WARNING_FILTERS = (
    r"ignore:.*Any type hint is inferred as AnyType:UserWarning",
    r"ignore:Starting with pandas version 4.0 all arguments of all will be keyword-only"
    r":DeprecationWarning",
    r"ignore:Operation with range is deprecated:DeprecationWarning",
    # mlflow.models.signature warns when it infers an integer column
    r"ignore:Hint. Inferred schema contains integer column:UserWarning",
    r"ignore:.*Add type hints to the `predict` method:UserWarning",
)

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).parents:
            for spec in MLFLOW_WARNING_FILTERS:
                item.add_marker(pytest.mark.filterwarnings(spec))


@pytest.fixture
def frame() -> tuple[Any, Any]:
    """Features (three doubles, one long) and a binary target."""
    np = pytest.importorskip("numpy")
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    features = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    features["n"] = np.arange(60, dtype="int64")
    target = (features["a"] + 2 * features["b"] - features["c"] > 0).astype("int64")
    return features, target


@pytest.fixture
def sk_model(frame: tuple[Any, Any]) -> Any:
    pytest.importorskip("sklearn")
    from sklearn.linear_model import LogisticRegression

    features, target = frame
    return LogisticRegression(max_iter=500).fit(features, target)


@pytest.fixture
def mlflow() -> Any:
    """The real mlflow package, with its process-wide state reset after the test."""
    module = pytest.importorskip("mlflow", reason="the mlflow package is not installed")
    yield module
    from mlflow.tracking._tracking_service import utils as tracking_utils

    tracking_utils._tracking_uri = None
    for name in [
        k for k in os.environ if k.startswith("MLFLOW_") and k != "MLFLOW_DISABLE_TELEMETRY"
    ]:
        os.environ.pop(name, None)
