"""Background batching of metrics, params and tags for the fluent API.

A logging call puts one item on a bounded queue and returns. One worker thread
per process takes everything queued, merges consecutive items of a run into one
``log_batch`` and writes it. The guarantees:

- Nothing is dropped. A full queue makes the caller wait. A store that is
  temporarily unreachable is retried with backoff while callers wait.
- Nothing fails silently. If a write is refused (a param logged twice with
  different values, a deleted run), the other items of the batch are still
  written and the error is raised on the caller's next logging call or flush.
- ``flush()`` returns when everything queued before it is stored.
- Order is kept: items of one run are written in the order they were logged.
- A run's batches carry its heartbeat now and then (``_heartbeats``), so a run that
  logs sends no heartbeat of its own.

The worker writes to the store directly, not through the tracking service: the fluent
API has validated each item when it was logged (see ``fluent._submit`` for why this
exception to the layers is made).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from labtrack.entities import Metric, Param, RunTag
from labtrack.errors import LabtrackError, LoggingError, TemporarilyUnavailable
from labtrack.store.base import TrackingStore
from labtrack.tracking import _heartbeats

logger = logging.getLogger(__name__)

METRIC, PARAM, TAG = 0, 1, 2
# How long the worker keeps retrying a store that is unreachable before giving up.
RETRY_FOR_SECONDS = 300.0

Item = tuple[TrackingStore, str, int, Any]  # (store, run_id, kind, entity)


class LogQueue:
    """A bounded queue of logging calls with one writer thread."""

    def __init__(self, max_items: int, retry_for: float = RETRY_FOR_SECONDS) -> None:
        self._max = max_items
        self._retry_for = retry_for
        self._cond = threading.Condition()
        self._items: list[Item] = []
        self._busy = False
        self._errors: list[LabtrackError] = []
        self._thread: threading.Thread | None = None

    # -- producer side -------------------------------------------------------------
    def put(self, store: TrackingStore, run_id: str, kind: int, entity: Any) -> None:
        """Queue one item (waits while the queue is full), then raise any earlier write error.

        The item is queued even when an error is raised: the error is about earlier data.
        """
        with self._cond:
            while len(self._items) >= self._max:
                self._cond.wait()
            self._items.append((store, run_id, kind, entity))
            if len(self._items) == 1:
                self._cond.notify_all()
        if self._thread is None:
            self._start()
        if self._errors:
            self.raise_errors()

    def put_many(self, store: TrackingStore, run_id: str, kind: int, entities: list[Any]) -> None:
        pos = 0
        while pos < len(entities):
            with self._cond:
                while len(self._items) >= self._max:
                    self._cond.wait()
                room = self._max - len(self._items)
                self._items.extend((store, run_id, kind, e) for e in entities[pos : pos + room])
                pos += room
                self._cond.notify_all()
            if self._thread is None:
                self._start()
        if self._errors:
            self.raise_errors()

    def flush(self) -> None:
        """Wait until everything queued so far is written; raise what failed.

        When the writer thread is idle, the caller writes what is queued itself: that
        spares the handoff between threads (most of the cost of ending a small run).
        """
        while True:
            with self._cond:
                if not self._items and not self._busy:
                    break
                if self._busy:
                    if self._thread is None or not self._thread.is_alive():
                        self._start_locked()
                    self._cond.wait(0.5)
                    continue
                batch = self._take_locked()
            self._write_batch(batch)
        self.raise_errors()

    def _take_locked(self) -> list[Item]:
        batch, self._items = self._items, []
        self._busy = True
        self._cond.notify_all()  # room for waiting producers
        return batch

    def _write_batch(self, batch: list[Item]) -> None:
        """Write a batch taken from the queue; only one batch is written at a time."""
        try:
            self._write(batch)
        except BaseException as exc:  # never lose track of data in hand
            logger.exception("labtrack: unexpected error while writing a batch")
            self._record(LoggingError(f"Unexpected error while writing logged data: {exc!r}"))
            if not isinstance(exc, Exception):
                raise
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    def raise_errors(self) -> None:
        with self._cond:
            errors, self._errors = self._errors, []
        if not errors:
            return
        first = errors[0]
        more = f" (and {len(errors) - 1} more failed writes)" if len(errors) > 1 else ""
        raise LoggingError(f"{first.message}{more}") from first

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._items) + (1 if self._busy else 0)

    # -- worker side ---------------------------------------------------------------
    def _start(self) -> None:
        with self._cond:
            self._start_locked()

    def _start_locked(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self._run, name="labtrack-logger", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._items or self._busy:
                    self._cond.wait()
                batch = self._take_locked()
            self._write_batch(batch)

    def _write(self, batch: list[Item]) -> None:
        start = 0
        while start < len(batch):
            store, run_id = batch[start][0], batch[start][1]
            end = start
            metrics: list[Metric] = []
            params: list[Param] = []
            tags: dict[str, RunTag] = {}
            while end < len(batch) and batch[end][0] is store and batch[end][1] == run_id:
                kind, entity = batch[end][2], batch[end][3]
                if kind == METRIC:
                    metrics.append(entity)
                elif kind == PARAM:
                    params.append(entity)
                else:
                    tags[entity.key] = entity
                end += 1
            self._write_run(store, run_id, metrics, params, list(tags.values()))
            start = end

    def _write_run(
        self,
        store: TrackingStore,
        run_id: str,
        metrics: list[Metric],
        params: list[Param],
        tags: list[RunTag],
    ) -> None:
        beat = _heartbeats.take(run_id)
        try:
            self._retrying(lambda: store.log_batch(run_id, metrics, params, tags, heartbeat=beat))
            return
        except LabtrackError as exc:
            if (
                isinstance(exc, TemporarilyUnavailable)
                or len(metrics) + len(params) + len(tags) == 1
            ):
                self._record(_describe(exc, run_id, metrics, params, tags))
                return
        # Something in the batch was refused: store the rest, report only what failed.
        parts: list[tuple[list[Metric], list[Param], list[RunTag]]] = []
        if metrics:
            parts.append((metrics, [], []))
        if tags:
            parts.append(([], [], tags))
        parts.extend(([], [p], []) for p in params)
        for m, p, t in parts:
            try:
                self._retrying(lambda m=m, p=p, t=t: store.log_batch(run_id, m, p, t))  # type: ignore[misc]
            except LabtrackError as exc:
                self._record(_describe(exc, run_id, m, p, t))

    def _retrying(self, write: Callable[[], None]) -> None:
        deadline = time.monotonic() + self._retry_for
        delay = 0.2
        while True:
            try:
                write()
                return
            except TemporarilyUnavailable as exc:
                if time.monotonic() + delay > deadline:
                    raise
                logger.warning("labtrack: store unavailable (%s); retrying in %.1fs", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 10.0)

    def _record(self, error: LabtrackError) -> None:
        with self._cond:
            self._errors.append(error)

    # -- process lifecycle ---------------------------------------------------------
    def _after_fork(self) -> None:
        # The child has no worker thread; what the parent queued is the parent's to write.
        self._cond = threading.Condition()
        self._items = []
        self._busy = False
        self._errors = []
        self._thread = None


def _describe(
    exc: LabtrackError,
    run_id: str,
    metrics: list[Metric],
    params: list[Param],
    tags: list[RunTag],
) -> LoggingError:
    what = ", ".join(
        f"{n} {name}"
        for n, name in (
            (len(metrics), "metric points"),
            (len(params), "params"),
            (len(tags), "tags"),
        )
        if n
    )
    error = LoggingError(f"Could not log {what} to run {run_id}: {exc.message}")
    error.__cause__ = exc
    return error


_queue: LogQueue | None = None
_queue_lock = threading.Lock()


def get_queue() -> LogQueue:
    global _queue
    if _queue is None:
        with _queue_lock:
            if _queue is None:
                from labtrack.config import settings

                _queue = LogQueue(settings.get("log_queue_size"))
    return _queue


def _reset_in_child() -> None:
    if _queue is not None:
        _queue._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_in_child)
