"""Evaluations on labelled questions: retrieval, answers (citations and quality), routing, chats.

parallel-tiers eval retrieval     --index DIR --queries FILE [--half A|B] [--limit N] [--json]
parallel-tiers eval answers       --index DIR --queries FILE [--half A|B] [--limit N] [--json]
parallel-tiers eval routing       --queries FILE [--index DIR] [--half A|B] [--limit N] [--json]
parallel-tiers eval conversations --index DIR --queries FILE [--named FILE] [--half A|B]
                                  [--limit N] [--json]

The questions file is JSONL, one object a line with `query` and `relevant` (the ids of the
passages that answer it), as in MedQuAD's `dev_queries.jsonl`. `--limit N` takes the first N.

`--half A|B` keeps only the questions of one half of a split by topic (`topic_half`): the MD5
of the question's `focus`, stripped and lower-cased (a conversation: its first turn's focus; no
focus: the empty topic), even -> A, odd -> B, so a topic's questions are all on one side. On
MedQuAD's 8,203 dev questions that is 4,090 in A and 4,113 in B, the split of the README's
"held-out half" figures: the few weights chosen on data were chosen on A, B checks them.
`--limit N` then takes the first N of the half.

* retrieval: R@1, R@5, R@10 (share of a question's relevant passages in the top k, averaged),
  MRR@10 (1 / rank of the first relevant passage, 0 past rank 10) and the p50/p95 latency of one
  query, measured around `BM25Retriever.search` (any other retriever: around `invoke`).
* answers: the offline `ExtractiveChatModel` answers each question from the top
  `ANSWER_PASSAGES` retrieved passages; citation precision is the share of (sentence, marker)
  pairs whose passage supports the sentence, sentence support the share of answer sentences
  with at least one supporting citation (both pooled over all answers). As a check that the
  support test is not a rubber stamp, `misattributed_flagged` is the share of the same
  citations found unsupported once every marker points at an unrelated passage. Then, for the same
  questions, it answers once from the relevant passages and once from passages of an unrelated
  question, scores both with `QualityScorer`, and reports the ROC AUC of good over bad (the
  chance that a good answer outscores a bad one; ties count half).
* routing: the share of questions for which `AgentRegistry.select` picks the expert whose
  `sources` include the source of the question's relevant passage.
* conversations: each conversation of a JSONL file (`id`, `turns`, each turn with `query`,
  `focus` and `relevant`, as in MedQuAD's `dev_conversations.jsonl`) is asked turn by turn on
  one thread of the chat automatic graph (mode 4), and per turn position it reports R@1 and
  MRR@10 of `rag_results` and the share of answers on the turn's topic, next to the same
  questions asked alone with their condition named (see `eval_conversations`). `--limit N`
  takes the first N conversations.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from parallel_tiers.context import ENV_INDEX_PATH

ANSWER_PASSAGES = 5
"""Passages the answer eval retrieves per question (the graphs' default `retrieval_k`)."""
UNRELATED_OFFSET = 0.5
"""The unrelated passages of question i are the relevant ones of the first question from
i + n/2 (mod n) on whose passages share no title word with question i's."""


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------


def recall_at_k(ranked: Sequence[str], relevant: Iterable[str], k: int) -> float:
    """Share of the relevant ids found in the first `k` of `ranked` (0 when none are relevant)."""
    wanted = set(relevant)
    if not wanted:
        return 0.0
    return len(wanted & set(ranked[:k])) / len(wanted)


def reciprocal_rank(ranked: Sequence[str], relevant: Iterable[str], k: int = 10) -> float:
    """1 / rank of the first relevant id within the first `k`, else 0."""
    wanted = set(relevant)
    for rank, doc_id in enumerate(ranked[:k], 1):
        if doc_id in wanted:
            return 1.0 / rank
    return 0.0


def roc_auc(positives: Sequence[float], negatives: Sequence[float]) -> float | None:
    """Probability that a positive scores above a negative (ties count half); None if empty.

    Computed exactly from ranks (the Mann-Whitney U statistic), in O(n log n).
    """
    if not positives or not negatives:
        return None
    pooled = sorted([(s, 1) for s in positives] + [(s, 0) for s in negatives])
    rank_sum = 0.0
    i = 0
    while i < len(pooled):
        j = i
        while j < len(pooled) and pooled[j][0] == pooled[i][0]:
            j += 1
        mid_rank = (i + 1 + j) / 2  # the average 1-based rank of a run of ties
        rank_sum += mid_rank * sum(label for _, label in pooled[i:j])
        i = j
    n_pos, n_neg = len(positives), len(negatives)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0..100) of `values`, linearly interpolated; 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


def _jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) of each non-blank line of a JSONL file."""
    with Path(path).open(encoding="utf-8") as lines:
        for n, line in enumerate(lines, 1):
            if line.strip():
                yield n, json.loads(line)


HALVES = ("A", "B")
"""The two halves `--half` picks from (see `topic_half`)."""


def topic_half(topic: str) -> str:
    """The half, "A" or "B", of the questions on `topic` (a question's `focus`).

    The MD5 digest of the topic, stripped and lower-cased, as a number: even -> "A", odd -> "B".
    Stable across runs, processes and machines (unlike `hash`), and the same for every question
    on one topic, so no topic is on both sides.
    """
    key = topic.strip().lower().encode("utf-8")
    return HALVES[hashlib.md5(key, usedforsecurity=False).digest()[-1] % 2]


def question_half(row: Mapping[str, Any]) -> str:
    """The half of a question row (by its `focus`) or of a conversation (its first turn's).

    A row without a focus counts as the empty topic, which is in half A (9 of MedQuAD's dev
    questions have none).
    """
    turns = row.get("turns")
    if isinstance(turns, list) and turns and isinstance(turns[0], Mapping):
        return question_half(turns[0])
    return topic_half(str(row.get("focus") or ""))


def _check_half(half: str | None) -> None:
    if half is not None and half not in HALVES:
        raise ValueError(f"half must be one of {', '.join(HALVES)}, not {half!r}")


def load_queries(
    path: str | Path, limit: int | None = None, half: str | None = None
) -> list[dict[str, Any]]:
    """The first `limit` questions of a JSONL file (each needs `query` and `relevant`).

    With `half` ("A" or "B"), only the questions of that half (`question_half`) are kept, and
    `limit` counts those.
    """
    _check_half(half)
    rows: list[dict[str, Any]] = []
    for n, row in _jsonl(path):
        if not _is_turn(row):
            raise ValueError(f"{path}:{n}: each line needs 'query' and a 'relevant' list")
        if half is not None and question_half(row) != half:
            continue
        rows.append(row)
        if limit is not None and len(rows) >= limit:
            break
    if not rows:
        raise ValueError(f"{path}: no questions")
    return rows


def _open_retriever(index: str | None) -> tuple[BaseRetriever, float]:
    """The index at `index` (else $PARALLEL_TIERS_INDEX, else the demo knowledge base)."""
    from parallel_tiers.services.retrieval import BM25Retriever, default_retriever

    index = index or os.environ.get(ENV_INDEX_PATH) or None
    start = time.perf_counter()
    retriever = BM25Retriever.load(index) if index else default_retriever(None)
    return retriever, time.perf_counter() - start


def _ranked(retriever: BaseRetriever, query: str, k: int) -> list[Document]:
    from parallel_tiers.services.retrieval import BM25Retriever

    if isinstance(retriever, BM25Retriever):
        return retriever.search(query, k)
    return retriever.invoke(query)[:k]


def _doc_id(doc: Document) -> str:
    return str((doc.metadata or {}).get("id") or doc.id or "")


# --------------------------------------------------------------------------------------------
# Retrieval
# --------------------------------------------------------------------------------------------


def eval_retrieval(
    retriever: BaseRetriever, queries: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """R@1/5/10, MRR@10 and per-query latency of `retriever` on `queries`."""
    recalls: dict[int, list[float]] = {1: [], 5: [], 10: []}
    rr: list[float] = []
    latency_ms: list[float] = []
    _ranked(retriever, str(queries[0]["query"]), 10)  # warm up (first-call imports, caches)
    for q in queries:
        start = time.perf_counter()
        docs = _ranked(retriever, str(q["query"]), 10)
        latency_ms.append((time.perf_counter() - start) * 1000)
        ranked = [_doc_id(d) for d in docs]
        for k, values in recalls.items():
            values.append(recall_at_k(ranked, q["relevant"], k))
        rr.append(reciprocal_rank(ranked, q["relevant"], 10))
    return {
        "questions": len(queries),
        "R@1": statistics.fmean(recalls[1]),
        "R@5": statistics.fmean(recalls[5]),
        "R@10": statistics.fmean(recalls[10]),
        "MRR@10": statistics.fmean(rr),
        "p50_ms": percentile(latency_ms, 50),
        "p95_ms": percentile(latency_ms, 95),
    }


# --------------------------------------------------------------------------------------------
# Answers: citations and quality
# --------------------------------------------------------------------------------------------


@dataclass
class _CitationCounts:
    markers: int = 0
    supported_markers: int = 0
    sentences: int = 0
    supported_sentences: int = 0
    not_found: int = 0


def _answer(query: str, documents: Sequence[Mapping[str, Any]]) -> str:
    from parallel_tiers.services.generation import ExtractiveChatModel, build_messages

    messages = build_messages(query, documents, system_prompt="You are a careful expert.")
    return str(ExtractiveChatModel().invoke(messages).content)


def _record_results(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "id": r["id"],
            "title": r.get("title", ""),
            "source": r.get("source", ""),
            "content": r.get("text", ""),
            "score": 1.0,
        }
        for r in records
    ]


def eval_answers(retriever: BaseRetriever, queries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Citation precision and sentence support of offline answers, and the quality score's AUC.

    The good/bad pairs need the passages by id, so `retriever` must be a `BM25Retriever`
    (its `records`).
    """
    from parallel_tiers.services.citations import answer_sentences, extract_citations, is_supported
    from parallel_tiers.services.generation import NOT_FOUND
    from parallel_tiers.services.quality import score_answer
    from parallel_tiers.services.retrieval import documents_to_results

    records = {str(r["id"]): r for r in getattr(retriever, "records", [])}
    n = len(queries)
    counts = _CitationCounts()
    misattributed = 0
    misattributed_flagged = 0
    good_scores: list[float] = []
    bad_scores: list[float] = []
    for i, q in enumerate(queries):
        query = str(q["query"])
        good = [records[r] for r in q["relevant"] if r in records]
        bad = _unrelated(queries, i, good, records)

        docs = documents_to_results(_ranked(retriever, query, ANSWER_PASSAGES))
        answer = _answer(query, docs)
        counts.not_found += NOT_FOUND in answer
        citations = extract_citations(answer, docs)
        counts.markers += len(citations)
        counts.supported_markers += sum(bool(c["supported"]) for c in citations)
        sentences = answer_sentences(answer)
        counts.sentences += len(sentences)
        counts.supported_sentences += sum(is_supported(s, docs) for s in sentences)
        if bad and docs:
            # The same answer with every marker pointing at an unrelated passage instead.
            wrong = extract_citations(answer, _record_results(bad[:1]) * len(docs))
            misattributed += len(wrong)
            misattributed_flagged += sum(not c["supported"] for c in wrong)

        if good and bad and n > 1:
            for passages, scores in ((good, good_scores), (bad, bad_scores)):
                results = _record_results(passages)
                score, _ = score_answer(query, _answer(query, results), results)
                scores.append(score if score is not None else 0.0)
    return {
        "questions": n,
        "citation_precision": _ratio(counts.supported_markers, counts.markers),
        "sentence_support": _ratio(counts.supported_sentences, counts.sentences),
        "misattributed_flagged": _ratio(misattributed_flagged, misattributed),
        "markers": counts.markers,
        "sentences": counts.sentences,
        "not_found_answers": counts.not_found,
        "quality_pairs": len(good_scores),
        "quality_auc": roc_auc(good_scores, bad_scores),
        "quality_good_mean": statistics.fmean(good_scores) if good_scores else None,
        "quality_bad_mean": statistics.fmean(bad_scores) if bad_scores else None,
    }


def _unrelated(
    queries: Sequence[Mapping[str, Any]],
    i: int,
    good: Sequence[Mapping[str, Any]],
    records: Mapping[str, Mapping[str, Any]],
) -> list[Mapping[str, Any]]:
    """The relevant passages of the first question from i + n/2 on about another topic.

    Another topic: no title word in common with question i's relevant passages (section labels
    and type cues aside), so "Migraine (treatment)" is not taken as unrelated to "Migraine".
    """
    from parallel_tiers.services.questions import focus_terms_of_title

    topic = {t for r in good for t in focus_terms_of_title(str(r.get("title") or ""))}
    n = len(queries)
    start = i + max(1, int(n * UNRELATED_OFFSET))
    for step in range(n - 1):
        other = queries[(start + step) % n]
        if other is queries[i]:
            continue
        passages = [records[r] for r in other["relevant"] if r in records]
        words = {t for r in passages for t in focus_terms_of_title(str(r.get("title") or ""))}
        if passages and not words & topic:
            return passages
    return []


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# --------------------------------------------------------------------------------------------
# Routing
# --------------------------------------------------------------------------------------------


def eval_routing(
    queries: Sequence[Mapping[str, Any]],
    *,
    registry: Any = None,
    retriever: BaseRetriever | None = None,
) -> dict[str, Any]:
    """Share of questions routed to the expert owning the relevant passage's source.

    The source of a passage is its record's `source` when the retriever has the records, else
    the prefix of its id before the first "_" (MedQuAD ids read `SOURCE_DOCID_SecN`). The
    router gets the retriever's top passages as evidence, as the automatic modes do.
    """
    from parallel_tiers.services.agents import load_registry
    from parallel_tiers.services.retrieval import documents_to_results

    registry = registry or load_registry()
    owners = registry.source_owners()
    sources = {str(r["id"]): str(r.get("source") or "") for r in getattr(retriever, "records", [])}
    hits = 0
    counted = 0
    unowned = 0
    latency_ms: list[float] = []
    per_expert: dict[str, list[int]] = {}
    for q in queries:
        relevant = [str(r) for r in q["relevant"]]
        source = next((sources[r] for r in relevant if r in sources), None)
        source = source or (relevant[0].split("_", 1)[0] if relevant else "")
        expected = owners.get(source)
        if expected is None:
            unowned += 1
            continue
        start = time.perf_counter()
        evidence = (
            documents_to_results(_ranked(retriever, str(q["query"]), registry.evidence_k))
            if retriever is not None
            else []
        )
        chosen = registry.select(str(q["query"]), evidence=evidence).agent.id
        latency_ms.append((time.perf_counter() - start) * 1000)
        counted += 1
        hits += chosen == expected
        tally = per_expert.setdefault(expected, [0, 0])
        tally[0] += chosen == expected
        tally[1] += 1
    return {
        "questions": len(queries),
        "routed": counted,
        "unowned_source": unowned,
        "accuracy": _ratio(hits, counted),
        "per_expert": {a: _ratio(h, t) for a, (h, t) in sorted(per_expert.items())},
        "p50_ms": percentile(latency_ms, 50),
        "p95_ms": percentile(latency_ms, 95),
    }


# --------------------------------------------------------------------------------------------
# Conversations: multi-turn retrieval, and answers that stay on topic
# --------------------------------------------------------------------------------------------

CONVERSATION_MODE = 4
"""The chat graph the conversations are asked on: chat automatic."""
NAMED_QUESTIONS = "dev_queries.jsonl"
"""The named questions looked for beside the conversations file when `--named` is not given."""
_SECTION_SUFFIX = re.compile(r"_Sec\d+(?:#\d+)?$")

NamedQuestions = Mapping[tuple[str, str, tuple[str, ...]], str]
"""Questions that name their condition, by (lower-cased focus, type, sorted relevant ids)."""


def load_conversations(
    path: str | Path, limit: int | None = None, half: str | None = None
) -> list[dict[str, Any]]:
    """The first `limit` conversations of a JSONL file.

    Each line needs `turns`, each turn a `query` and a `relevant` list; `id`, and each turn's
    `focus` and `qtype`, are read when present. With `half`, only the conversations whose
    first turn is in that half (`question_half`) are kept, and `limit` counts those.
    """
    _check_half(half)
    rows: list[dict[str, Any]] = []
    for n, row in _jsonl(path):
        turns = row.get("turns") if isinstance(row, dict) else None
        if not isinstance(turns, list) or not turns or not all(map(_is_turn, turns)):
            raise ValueError(
                f"{path}:{n}: each line needs 'turns', each with 'query' and a 'relevant' list"
            )
        if half is not None and question_half(row) != half:
            continue
        rows.append({**row, "id": str(row.get("id") or f"conversation-{n}")})
        if limit is not None and len(rows) >= limit:
            break
    if not rows:
        raise ValueError(f"{path}: no conversations")
    return rows


def _is_turn(turn: Any) -> bool:
    """A question row or conversation turn: a dict with a `query` and a `relevant` list."""
    return (
        isinstance(turn, dict)
        and isinstance(turn.get("query"), str)
        and isinstance(turn.get("relevant"), list)
    )


def _named_key(row: Mapping[str, Any]) -> tuple[str, str, tuple[str, ...]]:
    relevant = tuple(sorted(str(r) for r in row.get("relevant") or []))
    return str(row.get("focus") or "").strip().lower(), str(row.get("qtype") or ""), relevant


def load_named_questions(path: str | Path | None) -> dict[tuple[str, str, tuple[str, ...]], str]:
    """The questions of a JSONL file (as `load_queries`) by `_named_key`; {} without a file."""
    if path is None or not Path(path).is_file():
        return {}
    named: dict[tuple[str, str, tuple[str, ...]], str] = {}
    for row in load_queries(path):
        named.setdefault(_named_key(row), str(row["query"]))
    return named


def named_variant(turn: Mapping[str, Any], named: NamedQuestions) -> str:
    """The turn's question with its condition named.

    The labelled question with the same focus, type and relevant passages when `named` holds
    one (the MedQuAD conversations are built from `dev_queries.jsonl`, so each of their turns
    has its question there); otherwise the turn's question after its focus ("Asthma: How is it
    treated?"), or as it is when the turn has no focus.
    """
    found = named.get(_named_key(turn))
    if found:
        return found
    focus = str(turn.get("focus") or "").strip()
    return f"{focus}: {turn['query']}" if focus else str(turn["query"])


def document_of(passage_id: str) -> str:
    """A passage's document: its id without a section suffix (MedQuAD's `SOURCE_DOCID_SecN`)."""
    return _SECTION_SUFFIX.sub("", passage_id)


@dataclass(frozen=True)
class Topic:
    """What an answer to one turn may cite and be on topic (see `eval_conversations`)."""

    terms: frozenset[str]
    """The stemmed content words of the turn's focus."""
    documents: frozenset[str]
    """The documents of the passages labelled relevant for that focus in the conversation."""

    def covers(self, passage_id: str, title: str) -> bool:
        """Whether the passage is about this topic (its document, or a title naming the focus)."""
        from parallel_tiers.services.questions import focus_terms_of_title

        if document_of(passage_id) in self.documents:
            return True
        return bool(self.terms) and frozenset(focus_terms_of_title(title)) == self.terms


def conversation_topics(turns: Sequence[Mapping[str, Any]]) -> list[Topic]:
    """The topic of each turn: its focus, with every document labelled for that focus."""
    from parallel_tiers.services.questions import focus_terms_of_title

    def focus(turn: Mapping[str, Any]) -> str:
        return str(turn.get("focus") or "").strip()

    documents: dict[str, set[str]] = {}
    for turn in turns:
        labelled = documents.setdefault(focus(turn).lower(), set())
        labelled.update(document_of(str(r)) for r in turn["relevant"])
    return [
        Topic(
            frozenset(focus_terms_of_title(focus(turn))),
            frozenset(documents[focus(turn).lower()]),
        )
        for turn in turns
    ]


def on_topic(citations: Sequence[Mapping[str, Any]], topic: Topic) -> bool:
    """Whether more than half of an answer's citations point at passages on `topic`."""
    if not citations:
        return False
    hits = sum(
        topic.covers(str(c.get("document_id") or ""), str(c.get("title") or "")) for c in citations
    )
    return hits * 2 > len(citations)


@dataclass
class _TurnScores:
    """R@1, reciprocal rank and on-topic answers of the turns at one position."""

    recall: list[float] = field(default_factory=list)
    rr: list[float] = field(default_factory=list)
    topical: list[bool] = field(default_factory=list)

    def add(self, out: Mapping[str, Any], relevant: Sequence[str], topic: Topic) -> None:
        ranked = [str(r.get("id")) for r in out.get("rag_results") or []]
        self.recall.append(recall_at_k(ranked, relevant, 1))
        self.rr.append(reciprocal_rank(ranked, relevant, 10))
        self.topical.append(on_topic(out.get("citations") or [], topic))

    def summary(self, prefix: str = "") -> dict[str, Any]:
        return {
            f"{prefix}R@1": statistics.fmean(self.recall),
            f"{prefix}MRR@10": statistics.fmean(self.rr),
            f"{prefix}on_topic": statistics.fmean(self.topical),
        }


def eval_conversations(
    retriever: BaseRetriever,
    conversations: Sequence[Mapping[str, Any]],
    named: NamedQuestions | None = None,
) -> dict[str, Any]:
    """Multi-turn retrieval and on-topic answers of the chat graph, per turn position.

    Each conversation is asked turn by turn on one thread of the mode 4 graph (an
    `InMemorySaver` checkpointer, an `InMemoryStore`, the offline model, `retriever`, the
    graph's other defaults), as one user of its own, so its memory holds its own earlier
    turns only (which the prompt's history holds already, so none is shown twice). For each
    turn position, over the conversations that have it:

    * `R@1` and `MRR@10` of the turn's `rag_results` against its `relevant` passages
      (`rag_results` hold the graph's `retrieval_k`, 5, passages: a relevant one ranked lower
      counts 0);
    * `on_topic`: the share of answers whose citations are mostly (more than half of them) on
      the turn's topic. The topic is the turn's `focus`: a cited passage is on it when its
      document (`document_of`) holds a passage labelled relevant to a turn of the
      conversation with that focus, or when its title, section label and type cues removed
      (`questions.focus_terms_of_title`), has exactly the focus's words ("Asthma (treatment)"
      for "asthma"). An answer citing nothing is off topic.

    The baseline (`named_R@1`, `named_MRR@10`, `named_on_topic`) asks each turn's question
    with its condition named (`named_variant`), alone on a fresh thread, without memory.
    """
    return asyncio.run(_eval_conversations(retriever, conversations, named or {}))


async def _eval_conversations(
    retriever: BaseRetriever, conversations: Sequence[Mapping[str, Any]], named: NamedQuestions
) -> dict[str, Any]:
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.store.memory import InMemoryStore

    from parallel_tiers.context import Context
    from parallel_tiers.modes.graphs import build_mode_graph
    from parallel_tiers.resilience import Resilience

    saver = InMemorySaver()
    graph = build_mode_graph(CONVERSATION_MODE, checkpointer=saver, store=InMemoryStore())
    context = Context(retriever=retriever, resilience=Resilience())
    scores: dict[int, _TurnScores] = {}
    baseline: dict[int, _TurnScores] = {}

    async def ask(query: str, thread: str, user_id: str | None) -> dict[str, Any]:
        config: Any = {"configurable": {"thread_id": thread}}
        return dict(
            await graph.ainvoke({"query": query, "user_id": user_id}, config, context=context)
        )

    for conversation in conversations:
        turns = conversation["turns"]
        thread = f"eval-{conversation['id']}"
        topics = conversation_topics(turns)
        for position, (turn, topic) in enumerate(zip(turns, topics, strict=True), 1):
            out = await ask(turn["query"], thread, thread)
            scores.setdefault(position, _TurnScores()).add(out, turn["relevant"], topic)
            alone = f"{thread}-named-{position}"
            out = await ask(named_variant(turn, named), alone, None)
            baseline.setdefault(position, _TurnScores()).add(out, turn["relevant"], topic)
            saver.delete_thread(alone)
        saver.delete_thread(thread)
    report: dict[str, Any] = {
        "conversations": len(conversations),
        "questions": sum(len(c["turns"]) for c in conversations),
        "named_questions_found": sum(
            _named_key(t) in named for c in conversations for t in c["turns"]
        ),
    }
    for position in sorted(scores):
        report[f"turn_{position}"] = {
            "turns": len(scores[position].recall),
            **scores[position].summary(),
            **baseline[position].summary("named_"),
        }
    return report


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def add_parser(sub: Any, parents: Sequence[argparse.ArgumentParser] = ()) -> None:
    """Register `eval retrieval|answers|routing|conversations` on the CLI's subparsers."""
    e = sub.add_parser(
        "eval",
        help="measure retrieval, answers, routing or conversations on labelled questions",
        parents=list(parents),
    )
    which = e.add_subparsers(dest="eval_command", required=True)
    for name, needs_index, text in (
        ("retrieval", True, "R@1/5/10, MRR@10 and query latency"),
        ("answers", True, "citation precision, sentence support, quality-score AUC"),
        ("routing", False, "share of questions routed to the expert owning the source"),
        ("conversations", True, "per turn: R@1, MRR@10 and answers on topic, on chat threads"),
    ):
        p = which.add_parser(name, help=text, parents=list(parents))
        p.add_argument(
            "--index",
            required=needs_index,
            help="index folder from `parallel-tiers ingest`"
            + ("" if needs_index else " (retrieval evidence for the router; default: demo)"),
        )
        chats = name == "conversations"
        p.add_argument(
            "--queries",
            required=True,
            help="JSONL conversations ('turns')"
            if chats
            else "JSONL questions with 'relevant' ids",
        )
        if chats:
            p.add_argument(
                "--named",
                help="JSONL questions naming their condition, for the baseline (default: "
                f"{NAMED_QUESTIONS} beside --queries, when there)",
            )
        p.add_argument(
            "--half",
            choices=HALVES,
            help="only the "
            + ("conversations" if chats else "questions")
            + " of one half of the split by topic (MD5 of the "
            + ("first turn's " if chats else "")
            + "focus; the README's held-out half is B)",
        )
        p.add_argument(
            "--limit",
            type=int,
            help=f"only the first N {'conversations' if chats else 'questions'}"
            + " (of the half, with --half)",
        )
        p.add_argument("--json", action="store_true", help="print the figures as JSON")


def main(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run the `eval` subcommand named in `args`, printing to `out` (default stdout)."""
    out = out or sys.stdout
    half = getattr(args, "half", None)
    if args.eval_command == "conversations":
        conversations = load_conversations(args.queries, args.limit, half)
        named_path = getattr(args, "named", None) or Path(args.queries).parent / NAMED_QUESTIONS
        named = load_named_questions(named_path)
    else:
        queries = load_queries(args.queries, args.limit, half)
    retriever, load_s = _open_retriever(args.index)
    runners: dict[str, Callable[[], dict[str, Any]]] = {
        "retrieval": lambda: eval_retrieval(retriever, queries),
        "answers": lambda: eval_answers(retriever, queries),
        "routing": lambda: eval_routing(queries, retriever=retriever),
        "conversations": lambda: eval_conversations(retriever, conversations, named),
    }
    start = time.perf_counter()
    with _quiet_logs(args.eval_command == "conversations"):
        report = runners[args.eval_command]()
    report = {
        "eval": args.eval_command,
        "index": args.index or os.environ.get(ENV_INDEX_PATH) or "(demo knowledge base)",
        "queries": str(args.queries),
        **({"half": half} if half else {}),
        "index_load_s": load_s,
        **report,
        "wall_s": time.perf_counter() - start,
    }
    if args.json:
        json.dump(report, out, indent=2)
        out.write("\n")
    else:
        _print(report, out)
    return 0


@contextmanager
def _quiet_logs(quiet: bool = True) -> Iterator[None]:
    """Only errors of the graphs' structlog events within (they log two a turn).

    The logging configuration is restored after.
    """
    import logging

    import structlog

    saved = structlog.get_config()
    if quiet:
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    try:
        yield
    finally:
        structlog.configure(**saved)


def _print(report: Mapping[str, Any], out: TextIO) -> None:
    out.write(f"eval {report['eval']}: {report['questions']} questions from {report['queries']}\n")
    for key, value in report.items():
        if key in {"eval", "questions", "queries"}:
            continue
        if isinstance(value, dict):
            out.write(f"  {key}:\n")
            for sub, v in value.items():
                out.write(f"    {sub:<28} {_fmt(v)}\n")
        else:
            out.write(f"  {key:<30} {_fmt(value)}\n")


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def run(argv: Sequence[str]) -> int:
    """`main` from an argument list (for tests and `python -m`)."""
    parser = argparse.ArgumentParser(prog="parallel-tiers")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return main(parser.parse_args(["eval", *argv]))


if __name__ == "__main__":
    raise SystemExit(run(sys.argv[1:]))


__all__ = [
    "eval_answers",
    "eval_conversations",
    "eval_retrieval",
    "eval_routing",
    "load_conversations",
    "load_queries",
    "percentile",
    "question_half",
    "recall_at_k",
    "reciprocal_rank",
    "roc_auc",
    "topic_half",
]
