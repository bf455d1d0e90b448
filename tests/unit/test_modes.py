"""The four mode graphs end to end on the embedded offline defaults."""

from __future__ import annotations

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore
from langgraph.types import Command

from parallel_tiers import Context, build_mode_graph
from tests.conftest import TIER1, TIER2

STROKE = "What are the warning signs of a stroke?"


def assert_complete(out: dict) -> None:
    assert out["response"]
    for key in ("parallel_tier1", "parallel_tier2"):
        tier = out["metadata"][key]
        assert tier["total_tasks"] == 3
        assert tier["failed_tasks"] == tier["timed_out_tasks"] == 0
    assert set(out["metadata"]["parallel_tier1"]["tasks"]) == set(TIER1)
    assert set(out["metadata"]["parallel_tier2"]["tasks"]) == set(TIER2)


async def test_mode1_manual_answers_with_the_chosen_expert() -> None:
    out = await build_mode_graph(1).ainvoke({"query": STROKE, "agent_id": "neurology"})
    assert_complete(out)
    assert out["selected_agent"]["id"] == "neurology"
    assert out["selected_agent"]["selection"] == "manual"
    assert out["citations"] and all(c["supported"] for c in out["citations"])
    assert "[1]" in out["response"]
    assert 0.0 <= out["quality_score"] <= 1.0
    assert out["cost_data"]["total_tokens"] > 0
    assert out["metadata"]["mode"] == "manual"


async def test_mode2_automatic_picks_the_expert_and_runs_allowed_tools() -> None:
    out = await build_mode_graph(2).ainvoke({"query": STROKE})
    assert_complete(out)
    agent = out["selected_agent"]
    assert agent["id"] == "neurology" and agent["selection"] == "automatic"
    assert agent["reason"] and len(agent["ranking"]) >= 8
    out = await build_mode_graph(2).ainvoke(
        {"query": "How many pounds is 70 kg? I am on a kidney diet for diabetes."}
    )
    ran = {t["name"]: t for t in out["tool_results"]}
    assert "unit_converter" in ran and ran["unit_converter"]["status"] == "ok"
    assert "154" in ran["unit_converter"]["output"]
    assert all(t["name"] in out["selected_agent"]["allowed_tools"] for t in out["tool_results"])


async def test_manual_mode_runs_only_confirmed_tools() -> None:
    graph = build_mode_graph(1)
    query = "What is 12.5 * 4 + 3 milligrams in total for my warfarin dose?"
    base = {"query": query, "agent_id": "medicines_supplements"}
    none = await graph.ainvoke(base)
    assert any(s["name"] == "calculator" for s in none["suggested_tools"])
    assert "tool_results" not in none  # nothing confirmed: no tool ran, none is written
    confirmed = await graph.ainvoke({**base, "confirmed_tools": ["calculator"]})
    assert [t["name"] for t in confirmed["tool_results"]] == ["calculator"]
    assert confirmed["tool_results"][0]["output"].startswith("53")


async def test_manual_mode_interrupts_for_approval_with_a_checkpointer() -> None:
    graph = build_mode_graph(1, checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "approve-1"}}
    query = "What is 12.5 * 4 + 3 milligrams in total for my warfarin dose?"
    first = await graph.ainvoke({"query": query, "agent_id": "medicines_supplements"}, config)
    assert "__interrupt__" in first
    request = first["__interrupt__"][0].value
    assert request["type"] == "tool_approval"
    assert [s["name"] for s in request["suggested_tools"]] == ["calculator"]
    out = await graph.ainvoke(Command(resume=["calculator"]), config)
    assert [t["name"] for t in out["tool_results"]] == ["calculator"]
    assert out["response"]


@pytest.mark.parametrize("mode", [3, 4])
async def test_chat_modes_keep_history_across_turns(mode: int) -> None:
    store = InMemoryStore()
    graph = build_mode_graph(mode, checkpointer=InMemorySaver(), store=store)
    config = {"configurable": {"thread_id": f"chat-{mode}"}}
    base = {"user_id": "ann", "tenant_id": "clinic-a"}
    if mode == 3:
        base["agent_id"] = "neurology"
    first = await graph.ainvoke({**base, "query": STROKE}, config)
    assert_complete(first)
    second = await graph.ainvoke({**base, "query": "How is it treated?"}, config)
    assert_complete(second)
    assert [m.type for m in second["messages"]] == ["human", "ai", "human", "ai"]
    # the follow-up is resolved against the earlier question
    assert any("stroke" in d["content"].lower() for d in second["rag_results"])
    assert second["selected_agent"]["id"] == "neurology"
    # the first turn was saved to memory under the tenant and user
    saved = await store.asearch(("memories", "clinic-a", "ann"))
    assert len(saved) == 2
    assert second["metadata"]["parallel_tier1"]["tasks"]["memory_retrieval"]["status"] == "ok"


async def test_both_tiers_sequential_by_context() -> None:
    ctx = Context(enable_parallel_tier1=False, enable_parallel_tier2=False)
    out = await build_mode_graph(2).ainvoke({"query": STROKE}, context=ctx)
    assert out["metadata"]["parallel_tier1"]["execution"] == "sequential"
    assert out["metadata"]["parallel_tier2"]["execution"] == "sequential"
    assert out["metadata"]["settings"]["enable_parallel_tier1"] is False
    par = await build_mode_graph(2).ainvoke({"query": STROKE})
    for key in ("response", "rag_results", "citations", "quality_score", "selected_agent"):
        assert out[key] == par[key]


async def test_generation_failure_gives_a_plain_error_and_still_prices() -> None:
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel

    class Broken(GenericFakeChatModel):
        async def _agenerate(self, *args: object, **kwargs: object):  # type: ignore[override]
            raise ConnectionError("provider down")

    out = await build_mode_graph(2).ainvoke(
        {"query": STROKE}, context=Context(model=Broken(messages=iter([])))
    )
    assert out["error_code"] == "generation_failed"
    assert "ConnectionError" in out["error"] and "no answer could be generated" in out["response"]
    assert out["cost_data"]["input_tokens"] > 0
    assert out["metadata"]["parallel_tier2"]["total_tasks"] == 3


@pytest.mark.parametrize("mode", [1, 2, 3, 4])
def test_studio_shows_all_six_branches(mode: int) -> None:
    nodes = set(build_mode_graph(mode).get_graph(xray=True).nodes)
    for branch in TIER1:
        assert f"tier1:{branch}" in nodes
    for branch in TIER2:
        assert f"tier2:{branch}" in nodes


@pytest.mark.parametrize("mode", [1, 2, 3, 4])
def test_topology_snapshot(mode: int, snapshot: object) -> None:
    graph = build_mode_graph(mode).get_graph(xray=True)
    assert graph.draw_mermaid(with_styles=False) == snapshot


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="mode: unknown mode 7"):
        build_mode_graph(7)


async def test_generation_tokens_stream_on_messages_mode() -> None:
    chunks = []
    async for chunk, meta in build_mode_graph(2).astream({"query": STROKE}, stream_mode="messages"):
        if meta.get("langgraph_node") == "generate":
            chunks.append(chunk.content)
    assert len(chunks) > 5  # word by word, not one block
    assert "[1]" in "".join(chunks)
