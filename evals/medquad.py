"""The project's MedQuAD studies: the README's "Answer quality, measured" figures.

Run from the repository root (`make eval-medquad` runs all four on `../shared/data/medquad`):

    python -m evals.medquad retrieval     --index DIR --queries FILE [--half A|B] [--limit N]
                                          [--json]
    python -m evals.medquad answers       --index DIR --queries FILE [--half A|B] [--limit N]
                                          [--json]
    python -m evals.medquad routing       --queries FILE [--index DIR] [--half A|B] [--limit N]
                                          [--json]
    python -m evals.medquad conversations --index DIR --queries FILE [--named FILE] [--half A|B]
                                          [--limit N] [--json]

The package's generic `parallel-tiers eval retrieval|answers|routing` (`parallel_tiers.evals`)
measures any labelled JSONL; this module adds what reads MedQuAD's own shape: its ids
(`SOURCE_DOCID_SecN`), its `focus` and `qtype` fields, its conversations and the questions
they were built from.

`--half A|B` keeps only the questions of one half of a split by topic (`topic_half`): the MD5
of the question's `focus`, stripped and lower-cased (a conversation: its first turn's focus; no
focus: the empty topic), even -> A, odd -> B, so a topic's questions are all on one side. On
MedQuAD's 8,203 dev questions that is 4,090 in A and 4,113 in B, the split of the README's
"held-out half" figures: the few weights chosen on data were chosen on A, B checks them.
`--limit N` then takes the first N of the half.

* retrieval: as `parallel-tiers eval retrieval`.
* answers: as `parallel-tiers eval answers` (citation precision, sentence support), plus two
  checks that need a passage on another topic (`unrelated_passages`). `misattributed_flagged`:
  the share of the same citations found unsupported once every marker points at an unrelated
  passage (the support test is not a rubber stamp). Then, for the same questions, it answers
  once from the relevant passages and once from passages of an unrelated question, scores both
  with `QualityScorer`, and reports the ROC AUC of good over bad (the chance that a good answer
  outscores a bad one; ties count half).
* routing: as `parallel-tiers eval routing`; a passage missing from the index (no `--index`:
  the demo knowledge base) has its id's prefix for source (`GHR` of `GHR_0001095_Sec4`).
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
import re
import statistics
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.retrievers import BaseRetriever

from parallel_tiers import evals
from parallel_tiers.evals import (
    CitationTally,
    answer_from_index,
    is_labelled,
    offline_answer,
    ratio,
    read_jsonl,
    recall_at_k,
    reciprocal_rank,
    record_results,
    roc_auc,
)

UNRELATED_OFFSET = 0.5
"""The unrelated passages of question i are the relevant ones of the first question from
i + n/2 (mod n) on whose passages share no title word with question i's."""
_SECTION_SUFFIX = re.compile(r"_Sec\d+(?:#\d+)?$")


def document_of(passage_id: str) -> str:
    """A passage's document: its id without a section suffix (MedQuAD's `SOURCE_DOCID_SecN`)."""
    return _SECTION_SUFFIX.sub("", passage_id)


def source_of(passage_id: str) -> str:
    """A passage's source: its id's prefix before the first "_" (MedQuAD's `SOURCE_...`)."""
    return passage_id.split("_", 1)[0]


# --------------------------------------------------------------------------------------------
# The held-out half
# --------------------------------------------------------------------------------------------

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
    """`parallel_tiers.evals.load_queries`; with `half`, only that half's questions (counted)."""
    _check_half(half)
    keep = None if half is None else (lambda row: question_half(row) == half)
    return evals.load_queries(path, limit, keep)


# --------------------------------------------------------------------------------------------
# Answers: citations, and the quality score on related and unrelated passages
# --------------------------------------------------------------------------------------------


def eval_answers(retriever: BaseRetriever, queries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """`parallel_tiers.evals.eval_answers`, plus misattributed citations and the quality AUC.

    The good/bad pairs need the passages by id, so `retriever` must be a `BM25Retriever`
    (its `records`).
    """
    from parallel_tiers.services.citations import extract_citations
    from parallel_tiers.services.quality import score_answer

    records = {str(r["id"]): r for r in getattr(retriever, "records", [])}
    n = len(queries)
    tally = CitationTally()
    misattributed = 0
    misattributed_flagged = 0
    good_scores: list[float] = []
    bad_scores: list[float] = []
    for i, q in enumerate(queries):
        query = str(q["query"])
        good = [records[r] for r in q["relevant"] if r in records]
        bad = unrelated_passages(queries, i, good, records)

        docs, answer = answer_from_index(retriever, query)
        tally.add(answer, docs)
        if bad and docs:
            # The same answer with every marker pointing at an unrelated passage instead.
            wrong = extract_citations(answer, record_results(bad[:1]) * len(docs))
            misattributed += len(wrong)
            misattributed_flagged += sum(not c["supported"] for c in wrong)

        if good and bad and n > 1:
            for passages, scores in ((good, good_scores), (bad, bad_scores)):
                results = record_results(passages)
                score, _ = score_answer(query, offline_answer(query, results), results)
                scores.append(score if score is not None else 0.0)
    return {
        "questions": n,
        **tally.figures(),
        "misattributed_flagged": ratio(misattributed_flagged, misattributed),
        "quality_pairs": len(good_scores),
        "quality_auc": roc_auc(good_scores, bad_scores),
        "quality_good_mean": statistics.fmean(good_scores) if good_scores else None,
        "quality_bad_mean": statistics.fmean(bad_scores) if bad_scores else None,
    }


def unrelated_passages(
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


# --------------------------------------------------------------------------------------------
# Conversations: multi-turn retrieval, and answers that stay on topic
# --------------------------------------------------------------------------------------------

CONVERSATION_MODE = 4
"""The chat graph the conversations are asked on: chat automatic."""
NAMED_QUESTIONS = "dev_queries.jsonl"
"""The named questions looked for beside the conversations file when `--named` is not given."""
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
    for n, row in read_jsonl(path):
        turns = row.get("turns") if isinstance(row, dict) else None
        if not isinstance(turns, list) or not turns or not all(map(is_labelled, turns)):
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


def _named_key(row: Mapping[str, Any]) -> tuple[str, str, tuple[str, ...]]:
    relevant = tuple(sorted(str(r) for r in row.get("relevant") or []))
    return str(row.get("focus") or "").strip().lower(), str(row.get("qtype") or ""), relevant


def load_named_questions(path: str | Path | None) -> dict[tuple[str, str, tuple[str, ...]], str]:
    """The questions of a JSONL file (as `load_queries`) by `_named_key`; {} without a file."""
    if path is None or not Path(path).is_file():
        return {}
    named: dict[tuple[str, str, tuple[str, ...]], str] = {}
    for row in evals.load_queries(path):
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


def parser() -> argparse.ArgumentParser:
    """`python -m evals.medquad retrieval|answers|routing|conversations ...`."""
    p = argparse.ArgumentParser(prog="python -m evals.medquad", description=__doc__.splitlines()[0])
    which = p.add_subparsers(dest="eval_command", required=True)
    commands = {
        **evals.COMMANDS,
        "answers": "citation precision, sentence support, misattribution, quality-score AUC",
        "conversations": "per turn: R@1, MRR@10 and answers on topic, on chat threads",
    }
    for name, text in commands.items():
        chats = name == "conversations"
        counted = "conversations" if chats else "questions"
        c = evals.add_command(
            which,
            name,
            text,
            queries_help="JSONL conversations ('turns')" if chats else "JSONL questions",
            counted=f"{counted} (of the half, with --half)",
        )
        if chats:
            c.add_argument(
                "--named",
                help="JSONL questions naming their condition, for the baseline (default: "
                f"{NAMED_QUESTIONS} beside --queries, when there)",
            )
        c.add_argument(
            "--half",
            choices=HALVES,
            help=f"only the {counted} of one half of the split by topic (MD5 of the "
            + ("first turn's " if chats else "")
            + "focus; the README's held-out half is B)",
        )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run one study and print its figures as `parallel-tiers eval` prints them."""
    args = parser().parse_args(argv)
    half = args.half
    measures: dict[str, Callable[[BaseRetriever], dict[str, Any]]]
    if args.eval_command == "conversations":
        conversations = load_conversations(args.queries, args.limit, half)
        named = load_named_questions(args.named or Path(args.queries).parent / NAMED_QUESTIONS)
        measures = {
            "conversations": lambda retriever: eval_conversations(retriever, conversations, named)
        }
    else:
        queries = load_queries(args.queries, args.limit, half)
        measures = {
            "retrieval": lambda retriever: evals.eval_retrieval(retriever, queries),
            "answers": lambda retriever: eval_answers(retriever, queries),
            "routing": lambda retriever: evals.eval_routing(
                queries, retriever=retriever, source_of=source_of
            ),
        }
    chats = args.eval_command == "conversations"
    return evals.report(
        args, measures[args.eval_command], quiet=chats, **({"half": half} if half else {})
    )


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
