"""Tier 1, retrieval: `rag_retrieval`, `tool_suggestion` and `memory_retrieval`, in parallel."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from parallel_tiers.context import Context
from parallel_tiers.services.conversation import (
    TOPIC_TITLES,
    Resolution,
    TitleSearch,
    earlier_questions,
    resolve_topic,
)
from parallel_tiers.services.questions import QuestionTypes
from parallel_tiers.services.retrieval import BM25Retriever, documents_to_results
from parallel_tiers.state import Tier1Output, Tier1State, turn_input
from parallel_tiers.tiers.branch import Branch, expect_list_of_dicts
from parallel_tiers.tiers.builder import Tier, build_tier_graph


def resolve_search(
    state: Mapping[str, Any], retriever: Any = None, questions: QuestionTypes | None = None
) -> Resolution:
    """What to search with for the question: the question, or in a chat, its resolution.

    A chat question is resolved against the thread's earlier questions
    (`conversation.resolve_topic`): "How is it treated?" after "What is asthma?" searches with
    "How is it treated? asthma", while "What causes gout?" after it searches as it is. Whether
    a question names a topic is read from the titles `retriever` ranks first for it when it
    is the embedded BM25 index (well under a millisecond a search), from its words otherwise.
    `questions` are the run's profile's question types (None: the default profile's).
    """
    query = str(state.get("query") or "")
    earlier = earlier_questions(state)
    if not earlier:
        return Resolution(search=query)
    return resolve_topic(query, earlier, _title_search(retriever), questions)


def _title_search(retriever: Any) -> TitleSearch:
    if not isinstance(retriever, BM25Retriever):
        return lambda text: None
    return lambda text: [
        str(d.metadata.get("title") or "") for d in retriever.search(text, TOPIC_TITLES)
    ]


async def rag_retrieval(
    state: Mapping[str, Any], ctx: Context, runtime: Runtime[Context]
) -> dict[str, Any]:
    """Retrieve passages for the question, resolved in a chat (`resolve_search`).

    `metadata["retrieval"]` records the resolution: the text searched with, the topic carried
    over from earlier questions (None when the question stands alone) and whether the
    question is a follow-up. Generation reads the topic from there.
    """
    retriever = ctx.services.retriever
    resolution = resolve_search(state, retriever, ctx.services.profile.questions)
    if isinstance(retriever, BM25Retriever):
        docs = await retriever.ainvoke(resolution.search, k=ctx.retrieval_k)
    else:
        docs = (await retriever.ainvoke(resolution.search))[: ctx.retrieval_k]
    return {
        "rag_results": documents_to_results(docs),
        "metadata": {"retrieval": resolution.as_metadata()},
    }


async def tool_suggestion(
    state: Mapping[str, Any], ctx: Context, runtime: Runtime[Context]
) -> dict[str, Any]:
    """Rank the run's tools against the question.

    Every tool is ranked: the expert is chosen after this tier, from what it retrieved, and
    `generate` keeps the suggestions the expert allows (`modes.nodes.approve_tools`).
    """
    services = ctx.services
    suggestions = await services.tool_suggester.asuggest(
        str(state.get("query") or ""), list(services.tools.values())
    )
    return {"suggested_tools": list(suggestions)}


async def memory_retrieval(
    state: Mapping[str, Any], ctx: Context, runtime: Runtime[Context]
) -> dict[str, Any]:
    """Read the user's memories relevant to the question (tenant and user namespace)."""
    store = ctx.memory_store_for(runtime)
    found = await ctx.services.memory.asearch(
        store,
        tenant_id=state.get("tenant_id"),
        user_id=str(state["user_id"]),
        query=str(state.get("query") or ""),
    )
    return {"memory": list(found)}


def _rag_off(state: Mapping[str, Any]) -> str | None:
    return "enable_rag is False" if turn_input(state, "enable_rag") is False else None


def _tools_off(state: Mapping[str, Any]) -> str | None:
    return "enable_tools is False" if turn_input(state, "enable_tools") is False else None


def _no_user(state: Mapping[str, Any]) -> str | None:
    return None if state.get("user_id") else "no user_id: memory is per user"


TIER1 = Tier(
    name="parallel_tier1",
    branches=(
        Branch(
            name="rag_retrieval",
            run=rag_retrieval,
            # a turn without retrieval carries no topic resolved for an earlier one
            default={"rag_results": [], "metadata": {"retrieval": {}}},
            check=expect_list_of_dicts("rag_results", ("id", "title", "content", "score")),
            service="retriever",
            skip_if=_rag_off,
        ),
        Branch(
            name="tool_suggestion",
            run=tool_suggestion,
            default={"suggested_tools": []},
            check=expect_list_of_dicts("suggested_tools", ("name",)),
            service="tool_suggester",
            skip_if=_tools_off,
        ),
        Branch(
            name="memory_retrieval",
            run=memory_retrieval,
            default={"memory": []},
            check=expect_list_of_dicts("memory"),
            service="memory_store",
            skip_if=_no_user,
        ),
    ),
    parallel_setting="enable_parallel_tier1",
    log_event="parallel_retrieval_completed",
    state_schema=Tier1State,
    output_schema=Tier1Output,
)


def build_tier1_graph() -> CompiledStateGraph[Any, Any, Any, Any]:
    """The retrieval tier as a compiled fan-out/fan-in subgraph."""
    return build_tier_graph(TIER1)
