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
    # mlflow's signature inference imports pyspark when it is installed (the spark extra),
    # and pyspark warns about pandas 3 on import
    r"ignore:PySpark does not yet fully support pandas:FutureWarning",
)

HERE = Path(__file__).parent


def _give_main_a_spec() -> None:
    """pytest-xdist runs tests under a ``__main__`` with neither ``__spec__`` nor
    ``__file__``, which pyspark takes for a doctest run: importing ``pyspark.sql.connect``
    (as mlflow's signature inference does when pyspark is installed) then calls
    ``sys.exit(0)`` when Spark Connect's own dependencies are missing. A spec named
    ``__main__`` tells it otherwise, and is what multiprocessing's spawn skips anyway."""
    import importlib.machinery
    import importlib.util
    import sys

    main = sys.modules.get("__main__")
    if (
        main is not None
        and getattr(main, "__spec__", None) is None
        and not hasattr(main, "__file__")
        and importlib.util.find_spec("pyspark") is not None
    ):
        main.__spec__ = importlib.machinery.ModuleSpec("__main__", None)


_give_main_a_spec()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).parents:
            for spec in MLFLOW_WARNING_FILTERS:
                item.add_marker(pytest.mark.filterwarnings(spec))


def make_frame() -> tuple[Any, Any]:
    """Features (three doubles, one long) and a binary target."""
    np = pytest.importorskip("numpy")
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    features = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    features["n"] = np.arange(60, dtype="int64")
    target = (features["a"] + 2 * features["b"] - features["c"] > 0).astype("int64")
    return features, target


def make_sk_model(frame: tuple[Any, Any]) -> Any:
    """A LogisticRegression fitted on ``frame``."""
    pytest.importorskip("sklearn")
    from sklearn.linear_model import LogisticRegression

    features, target = frame
    return LogisticRegression(max_iter=500).fit(features, target)


@pytest.fixture
def frame() -> tuple[Any, Any]:
    return make_frame()


@pytest.fixture
def sk_model(frame: tuple[Any, Any]) -> Any:
    return make_sk_model(frame)


@pytest.fixture
def model_path(tmp_path: Path, frame: Any, sk_model: Any) -> Path:
    """``sk_model`` saved by labtrack (with a signature from three rows of ``frame``)."""
    import labtrack as lt

    features, _ = frame
    path = tmp_path / "model"
    lt.sklearn.save_model(sk_model, path, input_example=features.head(3))
    return path


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
