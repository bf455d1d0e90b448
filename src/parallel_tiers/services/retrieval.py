"""Retrieval: a BM25 `BaseRetriever` (bm25s + Snowball stemmer), corpus loading and ingestion.

A corpus is JSONL (one object a line: `id`, `title`, `source`, `url`, `text` or `content`) or a
folder of `.md` / `.txt` files. `ingest()` builds an index folder that `BM25Retriever.load()` opens
in milliseconds, so a process never re-indexes at start.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import bm25s
from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from parallel_tiers.services.text import tokenize

DEMO_CORPUS = "knowledge_base.jsonl"
INDEX_FORMAT = 1
TITLE_WEIGHT = 2
"""The title is indexed this many times before the text (a simple field weighting)."""


def read_corpus(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSONL corpus file or a folder of .md/.txt files into passage records."""
    path = Path(path)
    if path.is_dir():
        return list(_read_folder(path))
    if not path.is_file():
        raise FileNotFoundError(f"corpus: {path} is neither a JSONL file nor a folder")
    rows = []
    with path.open(encoding="utf-8") as lines:
        for n, line in enumerate(lines, 1):
            if line.strip():
                rows.append(_record(json.loads(line), where=f"{path}:{n}"))
    return rows


def _read_folder(folder: Path) -> Iterator[dict[str, Any]]:
    for file in sorted(folder.rglob("*")):
        if file.suffix.lower() not in {".md", ".txt"} or not file.is_file():
            continue
        text = file.read_text(encoding="utf-8").strip()
        first = text.splitlines()[0] if text else ""
        title = first.lstrip("# ").strip() if first.startswith("#") else file.stem
        body = text[len(first) :].strip() if first.startswith("#") else text
        yield {
            "id": str(file.relative_to(folder)),
            "title": title,
            "source": folder.name,
            "url": "",
            "text": body,
        }


def _record(row: dict[str, Any], where: str) -> dict[str, Any]:
    text = row.get("text", row.get("content"))
    if not row.get("id") or not isinstance(text, str):
        raise ValueError(f"{where}: each line needs 'id' and 'text' (or 'content')")
    return {
        "id": str(row["id"]),
        "title": str(row.get("title") or row["id"]),
        "source": str(row.get("source") or ""),
        "url": str(row.get("url") or ""),
        "text": text,
    }


class BM25Retriever(BaseRetriever):
    """Lexical retriever over passage records, scored with BM25 (bm25s) on stemmed words.

    Each `Document` carries `metadata` `id`, `title`, `source`, `url` and `score`.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: Any
    """The bm25s index."""
    records: list[dict[str, Any]]
    """The passages, in index order."""
    k: int = 5
    """How many documents to return (a call may pass `k=`)."""

    @classmethod
    def from_records(cls, records: Sequence[dict[str, Any]], k: int = 5) -> BM25Retriever:
        """Index passage records in memory."""
        if not records:
            raise ValueError("corpus: no passages to index")
        index = bm25s.BM25()
        index.index([_index_tokens(r) for r in records], show_progress=False)
        return cls(index=index, records=list(records), k=k)

    @classmethod
    def load(cls, index_dir: str | Path, k: int = 5) -> BM25Retriever:
        """Open an index folder written by `ingest()`."""
        folder = Path(index_dir)
        manifest = folder / "manifest.json"
        if not manifest.is_file():
            raise FileNotFoundError(
                f"index_path: {folder} is not an index (no manifest.json); "
                "build one with `parallel-tiers ingest CORPUS --index DIR`"
            )
        meta = json.loads(manifest.read_text())
        if meta.get("format") != INDEX_FORMAT:
            raise ValueError(
                f"index_path: {folder} has format {meta.get('format')}, "
                f"expected {INDEX_FORMAT}; rebuild it with `parallel-tiers ingest`"
            )
        index = bm25s.BM25.load(str(folder / "bm25"))
        with (folder / "records.jsonl").open(encoding="utf-8") as lines:
            records = [json.loads(line) for line in lines]
        return cls(index=index, records=records, k=k)

    def save(self, index_dir: str | Path) -> None:
        """Write the index and its passages to a folder."""
        folder = Path(index_dir)
        folder.mkdir(parents=True, exist_ok=True)
        self.index.save(str(folder / "bm25"))
        with (folder / "records.jsonl").open("w", encoding="utf-8") as out:
            for r in self.records:
                out.write(json.dumps(r, ensure_ascii=False) + "\n")
        manifest = {
            "format": INDEX_FORMAT,
            "passages": len(self.records),
            "title_weight": TITLE_WEIGHT,
            "built_at": time.time(),
        }
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))

    def search(self, query: str, k: int | None = None) -> list[Document]:
        """The top `k` passages for `query` with a positive BM25 score."""
        tokens = tokenize(query)
        k = min(k or self.k, len(self.records))
        if not tokens or k <= 0:
            return []
        ids, scores = self.index.retrieve([tokens], k=k, show_progress=False, n_threads=1)
        return [
            self._document(int(i), float(s))
            for i, s in zip(ids[0], scores[0], strict=True)
            if s > 0
        ]

    def _document(self, i: int, score: float) -> Document:
        r = self.records[i]
        meta = {
            "id": r["id"],
            "title": r["title"],
            "source": r["source"],
            "url": r["url"],
            "score": round(score, 4),
        }
        return Document(page_content=r["text"], metadata=meta, id=r["id"])

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None
    ) -> list[Document]:
        return self.search(query, k)

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, k: int | None = None
    ) -> list[Document]:
        # A query takes well under a millisecond: cheaper inline than in a thread.
        return self.search(query, k)


def _index_tokens(record: dict[str, Any]) -> list[str]:
    return tokenize(" ".join([record["title"]] * TITLE_WEIGHT + [record["text"]]))


def ingest(corpus: str | Path, index_dir: str | Path) -> dict[str, Any]:
    """Index a corpus (JSONL file or folder) into `index_dir`; returns counts and timings."""
    start = time.perf_counter()
    records = read_corpus(corpus)
    read_s = time.perf_counter() - start
    retriever = BM25Retriever.from_records(records)
    retriever.save(index_dir)
    return {
        "passages": len(records),
        "read_s": round(read_s, 3),
        "total_s": round(time.perf_counter() - start, 3),
        "index": str(index_dir),
    }


def demo_records() -> list[dict[str, Any]]:
    """The passages of the bundled demo knowledge base."""
    text = resources.files("parallel_tiers.data").joinpath(DEMO_CORPUS).read_text("utf-8")
    return [_record(json.loads(line), DEMO_CORPUS) for line in text.splitlines() if line.strip()]


@lru_cache(maxsize=4)
def default_retriever(index_path: str | None = None) -> BM25Retriever:
    """The retriever over `index_path`, or over the bundled demo knowledge base (cached)."""
    if index_path:
        return BM25Retriever.load(index_path)
    return BM25Retriever.from_records(demo_records())


def document_to_result(doc: Document) -> dict[str, Any]:
    """A retrieved `Document` as a `rag_results` entry."""
    meta = doc.metadata or {}
    score = meta.get("score", meta.get("relevance_score", 0.0))
    return {
        "id": str(meta.get("id") or doc.id or ""),
        "title": str(meta.get("title") or ""),
        "source": str(meta.get("source") or ""),
        "content": doc.page_content,
        "score": float(score) if isinstance(score, int | float) else 0.0,
    }


def documents_to_results(docs: Iterable[Document]) -> list[dict[str, Any]]:
    """Retrieved documents as `rag_results`, rejecting anything that is not a `Document`."""
    out = []
    for doc in docs:
        if not isinstance(doc, Document):
            raise TypeError(f"retriever returned {type(doc).__name__}, expected Document")
        out.append(document_to_result(doc))
    return out
