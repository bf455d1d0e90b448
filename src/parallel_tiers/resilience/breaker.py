"""Circuit breakers: stop calling a service that keeps failing, probe it again after a cooldown.

States: `closed` (calls go through), `open` (calls are skipped at once), `half_open` (one probe
call goes through; its success closes the breaker, its failure opens it again). A breaker
opens after `failure_threshold` consecutive failures, or when at least half of the last
`window` calls were seen and their failure rate reaches `failure_rate`.

A small state machine rather than a library: pybreaker does not count failures of coroutines,
`circuitbreaker` keeps its state in the decorated function (not shareable between workers), and
neither opens on a failure rate. The state lives behind `BreakerStore`, so a deployment with
many workers can share it (e.g. in Redis); the in-process default suits one process.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

BreakerStatus = Literal["closed", "open", "half_open"]


@dataclass(frozen=True)
class BreakerPolicy:
    """When a breaker opens and when it probes again."""

    failure_threshold: int = 5
    failure_rate: float = 0.5
    window: int = 20
    cooldown_ms: float = 30_000


@dataclass(frozen=True)
class BreakerState:
    """The stored state of one breaker."""

    status: BreakerStatus = "closed"
    consecutive_failures: int = 0
    recent: tuple[bool, ...] = ()
    """Outcomes of the last `window` calls, True for a failure."""
    opened_at: float = 0.0
    probing: bool = False


class BreakerStore(Protocol):
    """Where breaker states live (in-process by default; shareable across workers)."""

    async def load(self, key: str) -> BreakerState | None:
        """The state under `key`, or None."""
        ...

    async def save(self, key: str, state: BreakerState) -> None:
        """Store the state under `key`."""
        ...


@dataclass
class InMemoryBreakerStore:
    """Breaker states in a dict: one process."""

    states: dict[str, BreakerState] = field(default_factory=dict)

    async def load(self, key: str) -> BreakerState | None:
        """The state under `key`, or None."""
        return self.states.get(key)

    async def save(self, key: str, state: BreakerState) -> None:
        """Store the state under `key`."""
        self.states[key] = state


@dataclass
class CircuitBreakers:
    """Breakers keyed by service name over a `BreakerStore`."""

    store: BreakerStore = field(default_factory=InMemoryBreakerStore)
    clock: Callable[[], float] = time.monotonic

    async def allow(self, key: str, policy: BreakerPolicy) -> bool:
        """Whether a call to `key` may go ahead now.

        An open breaker past its cooldown turns half-open and lets this one call through.
        """
        state = await self.store.load(key) or BreakerState()
        if state.status == "closed":
            return True
        if state.probing:
            return False
        if state.status == "open" and (self.clock() - state.opened_at) * 1000 < policy.cooldown_ms:
            return False
        await self.store.save(key, replace(state, status="half_open", probing=True))
        return True

    async def record(self, key: str, failed: bool, policy: BreakerPolicy) -> BreakerState:
        """Record a call's outcome; returns the new state."""
        state = await self.store.load(key) or BreakerState()
        if state.status == "half_open":
            new = (
                BreakerState(
                    status="open",
                    opened_at=self.clock(),
                    consecutive_failures=state.consecutive_failures + 1,
                )
                if failed
                else BreakerState()
            )
        else:
            recent = (*state.recent, failed)[-policy.window :]
            consecutive = state.consecutive_failures + 1 if failed else 0
            rate_trips = (
                len(recent) * 2 >= policy.window
                and sum(recent) / len(recent) >= policy.failure_rate
            )
            if failed and (consecutive >= policy.failure_threshold or rate_trips):
                new = BreakerState(
                    status="open", opened_at=self.clock(), consecutive_failures=consecutive
                )
            else:
                new = BreakerState(consecutive_failures=consecutive, recent=recent)
        await self.store.save(key, new)
        return new

    async def status(self, key: str) -> BreakerStatus:
        """The current status of `key`'s breaker."""
        state = await self.store.load(key)
        return state.status if state else "closed"
