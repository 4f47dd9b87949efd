"""MLflow's scoring protocol: a request body to a model's input, predictions to JSON.

Request bodies (``POST /invocations``, ``labtrack models serve``):

- ``application/json``: an object with exactly one of ``dataframe_split`` (pandas'
  split orient: ``columns``, ``data``, optional ``index``), ``dataframe_records`` (a
  list of row objects), ``instances`` or ``inputs`` (a dict of columns or tensors, a
  list, a scalar), and optionally ``params``. Other keys are ignored, as MLflow does;
- ``text/csv``: a CSV file with a header row;
- ``application/vnd.apache.parquet``: a Parquet file (needs pyarrow).

The response is ``{"predictions": ...}`` shaped as MLflow's server shapes it: an array
becomes nested lists, a DataFrame a list of row objects, a Series a list of one-key
row objects (named after the Series, ``"0"`` if it has no name), anything else as is.

Malformed bodies raise :class:`~labtrack.errors.BadRequest` (400) naming the problem;
an unsupported content type raises :class:`UnsupportedMediaType` (415).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from labtrack.errors import BadRequest
from labtrack.models._enforce import SchemaError

if TYPE_CHECKING:
    from labtrack.models.signature import Schema

__all__ = [
    "CONTENT_TYPES",
    "FORMATS",
    "ScoringRequest",
    "UnsupportedMediaType",
    "jsonable",
    "parse_request",
    "prediction_columns",
    "predictions_to_json",
]

JSON = "application/json"
CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"
CONTENT_TYPES = (JSON, CSV, PARQUET)

SPLIT = "dataframe_split"
RECORDS = "dataframe_records"
INSTANCES = "instances"
INPUTS = "inputs"
FORMATS = (SPLIT, RECORDS, INSTANCES, INPUTS)
PARAMS = "params"


class UnsupportedMediaType(BadRequest):
    """A request body in a content type the scoring server does not read."""

    http_status = 415


@dataclass(frozen=True)
class ScoringRequest:
    """A parsed request: the model's input and its params (None when not given)."""

    data: Any
    params: dict[str, Any] | None = None


def parse_request(body: bytes, content_type: str | None, schema: Schema | None) -> ScoringRequest:
    """The model input and params a request body holds (``schema``: the model's inputs)."""
    mime, charset, extra = _media_type(content_type)
    if charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(f"The scoring server reads UTF-8 only, got charset={charset}")
    if extra:
        raise UnsupportedMediaType(
            f"Unrecognized content type parameters: {', '.join(sorted(extra))}"
        )
    if mime == JSON:
        return parse_json(body, schema)
    if mime == CSV:
        frame = parse_csv(body, schema)
        check_numeric_text(frame, schema)
        return ScoringRequest(whole_numbers(frame, schema))
    if mime == PARQUET:
        return ScoringRequest(_parse_parquet(body))
    shown = f"'{content_type}'" if content_type else "none"
    raise UnsupportedMediaType(
        f"Unsupported content type {shown}: send {JSON} (a JSON object with one of "
        f"{', '.join(FORMATS)}), {CSV} or {PARQUET}"
    )


def _media_type(content_type: str | None) -> tuple[str, str, set[str]]:
    if not content_type:
        return "", "utf-8", set()
    mime, *parameters = (part.strip() for part in content_type.split(";"))
    values = {}
    for pair in parameters:
        if not pair:  # "application/json;" and the like
            continue
        key, _, value = pair.partition("=")
        values[key.strip().lower()] = value.strip().strip('"')
    charset = values.pop("charset", "utf-8").lower()
    return mime.lower(), charset, set(values)


# -- JSON --------------------------------------------------------------------------------
def parse_json(body: bytes | str, schema: Schema | None) -> ScoringRequest:
    """A JSON request body (MLflow's formats) as model input and params."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise BadRequest(f"The request body is not valid JSON: {exc}") from None
    except RecursionError:  # json's C decoder gives up near the interpreter's limit
        raise BadRequest("The request body's JSON is nested too deeply") from None
    if not isinstance(payload, dict):
        raise BadRequest(
            f"The request body must be a JSON object with exactly one of the keys "
            f"{', '.join(FORMATS)}; got a {_json_type(payload)}"
        )
    given = [key for key in FORMATS if key in payload]
    if len(given) != 1:
        found = f"it has {', '.join(given)}" if given else f"its keys are {sorted(payload)}"
        raise BadRequest(
            f"The request body must have exactly one of the keys {', '.join(FORMATS)}; {found}"
        )
    key = given[0]
    params = payload.get(PARAMS)
    if params is not None and not isinstance(params, dict):
        raise BadRequest(f"'params' must be a JSON object, got a {_json_type(params)}")
    value = payload[key]
    if key == SPLIT:
        data = _frame_from_split(value)
    elif key == RECORDS:
        data = _frame_from_records(value)
    elif key == INSTANCES:
        data = _instances(value, schema)
    else:
        data = _inputs(value, schema)
    return ScoringRequest(whole_numbers(data, schema), params)


def whole_numbers(data: Any, schema: Schema | None) -> Any:
    """Integer columns of the signature sent as whole floats (``1.0``) made integers.

    JSON (and CSV) numbers do not say whether they are integers: ``df.values.tolist()``
    writes ``1.0`` for an integer column of a mixed frame. Such columns become int64 when
    every value is a whole number (no missing values, within 2**53); anything else is
    left for the signature check to reject (``1.5`` is never made ``1``).
    """
    if schema is None or schema.is_tensor_spec() or not schema.has_input_names():
        return data
    names = {str(s.name) for s in schema if getattr(s, "type", None) in ("long", "integer")}
    if not names:
        return data
    import numpy as np
    import pandas as pd

    def convert(values: Any) -> Any:
        array = np.asarray(values)
        if (
            array.dtype.kind == "f"
            and array.size
            and bool(np.isfinite(array).all())
            and bool((np.abs(array) <= 2**53).all())
            and bool((array == np.round(array)).all())
        ):
            return array.astype("int64")
        return values

    if isinstance(data, pd.DataFrame):
        found = [n for n in names if n in data.columns and data[n].dtype.kind == "f"]
        if found:
            data = data.assign(**{str(n): convert(data[n]) for n in found})
    elif isinstance(data, dict):
        data = {k: convert(v) if k in names else v for k, v in data.items()}
    return data


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "JSON object"
    if isinstance(value, list):
        return "JSON list"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    return "null" if value is None else "number"


def _frame_from_split(split: Any) -> Any:
    import pandas as pd

    if not isinstance(split, dict):
        raise BadRequest(
            f"'{SPLIT}' must be a JSON object with 'columns', 'data' and optionally 'index'; "
            f"got a {_json_type(split)}"
        )
    unknown = sorted(set(split) - {"columns", "data", "index"})
    if "data" not in split or unknown:
        problem = f"unknown keys {unknown}" if unknown else "no 'data'"
        raise BadRequest(
            f"'{SPLIT}' must have 'data' and optionally 'columns' and 'index'; it has {problem}"
        )
    data, columns, index = split["data"], split.get("columns"), split.get("index")
    if not isinstance(data, list) or (columns is not None and not isinstance(columns, list)):
        raise BadRequest(f"'{SPLIT}': 'data' must be a list of rows and 'columns' a list")
    if columns is not None and any(isinstance(c, (list, dict)) for c in columns):
        raise BadRequest(f"'{SPLIT}': 'columns' must be a list of column names, got {columns}")
    if columns is not None and len(set(map(str, columns))) != len(columns):
        raise BadRequest(f"'{SPLIT}': duplicate column names in {columns}")
    if (
        columns is not None
        and data
        and all(isinstance(row, list) and len(row) == len(columns) for row in data)
    ):
        # Column by column: pandas infers each column's dtype from its own values.
        by_column = dict(zip(columns, map(list, zip(*data, strict=True)), strict=True))
        try:
            return pd.DataFrame(by_column, index=index)
        except (ValueError, TypeError) as exc:
            raise BadRequest(f"'{SPLIT}' is not a valid DataFrame: {exc}") from None
    if data and any(not isinstance(row, list) for row in data):
        raise BadRequest(f"'{SPLIT}': every row of 'data' must be a list")
    if columns is not None and any(len(row) != len(columns) for row in data):
        lengths = sorted({len(row) for row in data})
        raise BadRequest(
            f"'{SPLIT}': rows of 'data' must have one value per column ({len(columns)} "
            f"columns), got rows of length {', '.join(map(str, lengths))}"
        )
    try:
        return pd.DataFrame(data, columns=columns, index=index)
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"'{SPLIT}' is not a valid DataFrame: {exc}") from None


def _frame_from_records(records: Any) -> Any:
    import pandas as pd

    if not isinstance(records, list):
        raise BadRequest(f"'{RECORDS}' must be a list of row objects, got a {_json_type(records)}")
    if not all(isinstance(row, dict) for row in records):
        raise BadRequest(f"'{RECORDS}' must be a list of row objects (JSON objects)")
    try:
        return pd.DataFrame(records)
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"'{RECORDS}' is not a valid DataFrame: {exc}") from None


def _array(value: Any, what: str) -> Any:
    import numpy as np

    try:
        return np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise BadRequest(
            f"{what} is not a valid array (are all rows the same length?): {exc}"
        ) from None


def _instances(value: Any, schema: Schema | None) -> Any:
    """``instances``: rows (objects, turned into columns, as MLflow does) or a tensor."""
    if isinstance(value, list) and value and all(isinstance(row, dict) for row in value):
        keys: list[str] = []
        for row in value:
            keys.extend(k for k in row if k not in keys)
        missing = [k for k in keys if any(k not in row for row in value)]
        if missing:
            raise BadRequest(
                f"'{INSTANCES}': every instance must have the same keys; {missing} are "
                "missing from some"
            )
        return {k: _array([row[k] for row in value], f"'{INSTANCES}' key {k!r}") for k in keys}
    return _inputs(value, schema, INSTANCES)


def _inputs(value: Any, schema: Schema | None, key: str = INPUTS) -> Any:
    """``inputs``: a dict of columns or named tensors, a list (rows or one column), a scalar."""
    if isinstance(value, dict):
        return {k: _array(v, f"'{key}' key {k!r}") for k, v in value.items()}
    if isinstance(value, list):
        if value and all(isinstance(row, dict) for row in value):
            return _frame_from_records(value)
        columns = _column_names(schema)
        if len(columns) == 1:
            return {columns[0]: _array(value, f"'{key}'")}  # a list is that one column
        if columns and all(isinstance(row, list) and len(row) == len(columns) for row in value):
            # rows of the signature's columns, in order: each column keeps its own type
            return _frame_from_split({"columns": columns, "data": value})
        return _array(value, f"'{key}'")
    return value


def _column_names(schema: Schema | None) -> list[str]:
    if schema is None or schema.is_tensor_spec() or not schema.has_input_names():
        return []
    return schema.input_names()


# -- CSV and Parquet ---------------------------------------------------------------------
def parse_csv(body: bytes, schema: Schema | None) -> Any:
    """A CSV body (header row first) as a DataFrame; string columns of the signature stay
    strings (``007`` is not read as 7)."""
    import io

    import pandas as pd

    dtype = None
    if schema is not None and schema.has_input_names() and not schema.is_tensor_spec():
        dtype = {s.name: str for s in schema if getattr(s, "type", None) == "string"}
    try:
        return pd.read_csv(io.BytesIO(body), dtype=dtype or None)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        # EmptyDataError is a ValueError
        raise BadRequest(f"The request body is not a valid CSV file: {exc}") from None


_NUMERIC = ("long", "integer", "double", "float")


def check_numeric_text(frame: Any, schema: Schema | None, first_row: int = 1) -> None:
    """Numeric columns of the signature that a CSV reader read as text because of a value
    that is not a number: an error naming the column, the row and the value."""
    import pandas as pd

    if schema is None or schema.is_tensor_spec() or not schema.has_input_names():
        return
    for spec in schema:
        kind = getattr(spec, "type", None)
        if kind not in _NUMERIC or spec.name not in frame.columns:
            continue
        values = frame[spec.name]
        if values.dtype.kind not in ("O", "T") and not isinstance(values.dtype, pd.StringDtype):
            continue
        bad = pd.to_numeric(values, errors="coerce").isna() & values.notna()
        if bad.any():
            position = int(bad.to_numpy().argmax())
            raise SchemaError(
                f"Column {spec.name!r} must be {kind}, got {values.iloc[position]!r} "
                f"in row {first_row + position}"
            )


def _parse_parquet(body: bytes) -> Any:
    import io

    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UnsupportedMediaType(
            f"{PARQUET} bodies need pyarrow, which is not installed on the server"
        ) from None
    try:
        return pq.read_table(io.BytesIO(body)).to_pandas()
    except Exception as exc:  # pyarrow raises ArrowInvalid and friends
        raise BadRequest(f"The request body is not a valid Parquet file: {exc}") from None


# -- responses ---------------------------------------------------------------------------
def jsonable(predictions: Any) -> Any:
    """Predictions as MLflow's server puts them in JSON (before numpy scalars are encoded)."""
    import numpy as np
    import pandas as pd

    if isinstance(predictions, np.ndarray):
        return predictions.tolist()
    if isinstance(predictions, pd.DataFrame):
        return predictions.to_dict(orient="records")
    if isinstance(predictions, pd.Series):
        return pd.DataFrame(predictions).to_dict(orient="records")
    return predictions


def encode_default(value: Any) -> Any:
    """``json.dumps``'s ``default``: NumPy values, bytes (base64), dates (ISO 8601)."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        if isinstance(value, np.datetime64):
            return np.datetime_as_string(value)
        return value.item()
    if isinstance(value, (bytes, bytearray)):
        return base64.encodebytes(value).decode("ascii")
    if isinstance(value, (dt.date, dt.datetime, dt.time)):  # pandas' Timestamp too
        return value.isoformat()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def predictions_to_json(predictions: Any) -> bytes:
    """The response body: ``{"predictions": ...}``."""
    return json.dumps(
        {"predictions": jsonable(predictions)}, default=encode_default, separators=(",", ":")
    ).encode()


def prediction_columns(predictions: Any, index: Any = None) -> Any:
    """Predictions as a DataFrame of output columns: ``prediction`` when the model gives
    one value per row, else ``prediction_<name>`` per column (``prediction_0`` ... for
    an array). What ``labtrack models predict`` appends, and the prediction log's reader."""
    import numpy as np
    import pandas as pd

    if isinstance(predictions, pd.Series):
        frame = predictions.to_frame()
    elif isinstance(predictions, pd.DataFrame):
        frame = predictions
    else:
        array = np.asarray(predictions)
        if array.ndim == 0:
            array = array.reshape(1)
        # beyond two dimensions, each row's values stay together in one cell
        frame = pd.DataFrame(array) if array.ndim <= 2 else pd.DataFrame({0: list(array)})
    names = ["prediction"] if frame.shape[1] == 1 else [f"prediction_{c}" for c in frame.columns]
    frame = frame.set_axis(names, axis=1)
    if index is not None:
        frame.index = index
    return frame
