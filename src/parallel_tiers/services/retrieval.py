"""Retrieval: a BM25 `BaseRetriever` (bm25s + Snowball stemmer), corpus loading and ingestion.

A corpus is JSONL (one object a line: `id`, `title`, `source`, `url`, `text` or `content`, and
optionally `section`) or a folder of `.md` / `.txt` files; `corpus.py` reads and checks it
(bad lines, repeated ids, symlinks leaving the folder, oversize passages split by
`MAX_PASSAGE_CHARS`). `ingest()` builds an index folder that `BM25Retriever.load()` opens in a
fraction of a second, so a process never re-indexes at start; `index.py` writes it all or
nothing and checks every file before it is used.

Scoring (`BM25Retriever.search`), for a question analysed with the retriever's question types
(`BM25Retriever.questions`, a `questions.QuestionTypes`: its profile's, see
`parallel_tiers.profiles`):

1. **text**: BM25 of the question's content words over title + text;
2. **title**: BM25 of the question's *focus* words (its type cues such as "symptoms of" and
   question boilerplate removed) over a separate index of passage titles, each title without
   its section label;
3. **coverage**: the idf-weighted share of the question's distinct content words that the
   passage (title + text) contains, so a passage about *all* of "ibuprofen" and "blood
   pressure" beats one about only the more frequent of them;
4. **section**: a bonus when the passage's section type (`QuestionTypes.section_of`: the
   record's own `section` when it names a type, else what its title declares, derived when
   the passages are indexed) is one the question asks for, times the type's weight. Without
   question types (the profile `none`) no passage has a section and there is no bonus; a
   retriever whose types lack a section recorded in its index gives that section none.

Each BM25 score is divided by its best value for the question (so both lie in 0..1), and the
passage score is `TEXT_WEIGHT * text + TITLE_WEIGHT * title + COVERAGE_WEIGHT * coverage +
SECTION_WEIGHT * section`. Only passages sharing at least one word with the question are
returned. The four weights are the only numbers chosen on data (on one half of the MedQuAD dev
questions, split by topic, then checked on the other half; see the README); the rest is the
method. All of it is vectorised over the corpus (numpy), well under a millisecond a query on
MedQuAD's 17,908 passages.

A build of the index (format `INDEX_FORMAT`, layout and atomic swap in `index.py`) holds
`manifest.json` (with the `profile` it was built with), `records.jsonl` (the passages, each
with its `section`), `bm25/` (text index) and `bm25_title/` (title index, each title without
its section label or type cues), both bm25s indexes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import bm25s
import numpy as np
from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field, InstanceOf

from parallel_tiers.profiles import Profile, load_profile
from parallel_tiers.services.corpus import (
    MAX_FIELD_CHARS,
    MAX_PASSAGE_CHARS,
    Corpus,
    CorpusError,
    bundled_records,
    demo_records,
    load_corpus,
    read_corpus,
    split_passages,
    split_text,
    validate_records,
)
from parallel_tiers.services.index import (
    INDEX_FORMAT,
    IndexIntegrityError,
    check_target,
    publish,
    read_index,
)
from parallel_tiers.services.questions import QuestionTypes, default_questions
from parallel_tiers.services.text import bm25_idf, tokenize

TEXT_WEIGHT = 1.0
"""Weight of the normalised BM25 score over title + text."""
TITLE_WEIGHT = 1.0
"""Weight of the normalised BM25 score of the question's focus over the passage titles."""
SECTION_WEIGHT = 0.5
"""Bonus of a passage whose section type the question asks for (times the type's weight)."""
COVERAGE_WEIGHT = 1.0
"""Weight of the share of the question's words (idf-weighted) that the passage contains."""
_EMPTY_TITLE = "\x00"
"""Stands in for a title with no content word (bm25s needs a token per document)."""
RECORDS = "records.jsonl"
TEXT_INDEX = "bm25"
TITLE_INDEX = "bm25_title"

__all__ = [
    "COVERAGE_WEIGHT",
    "INDEX_FORMAT",
    "MAX_FIELD_CHARS",
    "MAX_PASSAGE_CHARS",
    "SECTION_WEIGHT",
    "TEXT_WEIGHT",
    "TITLE_WEIGHT",
    "BM25Retriever",
    "Corpus",
    "CorpusError",
    "IndexIntegrityError",
    "bundled_records",
    "default_retriever",
    "demo_records",
    "document_to_result",
    "documents_to_results",
    "ingest",
    "load_corpus",
    "read_corpus",
    "split_passages",
    "split_text",
]


class BM25Retriever(BaseRetriever):
    """Lexical retriever over passages: BM25 on stemmed words, title field, question types.

    See the module docstring for the scoring.

    Each `Document` carries `metadata` `id`, `title`, `source`, `url`, `section` and `score`.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: Any
    """The bm25s index over title + text."""
    records: list[dict[str, Any]]
    """The passages, in index order."""
    title_index: Any = None
    """The bm25s index over the titles' focus words (None: no title field)."""
    k: int = 5
    """How many documents to return (a call may pass `k=`)."""
    questions: InstanceOf[QuestionTypes] = Field(default_factory=default_questions)
    """The question types questions are analysed with (default: the default profile's); the
    section bonus goes to the sections among them."""
    text_weight: float = TEXT_WEIGHT
    title_weight: float = TITLE_WEIGHT
    section_weight: float = SECTION_WEIGHT
    coverage_weight: float = COVERAGE_WEIGHT
    _section_ids: Any = None
    _section_codes: Any = None

    def model_post_init(self, context: Any, /) -> None:
        """Encode the passages' sections once, for vectorised bonuses."""
        types = self.questions.type_names
        names = sorted({str(r["section"]) for r in self.records if r.get("section") in types})
        self._section_ids = {name: i for i, name in enumerate(names)}
        # Passages without a section point at the extra last slot, whose bonus is always 0.
        self._section_codes = np.array(
            [self._section_ids.get(r.get("section"), len(names)) for r in self.records],
            dtype=np.int32,
        )

    @classmethod
    def from_records(
        cls,
        records: Sequence[dict[str, Any]],
        k: int = 5,
        questions: QuestionTypes | None = None,
    ) -> BM25Retriever:
        """Index passage records in memory (fields as in a JSONL corpus line).

        Passages over `MAX_PASSAGE_CHARS` are split into parts (`corpus.split_passages`).
        Sections and title words are read with `questions` (default: the default profile's).

        Raises:
            CorpusError: No records, or a record breaks the corpus rules (`corpus.py`).

        """
        if not records:
            raise CorpusError("records", ["no passages"], "give at least one passage")
        return cls._of_checked(split_passages(validate_records(records))[0], k, questions)

    @classmethod
    def _of_checked(
        cls, records: list[dict[str, Any]], k: int = 5, questions: QuestionTypes | None = None
    ) -> BM25Retriever:
        """Index records already checked and split, their sections derived."""
        qt = default_questions() if questions is None else questions
        records = [{**r, "section": qt.section_of(r.get("section"), r["title"])} for r in records]
        index = bm25s.BM25()
        index.index([_index_tokens(r) for r in records], show_progress=False)
        title_index = bm25s.BM25()
        titles = [qt.focus_terms_of_title(r["title"]) or [_EMPTY_TITLE] for r in records]
        title_index.index(titles, show_progress=False)
        return cls(index=index, title_index=title_index, records=records, k=k, questions=qt)

    @classmethod
    def load(
        cls, index_dir: str | Path, k: int = 5, questions: QuestionTypes | None = None
    ) -> BM25Retriever:
        """Open an index folder written by `ingest()`, every file checked first (`index.py`).

        Questions are analysed with `questions` (default: the default profile's); the
        sections and title words are those recorded when the index was built.

        Raises:
            FileNotFoundError: `index_dir` holds no index.
            IndexIntegrityError: The index is damaged, incomplete, mixed or of another
                format; the message names the command that rebuilds it.

        """
        folder = Path(index_dir)

        def read(version: Path, manifest: dict[str, Any]) -> BM25Retriever:
            index = bm25s.BM25.load(str(version / TEXT_INDEX))
            title_index = bm25s.BM25.load(str(version / TITLE_INDEX))
            with (version / RECORDS).open(encoding="utf-8") as lines:
                records = [json.loads(line) for line in lines]
            _check_counts(folder, manifest["passages"], records, index, title_index)
            qt = default_questions() if questions is None else questions
            return cls(index=index, title_index=title_index, records=records, k=k, questions=qt)

        return read_index(folder, read)

    def save(self, index_dir: str | Path, **meta: Any) -> dict[str, Any]:
        """Write the indexes and the passages as a new build of `index_dir`, atomically.

        Args:
            index_dir: The index folder (see `index.py` for its layout).
            **meta: More manifest entries.

        Returns:
            The build's manifest.

        """
        if self.title_index is None:
            raise ValueError("save: this retriever has no title index; build it with from_records")
        meta = {
            "passages": len(self.records),
            "sections": dict(sorted(_count_sections(self.records).items())),
            **meta,
        }
        return publish(index_dir, self._write, meta)

    def _write(self, folder: Path) -> None:
        self.index.save(str(folder / TEXT_INDEX), show_progress=False)
        self.title_index.save(str(folder / TITLE_INDEX), show_progress=False)
        with (folder / RECORDS).open("w", encoding="utf-8") as out:
            for r in self.records:
                out.write(json.dumps(r, ensure_ascii=False) + "\n")

    def scores(self, query: str) -> np.ndarray:
        """The score of every passage for `query` (0 for passages sharing no word with it)."""
        analysis = self.questions.analyse_question(query)
        n = len(self.records)
        text = _bm25_scores(self.index, analysis.terms, n)
        title = (
            _bm25_scores(self.title_index, analysis.focus_terms, n)
            if self.title_index is not None
            else np.zeros(n, dtype=np.float32)
        )
        matched = (text > 0) | (title > 0)
        if not matched.any():
            return np.zeros(n, dtype=np.float32)
        coverage = _coverage(self.index, analysis.terms, n) if self.coverage_weight else 0.0
        bonus = np.zeros(len(self._section_ids) + 1, dtype=np.float32)
        for name, weight in analysis.types.items():
            if name in self._section_ids:
                bonus[self._section_ids[name]] = weight
        total = (
            self.text_weight * _normalised(text)
            + self.title_weight * _normalised(title)
            + self.coverage_weight * coverage
            + self.section_weight * bonus[self._section_codes]
        )
        return np.where(matched, total, 0.0)

    def search(self, query: str, k: int | None = None) -> list[Document]:
        """The top `k` passages for `query`, best first, each sharing a word with it."""
        k = min(k or self.k, len(self.records))
        if k <= 0:
            return []
        scores = self.scores(query)
        candidates = np.flatnonzero(scores > 0)
        if len(candidates) > k:
            candidates = candidates[np.argpartition(-scores[candidates], k - 1)[:k]]
        order = sorted(candidates.tolist(), key=lambda i: (-float(scores[i]), i))
        return [self._document(i, float(scores[i])) for i in order]

    def _document(self, i: int, score: float) -> Document:
        r = self.records[i]
        meta = {
            "id": r["id"],
            "title": r["title"],
            "source": r["source"],
            "url": r["url"],
            "section": r.get("section"),
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


def _bm25_scores(index: Any, terms: list[str], n: int) -> np.ndarray:
    ids = index.get_tokens_ids(terms) if terms else []
    if not ids:
        return np.zeros(n, dtype=np.float32)
    return np.asarray(index.get_scores_from_ids(ids), dtype=np.float32)


def _coverage(index: Any, terms: list[str], n: int) -> np.ndarray:
    """Idf-weighted share of the distinct `terms` each passage contains (0..1)."""
    ids = sorted(set(index.get_tokens_ids(terms))) if terms else []
    out = np.zeros(n, dtype=np.float32)
    if not ids:
        return out
    indptr, indices = index.scores["indptr"], index.scores["indices"]
    total = 0.0
    for tid in ids:
        start, end = int(indptr[tid]), int(indptr[tid + 1])
        df = end - start
        idf = bm25_idf(n, df)
        out[indices[start:end]] += idf
        total += idf
    return out / total if total > 0 else out


def _normalised(scores: np.ndarray) -> np.ndarray:
    top = float(scores.max()) if len(scores) else 0.0
    return scores / top if top > 0 else scores


def _count_sections(records: Sequence[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in records:
        key = r.get("section") or "(none)"
        counts[key] = counts.get(key, 0) + 1
    return counts


def _index_tokens(record: dict[str, Any]) -> list[str]:
    return tokenize(f"{record['title']} {record['text']}")


def _check_counts(
    folder: Path, passages: int, records: list[dict[str, Any]], *indexes: Any
) -> None:
    """Refuse a build whose records or indexes disagree with its manifest's passage count."""
    counts = [len(records)] + [int(i.scores["num_docs"]) for i in indexes]
    if any(n != passages for n in counts):
        raise IndexIntegrityError(
            folder,
            f"is damaged: its manifest counts {passages:,} passages, its records and "
            f"indexes {', '.join(f'{n:,}' for n in counts)}",
        )


def ingest(
    corpus: str | Path,
    index_dir: str | Path,
    *,
    dedupe: bool = False,
    profile: Profile | str | None = None,
) -> dict[str, Any]:
    """Index a corpus (JSONL file or folder) into `index_dir`, all or nothing.

    The corpus is read and checked first (`corpus.py`: nothing is written if it has a
    problem); passages over `MAX_PASSAGE_CHARS` are split; the index is written as a new build
    that replaces the old one atomically (`index.py`).

    Args:
        corpus: A JSONL file or a folder of `.md` / `.txt` files.
        index_dir: The index folder (created if missing; an index there is replaced).
        dedupe: Keep the first passage of each repeated id (and report the others) instead of
            refusing the corpus.
        profile: The profile whose question types derive the passages' sections and title
            words (`profiles.load_profile`: a `Profile`, a name, or None for
            `PARALLEL_TIERS_PROFILE`, else medical); its name goes into the manifest.

    Returns:
        `passages` (indexed, parts counted), `input_passages` (read), `split_passages`,
        `dropped_ids`, `skipped` (folder entries not read), `warnings` (all of these in
        words), `build`, `index`, `profile`, and the timings `read_s` and `total_s`.

    Raises:
        FileNotFoundError: `corpus` does not exist.
        CorpusError: The corpus breaks the rules of `corpus.py`.
        NotADirectoryError: `index_dir` is a file.
        ProfileError: `profile` names no profile.

    """
    chosen = load_profile(profile)
    start = time.perf_counter()
    target = check_target(index_dir)
    read = load_corpus(corpus, dedupe=dedupe)
    read_s = time.perf_counter() - start
    records, split = split_passages(read.records)
    _check_part_ids(str(corpus), records, split)
    manifest = BM25Retriever._of_checked(records, questions=chosen.questions).save(
        target, input_passages=len(read.records), split_passages=split, profile=chosen.name
    )
    warnings = read.warnings
    if split:
        warnings.append(
            f"split {split:,} passage(s) longer than {MAX_PASSAGE_CHARS:,} characters into "
            "parts (ids '<id>', '<id>#2', ...)"
        )
    return {
        "passages": len(records),
        "input_passages": len(read.records),
        "split_passages": split,
        "dropped_ids": read.dropped_ids,
        "skipped": read.skipped,
        "warnings": warnings,
        "build": manifest["build"],
        "profile": chosen.name,
        "read_s": round(read_s, 3),
        "total_s": round(time.perf_counter() - start, 3),
        "index": str(index_dir),
    }


def _check_part_ids(source: str, records: list[dict[str, Any]], split: int) -> None:
    """Refuse parts of split passages whose ids (`<id>#2`, ...) are also passage ids."""
    if not split:
        return
    seen: set[str] = set()
    clashes = []
    for r in records:
        if r["id"] in seen:
            clashes.append(f"id {r['id']!r}: a part of a split passage and a passage")
        seen.add(r["id"])
    if clashes:
        raise CorpusError(source, clashes, "rename those passages and ingest again")


def default_retriever(
    index_path: str | None = None, profile: Profile | str | None = None
) -> BM25Retriever:
    """The retriever over `index_path`, or over the profile's knowledge base (cached).

    Args:
        index_path: An index folder built by `ingest`; None: the profile's knowledge base.
        profile: The profile whose question types analyse the questions
            (`profiles.load_profile`: None for `PARALLEL_TIERS_PROFILE`, else medical).

    Raises:
        ValueError: No `index_path`, and the profile bundles no knowledge base (the profile
            `none`); or the profile names none (`ProfileError`).

    """
    return _default_retriever(index_path or None, load_profile(profile))


@lru_cache(maxsize=4)
def _default_retriever(index_path: str | None, profile: Profile) -> BM25Retriever:
    if index_path:
        return BM25Retriever.load(index_path, questions=profile.questions)
    if profile.knowledge_base is None:
        raise ValueError(
            f"the profile {profile.name!r} bundles no knowledge base; give an "
            "index folder built by `parallel-tiers ingest` (index_path or "
            "PARALLEL_TIERS_INDEX) or a retriever"
        )
    records = bundled_records(profile.knowledge_base)
    return BM25Retriever.from_records(records, questions=profile.questions)


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
