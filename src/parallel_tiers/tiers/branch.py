"""A tier branch described as data, and the node body that runs it under the guard.

A branch that raises, times out or returns a malformed result yields its safe `default` and a
task record instead (`resilience.guard`), so it never fails the run and never cancels a
sibling. One whose service's circuit breaker is open is `circuit_open`, without waiting, and
yields its `default` too. A branch its `skip_if` switches off is `skipped`: it produced
nothing, so it writes its task record only (a parent graph's values of its keys stay).
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from langgraph.runtime import Runtime

from parallel_tiers.context import Context, context_of
from parallel_tiers.logs import get_logger
from parallel_tiers.resilience import service_key
from parallel_tiers.resilience.guard import MalformedResultError, Outcome, guarded
from parallel_tiers.state import turn_input

log = get_logger()

BranchFn = Callable[[Mapping[str, Any], Context, Runtime[Context]], Awaitable[dict[str, Any]]]


def never(_: Mapping[str, Any]) -> str | None:
    """A `skip_if` for a branch that always runs."""
    return None


@dataclass(frozen=True, kw_only=True)
class Branch:
    """One unit of independent work in a tier."""

    name: str
    """Node name, also the key of its task record."""
    run: BranchFn
    """Calls the service; returns the branch's state update."""
    default: Mapping[str, Any]
    """The update given when the branch fails or times out, or its breaker is open (a fresh copy
    each time). A skipped branch gives none."""
    check: Callable[[dict[str, Any]], object]
    """Raises `MalformedResultError` when the update has the wrong shape."""
    service: str | None = None
    """The `Services` slot of the service the branch calls (keys its breaker, latencies and
    limiter)."""
    skip_if: Callable[[Mapping[str, Any]], str | None] = never
    """Why this run skips the branch (None: it runs)."""

    def safe_default(self) -> dict[str, Any]:
        """A fresh copy of `default`: a caller may change the lists it gets back."""
        return copy.deepcopy(dict(self.default))


async def run_branch(
    tier: str, branch: Branch, state: Mapping[str, Any], runtime: Runtime[Context]
) -> dict[str, Any]:
    """Run one branch under the guard; returns its update plus its task record (`tasks`).

    Writes `branch_started` and `branch_finished` to the custom stream, and logs a failed or
    timed-out branch. The time limit is the run's `parallel_timeout_ms` (or adaptive), and it
    also bounds any wait for a concurrency slot.
    """
    ctx = context_of(runtime)
    write = runtime.stream_writer
    write({"event": "branch_started", "tier": tier, "branch": branch.name})
    reason = branch.skip_if(state)
    outcome: Outcome[dict[str, Any]]
    if reason is not None:
        outcome = Outcome.skipped(reason, timeout_ms=float(ctx.parallel_timeout_ms))
    else:
        brought = ctx.services.brought.get(branch.service or "")
        outcome = await guarded(
            partial(branch.run, state, ctx, runtime),
            ctx,
            timeout_ms=float(ctx.parallel_timeout_ms),
            service=service_key(branch.name, brought, state.get("tenant_id")),
            adaptive=ctx.adaptive_timeout,
            priority=turn_input(state, "priority"),
            check=branch.check,
        )
    write(
        {
            "event": "branch_finished",
            "tier": tier,
            "branch": branch.name,
            "status": outcome.status,
            "duration_ms": outcome.duration_ms,
            "error": outcome.error,
        }
    )
    if outcome.status in ("failed", "timed_out"):
        meta = state.get("metadata") or {}
        log.warning(
            "parallel_branch_failed",
            tier=tier,
            branch=branch.name,
            status=outcome.status,
            error=outcome.error,
            duration_ms=outcome.duration_ms,
            mode=meta.get("mode"),
            tenant_id=state.get("tenant_id"),
            run_id=meta.get("run_id"),
        )
    if outcome.status == "skipped":
        update: dict[str, Any] = {}
    else:
        update = outcome.value if outcome.value is not None else branch.safe_default()
    return {**update, "tasks": {branch.name: outcome.record()}}


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
