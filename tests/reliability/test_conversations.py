"""Chat turns hold together: each turn's inputs are its own, a turn is saved whole (issue 11)."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from parallel_tiers import build_mode_graph

WARFARIN = "What is 12.5 * 4 + 3 milligrams in total for my warfarin dose?"
ARITHMETIC = "What is 9 * 3 milligrams of warfarin?"
MEDICINES = "medicines_supplements"


def thread(name: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": name}}


def tools_run(out: dict[str, Any]) -> list[str]:
    return [t["name"] for t in out.get("tool_results") or []]


async def test_consent_to_run_a_tool_is_never_inherited_by_the_next_turn() -> None:
    graph = build_mode_graph(3, checkpointer=InMemorySaver())
    config = thread("consent")
    first = await graph.ainvoke(
        {"query": WARFARIN, "agent_id": MEDICINES, "confirmed_tools": ["calculator"]}, config
    )
    assert tools_run(first) == ["calculator"]
    second = await graph.ainvoke({"query": ARITHMETIC}, config)  # no confirmed_tools
    state = await graph.aget_state(config)
    assert state.next == ("approve_tools",), "turn 2 asks for approval again"
    assert "__interrupt__" in second and not second.get("tool_results")
    resumed = await graph.ainvoke(Command(resume=[]), config)  # the user allows nothing
    assert tools_run(resumed) == []
    assert "27" not in resumed["response"]


async def test_without_a_checkpointer_an_unconfirmed_turn_runs_no_tools() -> None:
    out = await build_mode_graph(1).ainvoke({"query": WARFARIN, "agent_id": MEDICINES})
    assert tools_run(out) == []


@pytest.mark.parametrize(
    ("first_turn", "check"),
    [
        (
            {"enable_rag": False},
            lambda out: (
                out["metadata"]["parallel_tier1"]["tasks"]["rag_retrieval"]["status"] == "ok"
            ),
        ),
        (
            {"enable_tools": False},
            lambda out: (
                out["metadata"]["parallel_tier1"]["tasks"]["tool_suggestion"]["status"] == "ok"
            ),
        ),
        ({"priority": "low"}, lambda out: out["metadata"]["turn"]["priority"] == "normal"),
    ],
    ids=["enable_rag", "enable_tools", "priority"],
)
async def test_switches_apply_to_their_own_turn_only(
    first_turn: dict[str, Any], check: Any
) -> None:
    graph = build_mode_graph(4, checkpointer=InMemorySaver())
    config = thread(f"switch-{next(iter(first_turn))}")
    first = await graph.ainvoke({"query": "What is asthma?", **first_turn}, config)
    assert first["metadata"]["turn"][next(iter(first_turn))] == next(iter(first_turn.values()))
    second = await graph.ainvoke({"query": "How is asthma treated?"}, config)
    assert check(second)


async def test_a_manual_chat_keeps_its_expert_and_the_thread_keeps_the_user() -> None:
    graph = build_mode_graph(3, checkpointer=InMemorySaver())
    config = thread("expert")
    await graph.ainvoke(
        {"query": "What is a stroke?", "agent_id": "neurology", "user_id": "ann"}, config
    )
    second = await graph.ainvoke({"query": "What are its warning signs?"}, config)
    assert second["selected_agent"]["id"] == "neurology"
    assert second["user_id"] == "ann"


async def test_a_turn_joins_the_thread_whole_question_and_answer_together() -> None:
    graph = build_mode_graph(3, checkpointer=InMemorySaver())
    config = thread("whole")
    await graph.ainvoke({"query": "What is asthma?", "agent_id": MEDICINES}, config)
    await graph.ainvoke({"query": WARFARIN}, config)  # pauses for tool approval
    paused = await graph.aget_state(config)
    assert paused.next == ("approve_tools",)
    assert [m.type for m in paused.values["messages"]] == ["human", "ai"]  # no half turn
    await graph.ainvoke(Command(resume=["calculator"]), config)
    done = await graph.aget_state(config)
    contents = [m.content for m in done.values["messages"]]
    assert [m.type for m in done.values["messages"]] == ["human", "ai", "human", "ai"]
    assert contents[2] == WARFARIN and "53" in contents[3]
