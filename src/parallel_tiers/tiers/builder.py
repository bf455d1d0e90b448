"""Build a tier subgraph from its description: fan-out, guarded branches, one fan-in.

Parallel (the default): START fans out to every branch in one step, and the fan-in waits for
all of them (a barrier, so it runs exactly once). Sequential (`enable_parallel_tierN=False`):
START goes to the first branch and each branch hands over to the next (`Command(goto=...)`);
the same barrier fires after the last one. The setting is read per run from the context, so
one compiled graph serves both paths, and Studio shows both.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import CONFIG_KEY_RUNTIME, Runtime
from langgraph.types import Command

from parallel_tiers.context import Context, context_of
from parallel_tiers.logs import get_logger
from parallel_tiers.resilience.guard import STATUSES
from parallel_tiers.tiers.branch import Branch, run_branch

log = get_logger()

FAN_IN = "fan_in"


@dataclass(frozen=True, kw_only=True)
class Tier:
    """A tier: its branches, listed once, and how it is named, switched and logged."""

    name: str
    """Metadata key, stream-event tier name and subgraph name, e.g. `parallel_tier1`."""
    branches: tuple[Branch, ...]
    """Its branches, in their sequential order."""
    parallel_setting: str
    """The context field choosing parallel (True) or sequential (False)."""
    log_event: str
    """The event logged at fan-in with the tier's figures."""
    state_schema: type
    """The subgraph's state: the branches' inputs and outputs and the private `tasks`."""
    output_schema: type
    """What the subgraph hands back to its parent."""

    def is_parallel(self, ctx: Context) -> bool:
        """Whether this run executes the branches concurrently."""
        return bool(getattr(ctx, self.parallel_setting))


def summarize(records: dict[str, dict[str, Any]], *, parallel: bool, end: float) -> dict[str, Any]:
    """The tier's metadata, measured from its task records (shape documented in the README)."""
    counts = {s: sum(1 for r in records.values() if r["status"] == s) for s in STATUSES}
    started = [r["started"] for r in records.values()]
    duration_ms = round((end - min(started)) * 1000, 3) if started else 0.0
    sequential_ms = round(sum(r["duration_ms"] for r in records.values()), 3)
    ran = sum(counts[s] for s in ("ok", "failed", "timed_out"))
    speedup = round(sequential_ms / duration_ms, 3) if ran and duration_ms > 0 else 1.0
    return {
        "execution": "parallel" if parallel else "sequential",
        "duration_ms": duration_ms,
        "total_tasks": len(records),
        "successful_tasks": counts["ok"],
        "failed_tasks": counts["failed"],
        "timed_out_tasks": counts["timed_out"],
        "skipped_tasks": counts["skipped"],
        "circuit_open_tasks": counts["circuit_open"],
        "tasks": {
            name: {
                k: r[k]
                for k in ("status", "duration_ms", "error", "timeout_ms", "queue_ms")
                if k in r
            }
            for name, r in records.items()
        },
        "sequential_estimate_ms": sequential_ms,
        "speedup_vs_sequential": speedup,
    }


def build_tier_graph(tier: Tier) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile a tier into a fan-out/fan-in subgraph."""
    builder: StateGraph[Any, Context, Any, Any] = StateGraph(
        tier.state_schema,
        context_schema=Context,
        output_schema=tier.output_schema,
    )
    names = [b.name for b in tier.branches]
    following: list[str | None] = [*names[1:], None]
    for branch, after in zip(tier.branches, following, strict=True):
        node = partial(_branch_node, tier, branch, after)
        builder.add_node(branch.name, node, destinations=(after,) if after else ())
    builder.add_node(FAN_IN, partial(_fan_in, tier))

    builder.add_conditional_edges(START, _StartRoute(tier, names), names)
    builder.add_edge(names, FAN_IN)
    builder.add_edge(FAN_IN, END)
    return builder.compile(name=tier.name)


class _StartRoute(Runnable[Any, list[str]]):
    """Every branch (parallel) or the first one (sequential), per the run's context.

    A plain `Runnable` rather than a function: LangGraph traces a function used as a route as a
    run of its own, which cost about 0.4 ms on every tier run; this one reads the setting only.
    """

    name = "start_route"

    def __init__(self, tier: Tier, names: list[str]) -> None:
        self.tier, self.names = tier, names

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> list[str]:
        # LangGraph injects `Runtime` into functions only, and `get_runtime()` finds no config
        # here when the tier runs as the top graph: read it where LangGraph itself does.
        runtime = ((config or {}).get("configurable") or {}).get(CONFIG_KEY_RUNTIME)
        return self.names if self.tier.is_parallel(context_of(runtime)) else self.names[:1]

    async def ainvoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> list[str]:
        return self.invoke(input, config)


async def _branch_node(
    tier: Tier,
    branch: Branch,
    after: str | None,
    state: dict[str, Any],
    runtime: Runtime[Context],
) -> dict[str, Any] | Command[str]:
    update = await run_branch(tier.name, branch, state, runtime)
    if after is None or tier.is_parallel(context_of(runtime)):
        return update
    return Command(update=update, goto=after)  # sequential: hand over to the next branch


async def _fan_in(tier: Tier, state: dict[str, Any], runtime: Runtime[Context]) -> dict[str, Any]:
    ctx = context_of(runtime)
    summary = summarize(
        state.get("tasks") or {}, parallel=tier.is_parallel(ctx), end=time.perf_counter()
    )
    ctx.metrics_recorder.record(tier.name, state.get("tenant_id"), summary)
    if log.isEnabledFor(logging.INFO):  # the event's fields are built only when it is kept
        meta = state.get("metadata") or {}
        log.info(
            tier.log_event,
            **{k: v for k, v in summary.items() if k != "tasks"},
            tasks={n: t["status"] for n, t in summary["tasks"].items()},
            mode=meta.get("mode"),
            tenant_id=state.get("tenant_id"),
            run_id=meta.get("run_id"),
        )
    return {"metadata": {tier.name: summary}}
