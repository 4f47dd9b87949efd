"""When a process sends heartbeats for its runs: riding on logged data while it logs,
on their own when it is idle (``tracking/_heartbeats.py``, on a clock the test moves)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from labtrack.errors import TemporarilyUnavailable
from labtrack.tracking._heartbeats import FIRST_BEAT_AFTER, Heartbeats

INTERVAL = 30.0


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Store:
    """Records the heartbeats sent to it (only ``heartbeat`` is called)."""

    sent: list[list[str]] = field(default_factory=list)
    fail: bool = False

    def heartbeat(self, run_ids: Sequence[str]) -> None:
        if self.fail:
            raise TemporarilyUnavailable("the server is restarting")
        self.sent.append(list(run_ids))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def beats(clock: Clock) -> Heartbeats:
    return Heartbeats(INTERVAL, clock=clock, background=False)


def beat_ids(beats: Heartbeats) -> list[str]:
    return [run_id for run_id, _ in beats.due()]


def test_an_idle_run_beats_a_second_after_it_starts_then_every_interval(
    beats: Heartbeats, clock: Clock
) -> None:
    beats.add(Store(), "r")  # type: ignore[arg-type]
    clock.now += FIRST_BEAT_AFTER - 0.01
    assert beat_ids(beats) == []
    clock.now += 0.01
    assert beat_ids(beats) == ["r"]
    clock.now += INTERVAL - 0.01
    assert beat_ids(beats) == []
    clock.now += 0.01
    assert beat_ids(beats) == ["r"]


def test_a_run_that_logs_sends_no_heartbeat_of_its_own(beats: Heartbeats, clock: Clock) -> None:
    beats.add(Store(), "r")  # type: ignore[arg-type]
    assert not beats.take("r")  # a run's first second costs nothing (most runs of a sweep)
    clock.now += FIRST_BEAT_AFTER
    assert beats.take("r")  # the first batch after it carries the first heartbeat
    carried = 1
    for _ in range(200):  # a batch every second for 200 s
        clock.now += 1.0
        carried += beats.take("r")
        assert beat_ids(beats) == []
    assert carried == 200 // (INTERVAL / 2) + 1  # one batch in each half interval carries one
    clock.now += INTERVAL  # then it goes quiet
    assert beat_ids(beats) == ["r"]


def test_heartbeats_stop_when_the_run_ends(beats: Heartbeats, clock: Clock) -> None:
    beats.add(Store(), "r")  # type: ignore[arg-type]
    beats.remove("r")
    clock.now += 10 * INTERVAL
    assert beat_ids(beats) == []
    assert not beats.take("r")
    assert not beats.take("never-added")


def test_one_heartbeat_per_store_and_failures_stay_quiet(
    beats: Heartbeats, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    here, there, down = Store(), Store(), Store(fail=True)
    stores: dict[str, Any] = {"a": here, "b": here, "c": there, "d": down}
    for run_id, store in stores.items():
        beats.add(store, run_id)
    clock.now += FIRST_BEAT_AFTER
    beats.send(beats.due())  # does not raise for the store that is down
    assert (here.sent, there.sent) == ([["a", "b"]], [["c"]])
    assert "could not send a heartbeat for ['d']" in caplog.text
