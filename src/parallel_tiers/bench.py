"""Benchmark of the tiers with services that wait a fixed time (I/O-like), side by side.

    parallel-tiers bench [--quick] [--out DIR] [--repeat N]

Each tier graph runs with its branches sleeping a given profile, in parallel and sequential
mode, interleaved run by run so both see the same machine noise. Reported per tier: the median
and p95 of the tier's measured wall time (`metadata.duration_ms`), the ideal (slowest branch),
the sum of branches, the median `speedup_vs_sequential` and the efficiency (ideal / measured).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import langgraph
from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langgraph.store.memory import InMemoryStore

from parallel_tiers.context import Context
from parallel_tiers.tiers import build_tier1_graph, build_tier2_graph

PROFILES: dict[str, dict[str, tuple[float, float, float]]] = {
    "core": {"tier1": (50, 30, 20), "tier2": (10, 15, 5)},
    "original": {"tier1": (500, 300, 200), "tier2": (100, 150, 50)},
    "original/10": {"tier1": (50, 30, 20), "tier2": (10, 15, 5)},
}


class SleepingRetriever(BaseRetriever):
    """Returns one passage after `delay_s`."""

    delay_s: float

    def _get_relevant_documents(self, query: str, *, run_manager: Any) -> list[Document]:
        raise NotImplementedError

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        await asyncio.sleep(self.delay_s)
        return [Document(page_content="x", metadata={"id": "1", "title": "t", "score": 1.0})]


@dataclass
class Sleeping:
    """Any service method, answering `value` after `delay_s`."""

    delay_s: float
    value: Any

    async def _answer(self, *args: Any, **kwargs: Any) -> Any:
        """Wait, then answer."""
        await asyncio.sleep(self.delay_s)
        return self.value

    asuggest = ascore = aextract = atrack = asearch = _answer


class SleepingStore(InMemoryStore):
    """An in-memory store whose searches take `delay_s`."""

    def __init__(self, delay_s: float) -> None:
        super().__init__()
        self.delay_s = delay_s

    async def asearch(self, *args: Any, **kwargs: Any) -> Any:
        """Wait, then find nothing."""
        await asyncio.sleep(self.delay_s)
        return []


def sleeping_context(profile: dict[str, tuple[float, float, float]], parallel: bool) -> Context:
    """A context whose six services wait the profile's milliseconds."""
    r, t, m = (x / 1000 for x in profile["tier1"])
    q, c, k = (x / 1000 for x in profile["tier2"])
    cost = {
        "model": "bench",
        "input_tokens": 0,
        "output_tokens": 0,
        "total_tokens": 0,
        "total_cost_usd": 0.0,
    }
    return Context(
        retriever=SleepingRetriever(delay_s=r),
        tool_suggester=Sleeping(t, []),
        memory_store=SleepingStore(m),
        quality=Sleeping(q, (1.0, {})),
        citations=Sleeping(c, []),
        cost=Sleeping(k, cost),
        enable_parallel_tier1=parallel,
        enable_parallel_tier2=parallel,
    )


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def bench_tiers(profile_name: str, repeat: int, warmup: int = 3) -> list[dict[str, Any]]:
    """Parallel and sequential runs of both tiers, interleaved; one row per tier and mode."""
    profile = PROFILES[profile_name]
    graphs = {"tier1": build_tier1_graph(), "tier2": build_tier2_graph()}
    inputs = {
        "tier1": {"query": "q", "user_id": "u", "selected_agent": {"allowed_tools": []}},
        "tier2": {"query": "q", "response": "a", "rag_results": []},
    }
    keys = {"tier1": "parallel_tier1", "tier2": "parallel_tier2"}
    contexts = {p: sleeping_context(profile, p) for p in (True, False)}
    samples: dict[tuple[str, bool], list[dict[str, float]]] = {}
    for i in range(warmup + repeat):
        for tier, graph in graphs.items():
            for parallel in (True, False):
                start = time.perf_counter()
                out = await graph.ainvoke(inputs[tier], context=contexts[parallel])
                outer = (time.perf_counter() - start) * 1000
                if i >= warmup:
                    meta = out["metadata"][keys[tier]]
                    samples.setdefault((tier, parallel), []).append(
                        {
                            "duration_ms": meta["duration_ms"],
                            "outer_ms": outer,
                            "speedup": meta["speedup_vs_sequential"],
                            "failed": meta["failed_tasks"] + meta["timed_out_tasks"],
                        }
                    )
    rows = []
    for (tier, parallel), runs in samples.items():
        durations = [r["duration_ms"] for r in runs]
        ideal, total = max(profile[tier]), sum(profile[tier])
        median = statistics.median(durations)
        rows.append(
            {
                "profile": profile_name,
                "tier": tier,
                "execution": "parallel" if parallel else "sequential",
                "branches_ms": list(profile[tier]),
                "ideal_ms": ideal,
                "sum_ms": total,
                "median_ms": round(median, 2),
                "p95_ms": round(_pct(durations, 0.95), 2),
                "median_outer_ms": round(statistics.median(r["outer_ms"] for r in runs), 2),
                "over_ideal_ms": round(median - ideal, 2),
                "speedup_vs_sequential": round(statistics.median(r["speedup"] for r in runs), 3),
                "efficiency": round(ideal / median, 3) if parallel else None,
                "failures": sum(r["failed"] for r in runs),
                "runs": len(runs),
            }
        )
    return rows


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "langgraph": getattr(langgraph, "__version__", None) or _version("langgraph"),
        "platform": platform.platform(),
        "date": time.strftime("%Y-%m-%d"),
    }


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


def render(rows: list[dict[str, Any]]) -> str:
    """The result table as text."""
    head = (
        f"{'profile':<12}{'tier':<6}{'execution':<11}{'branches ms':<16}{'ideal':>7}"
        f"{'sum':>7}{'median':>9}{'p95':>9}{'+ideal':>8}{'speedup':>9}{'effic.':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        eff = f"{r['efficiency']:.3f}" if r["efficiency"] is not None else "-"
        lines.append(
            f"{r['profile']:<12}{r['tier']:<6}{r['execution']:<11}"
            f"{'/'.join(f'{b:g}' for b in r['branches_ms']):<16}{r['ideal_ms']:>7g}"
            f"{r['sum_ms']:>7g}{r['median_ms']:>9.2f}{r['p95_ms']:>9.2f}"
            f"{r['over_ideal_ms']:>8.2f}{r['speedup_vs_sequential']:>9.3f}{eff:>8}"
        )
    return "\n".join(lines)


async def collect(quick: bool, repeat: int | None) -> dict[str, Any]:
    """Measure every profile; returns the report."""
    profiles = ["core"] if quick else ["core", "original"]
    n = repeat or (5 if quick else 20)
    rows = []
    for name in profiles:
        rows += await bench_tiers(name, repeat=n, warmup=1 if quick else 3)
    return {"machine": machine(), "repeat": n, "tiers": rows}


def run(quick: bool, repeat: int | None, out: Path | None) -> dict[str, Any]:
    """Run the benchmark, print the table, and write `bench.json` when `out` is given."""
    report = asyncio.run(collect(quick, repeat))
    m = report["machine"]
    print(
        f"# {m['date']}, {m['cores']} cores, Python {m['python']}, LangGraph "
        f"{m['langgraph']}; median of {report['repeat']} runs"
    )
    print(render(report["tiers"]))
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "bench.json").write_text(json.dumps(report, indent=2))
        print(f"wrote {out / 'bench.json'}")
    return report
