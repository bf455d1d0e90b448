"""Single-turn runs write their checkpoint when they end (`threads.DURABILITY`, issue 13).

A tool-approval pause is saved and resumes; a single-turn run that never finishes leaves no
checkpoint of itself; chat turns keep a checkpoint per step (their memory must never get ahead
of the thread) and a stalled one leaves whole turns; a run that passes `durability=` keeps it.
"""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.store.memory import InMemoryStore
from langgraph.types import Command

from parallel_tiers import build_mode_graph
from parallel_tiers.threads import DURABILITY, ThreadLockedGraph

DOSE = "What is 12.5 * 4 + 3 milligrams in total for my warfarin dose?"
STROKE = "What are the warning signs of a stroke?"


async def checkpoints(saver: Any, thread: str) -> int:
    """Checkpoints of the thread's top graph."""
    config = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
    return len([c async for c in saver.alist(config)])


def test_the_default_is_exit_and_a_wrong_one_is_refused() -> None:
    graph = build_mode_graph(2)
    assert DURABILITY == "exit" and isinstance(graph, ThreadLockedGraph)
    assert graph.durability == "exit" and build_mode_graph(1).durability == "exit"
    assert build_mode_graph(3).durability == build_mode_graph(4).durability == "async"
    assert ThreadLockedGraph.of(graph, durability="sync").durability == "sync"
    with pytest.raises(ValueError, match="durability"):
        ThreadLockedGraph.of(graph, durability="often")  # type: ignore[arg-type]


async def test_a_run_writes_its_checkpoint_once_unless_it_asks_otherwise() -> None:
    saver = InMemorySaver()
    graph = build_mode_graph(2, checkpointer=saver)
    question = {"query": STROKE}
    await graph.ainvoke(question, {"configurable": {"thread_id": "exit"}})
    await graph.ainvoke(question, {"configurable": {"thread_id": "async"}}, durability="async")
    assert await checkpoints(saver, "exit") == 1
    assert await checkpoints(saver, "async") > 5  # one per step


async def test_no_checkpointer_no_durability_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = await build_mode_graph(2).ainvoke({"query": STROKE})
    assert out["response"]


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
async def test_tool_approval_pause_resumes_with_exit_durability(
    backend: str, tmp_path: Path
) -> None:
    async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "t.sqlite")) as sqlite:
        saver = sqlite if backend == "sqlite" else InMemorySaver()
        graph = build_mode_graph(1, checkpointer=saver)
        config = {"configurable": {"thread_id": "approve"}}
        first = await graph.ainvoke({"query": DOSE, "agent_id": "medicines_supplements"}, config)
        assert first["__interrupt__"][0].value["type"] == "tool_approval"
        state = await graph.aget_state(config)
        assert state.next and state.interrupts  # the pause is saved
        # a new graph object (as a new process would build) resumes the saved pause
        again = build_mode_graph(1, checkpointer=saver)
        out = await again.ainvoke(Command(resume=["calculator"]), config)
        assert [t["name"] for t in out["tool_results"]] == ["calculator"]
        assert out["tool_results"][0]["output"].startswith("53")
        assert out["response"]
        assert not (await again.aget_state(config)).next


async def stall(graph: Any, inputs: dict[str, Any], config: Any) -> None:
    """Start a run and stop it in its first steps, as a crash would (a cancelled run still
    writes its exit checkpoint, so the run is left hanging, then cancelled)."""
    started = asyncio.Event()

    async def stalled() -> None:
        async for _ in graph.astream(inputs, config):
            started.set()
            await asyncio.sleep(3600)

    task = asyncio.create_task(stalled())
    await asyncio.wait_for(started.wait(), 10)
    await asyncio.sleep(0.05)  # the step's checkpoint, if any, is written meanwhile
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_single_turn_run_that_never_finishes_writes_no_checkpoint() -> None:
    saver = InMemorySaver()
    graph = build_mode_graph(2, checkpointer=saver)
    config = {"configurable": {"thread_id": "single"}}
    await graph.ainvoke({"query": STROKE}, config)
    saved = await checkpoints(saver, "single")
    started = asyncio.Event()

    async def stalled() -> None:
        async for _ in graph.astream({"query": "How is asthma treated?"}, config):
            started.set()
            await asyncio.sleep(3600)

    task = asyncio.create_task(stalled())
    await asyncio.wait_for(started.wait(), 10)
    assert await checkpoints(saver, "single") == saved  # nothing of the run in flight
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    again = await graph.ainvoke({"query": "How is asthma treated?"}, config)
    assert again["response"] and not (await graph.aget_state(config)).next


async def test_a_chat_turn_that_never_finishes_leaves_whole_turns() -> None:
    saver, store = InMemorySaver(), InMemoryStore()
    graph = build_mode_graph(4, checkpointer=saver, store=store)
    config = {"configurable": {"thread_id": "chat"}}
    base = {"user_id": "ann", "tenant_id": "clinic-a"}
    first = await graph.ainvoke({**base, "query": STROKE}, config)
    saved = await checkpoints(saver, "chat")
    await stall(graph, {**base, "query": "How is it treated?"}, config)
    assert await checkpoints(saver, "chat") > saved, "a chat turn is checkpointed step by step"
    third = await graph.ainvoke({**base, "query": "How is it treated?"}, config)
    assert [m.type for m in third["messages"]] == ["human", "ai", "human", "ai"]
    assert third["messages"][0].content == first["messages"][0].content
    assert not (await graph.aget_state(config)).next
