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

import os
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

BreakerStatus = Literal["closed", "open", "half_open"]


#: Environment variables of the deployment's breaker policy (`BreakerPolicy.from_env`).
ENV_POLICY = {
    "failure_threshold": "PARALLEL_TIERS_BREAKER_FAILURE_THRESHOLD",
    "failure_rate": "PARALLEL_TIERS_BREAKER_FAILURE_RATE",
    "window": "PARALLEL_TIERS_BREAKER_WINDOW",
    "cooldown_ms": "PARALLEL_TIERS_BREAKER_COOLDOWN_MS",
}
MAX_BREAKERS = 1_000
"""Breakers kept in process; past it the least recently used one is forgotten (closed)."""


@dataclass(frozen=True)
class BreakerPolicy:
    """When a breaker opens and when it probes again: the deployment's choice, not a run's."""

    failure_threshold: int = 5
    """Consecutive failures (errors or timeouts) that open a breaker."""
    failure_rate: float = 0.5
    """Failure rate over the last `window` calls that opens a breaker."""
    window: int = 20
    """Calls the failure rate is measured over (it counts once half of them were seen)."""
    cooldown_ms: float = 30_000
    """Time an open breaker waits before letting one probe call through."""

    def __post_init__(self) -> None:
        problems = []
        if self.failure_threshold < 1:
            problems.append("failure_threshold must be at least 1")
        if not 0 < self.failure_rate <= 1:
            problems.append("failure_rate must be in (0, 1]")
        if self.window < 1:
            problems.append("window must be at least 1")
        if self.cooldown_ms < 0:
            problems.append("cooldown_ms must be 0 or more")
        if problems:
            raise ValueError(f"breaker policy: {'; '.join(problems)}")

    @classmethod
    def from_env(cls) -> BreakerPolicy:
        """The policy set by `PARALLEL_TIERS_BREAKER_*` environment variables (else defaults)."""
        values: dict[str, float] = {}
        for name, var in ENV_POLICY.items():
            raw = os.environ.get(var)
            if raw:
                try:
                    values[name] = float(raw) if name == "failure_rate" else int(raw)
                except ValueError:
                    raise ValueError(f"{var}: expected a number, got {raw!r}") from None
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class BreakerState:
    """The stored state of one breaker."""

    status: BreakerStatus = "closed"
    consecutive_failures: int = 0
    recent: tuple[bool, ...] = ()
    """Outcomes of the last `window` calls, True for a failure."""
    opened_at: float = 0.0
    probing: bool = False
    probe_started: float = 0.0
    last_error: str | None = None
    """The last failure's error text (scrubbed), named by `circuit_open` records."""


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
    """Breaker states of one process, the `MAX_BREAKERS` most recently used."""

    states: OrderedDict[str, BreakerState] = field(default_factory=OrderedDict)
    capacity: int = MAX_BREAKERS

    async def load(self, key: str) -> BreakerState | None:
        """The state under `key`, or None."""
        return self.states.get(key)

    async def save(self, key: str, state: BreakerState) -> None:
        """Store the state under `key`."""
        self.states[key] = state
        self.states.move_to_end(key)
        while len(self.states) > self.capacity:
            self.states.popitem(last=False)


@dataclass
class CircuitBreakers:
    """Breakers keyed by service name over a `BreakerStore`."""

    store: BreakerStore = field(default_factory=InMemoryBreakerStore)
    clock: Callable[[], float] = time.monotonic

    async def allow(self, key: str, policy: BreakerPolicy) -> bool:
        """Whether a call to `key` may go ahead now.

        An open breaker past its cooldown turns half-open and lets this one call through (the
        probe). A probe that never reported (its run was killed) is given up after a cooldown,
        so a breaker always recovers.
        """
        state = await self.store.load(key) or BreakerState()
        if state.status == "closed":
            return True
        now = self.clock()
        if state.probing and (now - state.probe_started) * 1000 < policy.cooldown_ms:
            return False
        if state.status == "open" and (now - state.opened_at) * 1000 < policy.cooldown_ms:
            return False
        await self.store.save(
            key, replace(state, status="half_open", probing=True, probe_started=now)
        )
        return True

    async def release(self, key: str) -> None:
        """Give back a probe that ended without an outcome (cancelled): the next call probes."""
        state = await self.store.load(key)
        if state is not None and state.probing:
            await self.store.save(key, replace(state, probing=False))

    async def last_error(self, key: str) -> str | None:
        """The error of the last failure recorded for `key`."""
        state = await self.store.load(key)
        return state.last_error if state else None

    async def record(
        self, key: str, failed: bool, policy: BreakerPolicy, error: str | None = None
    ) -> BreakerState:
        """Record a call's outcome (with its error when it failed); returns the new state."""
        state = await self.store.load(key) or BreakerState()
        last_error = error if failed else state.last_error
        if state.status == "half_open":
            new = (
                BreakerState(
                    status="open",
                    opened_at=self.clock(),
                    consecutive_failures=state.consecutive_failures + 1,
                    last_error=last_error,
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
                    status="open",
                    opened_at=self.clock(),
                    consecutive_failures=consecutive,
                    last_error=last_error,
                )
            else:
                new = BreakerState(
                    consecutive_failures=consecutive, recent=recent, last_error=last_error
                )
        await self.store.save(key, new)
        return new

    async def status(self, key: str) -> BreakerStatus:
        """The current status of `key`'s breaker."""
        state = await self.store.load(key)
        return state.status if state else "closed"
