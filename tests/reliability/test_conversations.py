"""Chat turns hold together: each turn's inputs are its own, a turn is saved whole, follow-ups
stay on the conversation's topic and recalled memories reach the answer (issue 11)."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore
from langgraph.types import Command

from parallel_tiers import Context, build_mode_graph
from parallel_tiers.services.generation import MEMORY_HEADER, MEMORY_INSTRUCTION
from parallel_tiers.services.memory import StoreMemory
from tests.reliability.test_bounded_calls import RecordingModel

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
    assert state.next == ("generate",), "turn 2 asks for approval again"
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
    assert paused.next == ("generate",)
    assert [m.type for m in paused.values["messages"]] == ["human", "ai"]  # no half turn
    await graph.ainvoke(Command(resume=["calculator"]), config)
    done = await graph.aget_state(config)
    contents = [m.content for m in done.values["messages"]]
    assert [m.type for m in done.values["messages"]] == ["human", "ai", "human", "ai"]
    assert contents[2] == WARFARIN and "53" in contents[3]


# ------------------------------------------------------------------ answers that follow the thread

OFF_TOPIC = ("iron", "urinary", "thyroid")


def cited(out: dict[str, Any]) -> set[str]:
    return {str(c["document_id"]) for c in out["citations"]}


async def test_a_pronoun_follow_up_is_answered_about_the_conversation_topic() -> None:
    graph = build_mode_graph(4, checkpointer=InMemorySaver())
    config = thread("follow-up")
    await graph.ainvoke({"query": "What is asthma?"}, config)
    out = await graph.ainvoke({"query": "How is it treated?"}, config)
    assert not any(word in out["response"].lower() for word in OFF_TOPIC), out["response"]
    assert out["citations"] and cited(out) == {"hlb-005"}, "quotes the asthma passage only"
    assert out["rag_results"][0]["id"] == "hlb-005"
    assert out["metadata"]["retrieval"]["topic"] == "asthma"
    assert out["metadata"]["generation"]["topic"] == "asthma"


async def test_a_follow_up_reaches_a_real_model_with_its_topic_and_history() -> None:
    model = RecordingModel(seen=[])
    graph = build_mode_graph(4, checkpointer=InMemorySaver())
    config = thread("follow-up-model")
    await graph.ainvoke({"query": "What is asthma?"}, config, context=Context(model=model))
    await graph.ainvoke({"query": "How is it treated?"}, config, context=Context(model=model))
    sent = model.seen[-1]
    assert [m.type for m in sent] == ["system", "human", "ai", "human"]
    assert sent[1].content == "What is asthma?", "the thread's history"
    prompt = str(sent[-1].content)
    assert "Conversation topic: asthma\n\nQuestion: How is it treated?" in prompt
    assert "[1] Asthma" in prompt, "the asthma passage is source 1"


@pytest.mark.parametrize(
    ("first", "switch", "expected"),
    [
        ("What is Parkinson's disease and how is Parkinson's disease treated?", "What is epilepsy?",
         "neu-003"),
        ("What is type 2 diabetes and how is type 2 diabetes treated?", "What about statins?",
         "med-007"),
    ],
    ids=["epilepsy", "statins"],
)  # fmt: skip
async def test_a_turn_that_switches_topic_is_answered_on_the_new_topic(
    first: str, switch: str, expected: str
) -> None:
    graph = build_mode_graph(4, checkpointer=InMemorySaver())
    config = thread(f"switch-topic-{expected}")
    await graph.ainvoke({"query": first}, config)
    out = await graph.ainvoke({"query": switch}, config)
    assert out["rag_results"][0]["id"] == expected, "the earlier topic does not crowd it out"
    assert cited(out) == {expected}
    assert out["metadata"]["retrieval"] == {"search": switch, "topic": None, "follow_up": False}
    # and a pronoun follow-up after the switch follows the new topic
    after = await graph.ainvoke({"query": "How is it treated?"}, config)
    assert after["rag_results"][0]["id"] == expected
    assert cited(after) == {expected}


async def test_a_question_about_something_unknown_borrows_no_earlier_topic() -> None:
    graph = build_mode_graph(4, checkpointer=InMemorySaver())
    config = thread("unknown")
    await graph.ainvoke({"query": "What is asthma?"}, config)
    out = await graph.ainvoke({"query": "How is gout treated?"}, config)  # not in the demo base
    assert not cited(out) & {"hlb-005"}, "not answered about asthma"
    assert out["metadata"]["retrieval"]["topic"] is None


# ----------------------------------------------------------------------------- memory that is used

MOTHER = "My mother has type 2 diabetes."
EAT = "What should my mother eat?"


async def remember(store: InMemoryStore, user: str) -> str:
    return await StoreMemory().asave_turn(
        store, tenant_id=None, user_id=user, query=MOTHER, response="Noted [1]."
    )


async def test_recalled_memory_reaches_the_prompt_of_a_real_model() -> None:
    store, model = InMemoryStore(), RecordingModel(seen=[])
    key = await remember(store, "ann")
    graph = build_mode_graph(4, checkpointer=InMemorySaver(), store=store)
    out = await graph.ainvoke(
        {"query": EAT, "user_id": "ann"}, thread("memory-model"), context=Context(model=model)
    )
    assert [m["key"] for m in out["memory"]] == [key]
    system, prompt = str(model.seen[-1][0].content), str(model.seen[-1][-1].content)
    assert MEMORY_INSTRUCTION in system
    assert f"{MEMORY_HEADER}\n- (1) User: {MOTHER} | Assistant: Noted.\n\nQuestion: {EAT}" in prompt
    assert out["metadata"]["generation"]["memory_used"] == [key]


async def test_the_offline_answer_draws_on_a_recalled_memory() -> None:
    store = InMemoryStore()
    graph = build_mode_graph(4, checkpointer=InMemorySaver(), store=store)
    # One conversation tells the assistant; a later one, on another thread, relies on it.
    told = await graph.ainvoke({"query": MOTHER, "user_id": "bob"}, thread("told"))
    assert told["metadata"]["save_turn"]["status"] == "ok"
    out = await graph.ainvoke({"query": EAT, "user_id": "bob"}, thread("asked"))
    remembered = [m["key"] for m in out["memory"] if m["query"] == MOTHER]
    assert remembered, "the memory is recalled"
    assert out["citations"] and cited(out) == {"dke-002"}, out["response"]  # type 2 diabetes
    assert "eating" in out["response"].lower()
    assert out["metadata"]["generation"]["memory_used"] == remembered
    # Without the memory, the same question is answered from whatever mentions eating.
    alone = await graph.ainvoke({"query": EAT, "user_id": "carol"}, thread("alone"))
    assert alone["metadata"]["generation"]["memory_used"] == []
    assert cited(alone) != {"dke-002"}


async def test_memory_of_turns_already_in_the_history_is_not_repeated() -> None:
    store, model = InMemoryStore(), RecordingModel(seen=[])
    graph = build_mode_graph(4, checkpointer=InMemorySaver(), store=store)
    config, ctx = thread("no-repeat"), Context(model=model)
    await graph.ainvoke({"query": MOTHER, "user_id": "dan"}, config, context=ctx)
    out = await graph.ainvoke({"query": EAT, "user_id": "dan"}, config, context=ctx)
    assert out["memory"], "the first turn is recalled"
    assert MEMORY_HEADER not in str(model.seen[-1][-1].content), "it is in the history already"
    assert out["metadata"]["generation"]["memory_used"] == []
