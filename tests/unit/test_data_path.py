"""One way through the data (issue 12): the expert is chosen from what tier 1 retrieved.

Tier 1 runs first and its passages are the routing evidence, so no service is asked twice
for the same thing, and any retriever (not only the embedded index) informs the choice.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from parallel_tiers import Context, build_mode_graph
from parallel_tiers.services.retrieval import BM25Retriever, demo_records

QUESTION = "What are the symptoms of spinocerebellar ataxia 34?"  # names no domain term


class GardRetriever(BaseRetriever):
    """A retriever (not the embedded index) whose passages come from GARD; counts calls."""

    calls: list[str] = []

    def _get_relevant_documents(self, query: str, *, run_manager: Any) -> list[Document]:
        raise NotImplementedError

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        self.calls.append(query)
        text = "Spinocerebellar ataxia 34 causes problems with balance and coordination."
        meta = {"id": "GARD_1_Sec1", "title": "Spinocerebellar ataxia 34", "source": "GARD"}
        return [Document(page_content=text, metadata=meta)]


class CountingIndex(BM25Retriever):
    """The embedded index, counting its searches."""

    searches: int = 0

    def search(self, query: str, k: int | None = None) -> list[Document]:
        CountingIndex.searches += 1
        return super().search(query, k)


async def test_any_retriever_informs_the_expert_choice_without_a_second_search() -> None:
    retriever = GardRetriever(calls=[])
    out = await build_mode_graph(2).ainvoke(
        {"query": QUESTION}, context=Context(retriever=retriever)
    )
    assert retriever.calls == [QUESTION], "one retrieval, by tier 1"
    assert out["selected_agent"]["id"] == "genetics_rare_diseases", out["selected_agent"]
    assert "GARD" in out["selected_agent"]["reason"]


async def test_the_embedded_index_is_searched_once_a_run() -> None:
    index = CountingIndex.from_records(demo_records())
    CountingIndex.searches = 0
    await build_mode_graph(2).ainvoke(
        {"query": "How is asthma treated?"}, context=Context(retriever=index)
    )
    assert CountingIndex.searches == 1


async def test_without_retrieval_the_expert_is_chosen_from_the_question_alone() -> None:
    retriever = GardRetriever(calls=[])
    out = await build_mode_graph(2).ainvoke(
        {"query": QUESTION, "enable_rag": False}, context=Context(retriever=retriever)
    )
    assert retriever.calls == []
    assert out["selected_agent"]["selection"] == "automatic"
