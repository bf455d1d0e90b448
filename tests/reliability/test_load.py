"""Load: many concurrent runs with distinct queries, no cross-talk, nothing left behind."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import re
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.retrievers import BaseRetriever

from parallel_tiers import Context, build_mode_graph, build_tier1_graph
from parallel_tiers.metrics import TierMetrics
from parallel_tiers.resilience import Resilience

TAG = re.compile(r"request-(\d+)")


class EchoRetriever(BaseRetriever):
    """Returns one passage naming the request it was asked for, after a short wait."""

    delay_s: float = 0.02

    def _get_relevant_documents(self, query: str, *, run_manager: Any) -> list[Document]:
        raise NotImplementedError

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        await asyncio.sleep(self.delay_s)
        tag = TAG.search(query)
        return [
            Document(
                page_content=f"Passage for {tag.group(0) if tag else '?'}.",
                metadata={"id": tag.group(0) if tag else "?", "title": "t", "score": 1.0},
            )
        ]


class EchoModel(BaseChatModel):
    """Answers with the request tag found in its prompt's question."""

    @property
    def _llm_type(self) -> str:
        return "echo"

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        question = str(messages[-1].content).rsplit("Question:", 1)[-1]
        tag = TAG.search(question)
        text = f"Answer for {tag.group(0) if tag else '?'} [1]."
        usage = {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}
        message = AIMessage(content=text, usage_metadata=usage)  # type: ignore[arg-type]
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _agenerate(self, *args: Any, **kwargs: Any) -> ChatResult:
        return self._generate(*args, **kwargs)


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    import os

    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def pending_tasks() -> int:
    current = asyncio.current_task()
    return sum(1 for t in asyncio.all_tasks() if t is not current and not t.done())


async def test_1000_concurrent_runs_each_answer_their_own_query(quiet_logs: None) -> None:
    ctx = Context(
        retriever=EchoRetriever(), model=EchoModel(), resilience=Resilience(), metrics=TierMetrics()
    )
    graph = build_mode_graph(2)
    results = await asyncio.gather(
        *(
            graph.ainvoke(
                {"query": f"What about request-{i}?", "tenant_id": f"t{i % 7}"}, context=ctx
            )
            for i in range(1000)
        ),
        return_exceptions=True,
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    for i, out in enumerate(results):
        assert isinstance(out, dict)
        assert out["response"] == f"Answer for request-{i} [1]."
        assert out["rag_results"][0]["id"] == f"request-{i}"
        assert out["metadata"]["parallel_tier1"]["failed_tasks"] == 0
        assert out["metadata"]["parallel_tier2"]["failed_tasks"] == 0
    assert pending_tasks() == 0


async def test_10000_runs_leave_no_tasks_and_flat_memory(quiet_logs: None) -> None:
    ctx = Context(
        retriever=EchoRetriever(delay_s=0),
        model=EchoModel(),
        resilience=Resilience(),
        metrics=TierMetrics(),
    )
    graph = build_tier1_graph()

    async def batch(start: int) -> None:
        await asyncio.gather(
            *(
                graph.ainvoke(
                    {
                        "query": f"request-{i}",
                        "user_id": "u",
                        "selected_agent": {"allowed_tools": []},
                    },
                    context=ctx,
                )
                for i in range(start, start + 100)
            )
        )

    for start in range(0, 1000, 100):  # warm-up: caches, pools, first allocations
        await batch(start)
    gc.collect()
    before = rss_mb()
    for start in range(1000, 11000, 100):
        await batch(start)
    gc.collect()
    growth = rss_mb() - before
    assert pending_tasks() == 0
    assert growth < 20, f"resident memory grew {growth:.1f} MB over 10,000 runs"


async def test_cancelling_a_run_cancels_its_branches() -> None:
    from tests.conftest import fake_context
    from tests.fakes import Fakes

    fakes = Fakes()
    for name in ("rag_retrieval", "tool_suggestion", "memory_retrieval"):
        getattr(fakes, name).kind = "hang"
    before = pending_tasks()
    run = asyncio.create_task(
        build_mode_graph(2).ainvoke(
            {"query": "aspirin?", "user_id": "u"}, context=fake_context(fakes)
        )
    )
    await asyncio.sleep(0.1)
    run.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await run
    await asyncio.sleep(0)
    for name in ("rag_retrieval", "tool_suggestion", "memory_retrieval"):
        assert getattr(fakes, name).cancelled == 1, name
    assert pending_tasks() == before
