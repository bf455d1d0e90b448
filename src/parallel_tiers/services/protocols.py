"""What a service brought through `Context` must offer: one small protocol per service slot.

The embedded defaults (`QualityScorer`, `CitationExtractor`, ...) satisfy these protocols; so
does any object of your own with the same async methods. They are `runtime_checkable`, so
`validation` checks a context's slots with `isinstance` (which checks that the methods exist,
not their signatures). The retriever, tools, memory store and model slots take LangChain's and
LangGraph's own classes (`BaseRetriever`, `BaseTool`, `BaseStore`, `BaseChatModel`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool


@runtime_checkable
class ToolSuggesterService(Protocol):
    """Ranks the tools for a query (default `tools.ToolSuggester`)."""

    async def asuggest(
        self,
        query: str,
        tools: Sequence[BaseTool],
        allowed: Collection[str] | None = None,
        limit: int = 3,
    ) -> list[dict[str, Any]]:
        """Suggested tool calls, best first: `{"name", "args", "score", ...}`."""
        ...


@runtime_checkable
class QualityService(Protocol):
    """Scores an answer (default `quality.QualityScorer`)."""

    async def ascore(
        self, query: str, answer: str, documents: Sequence[Mapping[str, Any]]
    ) -> tuple[float | None, dict[str, Any]]:
        """The score (None: not scored) and its metrics."""
        ...


@runtime_checkable
class CitationService(Protocol):
    """Extracts and checks an answer's citations (default `citations.CitationExtractor`)."""

    async def aextract(
        self, answer: str, documents: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """The answer's citations, each checked against its source."""
        ...


@runtime_checkable
class CostService(Protocol):
    """Prices a generation (default `cost.CostTracker`)."""

    async def atrack(
        self,
        model: str,
        usage: Mapping[str, Any] | None,
        *,
        prompt_text: str = "",
        completion_text: str = "",
    ) -> dict[str, Any]:
        """The run's `cost_data`."""
        ...


@runtime_checkable
class CostLedgerLike(Protocol):
    """Accumulates each run's `cost_data` (e.g. `cost.CostLedger`)."""

    def add(self, cost: Mapping[str, Any], *, thread_id: str | None, tenant_id: str | None) -> None:
        """Add one run's cost to its thread's and tenant's totals."""
        ...


@runtime_checkable
class MemoryStoreLike(Protocol):
    """The store calls memory makes: a `BaseStore`, or any object with these two methods.

    Only checked at run time (the `memory_store` slot is typed `BaseStore`).
    """

    async def asearch(self, *args: Any, **kwargs: Any) -> Any:
        """Search a namespace."""
        ...

    async def aput(self, *args: Any, **kwargs: Any) -> Any:
        """Store one item."""
        ...
