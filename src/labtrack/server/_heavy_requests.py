"""How many heavy requests one server process works on at once, and how many may wait.

A heavy request (a search, a metric history read, an artifact listing, bulk logging)
costs memory and database time in proportion to what it asks for, so a handful of them
at once can take a whole process. Routes marked ``heavy`` in the route table
(``server/_routes.py``) pass through :class:`HeavyRequestLimit`: up to ``running`` of them
are worked on at once, up to ``queue`` more wait their turn (first come, first served)
for at most ``wait`` seconds, and any other is answered at once with
``503 TEMPORARILY_UNAVAILABLE`` and ``Retry-After``, which MLflow's client and labtrack's
retry. A request holds its turn until its answer is sent (a streamed search included).

The limit is per process: ``--workers N`` works on N times as many.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING

from labtrack.errors import TemporarilyUnavailable

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

#: What a refused request is told to wait before it tries again (seconds).
RETRY_AFTER_SECONDS = 2


class HeavyRequestLimit:
    """At most ``running`` heavy requests at once, ``queue`` more waiting up to ``wait`` s."""

    def __init__(self, running: int, queue: int, wait: float) -> None:
        self.running = running
        self.queue = queue
        self.wait = wait
        self.busy = 0
        #: How many requests were answered 503 (since the process started).
        self.refused = 0
        self._waiting: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return sum(1 for turn in self._waiting if not turn.done())

    def guard(self, app: ASGIApp) -> ASGIApp:
        """``app`` (one route's ASGI app), answered only in turn."""

        async def in_turn(scope: Scope, receive: Receive, send: Send) -> None:
            if not await self._take_turn():
                await self._refuse(scope, receive, send)
                return
            try:
                await app(scope, receive, send)
            finally:
                self._end_turn()

        return in_turn

    async def _take_turn(self) -> bool:
        if self.busy < self.running and not self.waiting:
            self.busy += 1
            return True
        if self.waiting >= self.queue:
            return False
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        try:
            # The turn is handed over by _end_turn (which counts it as busy).
            await asyncio.wait_for(turn, self.wait)
        except TimeoutError:
            return False
        finally:
            if turn in self._waiting:
                self._waiting.remove(turn)
        return True

    def _end_turn(self) -> None:
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(None)  # the turn passes on: still busy
                return
        self.busy -= 1

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        from starlette.requests import Request

        self.refused += 1
        from labtrack.server.errors import error_response

        error = TemporarilyUnavailable(
            "The server is busy with heavy requests (searches, metric histories, artifact "
            f"listings, bulk logging): {self.busy} in progress, {self.waiting} waiting. "
            f"Try again in {RETRY_AFTER_SECONDS} seconds"
        )
        response = error_response(error, Request(scope))
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        await response(scope, receive, send)
