"""Heartbeats for the runs this process runs with the fluent API, so a run whose process
dies (``kill -9``, an out-of-memory kill, a lost machine) shows as crashed instead of
RUNNING forever (the store marks it: ``store/sql/_heartbeats.py``).

A heartbeat rides on the logged data: while a run logs, the background batcher asks
:meth:`Heartbeats.take` whether its next batch should carry one (every half interval),
so a busy run sends nothing extra. An idle run gets a tiny heartbeat of its own from one
daemon thread every ``heartbeat_interval`` seconds. The first is due a second after the
run starts (so a run shorter than that, the common case in a sweep, costs nothing). The
thread dies with the process, which is the point.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from labtrack.errors import LabtrackError
from labtrack.store.base import TrackingStore

logger = logging.getLogger(__name__)

#: How soon after a run starts its first heartbeat is sent, if no batch carried one.
FIRST_BEAT_AFTER = 1.0


@dataclass
class _Beating:
    store: TrackingStore
    carry_after: float  # a batch written from then on carries a heartbeat
    send_after: float  # from then on the thread sends one of its own

    def beaten(self, now: float, interval: float) -> None:
        self.carry_after = now + interval / 2
        self.send_after = now + interval


class Heartbeats:
    """The runs this process runs, and when each last told its store it is alive."""

    def __init__(
        self,
        interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        background: bool = True,
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._background = background  # send from a thread (else the caller sends what is due)
        self._cond = threading.Condition()
        self._runs: dict[str, _Beating] = {}
        self._thread: threading.Thread | None = None
        self._wake_at = math.inf  # when the thread wakes next

    def add(self, store: TrackingStore, run_id: str) -> None:
        """Start beating for ``run_id`` (its first heartbeat within a second)."""
        with self._cond:
            first = self._clock() + min(FIRST_BEAT_AFTER, self.interval)
            self._runs[run_id] = _Beating(store, first, first)
            if not self._background:
                return
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="labtrack-heartbeat", daemon=True
                )
                self._thread.start()
            elif first < self._wake_at:
                self._cond.notify_all()  # the thread sleeps past this run's first heartbeat

    def remove(self, run_id: str) -> None:
        with self._cond:
            self._runs.pop(run_id, None)

    def take(self, run_id: str) -> bool:
        """Whether a batch of ``run_id`` now being written should carry a heartbeat
        (counted as sent: if the batch then fails, the thread beats an interval later)."""
        with self._cond:
            beating = self._runs.get(run_id)
            now = self._clock()
            if beating is None or now < beating.carry_after:
                return False
            beating.beaten(now, self.interval)
            return True

    def due(self) -> list[tuple[str, TrackingStore]]:
        """The runs that had no heartbeat for an interval (counted as sent now)."""
        with self._cond:
            now = self._clock()
            found = [(rid, b.store) for rid, b in self._runs.items() if now >= b.send_after]
            for rid, _ in found:
                self._runs[rid].beaten(now, self.interval)
            return found

    def send(self, due: list[tuple[str, TrackingStore]]) -> None:
        """One heartbeat per store for its runs; a failure is logged, never raised."""
        by_store: dict[int, tuple[TrackingStore, list[str]]] = {}
        for run_id, store in due:
            by_store.setdefault(id(store), (store, []))[1].append(run_id)
        for store, run_ids in by_store.values():
            try:
                store.heartbeat(run_ids)
            except LabtrackError as exc:  # the next beat may get through; never the user's error
                logger.warning("labtrack: could not send a heartbeat for %s: %s", run_ids, exc)
            except Exception:
                logger.exception("labtrack: unexpected error while sending a heartbeat")

    def _run(self) -> None:
        while True:
            due = self.due()
            if due:
                self.send(due)
                continue
            with self._cond:
                now = self._clock()
                soonest = min((b.send_after for b in self._runs.values()), default=None)
                self._wake_at = now + self.interval if soonest is None else max(soonest, now)
                self._cond.wait(max(self._wake_at - now, 0.01))
                self._wake_at = math.inf

    def _after_fork(self) -> None:
        # The child runs none of the parent's runs, and has no heartbeat thread.
        self._cond = threading.Condition()
        self._runs = {}
        self._thread = None
        self._wake_at = math.inf


_heartbeats: Heartbeats | None = None
_lock = threading.Lock()


def get_heartbeats() -> Heartbeats | None:
    """This process's heartbeats, or None when ``heartbeat_interval`` is 0."""
    global _heartbeats
    if _heartbeats is None:
        from labtrack.config import settings

        interval = float(settings.get("heartbeat_interval"))
        if interval <= 0:
            return None
        with _lock:
            if _heartbeats is None:
                _heartbeats = Heartbeats(interval)
    return _heartbeats


def take(run_id: str) -> bool:
    """Whether a batch of ``run_id`` should carry a heartbeat (see :meth:`Heartbeats.take`)."""
    beats = _heartbeats
    return beats is not None and beats.take(run_id)


def _reset_in_child() -> None:
    if _heartbeats is not None:
        _heartbeats._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_in_child)
