"""The prediction log of ``labtrack models serve --log-predictions DIR``.

Every successful ``/invocations`` request becomes one line of JSON in
``DIR/predictions-<UTC start time>-<pid>.jsonl``::

    {"timestamp": "2026-01-02T03:04:05.678Z", "model_uri": "models:/churn@champion",
     "model_id": "m-...", "rows": 2,
     "request": {"dataframe_split": {"columns": ["a", "b"], "data": [[1.0, 2.0], [3.0, 4.0]]},
                 "params": {"threshold": 0.5}},
     "predictions": [0, 1]}

``request`` is the model's input as a scoring request body (``dataframe_split`` for
tabular input: a DataFrame, a dict of equal-length columns, rows of the signature's
columns; else ``inputs``; ``params`` when given), so a line can be sent to
``/invocations`` again; ``predictions`` is exactly what the response held. A file is
closed and a new one started when it passes ``max_bytes`` (each worker process writes
its own files). :func:`read_prediction_log` gives the rows of a directory as one
DataFrame.

Writing never slows a request down: the request only appends to a queue; a background
thread turns queued requests into lines and writes them in batches. The queue is
bounded (by the size of the request bodies it holds); when it is full, entries are
dropped and counted (:attr:`PredictionLog.dropped`), never waited for.
"""

from __future__ import annotations

import atexit
import collections
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from labtrack.models._scoring import encode_default, jsonable, prediction_columns

__all__ = ["PredictionLog", "read_prediction_log"]

_log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_PENDING_BYTES = 64 * 1024 * 1024


class PredictionLog:
    """Appends requests and their predictions to JSON-lines files in a directory."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        model_uri: str | None = None,
        model_id: str | None = None,
        columns: list[str] | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES,
        flush_interval: float = 1.0,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.model_uri = model_uri
        self.model_id = model_id
        self.columns = columns
        self.max_bytes = max_bytes
        self.max_pending_bytes = max_pending_bytes
        self.flush_interval = flush_interval
        self.dropped = 0
        self.written = 0
        self._pending: collections.deque[tuple[float, Any, Any, Any, int]] = collections.deque()
        self._pending_bytes = 0
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._file: Any = None
        self._file_bytes = 0

    # -- the request side: O(1), never blocks on I/O -------------------------------------
    def record(self, data: Any, params: Any, predictions: Any, size: int) -> None:
        """Queue one request (``size``: its body's length, to bound the queue's memory)."""
        with self._lock:
            if self._pending_bytes + size > self.max_pending_bytes and self._pending:
                self.dropped += 1
                return
            self._pending.append((time.time(), data, params, predictions, size))
            self._pending_bytes += size
        if self._thread is None:
            self.start()

    # -- the writer thread ---------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._stopping = False
            self._thread = threading.Thread(
                target=self._run, name="labtrack-prediction-log", daemon=True
            )
            self._thread.start()
        atexit.register(self.close)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued and close the current file."""
        thread = self._thread
        if thread is not None:
            self._stopping = True
            self._wake.set()
            thread.join(timeout)
            self._thread = None
        self._drain()  # anything queued after the thread stopped
        with self._write_lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def flush(self) -> None:
        """Write what is queued now (tests; the thread does it every ``flush_interval``)."""
        self._drain()

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            try:
                self._drain()
            except Exception:  # a full disk must not take the server down
                _log.exception("Could not write the prediction log in %s", self.directory)

    def _drain(self) -> None:
        with self._write_lock:
            self._write_pending()

    def _write_pending(self) -> None:
        with self._lock:
            batch = list(self._pending)
            self._pending.clear()
            self._pending_bytes = 0
        if not batch:
            return
        lines = []
        for entry in batch:
            try:
                lines.append(self._line(*entry[:4]))
            except Exception as exc:  # an output JSON cannot express: skip that entry
                self.dropped += 1
                _log.warning("Prediction log: skipped an entry (%s)", exc)
        text = "".join(lines)
        file = self._current_file()
        file.write(text)
        file.flush()
        self._file_bytes += len(text.encode())
        self.written += len(lines)
        if self._file_bytes >= self.max_bytes:
            file.close()
            self._file = None

    def _current_file(self) -> Any:
        if self._file is None:
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
            path = self.directory / f"predictions-{stamp}-{os.getpid()}.jsonl"
            n = 1
            while path.exists():
                n += 1
                path = self.directory / f"predictions-{stamp}-{os.getpid()}-{n}.jsonl"
            self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115
            self._file_bytes = 0
        return self._file

    def _line(self, timestamp: float, data: Any, params: Any, predictions: Any) -> str:
        request: dict[str, Any] = _as_request(data, self.columns)
        if params:
            request["params"] = params
        entry = {
            "timestamp": _iso(timestamp),
            "model_uri": self.model_uri,
            "model_id": self.model_id,
            "rows": _rows(data),
            "request": request,
            "predictions": jsonable(predictions),
        }
        return json.dumps(entry, default=encode_default, separators=(",", ":")) + "\n"


def _iso(timestamp: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(timestamp))
    return f"{seconds}.{int(timestamp * 1000) % 1000:03d}Z"


def _as_request(data: Any, columns: list[str] | None) -> dict[str, Any]:
    """The input as a request body: ``dataframe_split`` when it is a table (a DataFrame,
    a dict of equal-length columns, a 2-D array of the signature's columns)."""
    import numpy as np
    import pandas as pd

    if isinstance(data, dict) and data:
        arrays = [np.asarray(v) for v in data.values()]
        if all(a.ndim == 1 for a in arrays) and len({len(a) for a in arrays}) == 1:
            data = pd.DataFrame(dict(zip(data, arrays, strict=True)))
    elif (
        isinstance(data, np.ndarray)
        and data.ndim == 2
        and columns
        and data.shape[1] == len(columns)
    ):
        data = pd.DataFrame(data, columns=columns)
    if isinstance(data, pd.DataFrame):
        return {
            "dataframe_split": {
                "columns": [str(c) for c in data.columns],
                "data": data.to_numpy(dtype=object).tolist(),
            }
        }
    return {"inputs": jsonable(data)}


def _rows(data: Any) -> int | None:
    if isinstance(data, dict):
        data = next(iter(data.values()), None)
    try:
        return len(data)
    except TypeError:
        return None


# -- reading -----------------------------------------------------------------------------
def _lines(directory: Path) -> Iterator[dict[str, Any]]:
    for path in sorted(directory.glob("predictions-*.jsonl")):
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)


def read_prediction_log(directory: str | os.PathLike[str]) -> Any:
    """The rows a prediction log directory holds, as one pandas DataFrame.

    One row per input row: ``timestamp`` (UTC), ``model_id``, the input columns and the
    prediction, named as ``labtrack models predict`` names it: ``prediction`` when the
    model gives one value per row, else ``prediction_<name>`` for each column of its
    output (``prediction_0``, ``prediction_1`` ... for an array).
    Requests whose input was not tabular (tensors) are skipped.
    """
    import pandas as pd

    frames = []
    for entry in _lines(Path(directory)):
        split = entry.get("request", {}).get("dataframe_split")
        if split is None:
            continue
        frame = pd.DataFrame(split["data"], columns=split["columns"])
        predictions = _prediction_frame(entry.get("predictions"), len(frame))
        if predictions is None:
            continue
        frame = pd.concat([frame, predictions], axis=1)
        frame.insert(0, "model_id", entry.get("model_id"))
        frame.insert(0, "timestamp", pd.Timestamp(entry["timestamp"]))
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["timestamp", "model_id"])
    return pd.concat(frames, ignore_index=True)


def _prediction_frame(predictions: Any, rows: int) -> Any:
    import pandas as pd

    if not isinstance(predictions, list) or len(predictions) != rows:
        return None
    first = predictions[0] if predictions else None
    if isinstance(first, (dict, list)):
        return prediction_columns(pd.DataFrame(predictions))
    return pd.DataFrame({"prediction": predictions})
