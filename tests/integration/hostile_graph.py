"""Test-only graph for the server tests: mode 2 whose retriever returns a 300 KB passage.

Registered like `hung_graph.py` (see conftest.py): the loop-latency test runs it while it
polls the server's `/ok`, which must keep answering.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from parallel_tiers import Context, build_mode_graph

PASSAGE_CHARS = 300_000
SENTENCE = (
    "A stroke happens when blood flow to part of the brain is blocked, and its warning signs "
    "include sudden numbness, confusion and trouble speaking. "
)


class BigPassageRetriever(BaseRetriever):
    """Returns one passage of `PASSAGE_CHARS` characters for any question."""

    def _get_relevant_documents(self, query: str, *, run_manager: Any) -> list[Document]:
        text = (SENTENCE * (PASSAGE_CHARS // len(SENTENCE) + 1))[:PASSAGE_CHARS]
        meta = {"id": "big", "title": "Stroke", "source": "test", "score": 1.0}
        return [Document(page_content=text, metadata=meta)]


@dataclass(kw_only=True)
class BigPassageContext(Context):
    retriever: Any = field(default_factory=BigPassageRetriever)


graph = build_mode_graph(2, name="big_passage")
graph.context_schema = BigPassageContext
