"""Resilience state shared by the runs of a process: breakers, latencies, concurrency limits.

Runs reach it through `Context.resilience` (default: one `Resilience` per process), so the
state outlives each run. Breakers and latencies sit behind store interfaces that a multi-worker
deployment can back with a shared store; limiters bound concurrency per process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from parallel_tiers.resilience.breaker import (
    BreakerPolicy,
    BreakerState,
    BreakerStore,
    CircuitBreakers,
    InMemoryBreakerStore,
)
from parallel_tiers.resilience.latency import (
    InMemoryLatencyStore,
    LatencyStore,
    adaptive_timeout_ms,
)
from parallel_tiers.resilience.priority import PRIORITIES, PriorityLimiter


@dataclass
class Resilience:
    """Breakers, recent latencies and concurrency limiters, keyed by service name."""

    breakers: CircuitBreakers = field(default_factory=CircuitBreakers)
    latencies: LatencyStore = field(default_factory=InMemoryLatencyStore)
    limiters: dict[tuple[str, int], PriorityLimiter] = field(default_factory=dict)

    def limiter(self, key: str, capacity: int) -> PriorityLimiter:
        """The limiter of `key` for this capacity (created on first use)."""
        found = self.limiters.get((key, capacity))
        if found is None:
            found = self.limiters[(key, capacity)] = PriorityLimiter(capacity)
        return found


@lru_cache(maxsize=1)
def default_resilience() -> Resilience:
    """The process-wide resilience state used when the context brings none."""
    return Resilience()


__all__ = [
    "PRIORITIES",
    "BreakerPolicy",
    "BreakerState",
    "BreakerStore",
    "CircuitBreakers",
    "InMemoryBreakerStore",
    "InMemoryLatencyStore",
    "LatencyStore",
    "PriorityLimiter",
    "Resilience",
    "adaptive_timeout_ms",
    "default_resilience",
]
