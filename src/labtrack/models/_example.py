"""Input examples saved with a model, in MLflow's files.

``input_example.json`` holds the example (a DataFrame in pandas' "split" orient
without the index, an array as nested lists, anything else as JSON), and
``serving_input_example.json`` the same example as a request body of the
scoring protocol (``{"dataframe_split": ...}`` or ``{"inputs": ...}``). An example
given as ``(data, params)`` stores both. ``saved_input_example_info`` in MLmodel
says which form was used.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labtrack.errors import InvalidParameterValue

if TYPE_CHECKING:
    from labtrack.models.model import Model

__all__ = ["EXAMPLE_FILE", "SERVING_EXAMPLE_FILE", "read_input_example", "save_input_example"]

EXAMPLE_FILE = "input_example.json"
SERVING_EXAMPLE_FILE = "serving_input_example.json"


class _Encoder(json.JSONEncoder):
    """JSON for NumPy and pandas values, as MLflow encodes them."""

    def default(self, o: Any) -> Any:
        import numpy as np

        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, (bytes, bytearray)):
            return base64.encodebytes(bytes(o)).decode("ascii")
        if isinstance(o, np.datetime64):
            return np.datetime_as_string(o)
        if isinstance(o, (dt.date, dt.datetime, dt.time)):
            return o.isoformat()
        return super().default(o)


def _nan_to_none(array: Any) -> Any:
    import numpy as np

    if np.issubdtype(array.dtype, np.number):
        return np.asarray(np.where(np.isnan(array), None, array)).tolist()
    return array.tolist()


def _split(frame: Any) -> dict[str, Any]:
    import pandas as pd

    cleaned = frame.astype(object).where(frame.notna(), None)
    result = cleaned.to_dict(orient="split")
    del result["index"]
    if isinstance(frame.columns, pd.RangeIndex) and list(frame.columns) == list(
        range(frame.shape[1])
    ):
        del result["columns"]
    return dict(result)


def save_input_example(model: Model, example: Any, path: str | os.PathLike[str]) -> Any:
    """Write the example files into ``path``, record them in ``model``; return the data part
    of the example as a model would receive it (for signature inference)."""
    import numpy as np
    import pandas as pd

    params = None
    if isinstance(example, tuple) and len(example) == 2 and isinstance(example[1], dict):
        example, params = example
    info: dict[str, Any] = {"artifact_path": EXAMPLE_FILE}
    data: Any
    if isinstance(example, pd.Series):
        example = example.to_frame()
    if isinstance(example, pd.DataFrame):
        data = _split(example)
        serving: Any = {"dataframe_split": data}
        info.update(type="dataframe", pandas_orient="split" if "columns" in data else "values")
    elif isinstance(example, np.ndarray):
        data = _nan_to_none(example)
        serving = {"inputs": data}
        info["type"] = "ndarray"
    elif (
        isinstance(example, dict)
        and example
        and all(isinstance(v, np.ndarray) for v in example.values())
    ):
        data = {k: _nan_to_none(v) for k, v in example.items()}
        serving = {"inputs": data}
        info["type"] = "ndarray"
    elif isinstance(example, (dict, list, str, int, float, bool, dt.datetime)):
        data = example
        serving = {"inputs": data}
        info["type"] = "json_object"
    else:
        raise InvalidParameterValue(
            f"Unsupported input example of type {type(example).__name__}: pass a pandas "
            "DataFrame, a NumPy array, a dict of arrays, a dict, a list or a scalar"
        )
    if params is not None:
        info["model_input_example_params"] = "true"
        data = {"data": data, "params": params}
        serving = {**serving, "params": params}
    root = Path(path)
    (root / EXAMPLE_FILE).write_text(json.dumps(data, cls=_Encoder), encoding="utf-8")
    (root / SERVING_EXAMPLE_FILE).write_text(
        json.dumps(serving, cls=_Encoder, indent=2), encoding="utf-8"
    )
    info["serving_input_path"] = SERVING_EXAMPLE_FILE
    model.saved_input_example_info = info
    return example, params


def read_input_example(model: Model, path: str | os.PathLike[str]) -> Any:
    """The saved example as the model takes it (a DataFrame, an array ...), or None."""
    info = model.saved_input_example_info
    if not info:
        return None
    file = Path(path) / str(info.get("artifact_path", EXAMPLE_FILE))
    if not file.is_file():
        return None
    data = json.loads(file.read_text(encoding="utf-8"))
    if info.get("model_input_example_params"):
        data = data["data"]
    kind = info.get("type")
    if kind == "dataframe":
        import pandas as pd

        frame = pd.DataFrame(data["data"], columns=data.get("columns"))
        schema = model.signature.inputs if model.signature else None
        if schema is not None and not schema.is_tensor_spec() and schema.has_input_names():
            from labtrack.models._enforce import enforce_schema

            try:
                return enforce_schema(frame, schema)
            except InvalidParameterValue:
                return frame
        return frame
    if kind == "ndarray":
        import numpy as np

        schema = model.signature.inputs if model.signature else None
        if isinstance(data, dict):
            dtypes = {s.name: getattr(s, "dtype", None) for s in schema or ()}
            return {k: np.asarray(v, dtype=dtypes.get(k)) for k, v in data.items()}
        dtype = getattr(schema.inputs[0], "dtype", None) if schema is not None else None
        return np.asarray(data, dtype=dtype)
    return data
