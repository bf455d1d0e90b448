"""Services for the benchmark: each answers a fixed value after a fixed wait (or at once).

A wait of 0 answers without yielding to the event loop, so "zero-latency" runs measure only
the CPU of the framework and of this package.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.retrievers import BaseRetriever
from langgraph.store.memory import InMemoryStore

from parallel_tiers.context import Context
from parallel_tiers.metrics import TierMetrics
from parallel_tiers.resilience import Resilience

HANG_S = 3600.0
"""How long a hung service waits (it is always cancelled long before)."""
DOCS = [
    Document(
        page_content=f"Passage {i} about the question.",
        metadata={"id": f"d{i}", "title": f"Doc {i}", "source": "bench", "score": 1.0 / i},
    )
    for i in range(1, 6)
]
COST = {
    "model": "bench",
    "input_tokens": 40,
    "output_tokens": 8,
    "total_tokens": 48,
    "total_cost_usd": 0.0,
}


async def wait(delay_s: float) -> None:
    """Sleep `delay_s` (no await at all for 0: a zero-latency service)."""
    if delay_s:
        await asyncio.sleep(delay_s)


class SleepingRetriever(BaseRetriever):
    """Returns five passages after `delay_s`."""

    delay_s: float = 0.0

    def _get_relevant_documents(self, query: str, *, run_manager: Any) -> list[Document]:
        return list(DOCS)

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        await wait(self.delay_s)
        return list(DOCS)


@dataclass
class Sleeping:
    """Any service method, answering `value` after `delay_s`."""

    delay_s: float
    value: Any

    async def _answer(self, *args: Any, **kwargs: Any) -> Any:
        """Wait, then answer."""
        await wait(self.delay_s)
        return self.value

    asuggest = ascore = aextract = atrack = _answer


class SleepingStore(InMemoryStore):
    """An in-memory store whose searches take `delay_s` and find nothing."""

    def __init__(self, delay_s: float) -> None:
        super().__init__()
        self.delay_s = delay_s

    async def asearch(self, *args: Any, **kwargs: Any) -> Any:
        """Wait, then find nothing."""
        await wait(self.delay_s)
        return []


class FixedChatModel(BaseChatModel):
    """A chat model answering one fixed message, with token usage, at once."""

    model_name: str = "bench"

    @property
    def _llm_type(self) -> str:
        return "bench-fixed"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        message = AIMessage(
            content="Aspirin thins the blood [1].",
            usage_metadata={"input_tokens": 40, "output_tokens": 8, "total_tokens": 48},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _agenerate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        # Without this override LangChain runs `_generate` in a thread pool.
        return self._generate(messages, stop)


def sleeping_context(
    tier1_ms: tuple[float, float, float] = (0, 0, 0),
    tier2_ms: tuple[float, float, float] = (0, 0, 0),
    *,
    parallel: bool = True,
    hung: str | None = None,
    **settings: Any,
) -> Context:
    """A context whose six tier services wait the given milliseconds, plus a fixed model.

    `hung` names one branch ("rag_retrieval", ...) whose service never answers. Each context
    gets its own breaker, latency and metrics state, so runs of one case do not see another's.
    """
    r, t, m = (x / 1000 for x in tier1_ms)
    q, c, k = (x / 1000 for x in tier2_ms)
    delays = {
        "rag_retrieval": r,
        "tool_suggestion": t,
        "memory_retrieval": m,
        "quality_scoring": q,
        "citation_extraction": c,
        "cost_tracking": k,
    }
    if hung is not None:
        delays[hung] = HANG_S
    return Context(
        retriever=SleepingRetriever(delay_s=delays["rag_retrieval"]),
        tool_suggester=Sleeping(delays["tool_suggestion"], []),
        memory_store=SleepingStore(delays["memory_retrieval"]),
        model=FixedChatModel(),
        quality=Sleeping(delays["quality_scoring"], (1.0, {"groundedness": 1.0})),
        citations=Sleeping(delays["citation_extraction"], []),
        cost=Sleeping(delays["cost_tracking"], dict(COST)),
        enable_parallel_tier1=parallel,
        enable_parallel_tier2=parallel,
        resilience=Resilience(),
        metrics=TierMetrics(),
        **settings,
    )
