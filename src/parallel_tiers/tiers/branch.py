"""A tier branch described as data, and the guard every branch runs under.

The guard gives each branch the run's `parallel_timeout_ms`; a branch that raises, times out
or returns a malformed result yields its safe default and a task record instead, so it never
fails the run and never cancels a sibling. A branch switched off by the input is `skipped`;
one whose service's circuit breaker is open is `circuit_open`, without waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from langgraph.config import get_stream_writer
from langgraph.runtime import Runtime

from parallel_tiers.context import Context, context_of
from parallel_tiers.errors import describe_error
from parallel_tiers.resilience import adaptive_timeout_ms, service_key
from parallel_tiers.state import turn_input

log = structlog.get_logger("parallel_tiers")

BranchFn = Callable[[Mapping[str, Any], Context, Runtime[Context]], Awaitable[dict[str, Any]]]


class MalformedResultError(TypeError):
    """A service returned something of the wrong shape."""


def _never(_: Mapping[str, Any]) -> str | None:
    return None


@dataclass(frozen=True)
class Branch:
    """One unit of independent work in a tier."""

    name: str
    """Node name, also the key of its task record."""
    run: BranchFn
    """Calls the service; returns the branch's state update."""
    default: Callable[[], dict[str, Any]]
    """The safe update used when the branch fails, times out or is skipped."""
    check: Callable[[dict[str, Any]], None]
    """Raises `MalformedResultError` when the update has the wrong shape."""
    skip_reason: Callable[[Mapping[str, Any]], str | None] = _never
    """Why this run skips the branch (None: it runs)."""
    service: str | None = None
    """The `Services` slot of the service the branch calls (keys its breaker and latencies)."""


def _error(exc: BaseException) -> str:
    return describe_error(exc)


async def run_guarded(
    tier: str, branch: Branch, state: Mapping[str, Any], runtime: Runtime[Context]
) -> dict[str, Any]:
    """Run one branch under the guard; returns its update plus its task record.

    In order: the skip flags; the service's circuit breaker (open: `circuit_open`, at once);
    the time limit (fixed, or adaptive from recent latencies), which also bounds any wait for a
    concurrency slot; then the call, its shape check, and the breaker and latency records.
    """
    ctx = context_of(runtime)
    res = ctx.resilience_state
    write = get_stream_writer()
    start = time.perf_counter()
    write({"event": "branch_started", "tier": tier, "branch": branch.name})
    error: str | None = None
    timeout_ms = float(ctx.parallel_timeout_ms)
    queue_ms = 0.0
    skip = branch.skip_reason(state)
    key = service_key(
        branch.name, ctx.services.brought.get(branch.service or ""), state.get("tenant_id")
    )
    if skip is not None:
        status, update, error = "skipped", branch.default(), skip
    elif ctx.circuit_breaker and not await res.breakers.allow(key, ctx.breaker_policy):
        status, update = "circuit_open", branch.default()
        error = _open_error(await res.breakers.last_error(key))
    else:
        status, update, error, queue_ms, timeout_ms = await _call(
            branch, key, state, ctx, runtime, start
        )
    end = time.perf_counter()
    duration_ms = round((end - start) * 1000, 3)
    if status == "ok":
        await res.latencies.add(key, duration_ms - queue_ms)
    record = {
        "status": status,
        "duration_ms": duration_ms,
        "error": error,
        "timeout_ms": timeout_ms,
        "queue_ms": round(queue_ms, 3),
        "started": start,
        "ended": end,
    }
    write(
        {
            "event": "branch_finished",
            "tier": tier,
            "branch": branch.name,
            "status": status,
            "duration_ms": duration_ms,
            "error": error,
        }
    )
    if status in ("failed", "timed_out"):
        meta = state.get("metadata") or {}
        log.warning(
            "parallel_branch_failed",
            tier=tier,
            branch=branch.name,
            status=status,
            error=error,
            duration_ms=duration_ms,
            mode=meta.get("mode"),
            tenant_id=state.get("tenant_id"),
            run_id=meta.get("run_id"),
        )
    return {**update, "tasks": {branch.name: record}}


async def _call(
    branch: Branch,
    key: str,
    state: Mapping[str, Any],
    ctx: Context,
    runtime: Runtime[Context],
    start: float,
) -> tuple[str, dict[str, Any], str | None, float, float]:
    """The guarded call: (status, update, error, queue_ms, timeout_ms).

    The breaker hears every outcome, and a probe that ends without one (the run was
    cancelled) is released in `finally`, so a breaker can never stay wedged half-open.
    """
    res = ctx.resilience_state
    timeout_ms = float(ctx.parallel_timeout_ms)
    if ctx.adaptive_timeout:
        timeout_ms = adaptive_timeout_ms(
            await res.latencies.recent(key),
            factor=ctx.adaptive_timeout_factor,
            floor_ms=ctx.adaptive_timeout_floor_ms,
            ceiling_ms=ctx.parallel_timeout_ms,
        )
    queue_ms, error = 0.0, None
    recorded = False
    timeout = asyncio.timeout(timeout_ms / 1000)
    try:
        try:
            async with timeout:
                limiter = res.limiter(key)
                if limiter is not None:
                    async with limiter.slot(turn_input(state, "priority")):
                        queue_ms = (time.perf_counter() - start) * 1000
                        update = await branch.run(state, ctx, runtime)
                else:
                    update = await branch.run(state, ctx, runtime)
            branch.check(update)
            status = "ok"
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the run itself is being cancelled: let it go
            status, update, error = "failed", branch.default(), _error(exc)
        except Exception as exc:
            if timeout.expired():
                status, error = "timed_out", f"no result within {timeout_ms:g} ms"
            else:
                status, error = "failed", _error(exc)
            update = branch.default()
        if ctx.circuit_breaker:
            await res.breakers.record(key, status != "ok", ctx.breaker_policy, error)
        recorded = True
    finally:
        if ctx.circuit_breaker and not recorded:
            await res.breakers.release(key)
    return status, update, error, queue_ms, timeout_ms


def _open_error(last_error: str | None) -> str:
    if last_error:
        return f"circuit breaker open; last error: {last_error}"
    return "circuit breaker open"


def expect_list_of_dicts(
    key: str, required: tuple[str, ...] = ()
) -> Callable[[dict[str, Any]], None]:
    """A `check` for an update whose `key` must be a list of dicts having `required` keys."""

    def check(update: dict[str, Any]) -> None:
        value = update.get(key)
        if not isinstance(value, list):
            raise MalformedResultError(f"{key}: expected a list, got {type(value).__name__}")
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise MalformedResultError(
                    f"{key}[{i}]: expected a dict, got {type(item).__name__}"
                )
            missing = [k for k in required if k not in item]
            if missing:
                raise MalformedResultError(f"{key}[{i}]: missing {', '.join(missing)}")

    return check
