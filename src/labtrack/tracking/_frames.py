"""Runs as a pandas DataFrame, in MLflow's column naming. Importing this imports pandas."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from labtrack.entities import Run


def runs_to_dataframe(runs: Sequence[Run]) -> Any:
    """run_id, experiment_id, status, artifact_uri, start_time, end_time (UTC datetimes),
    then ``metrics.<key>`` (NaN when absent), ``params.<key>`` and ``tags.<key>`` (None)."""
    columns: dict[str, list[Any]] = {
        "run_id": [r.info.run_id for r in runs],
        "experiment_id": [r.info.experiment_id for r in runs],
        "status": [r.info.status for r in runs],
        "artifact_uri": [r.info.artifact_uri for r in runs],
        "start_time": pd.to_datetime([r.info.start_time for r in runs], unit="ms", utc=True),
        "end_time": pd.to_datetime([r.info.end_time for r in runs], unit="ms", utc=True),
    }
    for prefix, attr, missing in (
        ("metrics", "metrics", float("nan")),
        ("params", "params", None),
        ("tags", "tags", None),
    ):
        keys: dict[str, None] = {}
        for run in runs:
            keys.update(dict.fromkeys(getattr(run.data, attr)))
        for key in keys:
            columns[f"{prefix}.{key}"] = [getattr(r.data, attr).get(key, missing) for r in runs]
    return pd.DataFrame(columns)
