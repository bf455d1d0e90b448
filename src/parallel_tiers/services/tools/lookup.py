"""The `knowledge_base_lookup` tool over a retriever (`make_knowledge_base_lookup`)."""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

LOOKUP_TOOL_NAME = "knowledge_base_lookup"


class KnowledgeBaseLookupInput(BaseModel):
    """Arguments of `knowledge_base_lookup`."""

    topic: str = Field(description="What to look up, e.g. 'asthma' or 'migraine treatment'.")


def _format_hits(topic: str, documents: Sequence[Document], limit: int) -> str:
    lines: list[str] = []
    seen: set[str] = set()
    for doc in documents:
        doc_id = str(doc.metadata.get("id", "?"))
        if doc_id in seen:
            continue
        seen.add(doc_id)
        title = doc.metadata.get("title") or doc.page_content[:60].strip() or "(untitled)"
        lines.append(f"[{doc_id}] {title}")
        if len(lines) == limit:
            break
    return "\n".join(lines) if lines else f"No articles found for {topic!r}."


def make_knowledge_base_lookup(retriever: BaseRetriever, *, limit: int = 3) -> BaseTool:
    """Build the `knowledge_base_lookup` tool over `retriever` (sync and async).

    Args:
        retriever: Any retriever whose documents carry ``metadata["id"]`` and
            ``metadata["title"]``.
        limit: How many distinct articles to list.

    Returns:
        A tool answering one ``"[id] title"`` line per article.

    """

    def lookup(topic: str) -> str:
        return _format_hits(topic, retriever.invoke(topic), limit)

    async def alookup(topic: str) -> str:
        return _format_hits(topic, await retriever.ainvoke(topic), limit)

    return StructuredTool.from_function(
        func=lookup,
        coroutine=alookup,
        name=LOOKUP_TOOL_NAME,
        description="Look up articles in the knowledge base and list the most relevant "
        "titles with their ids.",
        args_schema=KnowledgeBaseLookupInput,
    )
