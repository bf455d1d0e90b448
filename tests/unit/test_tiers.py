"""The tier contract: fan-out, guards, skip flags, sequential path and measured metadata."""

from __future__ import annotations

import time

import pytest

from parallel_tiers import build_tier1_graph, build_tier2_graph
from tests.conftest import TIER1, TIER2, fake_context
from tests.fakes import Fakes
from tests.logs import capture_events

TIER1_INPUT = {
    "query": "Is aspirin a blood thinner?",
    "user_id": "u1",
    "tenant_id": "t1",
    "selected_agent": {"id": "a", "allowed_tools": ["calculator"]},
}
TIER2_INPUT = {
    "query": "Is aspirin a blood thinner?",
    "response": "Aspirin thins the blood [1].",
    "rag_results": [
        {
            "id": "d1",
            "title": "Doc 1",
            "source": "t",
            "content": "Aspirin thins the blood.",
            "score": 1.0,
        }
    ],
    "generation": {"model": "local:extractive", "usage": None},
}
CONTRACT_KEYS = {
    "execution",
    "duration_ms",
    "total_tasks",
    "successful_tasks",
    "failed_tasks",
    "timed_out_tasks",
    "skipped_tasks",
    "tasks",
    "sequential_estimate_ms",
    "speedup_vs_sequential",
    "circuit_open_tasks",
}


async def run_tier1(fakes: Fakes, **settings: object) -> dict:
    return await build_tier1_graph().ainvoke(TIER1_INPUT, context=fake_context(fakes, **settings))


async def run_tier2(fakes: Fakes, **settings: object) -> dict:
    return await build_tier2_graph().ainvoke(TIER2_INPUT, context=fake_context(fakes, **settings))


def statuses(meta: dict) -> dict[str, str]:
    return {name: t["status"] for name, t in meta["tasks"].items()}


async def test_all_tier1_branches_succeed(fakes: Fakes) -> None:
    out = await run_tier1(fakes)
    meta = out["metadata"]["parallel_tier1"]
    assert set(meta) == CONTRACT_KEYS
    assert statuses(meta) == dict.fromkeys(TIER1, "ok")
    assert [d["id"] for d in out["rag_results"]] == ["d1", "d2"]
    assert out["suggested_tools"][0]["name"] == "calculator"
    assert out["memory"] == []
    assert meta["execution"] == "parallel"
    assert (meta["total_tasks"], meta["successful_tasks"]) == (3, 3)
    assert "tasks" not in out  # private to the tier


async def test_rag_disabled_is_skipped_not_failed(fakes: Fakes) -> None:
    out = await build_tier1_graph().ainvoke(
        {**TIER1_INPUT, "enable_rag": False}, context=fake_context(fakes)
    )
    meta = out["metadata"]["parallel_tier1"]
    assert statuses(meta)["rag_retrieval"] == "skipped"
    assert meta["skipped_tasks"] == 1 and meta["failed_tasks"] == 0
    assert "rag_results" not in out  # a skipped branch writes its task record only
    assert fakes.rag_retrieval.calls == 0


async def test_tools_disabled_is_skipped(fakes: Fakes) -> None:
    out = await build_tier1_graph().ainvoke(
        {**TIER1_INPUT, "enable_tools": False}, context=fake_context(fakes)
    )
    assert statuses(out["metadata"]["parallel_tier1"])["tool_suggestion"] == "skipped"
    assert "suggested_tools" not in out
    assert fakes.tool_suggestion.calls == 0


async def test_memory_without_user_is_skipped(fakes: Fakes) -> None:
    state = {k: v for k, v in TIER1_INPUT.items() if k != "user_id"}
    out = await build_tier1_graph().ainvoke(state, context=fake_context(fakes))
    assert statuses(out["metadata"]["parallel_tier1"])["memory_retrieval"] == "skipped"


@pytest.mark.parametrize("broken", TIER1)
async def test_one_failing_branch_keeps_the_others(fakes: Fakes, broken: str) -> None:
    getattr(fakes, broken).kind = "raise"
    with capture_events() as logs:
        out = await run_tier1(fakes)
    meta = out["metadata"]["parallel_tier1"]
    expected = dict.fromkeys(TIER1, "ok") | {broken: "failed"}
    assert statuses(meta) == expected
    assert "RuntimeError: service exploded" in meta["tasks"][broken]["error"]
    assert meta["failed_tasks"] == 1 and meta["successful_tasks"] == 2
    if broken != "rag_retrieval":
        assert len(out["rag_results"]) == 2
    failures = [e for e in logs if e["event"] == "parallel_branch_failed"]
    assert [(e["branch"], e["status"]) for e in failures] == [(broken, "failed")]


async def test_all_branches_failing_still_completes(fakes: Fakes) -> None:
    for name in TIER1:
        getattr(fakes, name).kind = "raise"
    out = await run_tier1(fakes)
    meta = out["metadata"]["parallel_tier1"]
    assert meta["failed_tasks"] == 3 and meta["successful_tasks"] == 0
    assert (out["rag_results"], out["suggested_tools"], out["memory"]) == ([], [], [])


@pytest.mark.parametrize("broken", TIER1)
async def test_garbage_result_gives_safe_default(fakes: Fakes, broken: str) -> None:
    getattr(fakes, broken).kind = "garbage"
    out = await run_tier1(fakes)
    meta = out["metadata"]["parallel_tier1"]
    assert statuses(meta)[broken] == "failed"
    key = {
        "rag_retrieval": "rag_results",
        "tool_suggestion": "suggested_tools",
        "memory_retrieval": "memory",
    }[broken]
    assert out[key] == []


async def test_hung_branch_ends_at_timeout_and_keeps_the_rest(fakes: Fakes) -> None:
    fakes.rag_retrieval.kind = "hang"
    started = time.perf_counter()
    out = await run_tier1(fakes, parallel_timeout_ms=200)
    elapsed_ms = (time.perf_counter() - started) * 1000
    meta = out["metadata"]["parallel_tier1"]
    assert statuses(meta) == {
        "rag_retrieval": "timed_out",
        "tool_suggestion": "ok",
        "memory_retrieval": "ok",
    }
    assert meta["timed_out_tasks"] == 1
    assert fakes.rag_retrieval.cancelled == 1  # the hung call was cancelled, not leaked
    assert out["suggested_tools"]  # the healthy sibling's result is kept
    assert 200 <= meta["duration_ms"] < 2000  # generous: a noisy shared machine
    assert elapsed_ms < 3000


async def test_parallel_wall_time_is_near_the_slowest_branch(fakes: Fakes) -> None:
    for name, delay in zip(TIER1, (0.15, 0.10, 0.05), strict=True):
        getattr(fakes, name).delay = delay
    meta = (await run_tier1(fakes))["metadata"]["parallel_tier1"]
    assert meta["sequential_estimate_ms"] >= 300
    assert 150 <= meta["duration_ms"] < meta["sequential_estimate_ms"]
    expected = meta["sequential_estimate_ms"] / meta["duration_ms"]
    assert meta["speedup_vs_sequential"] == pytest.approx(expected, rel=0.01)
    assert meta["speedup_vs_sequential"] > 1.2


async def test_sequential_runs_branches_one_after_another(fakes: Fakes) -> None:
    for name, delay in zip(TIER1, (0.06, 0.04, 0.02), strict=True):
        getattr(fakes, name).delay = delay
    par = await run_tier1(fakes)
    seq = await run_tier1(fakes, enable_parallel_tier1=False)
    pmeta, smeta = par["metadata"]["parallel_tier1"], seq["metadata"]["parallel_tier1"]
    assert smeta["execution"] == "sequential" and pmeta["execution"] == "parallel"
    assert set(smeta) == set(pmeta) and statuses(smeta) == statuses(pmeta)
    assert smeta["duration_ms"] >= 120  # the sum, not the max
    assert {k: v for k, v in seq.items() if k != "metadata"} == {
        k: v for k, v in par.items() if k != "metadata"
    }


async def test_tier2_success_and_partial_failure(fakes: Fakes) -> None:
    out = await run_tier2(fakes)
    meta = out["metadata"]["parallel_tier2"]
    assert statuses(meta) == dict.fromkeys(TIER2, "ok")
    assert out["quality_score"] == 0.75 and out["citations"][0]["supported"]
    fakes.quality_scoring.kind = "garbage"
    fakes.cost_tracking.kind = "hang"
    out = await run_tier2(fakes, parallel_timeout_ms=100)
    meta = out["metadata"]["parallel_tier2"]
    assert statuses(meta) == {
        "quality_scoring": "failed",
        "citation_extraction": "ok",
        "cost_tracking": "timed_out",
    }
    assert out["quality_score"] is None and out["quality_metrics"] == {}
    assert out["cost_data"] == {} and out["citations"][0]["document_id"] == "d1"


async def test_tier2_sequential(fakes: Fakes) -> None:
    out = await run_tier2(fakes, enable_parallel_tier2=False)
    assert out["metadata"]["parallel_tier2"]["execution"] == "sequential"
    assert out["metadata"]["parallel_tier2"]["successful_tasks"] == 3


async def test_fan_in_logs_one_event_with_the_metadata_figures(fakes: Fakes) -> None:
    with capture_events() as logs:
        out = await run_tier1(fakes)
    events = [e for e in logs if e["event"] == "parallel_retrieval_completed"]
    assert len(events) == 1
    meta = out["metadata"]["parallel_tier1"]
    for key in ("duration_ms", "total_tasks", "successful_tasks", "speedup_vs_sequential"):
        assert events[0][key] == meta[key]
    assert events[0]["tasks"] == statuses(meta)


async def test_progress_events_stream_before_the_fan_in(fakes: Fakes) -> None:
    events = []
    async for _ns, kind, data in build_tier1_graph().astream(
        TIER1_INPUT,
        context=fake_context(fakes),
        stream_mode=["custom", "updates"],
        subgraphs=True,
    ):
        events.append((kind, data))
    started = [d["branch"] for k, d in events if k == "custom" and d["event"] == "branch_started"]
    finished = [d for k, d in events if k == "custom" and d["event"] == "branch_finished"]
    assert sorted(started) == sorted(TIER1)
    assert {d["branch"]: d["status"] for d in finished} == dict.fromkeys(TIER1, "ok")
    fan_in_at = next(i for i, (k, d) in enumerate(events) if k == "updates" and "fan_in" in d)
    last_progress = max(i for i, (k, _) in enumerate(events) if k == "custom")
    assert last_progress < fan_in_at
