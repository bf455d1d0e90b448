"""Every call the package makes has a time limit and a safe outcome (issue 9).

A model that never answers, a store that hangs or fails, a history of a megabyte and a
calculation that would hold the GIL for minutes: each run still ends, keeps what it computed,
and says what happened.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from parallel_tiers import Context, build_mode_graph
from parallel_tiers.resilience import Resilience
from parallel_tiers.state import MAX_MESSAGE_CHARS
from tests.integration.conftest import ROOT

HANG_S = 3600.0


class SilentModel(BaseChatModel):
    """A chat model that never answers."""

    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "silent"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        raise NotImplementedError

    async def _agenerate(
        self, messages: list[BaseMessage], stop: Any = None, **kw: Any
    ) -> ChatResult:
        self.calls += 1
        await asyncio.sleep(HANG_S)
        raise AssertionError("unreachable")


class RecordingModel(BaseChatModel):
    """Answers "ok" and keeps the messages it was sent."""

    seen: list[list[BaseMessage]] = []

    @property
    def _llm_type(self) -> str:
        return "recording"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        self.seen.append(list(messages))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content="ok\x00 [1]."))])


class BrokenStore(InMemoryStore):
    """A store whose writes hang or raise; reads work."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    async def aput(self, *args: Any, **kwargs: Any) -> None:
        if self.kind == "hang":
            await asyncio.sleep(HANG_S)
        raise ConnectionError("store is down")


def context(**settings: Any) -> Context:
    settings.setdefault("resilience", Resilience())
    return Context(**settings)


async def test_a_model_that_never_answers_times_out_and_the_run_finishes() -> None:
    model = SilentModel()
    start = time.perf_counter()
    out = await build_mode_graph(2).ainvoke(
        {"query": "What are the warning signs of a stroke?"},
        context=context(model=model, generation_timeout_ms=300, generation_retries=3),
    )
    elapsed = time.perf_counter() - start
    assert out["error_code"] == "generation_timed_out"
    assert "did not answer in time" in out["response"]
    assert out["rag_results"], "retrieval done before generation is kept"
    assert out["metadata"]["generation"]["status"] == "timed_out"
    assert out["metadata"]["parallel_tier2"]["total_tasks"] == 3  # tier 2 still ran
    assert model.calls == 1, "retries share the one time limit"
    assert elapsed < 10


@pytest.mark.parametrize("kind", ["hang", "raise"])
async def test_a_store_that_hangs_or_fails_costs_the_turn_its_memory_not_its_answer(
    kind: str,
) -> None:
    saver = InMemorySaver()
    graph = build_mode_graph(4, checkpointer=saver, store=BrokenStore(kind))
    config = {"configurable": {"thread_id": f"t-{kind}"}}
    start = time.perf_counter()
    out = await graph.ainvoke(
        {"query": "What is asthma?", "user_id": "ann"},
        config=config,
        context=context(store_timeout_ms=300),
    )
    assert time.perf_counter() - start < 10
    assert "asthma" in out["response"].lower()
    saved = out["metadata"]["save_turn"]
    assert saved["status"] == ("timed_out" if kind == "hang" else "failed")
    assert saved["error"]
    state = await graph.aget_state(config)
    assert state.next == (), "the thread is never left at a pending node"
    assert [m.type for m in state.values["messages"]] == ["human", "ai"]
    # The next turn goes on as usual.
    second = await graph.ainvoke(
        {"query": "How is asthma treated?", "user_id": "ann"},
        config=config,
        context=context(store_timeout_ms=300),
    )
    assert len(second["messages"]) == 4


async def test_a_saved_turn_is_recorded() -> None:
    graph = build_mode_graph(4, checkpointer=InMemorySaver(), store=InMemoryStore())
    out = await graph.ainvoke(
        {"query": "What is asthma?", "user_id": "ann"},
        config={"configurable": {"thread_id": "ok"}},
    )
    assert out["metadata"]["save_turn"]["status"] == "ok"


async def test_a_megabyte_history_is_cut_before_the_model_and_the_thread() -> None:
    model = RecordingModel(seen=[])
    history = []
    for i in range(40):
        history += [
            {"role": "user", "content": f"question {i} " + "x" * 25_000},
            {"role": "assistant", "content": f"answer {i}\x00 " + "y" * 1_000},
        ]
    graph = build_mode_graph(4, checkpointer=InMemorySaver())
    out = await graph.ainvoke(
        {"query": "What is asthma?", "messages": history},
        config={"configurable": {"thread_id": "big"}},
        context=context(model=model, max_history_tokens=2_000),
    )
    sent = model.seen[-1]
    sent_chars = sum(len(str(m.content)) for m in sent)
    assert sent_chars < 40_000, "the model sees the last max_history_tokens, not a megabyte"
    assert out["cost_data"]["input_tokens"] < 12_000
    generation = out["metadata"]["generation"]
    assert generation["history_left_out"] > 70
    assert all("\x00" not in str(m.content) for m in out["messages"])
    assert all(len(str(m.content)) <= MAX_MESSAGE_CHARS for m in out["messages"])
    assert "\x00" not in out["response"]


async def test_an_empty_history_budget_sends_no_history() -> None:
    model = RecordingModel(seen=[])
    graph = build_mode_graph(4, checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "nohist"}}
    ctx = context(model=model, max_history_tokens=0)
    await graph.ainvoke({"query": "What is asthma?"}, config=config, context=ctx)
    await graph.ainvoke({"query": "How is it treated?"}, config=config, context=ctx)
    assert [m.type for m in model.seen[-1]] == ["system", "human"]


FREEZERS = [
    "round(1, -10**8)",
    "round(1.5, 10**9)",
    "9**999 * 9**999 * 9**999 * 9**999",
    "-" * 60 + "1",  # nested 60 deep: the evaluator recurses once per level
]


@pytest.mark.parametrize("expression", FREEZERS)
def test_the_calculator_refuses_what_would_hold_the_process(expression: str) -> None:
    # In a child process: before the bounds, round(1, -10**8) held the GIL for minutes.
    code = (
        "from parallel_tiers.services.tools import calculate\n"
        "try:\n"
        f"    print(calculate({expression!r})[:40])\n"
        "except ValueError as exc:\n"
        "    print('refused:', exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert done.stdout.startswith("refused:"), done.stdout


async def test_mode2_answers_the_round_question_with_a_tool_error() -> None:
    out = await build_mode_graph(2).ainvoke(
        {"query": "What is round(1, -10**8) mg of warfarin?"}, context=context()
    )
    calls = [t for t in out["tool_results"] if t["name"] == "calculator"]
    assert calls and calls[0]["status"] == "failed"
    assert "digits is limited" in calls[0]["error"]
