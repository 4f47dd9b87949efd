"""Datasets as run inputs.

    lt.log_input(lt.data.from_pandas(df, source="data/train.parquet"), context="training")


A dataset is recorded by name, digest (a fingerprint of its content), source
(where it came from), schema (column names and types) and profile (row count),
in MLflow's JSON shapes so MLflow tools read them. The data itself is not stored.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from labtrack.entities import Dataset
from labtrack.errors import InvalidParameterValue

_DIGEST_ROWS = 10_000  # rows hashed for the digest, as MLflow does for large frames

_NUMPY_TYPES = {
    "b": "boolean",
    "i": "long",
    "u": "long",
    "f": "double",
    "U": "string",
    "S": "binary",
    "O": "string",
    "M": "datetime",
}


def _source(source: str | os.PathLike[str] | None) -> tuple[str, str]:
    if source is None:
        return "code", json.dumps({})
    text = os.fspath(source)
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme in ("http", "https", "s3", "gs", "hdfs", "dbfs", "abfss", "wasbs"):
        return scheme if scheme != "https" else "http", json.dumps({"url": text})
    return "local", json.dumps({"uri": os.path.abspath(text) if not scheme else text})


def _column_type(dtype: Any) -> str:
    return _NUMPY_TYPES.get(getattr(dtype, "kind", "O"), "string")


def from_pandas(
    df: Any,
    source: str | os.PathLike[str] | None = None,
    name: str | None = None,
    targets: str | None = None,
) -> Dataset:
    """Describe a pandas DataFrame as a dataset (its content is fingerprinted, not stored)."""
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise InvalidParameterValue(
            f"from_pandas needs a pandas DataFrame, got {type(df).__name__}"
        )
    if targets is not None and targets not in df.columns:
        raise InvalidParameterValue(f"Target column {targets!r} is not in the DataFrame")
    head = df.head(_DIGEST_ROWS)
    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(head, index=False).values.tobytes())
    digest.update(json.dumps([str(c) for c in df.columns]).encode())
    digest.update(str(len(df)).encode())
    colspec = [{"type": _column_type(t), "name": str(c)} for c, t in df.dtypes.items()]
    schema = {"mlflow_colspec": colspec}
    profile: dict[str, Any] = {"num_rows": len(df), "num_elements": int(df.size)}
    source_type, source_json = _source(source)
    if targets is not None:
        profile["targets"] = targets
    return Dataset(
        name=name or "dataset",
        digest=digest.hexdigest()[:8],
        source_type=source_type,
        source=source_json,
        schema=json.dumps(schema),
        profile=json.dumps(profile),
    )


def from_numpy(
    features: Any,
    source: str | os.PathLike[str] | None = None,
    name: str | None = None,
    targets: Any = None,
) -> Dataset:
    """Describe NumPy arrays (features, optional targets) as a dataset."""
    import numpy as np

    arrays = {"features": np.asarray(features)}
    if targets is not None:
        arrays["targets"] = np.asarray(targets)
    digest = hashlib.sha256()
    schema = {}
    for key, array in arrays.items():
        digest.update(np.ascontiguousarray(array[:_DIGEST_ROWS]).tobytes())
        digest.update(f"{key}{array.shape}{array.dtype}".encode())
        schema[key] = {"type": _column_type(array.dtype), "shape": list(array.shape)}
    profile = {f"{key}_shape": list(a.shape) for key, a in arrays.items()}
    source_type, source_json = _source(source)
    return Dataset(
        name=name or "dataset",
        digest=digest.hexdigest()[:8],
        source_type=source_type,
        source=source_json,
        schema=json.dumps({"mlflow_tensorspec": schema}),
        profile=json.dumps(profile),
    )
