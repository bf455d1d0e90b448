"""The measured cases (issue 5, items a-d); each returns plain rows for the report.

Compared variants run interleaved, one call each per round with the order rotated every
round, so they share the machine's noise; the first rounds are a warm-up and are dropped.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from langchain_core.runnables import RunnableConfig, RunnableLambda, RunnableParallel
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.store.memory import InMemoryStore
from langgraph.types import Durability

from benchmarks.floor import floor_of, trace_run
from benchmarks.harness import stats
from parallel_tiers.context import Context
from parallel_tiers.metrics import TierMetrics
from parallel_tiers.modes import build_mode_graph
from parallel_tiers.resilience import Resilience
from parallel_tiers.stats import percentile
from parallel_tiers.threads import DURABILITY
from parallel_tiers.tiers import TIER1, TIER2, Tier, build_tier1_graph, build_tier2_graph
from tests.fakes import (
    Behaviour,
    FakeCitations,
    FakeCost,
    FakeMemoryStore,
    FakeQuality,
    FakeRetriever,
    FakeSuggester,
    FixedChatModel,
    doc,
)

Profile = dict[str, tuple[float, float, float]]
PROFILES: dict[str, Profile] = {
    "original": {"tier1": (500, 300, 200), "tier2": (100, 150, 50)},
    "original/10": {"tier1": (50, 30, 20), "tier2": (10, 15, 5)},
    "zero": {"tier1": (0, 0, 0), "tier2": (0, 0, 0)},
}
TIERS: dict[str, Tier] = {"tier1": TIER1, "tier2": TIER2}
TIER_INPUTS: dict[str, dict[str, Any]] = {
    "tier1": {"query": "Is aspirin a blood thinner?", "user_id": "u1", "tenant_id": "t1"},
    "tier2": {
        "query": "Is aspirin a blood thinner?",
        "response": "Aspirin thins the blood [1].",
        "rag_results": [],
        "tenant_id": "t1",
    },
}
RUN_INPUT = {"query": "Is aspirin a blood thinner?", "user_id": "u1", "tenant_id": "t1"}
"""The input of every mode run."""

Call = Callable[[], Awaitable[Any]]
ALTERNATIVES = ("asyncio.gather", "RunnableParallel", "bare LangGraph", "bare LangGraph + switch")
"""What the tier graph is compared with (b, c)."""
PASSAGES = [doc(i, f"Passage {i} about the question.") for i in range(1, 6)]
"""What the bench's retriever finds."""


def sleeping_context(
    tier1_ms: tuple[float, float, float] = (0, 0, 0),
    tier2_ms: tuple[float, float, float] = (0, 0, 0),
    *,
    parallel: bool = True,
    hung: str | None = None,
    **settings: Any,
) -> Context:
    """A context whose six tier services wait the given milliseconds, plus a fixed model.

    The services are the test suite's fakes (`tests/fakes.py`): the retriever finds five
    passages, the suggester suggests nothing, the quality score is 1, the answer cites
    nothing. `hung` names one branch ("rag_retrieval", ...) whose service never answers.
    Each context gets its own breaker, latency and metrics state, so runs of one case do not
    see another's.
    """
    waits = (*tier1_ms, *tier2_ms)
    branches = [b.name for b in (*TIER1.branches, *TIER2.branches)]
    if hung is not None and hung not in branches:
        raise ValueError(f"no branch {hung!r}: one of {', '.join(branches)}")
    act = {
        name: Behaviour("hang" if name == hung else "ok", delay=ms / 1000)
        for name, ms in zip(branches, waits, strict=True)
    }
    return Context(
        retriever=FakeRetriever(behaviour=act["rag_retrieval"], docs=PASSAGES),
        tool_suggester=FakeSuggester(act["tool_suggestion"], suggestions=[]),
        memory_store=FakeMemoryStore(InMemoryStore(), act["memory_retrieval"]),
        model=FixedChatModel(),
        quality=FakeQuality(act["quality_scoring"], score=1.0),
        citations=FakeCitations(act["citation_extraction"], cites=False),
        cost=FakeCost(act["cost_tracking"]),
        enable_parallel_tier1=parallel,
        enable_parallel_tier2=parallel,
        resilience=Resilience(),
        metrics=TierMetrics(),
        **settings,
    )


def ms(seconds: float) -> float:
    """Seconds as milliseconds."""
    return seconds * 1000


async def timed(call: Call) -> tuple[float, float, Any]:
    """Wall ms, process CPU ms and result of one awaited call."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = await call()
    return ms(time.perf_counter() - wall), ms(time.process_time() - cpu), result


async def interleaved(
    variants: Mapping[str, Call], rounds: int, warmup: int
) -> dict[str, list[tuple[float, float, Any]]]:
    """Call each variant once per round, rotating the order every round.

    Returns, per variant and kept round: (wall ms, cpu ms, result); index i of every list is
    the same round.
    """
    names = list(variants)
    out: dict[str, list[tuple[float, float, Any]]] = {n: [] for n in names}
    for i in range(warmup + rounds):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            sample = await timed(variants[name])
            if i >= warmup:
                out[name].append(sample)
    return out


# --- a. each tier, parallel vs sequential ----------------------------------------------------


async def tiers(profile_name: str, repeat: int, warmup: int) -> list[dict[str, Any]]:
    """Both tiers, parallel and sequential, interleaved; one row per tier and execution."""
    profile = PROFILES[profile_name]
    graphs = {"tier1": build_tier1_graph(), "tier2": build_tier2_graph()}
    rows = []
    for tier, graph in graphs.items():
        contexts = {
            p: sleeping_context(profile["tier1"], profile["tier2"], parallel=p)
            for p in (True, False)
        }
        variants = {
            execution: partial(graph.ainvoke, TIER_INPUTS[tier], context=contexts[p])
            for execution, p in (("parallel", True), ("sequential", False))
        }
        samples = await interleaved(variants, repeat, warmup)
        ideal, total = max(profile[tier]), sum(profile[tier])
        for execution, runs in samples.items():
            metas = [out["metadata"][TIERS[tier].name] for _, _, out in runs]
            durations = [m["duration_ms"] for m in metas]
            outer = [wall for wall, _, _ in runs]
            median, median_outer = statistics.median(durations), statistics.median(outer)
            rows.append(
                {
                    "profile": profile_name,
                    "tier": tier,
                    "execution": execution,
                    "branches_ms": list(profile[tier]),
                    "ideal_ms": ideal,
                    "sum_ms": total,
                    "median_ms": round(median, 2),
                    "p95_ms": round(percentile(durations, 0.95), 2),
                    "median_outer_ms": round(median_outer, 2),
                    "p95_outer_ms": round(percentile(outer, 0.95), 2),
                    "over_ideal_ms": round(median - ideal, 2),
                    "speedup_vs_sequential": round(
                        statistics.median(m["speedup_vs_sequential"] for m in metas), 3
                    ),
                    "efficiency": round(ideal / median, 3) if execution == "parallel" else None,
                    "efficiency_outer": (
                        round(ideal / median_outer, 3) if execution == "parallel" else None
                    ),
                    "failures": sum(m["failed_tasks"] + m["timed_out_tasks"] for m in metas),
                    "runs": len(runs),
                }
            )
    return rows


# --- b, c. the same branches without this package, and without LangGraph ----------------------


def _runtime(ctx: Context) -> Any:
    """What a branch's `run` reads of a LangGraph runtime outside a graph."""
    return SimpleNamespace(context=ctx, store=None)


def gather_variant(tier: Tier, ctx: Context, state: dict[str, Any]) -> Call:
    """The original design: the branch calls under one `asyncio.gather`, updates merged."""
    runtime = _runtime(ctx)

    async def call() -> dict[str, Any]:
        updates = await asyncio.gather(*(b.run(state, ctx, runtime) for b in tier.branches))
        merged: dict[str, Any] = {}
        for update in updates:
            merged.update(update)
        return merged

    return call


def runnable_parallel_variant(tier: Tier, ctx: Context, state: dict[str, Any]) -> Call:
    """LangChain's `RunnableParallel` over the same branch calls."""
    runtime = _runtime(ctx)

    def step(branch: Any) -> RunnableLambda[Any, Any]:
        async def run(value: dict[str, Any]) -> dict[str, Any]:
            return dict(await branch.run(value, ctx, runtime))

        return RunnableLambda(run)

    parallel = RunnableParallel({b.name: step(b) for b in tier.branches})

    async def call() -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for update in (await parallel.ainvoke(state)).values():
            merged.update(update)
        return merged

    return call


def bare_tier_graph(
    tier: Tier, ctx: Context, switch: bool = False
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """A plain LangGraph fan-out of the same shape as a tier.

    The branch calls are nodes from START with a barrier into a join node: no guard, no task
    records, no metadata, no logging. `switch` adds only what the per-run parallel/sequential
    setting costs in parallel mode: START's conditional edge reading the runtime context.
    """
    builder: StateGraph[Any, Any, Any, Any] = StateGraph(
        tier.state_schema,
        context_schema=Context if switch else None,
        output_schema=tier.output_schema,
    )
    runtime = _runtime(ctx)
    names = [b.name for b in tier.branches]
    for branch in tier.branches:

        async def node(state: Any, branch: Any = branch) -> dict[str, Any]:
            return dict(await branch.run(state, ctx, runtime))

        builder.add_node(branch.name, node)
        if not switch:
            builder.add_edge(START, branch.name)

    def route(state: Any, runtime: Runtime[Context]) -> list[str]:
        return names if tier.is_parallel(runtime.context) else names[:1]

    if switch:
        builder.add_conditional_edges(START, route, names)

    async def join(state: Any) -> dict[str, Any]:
        return {}

    builder.add_node("join", join)
    builder.add_edge(names, "join")
    builder.add_edge("join", END)
    return builder.compile()


async def overhead(profile_name: str, repeat: int, warmup: int) -> list[dict[str, Any]]:
    """Per tier: wall time of each alternative, and what our tier graph adds over each.

    Added time is the median of the per-round differences, so noise shared by a round cancels.
    """
    profile = PROFILES[profile_name]
    rows = []
    for tier_key, tier in TIERS.items():
        ctx = sleeping_context(profile["tier1"], profile["tier2"])
        state = TIER_INPUTS[tier_key]
        ours = build_tier1_graph() if tier_key == "tier1" else build_tier2_graph()
        bare = bare_tier_graph(tier, ctx)
        switched = bare_tier_graph(tier, ctx, switch=True)
        variants: dict[str, Call] = {
            "asyncio.gather": gather_variant(tier, ctx, state),
            "RunnableParallel": runnable_parallel_variant(tier, ctx, state),
            "bare LangGraph": partial(bare.ainvoke, state),
            "bare LangGraph + switch": partial(switched.ainvoke, state, context=ctx),
            "parallel-tiers": partial(ours.ainvoke, state, context=ctx),
        }
        samples = await interleaved(variants, repeat, warmup)
        walls = {n: [w for w, _, _ in runs] for n, runs in samples.items()}
        cpus = {n: [c for _, c, _ in runs] for n, runs in samples.items()}
        ours_wall = walls["parallel-tiers"]
        row: dict[str, Any] = {
            "profile": profile_name,
            "tier": tier_key,
            "branches_ms": list(profile[tier_key]),
            "ideal_ms": max(profile[tier_key]),
            "runs": len(ours_wall),
            "variants": {
                n: {"wall_ms": stats(walls[n]), "cpu_ms": stats(cpus[n])} for n in variants
            },
            "overhead_ms": {},
        }
        for other in ALTERNATIVES:
            diffs = [a - b for a, b in zip(ours_wall, walls[other], strict=True)]
            row["overhead_ms"][other] = round(statistics.median(diffs), 3)
        lg = [a - b for a, b in zip(walls["bare LangGraph"], walls["asyncio.gather"], strict=True)]
        row["langgraph_over_gather_ms"] = round(statistics.median(lg), 3)
        sw = [
            a - b
            for a, b in zip(cpus["bare LangGraph + switch"], cpus["bare LangGraph"], strict=True)
        ]
        row["switch_cpu_ms"] = round(statistics.median(sw), 3)
        gm = [
            a - b
            for a, b in zip(cpus["parallel-tiers"], cpus["bare LangGraph + switch"], strict=True)
        ]
        row["guards_metadata_logging_cpu_ms"] = round(statistics.median(gm), 3)
        rows.append(row)
    return rows


# --- d. a whole mode run with zero-latency services -------------------------------------------


async def floor_graph(
    graph: CompiledStateGraph[Any, Any, Any, Any] | None = None, **compile_kwargs: Any
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """LangGraph's own floor for a mode-2 run (`benchmarks.floor`).

    `graph`'s (default `build_mode_graph(2)`) nodes, edges, routes, subgraphs and state schemas,
    rebuilt from its builder with every node a no-op, taking the path of one zero-latency run.
    """
    graph = graph or build_mode_graph(2)
    trace = await trace_run(graph, RUN_INPUT, context=sleeping_context())
    return floor_of(graph, trace, name=f"floor_of_{graph.name}", **compile_kwargs)


SAVERS = ("none", "memory", "sqlite")
"""The checkpointers compared: none, `InMemorySaver`, `AsyncSqliteSaver` on a file."""


@asynccontextmanager
async def savers(folder: Path) -> AsyncIterator[dict[str, Any]]:
    """One checkpointer of each kind in `SAVERS` (None for "none"); SQLite in `folder`."""
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    async with AsyncSqliteSaver.from_conn_string(str(folder / "bench.sqlite")) as sqlite:
        await sqlite.setup()
        yield {"none": None, "memory": InMemorySaver(), "sqlite": sqlite}


def runner(
    graph: Any, saver: Any, durability: Durability | None = None, ctx: Context | None = None
) -> Call:
    """One mode-2 run of `graph` (a new thread each time when it has a checkpointer).

    `durability` None: the graph's default (a mode graph: `threads.DURABILITY`; a plain
    compiled graph: LangGraph's "async").
    """
    ctx = ctx or sleeping_context()
    if saver is None:
        return partial(graph.ainvoke, RUN_INPUT, context=ctx)

    async def call() -> Any:
        config: RunnableConfig = {"configurable": {"thread_id": uuid.uuid4().hex}}
        return await graph.ainvoke(RUN_INPUT, config=config, context=ctx, durability=durability)

    return call


PACKAGE, FLOOR = "mode 2", "LangGraph floor"
"""Variant names of the package's mode-2 graph and its floor (same shape, no-op nodes)."""


async def mode_run(repeat: int, warmup: int) -> dict[str, Any]:
    """CPU ms and runs/s of a mode-2 run with every service answering at once.

    The package's graph next to LangGraph's floor for the same shape; both with no
    checkpointer, with `InMemorySaver` and with `AsyncSqliteSaver`, each at the package's
    default durability (`threads.DURABILITY`) and at LangGraph's ("async"). Ratios and
    overheads are medians of per-round ratios / differences.
    """
    ctx = sleeping_context()
    with tempfile.TemporaryDirectory() as tmp:
        async with savers(Path(tmp)) as kinds:
            variants: dict[str, Call] = {}
            for kind, saver in kinds.items():
                package = build_mode_graph(2, checkpointer=saver)
                floor = await floor_graph(build_mode_graph(2), checkpointer=saver)
                durabilities: tuple[Durability | None, ...] = (
                    (None,) if saver is None else (DURABILITY, "async")
                )
                for durability in durabilities:
                    suffix = "" if saver is None else f" + {kind}, durability={durability}"
                    variants[PACKAGE + suffix] = runner(package, saver, durability, ctx)
                    variants[FLOOR + suffix] = runner(floor, saver, durability, ctx)
            samples = await interleaved(variants, repeat, warmup)
    rows = []
    plain_cpu = {n: [c for _, c, _ in samples[n]] for n in (PACKAGE, FLOOR)}
    for name, runs in samples.items():
        walls, cpus = [w for w, _, _ in runs], [c for _, c, _ in runs]
        graph = PACKAGE if name.startswith(PACKAGE) else FLOOR
        saver_kind = "none"
        durability_name: str | None = None
        if " + " in name:
            saver_kind, durability_name = name.split(" + ", 1)[1].split(", durability=")
        rows.append(
            {
                "variant": name,
                "graph": graph,
                "checkpointer": saver_kind,
                "durability": durability_name,
                "cpu_ms": stats(cpus),
                "wall_ms": stats(walls),
                "runs_per_s": round(len(walls) / (sum(walls) / 1000), 1),
                "checkpointer_cpu_ms": None
                if saver_kind == "none"
                else round(
                    statistics.median(a - b for a, b in zip(cpus, plain_cpu[graph], strict=True)),
                    3,
                ),
                "errors": 0 if graph == FLOOR else sum(run_errors(o) for *_, o in runs),
                "runs": len(runs),
            }
        )
    package_cpu, floor_cpu = plain_cpu[PACKAGE], plain_cpu[FLOOR]
    return {
        "rows": rows,
        "durability_default": DURABILITY,
        "cpu_ratio": round(statistics.median(package_cpu) / statistics.median(floor_cpu), 3),
        "cpu_ratio_paired": round(
            statistics.median(a / b for a, b in zip(package_cpu, floor_cpu, strict=True)), 3
        ),
        "cpu_over_floor_ms": round(
            statistics.median(a - b for a, b in zip(package_cpu, floor_cpu, strict=True)), 3
        ),
    }


def run_errors(out: Any) -> int:
    """Failed or timed-out branches of a mode run (0 for a clean run)."""
    meta = out.get("metadata") or {} if isinstance(out, dict) else {}
    return sum(
        (meta.get(t) or {}).get("failed_tasks", 0) + (meta.get(t) or {}).get("timed_out_tasks", 0)
        for t in ("parallel_tier1", "parallel_tier2")
    ) + (1 if isinstance(out, dict) and out.get("error") else 0)
