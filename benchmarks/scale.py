"""The cases at scale (issue 5, items e-h): concurrency, timeouts, memory, retrieval."""

from __future__ import annotations

import asyncio
import gc
import json
import multiprocessing
import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.cases import (
    FLOOR,
    PACKAGE,
    RUN_INPUT,
    TIER_INPUTS,
    Call,
    floor_graph,
    ms,
    run_errors,
    runner,
    savers,
    sleeping_context,
)
from benchmarks.harness import pending_tasks, settled_rss_mb, stats
from parallel_tiers.modes import build_mode_graph
from parallel_tiers.threads import DURABILITY
from parallel_tiers.tiers import build_tier1_graph
from parallel_tiers.tuning import GC_THRESHOLD

CORPUS_ENV = "PARALLEL_TIERS_MEDQUAD"
"""Environment variable naming the MedQuAD corpus.jsonl (else ../shared/data/medquad)."""


# --- e. concurrency ---------------------------------------------------------------------------


async def concurrency(levels: list[int], min_runs: int, delay_ms: float) -> list[dict[str, Any]]:
    """Throughput and latency of `level` mode-2 runs started at once.

    Every service waits `delay_ms` (the retriever also in `select_agent`); latency counts from
    the moment the whole batch was submitted. Batches repeat until `min_runs` runs.
    """
    d = (delay_ms,) * 3
    ctx = sleeping_context(d, d)
    graph = build_mode_graph(2)
    await asyncio.gather(*(graph.ainvoke(RUN_INPUT, context=ctx) for _ in range(5)))  # warm-up
    rows = []
    for level in levels:
        latencies: list[float] = []
        errors = degraded = 0
        wall_total = cpu_total = 0.0
        batches = max(1, -(-min_runs // level))
        for _ in range(batches):
            cpu0, start = time.process_time(), time.perf_counter()

            async def one(start: float = start) -> tuple[float, Any]:
                out = await graph.ainvoke(RUN_INPUT, context=ctx)
                return ms(time.perf_counter() - start), out

            done = await asyncio.gather(*(one() for _ in range(level)), return_exceptions=True)
            wall_total += time.perf_counter() - start
            cpu_total += time.process_time() - cpu0
            for item in done:
                if isinstance(item, BaseException):
                    errors += 1
                    continue
                latency, out = item
                latencies.append(latency)
                degraded += 1 if run_errors(out) else 0
        runs = level * batches
        rows.append(
            {
                "concurrency": level,
                "batches": batches,
                "runs": runs,
                "branch_wait_ms": delay_ms,
                "throughput_runs_per_s": round(runs / wall_total, 1),
                "latency_ms": stats(latencies, 2),
                "cpu_ms_per_run": round(ms(cpu_total) / runs, 3),
                "errors": errors,
                "runs_with_failed_branches": degraded,
            }
        )
    return rows


# --- e2. package vs floor at once; e3. garbage-collector settings -----------------------------


async def _batch(call: Call, level: int) -> tuple[float, float, int]:
    """Wall s and CPU s of `level` runs of `call` started at once; errors."""
    cpu0, start = time.process_time(), time.perf_counter()
    done = await asyncio.gather(*(call() for _ in range(level)), return_exceptions=True)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    errors = sum(1 for d in done if isinstance(d, BaseException) or run_errors(d))
    return wall, cpu, errors


async def _rounds(
    variants: dict[str, tuple[Call, Callable[[], Any], Callable[[], Any]]],
    level: int,
    min_runs: int,
) -> list[dict[str, Any]]:
    """Batches of `level` runs, each variant once per round (order rotated), until `min_runs`.

    Each variant is (call, enter, leave): `enter` before and `leave` after its batch (a GC
    setting); a full collection before every batch, so each starts from the same heap.
    """
    names = list(variants)
    totals = {n: [0.0, 0.0, 0, 0] for n in names}  # wall s, cpu s, runs, errors
    for i in range(max(1, -(-min_runs // level))):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            call, enter, leave = variants[name]
            gc.collect()
            enter()
            try:
                wall, cpu, errors = await _batch(call, level)
            finally:
                leave()
            t = totals[name]
            t[0] += wall
            t[1] += cpu
            t[2] += level
            t[3] += errors
    return [
        {
            "variant": n,
            "concurrency": level,
            "runs": int(t[2]),
            "runs_per_s": round(t[2] / t[0], 1),
            "cpu_ms_per_run": round(ms(t[1]) / t[2], 3),
            "errors": int(t[3]),
        }
        for n, t in totals.items()
    ]


def _nothing() -> None:
    return None


async def throughput(levels: list[int], min_runs: int) -> list[dict[str, Any]]:
    """Runs/s of mode 2 and its LangGraph floor, `level` zero-latency runs at once.

    Without a checkpointer, with `InMemorySaver` and with `AsyncSqliteSaver`, at the package's
    default durability (the floor gets the same one); interleaved, default GC settings.
    """
    ctx = sleeping_context()
    with tempfile.TemporaryDirectory() as tmp:
        async with savers(Path(tmp)) as kinds:
            calls: dict[str, Call] = {}
            for kind, saver in kinds.items():
                suffix = "" if saver is None else f" + {kind}"
                package = build_mode_graph(2, checkpointer=saver)
                floor = await floor_graph(build_mode_graph(2), checkpointer=saver)
                durability = None if saver is None else DURABILITY
                calls[PACKAGE + suffix] = runner(package, saver, durability, ctx)
                calls[FLOOR + suffix] = runner(floor, saver, durability, ctx)
            for call in calls.values():  # warm-up
                await asyncio.gather(*(call() for _ in range(5)))
            rows = []
            for level in levels:
                variants = {n: (c, _nothing, _nothing) for n, c in calls.items()}
                rows += await _rounds(variants, level, min_runs)
    return rows


def gc_settings() -> dict[str, tuple[Callable[[], Any], Callable[[], Any]]]:
    """The compared GC settings: (apply, restore) of each."""
    default = gc.get_threshold()

    def threshold(*values: int) -> tuple[Callable[[], Any], Callable[[], Any]]:
        return (lambda: gc.set_threshold(*values)), (lambda: gc.set_threshold(*default))

    def frozen(*values: int) -> tuple[Callable[[], Any], Callable[[], Any]]:
        def enter() -> None:
            gc.freeze()
            if values:
                gc.set_threshold(*values)

        def leave() -> None:
            gc.set_threshold(*default)
            gc.unfreeze()

        return enter, leave

    return {
        f"default {default}": (_nothing, _nothing),
        "set_threshold(10_000, 10, 10)": threshold(10_000, 10, 10),
        f"set_threshold{GC_THRESHOLD} = tune_gc()": threshold(*GC_THRESHOLD),
        "freeze() after warm-up": frozen(),
        "freeze() + set_threshold(10_000, 10, 10)": frozen(10_000, 10, 10),
    }


async def gc_variants(levels: list[int], min_runs: int) -> list[dict[str, Any]]:
    """Runs/s of zero-latency mode-2 runs, `level` at once, under each GC setting, interleaved.

    No checkpointer. `freeze` variants freeze the heap as it is after the warm-up (graphs,
    services, this process's earlier cases) for their batch, as `tune_gc()` does after start-up.
    """
    ctx = sleeping_context()
    call = runner(build_mode_graph(2), None, None, ctx)
    await asyncio.gather(*(call() for _ in range(20)))  # warm-up
    rows = []
    for level in levels:
        variants = {n: (call, enter, leave) for n, (enter, leave) in gc_settings().items()}
        rows += await _rounds(variants, level, min_runs)
    return rows


# --- f. timeouts ------------------------------------------------------------------------------


async def timeouts(repeat: int, concurrent: int, timeout_ms: int = 100) -> list[dict[str, Any]]:
    """How far past `parallel_timeout_ms` a tier with a hung branch ends (p50/p99).

    Tier 1 with a retriever that never answers (breaker off, so every run waits), alone and
    with `concurrent` such runs at once.
    """
    ctx = sleeping_context(
        hung="rag_retrieval", parallel_timeout_ms=timeout_ms, circuit_breaker=False
    )
    graph = build_tier1_graph()
    state = TIER_INPUTS["tier1"]
    await graph.ainvoke(state, context=ctx)  # warm-up
    rows = []
    for level, batches in ((1, repeat), (concurrent, max(1, repeat // concurrent))):
        tier_over, branch_over, outer_over = [], [], []
        statuses: dict[str, int] = {}
        for _ in range(batches):

            async def one() -> tuple[float, Any]:
                start = time.perf_counter()
                out = await graph.ainvoke(state, context=ctx)
                return ms(time.perf_counter() - start), out

            for wall, out in await asyncio.gather(*(one() for _ in range(level))):
                meta = out["metadata"]["parallel_tier1"]
                task = meta["tasks"]["rag_retrieval"]
                statuses[task["status"]] = statuses.get(task["status"], 0) + 1
                tier_over.append(meta["duration_ms"] - timeout_ms)
                branch_over.append(task["duration_ms"] - timeout_ms)
                outer_over.append(wall - timeout_ms)
        rows.append(
            {
                "concurrency": level,
                "timeout_ms": timeout_ms,
                "runs": len(tier_over),
                "tier_overshoot_ms": stats(tier_over, 2),
                "branch_overshoot_ms": stats(branch_over, 2),
                "outer_overshoot_ms": stats(outer_over, 2),
                "hung_branch_statuses": statuses,
            }
        )
    return rows


# --- g. memory --------------------------------------------------------------------------------


async def memory(runs: int, warmup: int, samples: int = 10, batch: int = 50) -> dict[str, Any]:
    """RSS growth over `runs` mode-2 runs after a warm-up, and asyncio tasks left pending.

    Zero-latency services, `batch` runs at a time; RSS sampled `samples` times after a GC.
    """
    ctx = sleeping_context()
    graph = build_mode_graph(2)

    async def chunk(n: int) -> None:
        for start in range(0, n, batch):
            size = min(batch, n - start)
            await asyncio.gather(*(graph.ainvoke(RUN_INPUT, context=ctx) for _ in range(size)))

    await chunk(warmup)
    await asyncio.sleep(0.05)
    base = settled_rss_mb()
    curve = [(0, 0.0)]
    step = max(1, runs // samples)
    start = time.perf_counter()
    done = 0
    while done < runs:
        n = min(step, runs - done)
        await chunk(n)
        done += n
        curve.append((done, round(settled_rss_mb() - base, 2)))
    elapsed = time.perf_counter() - start
    pending_now = pending_tasks()
    await asyncio.sleep(0.1)
    pending_later = pending_tasks()
    growth = curve[-1][1]
    return {
        "runs": runs,
        "warmup_runs": warmup,
        "concurrent_batch": batch,
        "rss_start_mb": round(base, 1),
        "rss_growth_mb": growth,
        "growth_kb_per_1000_runs": round(growth * 1000 / runs * 1000, 1) if runs else 0.0,
        "curve": [{"runs": r, "growth_mb": g} for r, g in curve],
        "pending_tasks_after": pending_now,
        "pending_tasks_after_100ms": pending_later,
        "seconds": round(elapsed, 1),
    }


def _memory_job(runs: int, warmup: int) -> dict[str, Any]:
    from benchmarks.harness import quiet_logging

    with quiet_logging():
        return asyncio.run(memory(runs, warmup))


def memory_isolated(runs: int, warmup: int) -> dict[str, Any]:
    """`memory` in a fresh interpreter, so the other cases' heaps do not blur its RSS."""
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        result = pool.submit(_memory_job, runs, warmup).result()
    result["process"] = "fresh interpreter (spawn)"
    return result


# --- h. retrieval at scale --------------------------------------------------------------------


def medquad_dir() -> Path | None:
    """The MedQuAD folder, or None.

    $PARALLEL_TIERS_MEDQUAD's, else `../shared/data/medquad` from the working directory or the
    repository, else /work/shared/data/medquad.
    """
    env = os.environ.get(CORPUS_ENV)
    candidates = [Path(env).parent if env and env.endswith(".jsonl") else Path(env)] if env else []
    repo = Path(__file__).resolve().parents[1]
    candidates += [
        Path.cwd().parent / "shared/data/medquad",
        repo.parent / "shared/data/medquad",
        Path("/work/shared/data/medquad"),
    ]
    return next((c for c in candidates if (c / "corpus.jsonl").is_file()), None)


async def retrieval(sizes: list[int | None], queries: int) -> dict[str, Any]:
    """BM25Retriever query latency (p50/p95) by corpus size.

    Corpora of the first `sizes` MedQuAD passages (None: all), built with
    `BM25Retriever.from_records`; the questions are the first MedQuAD dev questions.
    """
    from parallel_tiers.services.retrieval import BM25Retriever, read_corpus

    folder = medquad_dir()
    if folder is None:
        return {"skipped": "MedQuAD corpus not found (set PARALLEL_TIERS_MEDQUAD)", "rows": []}
    note = "" if None in sizes else "quick run: the full corpus size is skipped"

    corpus = folder / "corpus.jsonl"
    if None in sizes:
        records = read_corpus(corpus)
    else:  # only the first lines are needed
        records = []
        with corpus.open(encoding="utf-8") as lines:
            for line in lines:
                records.append(json.loads(line))
                if len(records) >= max(s or 0 for s in sizes):
                    break
    asked = []
    with (folder / "dev_queries.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            asked.append(json.loads(line)["query"])
            if len(asked) >= queries:
                break
    rows = []
    for size in sizes:
        subset = records[:size] if size else records
        start = time.perf_counter()
        retriever = BM25Retriever.from_records(subset)
        build_s = time.perf_counter() - start
        for q in asked[:10]:  # warm-up
            retriever.search(q)
        search_ms, invoke_ms = [], []
        for q in asked:
            t0 = time.perf_counter()
            retriever.search(q, 5)
            search_ms.append(ms(time.perf_counter() - t0))
            t0 = time.perf_counter()
            await retriever.ainvoke(q, k=5)
            invoke_ms.append(ms(time.perf_counter() - t0))
        rows.append(
            {
                "passages": len(subset),
                "full_corpus": size is None,
                "index_build_s": round(build_s, 2),
                "queries": len(asked),
                "search_ms": stats(search_ms),
                "ainvoke_ms": stats(invoke_ms),
            }
        )
    return {"corpus": str(corpus), "rows": rows, "note": note}
