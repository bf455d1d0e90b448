"""Recent latencies per service, and the adaptive timeout computed from them."""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Protocol

from parallel_tiers.stats import percentile

WINDOW = 100
"""Latencies kept per service."""
MAX_SERVICES = 1_000
"""Services whose latencies are kept in process; past it the least recently used is dropped."""
MIN_SAMPLES = 5
"""Fewer successful calls than this: the adaptive timeout is the configured one."""


class LatencyStore(Protocol):
    """Where recent latencies live (in-process by default; shareable across workers)."""

    async def add(self, key: str, ms: float) -> None:
        """Record one successful call's duration."""
        ...

    async def recent(self, key: str) -> list[float]:
        """The recent durations of `key`, oldest first."""
        ...


@dataclass
class InMemoryLatencyStore:
    """The last `WINDOW` latencies per service, in this process."""

    samples: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)
    capacity: int = MAX_SERVICES

    async def add(self, key: str, ms: float) -> None:
        """Record one successful call's duration."""
        self.samples.setdefault(key, deque(maxlen=WINDOW)).append(ms)
        self.samples.move_to_end(key)
        while len(self.samples) > self.capacity:
            self.samples.popitem(last=False)

    async def recent(self, key: str) -> list[float]:
        """The recent durations of `key`, oldest first."""
        return list(self.samples.get(key, ()))


def adaptive_timeout_ms(
    recent: list[float], *, factor: float, floor_ms: float, ceiling_ms: float
) -> float:
    """p95 of the recent latencies x `factor`, clamped to [floor_ms, ceiling_ms].

    The p95 is by nearest rank (`stats.percentile`): one of the recent latencies. With fewer
    than `MIN_SAMPLES` samples there is nothing to adapt to: `ceiling_ms`.
    """
    if len(recent) < MIN_SAMPLES:
        return ceiling_ms
    return round(min(ceiling_ms, max(floor_ms, percentile(recent, 0.95) * factor)), 3)
