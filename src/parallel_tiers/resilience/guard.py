"""The one guard every service call runs under, giving an `Outcome` instead of an exception.

`guarded` applies the run's time limit and the service's circuit breaker, concurrency limiter
and retries. The tier branches, generation, tool calls and saving a chat turn all call it;
each turns a failed `Outcome` into its safe default and its record. Only the cancellation of
the run itself goes through.

Why not LangGraph's node primitives here (LangGraph 1.2):

- `add_node(timeout=...)` is fixed when the graph is compiled; these limits are the run's
  (`parallel_timeout_ms`, `generation_timeout_ms`, `store_timeout_ms` from its context, or
  adaptive from recent latencies), and they also bound the wait for a concurrency slot.
- `RetryPolicy` re-runs a whole node a fixed number of times. Generation's retries are a
  per-run setting, share one time limit with the first try, and its breaker hears one outcome
  per generation; a re-run node would ask the breaker again and be refused by its own probe.
- A node `error_handler` sees the exception only, not what the record needs (did the limit
  expire, how long the call queued, a probe to release). On a tier branch it would also fold
  the tier into one box in Studio's `get_graph(xray=True)`, and a branch's exception leaving
  its node cancels its siblings.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from parallel_tiers.errors import describe_error
from parallel_tiers.logs import get_logger
from parallel_tiers.resilience.latency import adaptive_timeout_ms

if TYPE_CHECKING:
    from parallel_tiers.context import Context

log = get_logger()

T = TypeVar("T")
Status = Literal["ok", "failed", "timed_out", "skipped", "circuit_open"]
STATUSES: tuple[Status, ...] = ("ok", "failed", "timed_out", "skipped", "circuit_open")
"""Every status a guarded call (or a call skipped by its caller) is recorded with."""


class CircuitOpenError(RuntimeError):
    """A call skipped because its service's circuit breaker is open."""

    def __init__(self, last_error: str | None = None) -> None:
        detail = f"; last error: {last_error}" if last_error else ""
        super().__init__(f"circuit breaker is open{detail}")


class CallTimeoutError(TimeoutError):
    """A guarded call gave no result within its time limit."""


class MalformedResultError(TypeError):
    """A service returned something of the wrong shape."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome(Generic[T]):
    """What became of one guarded call."""

    status: Status
    value: T | None = None
    """The call's result (None unless `ok`)."""
    error: str | None = None
    """Why it is not `ok`: scrubbed and capped (`errors.describe_error`) or the guard's own."""
    exception: BaseException | None = None
    timeout_ms: float
    queue_ms: float = 0.0
    """Time spent waiting for a concurrency slot (counted against the time limit)."""
    started: float
    ended: float

    @classmethod
    def skipped(cls, reason: str, *, timeout_ms: float) -> Outcome[Any]:
        """A call its caller chose not to make."""
        now = time.perf_counter()
        return cls(status="skipped", error=reason, timeout_ms=timeout_ms, started=now, ended=now)

    @property
    def ok(self) -> bool:
        """Whether the call returned a well-formed result in time."""
        return self.status == "ok"

    @property
    def duration_ms(self) -> float:
        """Wall time of the call, breaker check and queueing included."""
        return round((self.ended - self.started) * 1000, 3)

    def record(self) -> dict[str, Any]:
        """The task record of the tier metadata (`started`/`ended` are dropped there)."""
        return {
            "status": self.status,
            "duration_ms": self.duration_ms,
            "error": self.error,
            "timeout_ms": self.timeout_ms,
            "queue_ms": round(self.queue_ms, 3),
            "started": self.started,
            "ended": self.ended,
        }


def _always(_: Exception) -> bool:
    return True


async def guarded(
    call: Callable[[], Awaitable[T]],
    ctx: Context,
    *,
    timeout_ms: float,
    service: str | None = None,
    adaptive: bool = False,
    priority: str = "normal",
    retries: int = 0,
    retry_on: Callable[[Exception], bool] = _always,
    check: Callable[[T], object] | None = None,
    timeout_error: type[TimeoutError] = CallTimeoutError,
    timeout_text: str = "no result within {ms:g} ms",
    name: str = "call",
) -> Outcome[T]:
    """Call `call()` under the guard; never raises for the call's own failure.

    Args:
        call: Makes the service call (a fresh awaitable per try).
        ctx: The run's context: breaker switch and policy, resilience state, adaptive settings.
        timeout_ms: The time limit of all tries together, queueing included.
        service: The service's key (`service_key`): its breaker, latencies and concurrency
            limiter. None: a call with none of them.
        adaptive: Take the limit from the service's recent latencies, `timeout_ms` at most.
        priority: The run's `priority` for the limiter's queue.
        retries: Tries after the first that failed with an error `retry_on` accepts.
        retry_on: Which errors are worth another try.
        check: Raises (`MalformedResultError`) when the result has the wrong shape.
        timeout_error: The exception type of an expired limit (`Outcome.exception`).
        timeout_text: Its text, formatted with `ms`.
        name: Names the retries in the log (`<name>_retry`).

    Returns:
        `ok` with the value; `failed`, `timed_out` or `circuit_open` (at once, without calling)
        with the error. The breaker hears one outcome per guarded call; a probe that ends with
        none (the run was cancelled) is released, so a breaker never stays half-open.

    """
    res, policy = ctx.resilience_state, ctx.breaker_policy
    key = service or ""
    breaker = service is not None and ctx.circuit_breaker
    started = time.perf_counter()
    exc: BaseException | None = None
    if breaker and not await res.breakers.allow(key, policy):
        exc = CircuitOpenError(await res.breakers.last_error(key))
        return Outcome(
            status="circuit_open",
            error=str(exc),
            exception=exc,
            timeout_ms=timeout_ms,
            started=started,
            ended=time.perf_counter(),
        )
    if adaptive and service is not None:
        timeout_ms = adaptive_timeout_ms(
            await res.latencies.recent(key),
            factor=ctx.adaptive_timeout_factor,
            floor_ms=ctx.adaptive_timeout_floor_ms,
            ceiling_ms=timeout_ms,
        )
    limiter = res.limiter(key) if service is not None else None
    limit = asyncio.timeout(timeout_ms / 1000)
    queue_ms = 0.0
    value: T | None = None
    error: str | None = None
    status: Status = "failed"
    recorded = False
    try:
        try:
            async with limit:
                if limiter is None:
                    value = await _tries(call, retries, retry_on, name)
                else:
                    async with limiter.slot(priority):
                        queue_ms = (time.perf_counter() - started) * 1000
                        value = await _tries(call, retries, retry_on, name)
            if check is not None:
                check(value)
            status = "ok"
        except asyncio.CancelledError as raised:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the run itself is being cancelled: let it go
            exc = raised  # the service raised it: a failure like any other
        except Exception as raised:
            exc = raised
            if limit.expired():
                status, exc = "timed_out", timeout_error(timeout_text.format(ms=timeout_ms))
                exc.__cause__ = raised
        if exc is not None:
            value = None
            error = str(exc) if status == "timed_out" else describe_error(exc)
        if breaker:
            await res.breakers.record(key, exc is not None, policy, error)
        recorded = True
    finally:
        if breaker and not recorded:
            await res.breakers.release(key)
    ended = time.perf_counter()
    if exc is None and service is not None:
        await res.latencies.add(key, (ended - started) * 1000 - queue_ms)
    return Outcome(
        status=status,
        value=value,
        error=error,
        exception=exc,
        timeout_ms=timeout_ms,
        queue_ms=queue_ms,
        started=started,
        ended=ended,
    )


async def _tries(
    call: Callable[[], Awaitable[T]], retries: int, retry_on: Callable[[Exception], bool], name: str
) -> T:
    """`call()`, tried again up to `retries` times; the last error propagates.

    A plain loop: wrapping a model in `with_retry()` on every run cost about 0.7 ms a run.
    """
    for attempt in range(retries + 1):
        try:
            return await call()
        except Exception as exc:
            if attempt == retries or not retry_on(exc):
                raise
            log.info(f"{name}_retry", attempt=attempt + 1)
    raise AssertionError("unreachable")


__all__ = [
    "STATUSES",
    "CallTimeoutError",
    "CircuitOpenError",
    "MalformedResultError",
    "Outcome",
    "Status",
    "guarded",
]
