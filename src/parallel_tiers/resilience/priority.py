"""Bounded concurrency per service, where queued high-priority calls go first."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

PRIORITIES = {"high": 0, "normal": 1, "low": 2}
"""Accepted `priority` inputs, most urgent first."""


class PriorityLimiter:
    """At most `capacity` holders at once; waiters are served by priority, then arrival."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity: must be at least 1")
        self.capacity = capacity
        self.active = 0
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @property
    def queued(self) -> int:
        """How many calls are waiting."""
        return sum(1 for *_, f in self._waiters if not f.done())

    @asynccontextmanager
    async def slot(self, priority: str = "normal") -> AsyncIterator[None]:
        """Hold one slot for the duration of the block."""
        await self._acquire(PRIORITIES[priority])
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, rank: int) -> None:
        if self.active < self.capacity and not self.queued:
            self.active += 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (rank, next(self._order), future))
        try:
            await future  # the releaser hands its slot over (active unchanged)
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._release()  # the slot was handed over just as we were cancelled
            raise

    def _release(self) -> None:
        while self._waiters:
            *_, future = heapq.heappop(self._waiters)
            if not future.done():
                future.set_result(None)
                return
        self.active -= 1
