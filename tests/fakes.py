"""Fake services at the service seam: each can succeed, fail, hang, be slow or return garbage.

The one set of fakes: the test suite's, and the benchmark's (`benchmarks.cases.sleeping_context`
builds its contexts from them). A `Behaviour` with no delay answers without yielding to the
event loop, so "zero-latency" benchmark runs measure only the framework's and the package's CPU.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.retrievers import BaseRetriever

HANG_S = 3600.0
"""How long a hung service waits (it is always cancelled long before)."""
CALCULATOR = {"name": "calculator", "score": 1.0, "reason": "fake", "args": {"expression": "1+1"}}


@dataclass
class Behaviour:
    """How a fake behaves: "ok", "raise", "hang", "garbage" (a malformed result), "cancelled"
    (the service itself raises CancelledError); `delay` makes any of them slow."""

    kind: str = "ok"
    delay: float = 0.0
    calls: int = 0
    cancelled: int = 0

    async def act(self) -> bool:
        """Sleep/raise as configured; True when the caller should return garbage."""
        self.calls += 1
        try:
            if self.kind == "raise":
                raise RuntimeError("service exploded")
            if self.kind == "cancelled":
                raise asyncio.CancelledError()
            if self.kind == "hang":
                await asyncio.sleep(HANG_S)
            if self.delay:
                await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            if self.kind != "cancelled":
                self.cancelled += 1
            raise
        return self.kind == "garbage"


def doc(i: int, text: str = "Aspirin thins the blood.") -> Document:
    return Document(
        page_content=text,
        metadata={"id": f"d{i}", "title": f"Doc {i}", "source": "test", "score": 1.0 / i},
    )


class FakeRetriever(BaseRetriever):
    behaviour: Behaviour = Behaviour()
    docs: list[Document] = []

    def _get_relevant_documents(self, query: str, *, run_manager: Any) -> list[Document]:
        raise NotImplementedError

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        if await self.behaviour.act():
            return ["not a document"]  # type: ignore[list-item]
        return list(self.docs) or [doc(1), doc(2)]


@dataclass
class FakeSuggester:
    behaviour: Behaviour = field(default_factory=Behaviour)
    suggestions: list[dict[str, Any]] = field(default_factory=lambda: [CALCULATOR])

    async def asuggest(self, query: str, tools: Any, allowed: Any = None, limit: int = 3) -> Any:
        if await self.behaviour.act():
            return "calculator"
        return [{**s, "args": dict(s["args"])} for s in self.suggestions]


@dataclass
class FakeQuality:
    behaviour: Behaviour = field(default_factory=Behaviour)
    score: float = 0.75

    async def ascore(self, query: str, answer: str, documents: Any) -> Any:
        if await self.behaviour.act():
            return 7.5, "not a dict"
        return self.score, {"groundedness": 1.0}


@dataclass
class FakeCitations:
    behaviour: Behaviour = field(default_factory=Behaviour)
    cites: bool = True
    """False: no citations (an answer without markers)."""

    async def aextract(self, answer: str, documents: Any) -> Any:
        if await self.behaviour.act():
            return [42]
        if not self.cites:
            return []
        return [
            {"index": 1, "document_id": "d1", "title": "Doc 1", "quote": answer, "supported": True}
        ]


@dataclass
class FakeCost:
    behaviour: Behaviour = field(default_factory=Behaviour)

    async def atrack(self, model: str, usage: Any, **kwargs: Any) -> Any:
        if await self.behaviour.act():
            return None
        return {
            "model": model,
            "input_tokens": 1,
            "output_tokens": 1,
            "total_tokens": 2,
            "total_cost_usd": 0.0,
        }


@dataclass
class Fakes:
    """One fake per tier branch, keyed by branch name."""

    rag_retrieval: Behaviour = field(default_factory=Behaviour)
    tool_suggestion: Behaviour = field(default_factory=Behaviour)
    memory_retrieval: Behaviour = field(default_factory=Behaviour)
    quality_scoring: Behaviour = field(default_factory=Behaviour)
    citation_extraction: Behaviour = field(default_factory=Behaviour)
    cost_tracking: Behaviour = field(default_factory=Behaviour)

    def context_kwargs(self) -> dict[str, Any]:
        return {
            "retriever": FakeRetriever(behaviour=self.rag_retrieval),
            "tool_suggester": FakeSuggester(self.tool_suggestion),
            "quality": FakeQuality(self.quality_scoring),
            "citations": FakeCitations(self.citation_extraction),
            "cost": FakeCost(self.cost_tracking),
        }


class FakeMemoryStore:
    """Wraps a real store; `asearch` obeys a behaviour (for the memory branch)."""

    def __init__(self, store: Any, behaviour: Behaviour) -> None:
        self._store, self.behaviour = store, behaviour
        self.index_config = None

    async def asearch(self, *args: Any, **kwargs: Any) -> Any:
        if await self.behaviour.act():
            return [None]
        return await self._store.asearch(*args, **kwargs)

    async def aput(self, *args: Any, **kwargs: Any) -> Any:
        return await self._store.aput(*args, **kwargs)


class FixedChatModel(BaseChatModel):
    """A chat model answering one fixed cited sentence, with token usage, at once."""

    model_name: str = "fixed"

    @property
    def _llm_type(self) -> str:
        return "fixed"

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
