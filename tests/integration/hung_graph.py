"""Test-only graph for the server tests: mode 2 whose retriever never answers.

The server tests add it to a langgraph config written to a temp dir (see conftest.py), so the
public package and the repo's langgraph.json carry no test hook. The hang lives in the default
of a `Context` subclass: the run's context JSON from the SDK still sets the plain fields
(`parallel_timeout_ms`), and the retriever that hangs is filled in by the default.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from parallel_tiers import Context, build_mode_graph


class HangingRetriever(BaseRetriever):
    """A retriever that never returns (until cancelled by the branch timeout)."""

    def _get_relevant_documents(self, query: str, *, run_manager: Any) -> list[Document]:
        raise NotImplementedError("async only")

    async def _aget_relevant_documents(self, query: str, *, run_manager: Any) -> list[Document]:
        await asyncio.sleep(3600)
        return []


@dataclass(kw_only=True)
class HungContext(Context):
    retriever: Any = field(default_factory=HangingRetriever)


graph = build_mode_graph(2, name="hung_retriever")
# The SDK's context JSON is coerced into the graph's context schema; point it at the subclass.
graph.context_schema = HungContext
