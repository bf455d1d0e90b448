"""Resilience state shared by the runs of a process: breakers, latencies, concurrency limits.

Runs reach it through `Context.resilience` (default: one `Resilience` per process), so the
state outlives each run. Breakers and latencies sit behind store interfaces that a multi-worker
deployment can back with a shared store; limiters bound concurrency per process.

Each piece of state is keyed by the service a call used (`service_key`): the embedded default
service by its branch name alone, a service a run brought by tenant and instance as well, so
one tenant's broken retriever never opens the breaker of another's or of the default. The
policy (when breakers open, how many calls may be in flight) is the deployment's: set on
`Resilience` or by environment variables, never by a run's context.
"""

from __future__ import annotations

import os
from collections import OrderedDict
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

ENV_MAX_CONCURRENCY = "PARALLEL_TIERS_MAX_CONCURRENCY"
MAX_LIMITERS = 1_000
"""Limiters kept in process; past it idle ones are forgotten, least recently used first."""


def _max_concurrency_from_env() -> int | None:
    raw = os.environ.get(ENV_MAX_CONCURRENCY)
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{ENV_MAX_CONCURRENCY}: expected a whole number >= 1, got {raw!r}")
    return int(raw)


def service_key(name: str, service: object | None = None, tenant_id: str | None = None) -> str:
    """The key of a service's breaker, latencies and limiter.

    Args:
        name: The branch (or `generation`) calling the service.
        service: The service object a run brought; None for the deployment's default.
        tenant_id: The run's tenant, which owns a service the run brought.

    """
    if service is None:
        return name
    return f"{name}/{tenant_id or '-'}/{type(service).__name__}@{id(service):x}"


@dataclass
class Resilience:
    """Breakers, recent latencies and concurrency limiters, keyed by `service_key`."""

    breakers: CircuitBreakers = field(default_factory=CircuitBreakers)
    latencies: LatencyStore = field(default_factory=InMemoryLatencyStore)
    policy: BreakerPolicy = field(default_factory=BreakerPolicy.from_env)
    """When breakers open (env: `PARALLEL_TIERS_BREAKER_*`)."""
    max_concurrency: int | None = field(default_factory=_max_concurrency_from_env)
    """Calls in flight per service (None: unbounded); queued calls are served by their run's
    `priority`, then in arrival order. Env: `PARALLEL_TIERS_MAX_CONCURRENCY`."""
    limiters: OrderedDict[str, PriorityLimiter] = field(default_factory=OrderedDict)

    def limiter(self, key: str) -> PriorityLimiter | None:
        """The limiter of service `key` (None when concurrency is unbounded)."""
        if not self.max_concurrency:
            return None
        found = self.limiters.get(key)
        if found is None:
            found = self.limiters[key] = PriorityLimiter(self.max_concurrency)
            self._forget_idle_limiters()
        self.limiters.move_to_end(key)
        return found

    def _forget_idle_limiters(self) -> None:
        idle = (k for k, lim in self.limiters.items() if lim.active == 0 and not lim.queued)
        for key in list(idle)[: max(0, len(self.limiters) - MAX_LIMITERS)]:
            del self.limiters[key]


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
    "service_key",
]
