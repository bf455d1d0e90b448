"""A labelled set of answers for the quality score, built from MedQuAD's dev data, and its AUCs.

    python -m evals.quality_labels --data ../shared/data/medquad [--limit N] [--json]
    make eval-quality                      # the same, on the default sample

Every answer is built programmatically from the dev questions and conversations (nothing is
written by hand, the same arguments give the same set) and scored by the post-generation tier
as a run would score it: the compiled tier-2 graph, with the question, the answer, the passages
it cites and, for a chat follow-up, the topic the conversation resolved it to. Kinds:

* ``good``: the offline model's answer to the question from the passage labelled relevant.
* ``vacuous``: an answer citing that same passage that says nothing: the passage's own list
  introduction without its items ("... provides the following list of signs and symptoms for
  X [1].") when it has one, else a sentence that only restates the question's topic and
  aspect ("These are common signs and symptoms of X [1].", `RESTATEMENTS`, rotated).
* ``wrong_aspect``: the offline model's answer from a passage on the right topic (the same
  document) for another question type (its title's section: causes for a treatment question).
  Questions of type ``information`` have none.
* ``unrelated``: the offline model's answer from the relevant passage of a question on another
  topic (`evals.medquad.unrelated_passages`).
* ``follow_up_good`` / ``wrong_topic``: turns 2 and 4 of the dev conversations ("How is it
  treated?"), answered from their relevant passage, and from the passage of the same section
  type on the previous topic of the conversation (turn 4) or on an unrelated one (turn 2, and
  turn 4 when the previous topic has no such section). The question is resolved against the
  conversation's earlier questions as a chat run resolves it (`conversation.resolve_topic`).

The report gives, per bad kind, the ROC AUC of `quality_score` of the good answers over the
bad ones (the chance a good answer outscores a bad one, ties half; follow-ups against
follow-ups), the mean scores, and how often `quality_metrics` names what is missing.

Targets (issue 16): AUC >= 0.90 for each bad kind, >= 0.99 for ``unrelated``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.medquad import document_of, unrelated_passages
from parallel_tiers.context import Context
from parallel_tiers.evals import quiet_logs, record_results, roc_auc
from parallel_tiers.services.conversation import TOPIC_TITLES, resolve_topic
from parallel_tiers.services.generation import NOT_FOUND, ExtractiveChatModel, build_messages
from parallel_tiers.services.questions import INFORMATION, focus_words, section_of_title
from parallel_tiers.services.retrieval import BM25Retriever
from parallel_tiers.tiers.post_generation import build_tier2_graph

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "medquad"
SYSTEM_PROMPT = "You are a careful expert."

RESTATEMENTS = (
    "These are common {aspect} of {focus}.",
    "{Focus} is a condition, and its {aspect} are described here.",
    "Here is what is known about the {aspect} of {focus}.",
    "There is information about the {aspect} of {focus}.",
)
"""Sentences that restate a question's topic and aspect and say nothing else."""

ASPECT_WORDS = {
    "symptoms": "signs and symptoms",
    "treatment": "treatments",
    "genetic changes": "genetic changes",
    "inheritance": "inheritance patterns",
    "causes": "causes",
    "frequency": "frequency figures",
    "exams and tests": "tests and diagnosis",
    "prevention": "ways of prevention",
    "outlook": "outlook and prognosis",
    "susceptibility": "risk factors",
    "research": "research studies",
    "stages": "stages",
    "complications": "complications",
    "considerations": "considerations",
    INFORMATION: "basic facts",
}
"""How a restatement names a question type."""

LIST_CUES = ("the following", "following list", "table below", "listed below", "below includes")


@dataclass
class Answer:
    """One labelled answer."""

    kind: str
    query: str
    response: str
    passages: list[dict[str, Any]]
    topic: str | None = None
    score: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def _offline(query: str, passages: Sequence[Mapping[str, Any]], topic: str | None = None) -> str:
    messages = build_messages(query, passages, system_prompt=SYSTEM_PROMPT, topic=topic)
    return str(ExtractiveChatModel().invoke(messages).content)


def _list_intro(text: str) -> str | None:
    """The passage's first sentence that announces a list, as the passage words it."""
    from parallel_tiers.services.text import split_sentences

    for sentence in split_sentences(text)[:6]:
        s = sentence.strip()
        low = s.lower()
        announces = any(c in low for c in LIST_CUES)
        if len(s.split()) >= 5 and announces and not re.search(r":\s*\S", s):
            return s.rstrip(":").rstrip(".") + " [1]."
    return None


def _restatement(query: str, qtype: str, focus: str, i: int) -> str:
    focus = focus.strip() or " ".join(focus_words(query))
    template = RESTATEMENTS[i % len(RESTATEMENTS)]
    sentence = template.format(
        aspect=ASPECT_WORDS.get(qtype, qtype), focus=focus, Focus=focus[:1].upper() + focus[1:]
    )
    return sentence[:-1] + " [1]."


def _sections(records: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """For each document, its passages by section type (from their titles)."""
    found: dict[str, dict[str, str]] = defaultdict(dict)
    for pid, record in records.items():
        kind = section_of_title(str(record.get("title") or ""))[0]
        if kind:
            found[document_of(pid)].setdefault(kind, pid)
    return found


def single_turn_answers(
    queries: Sequence[Mapping[str, Any]], records: Mapping[str, Mapping[str, Any]]
) -> list[Answer]:
    """The good, vacuous, wrong-aspect and unrelated answers of single questions."""
    sections = _sections(records)
    out: list[Answer] = []
    for i, q in enumerate(queries):
        query, qtype = str(q["query"]), str(q.get("qtype") or INFORMATION)
        good = [records[r] for r in q["relevant"] if r in records]
        if not good:
            continue
        passages = record_results(good)
        answer = _offline(query, passages)
        if NOT_FOUND in answer:
            continue
        out.append(Answer("good", query, answer, passages))
        intro = _list_intro(str(good[0].get("text") or ""))
        vacuous = intro or _restatement(query, qtype, str(q.get("focus") or ""), i)
        out.append(Answer("vacuous", query, vacuous, passages))
        if qtype != INFORMATION:
            other = [
                pid
                for kind, pid in sections.get(document_of(str(good[0]["id"])), {}).items()
                if kind not in (qtype, INFORMATION)
            ]
            if other:
                wrong = record_results([records[other[i % len(other)]]])
                answer = _offline(query, wrong)
                if NOT_FOUND not in answer:
                    out.append(Answer("wrong_aspect", query, answer, wrong))
        unrelated = unrelated_passages(queries, i, good, records)
        if unrelated:
            passages = record_results(unrelated[:1])
            out.append(Answer("unrelated", query, _offline(query, passages), passages))
    return out


def follow_up_answers(
    conversations: Sequence[Mapping[str, Any]],
    records: Mapping[str, Mapping[str, Any]],
    retriever: BM25Retriever,
) -> list[Answer]:
    """Good and wrong-topic answers of the follow-up turns (2 and 4) of the conversations."""
    sections = _sections(records)

    def titles(text: str) -> list[str]:
        return [str(d.metadata.get("title") or "") for d in retriever.search(text, TOPIC_TITLES)]

    by_type: dict[str, list[str]] = defaultdict(list)
    for conv in conversations:
        for turn in conv["turns"]:
            by_type[str(turn.get("qtype"))].extend(turn["relevant"])
    out: list[Answer] = []
    for c, conv in enumerate(conversations):
        turns = conv["turns"]
        for t in (1, 3):
            if t >= len(turns):
                continue
            turn = turns[t]
            query, qtype = str(turn["query"]), str(turn.get("qtype"))
            good = [records[r] for r in turn["relevant"] if r in records]
            if not good:
                continue
            earlier = [str(x["query"]) for x in turns[:t]]
            resolution = resolve_topic(query, earlier, titles)
            if not resolution.follow_up:
                continue
            topic = resolution.topic
            passages = record_results(good)
            answer = _offline(query, passages, topic)
            if NOT_FOUND in answer:
                continue
            out.append(Answer("follow_up_good", query, answer, passages, topic))
            wrong_id = None
            if t == 3:  # the previous topic's passage of the same section
                previous = document_of(str(turns[0]["relevant"][0]))
                wrong_id = sections.get(previous, {}).get(qtype)
            if wrong_id is None:  # an unrelated conversation's passage of the same type
                pool = [
                    pid
                    for pid in by_type[qtype]
                    if document_of(pid) not in {document_of(str(r["id"])) for r in good}
                    and pid in records
                ]
                if pool:
                    wrong_id = pool[(c * 7919) % len(pool)]
            if wrong_id:
                wrong = record_results([records[wrong_id]])
                answer = _offline(query, wrong, topic)
                if NOT_FOUND not in answer:
                    out.append(Answer("wrong_topic", query, answer, wrong, topic))
    return out


async def score(answers: Sequence[Answer]) -> None:
    """Score every answer with the compiled tier-2 graph, as a run would."""
    graph = build_tier2_graph()
    context = Context()
    for a in answers:
        state = {
            "query": a.query,
            "response": a.response,
            "rag_results": a.passages,
            "generation": {"status": "ok", "sent": True, "topic": a.topic},
            "metadata": {},
        }
        out = await graph.ainvoke(state, context=context)
        a.score = out.get("quality_score")
        a.metrics = out.get("quality_metrics") or {}


def report(answers: Sequence[Answer]) -> dict[str, Any]:
    """AUC of good over each bad kind, mean scores, and how often the metrics name a gap."""
    scores: dict[str, list[float]] = defaultdict(list)
    named: dict[str, int] = defaultdict(int)
    for a in answers:
        scores[a.kind].append(a.score if a.score is not None else 0.0)
        named[a.kind] += bool(a.metrics.get("missing"))
    pairs = {
        "vacuous": "good",
        "wrong_aspect": "good",
        "unrelated": "good",
        "wrong_topic": "follow_up_good",
    }
    out: dict[str, Any] = {"answers": {k: len(v) for k, v in scores.items()}}
    for bad, good in pairs.items():
        out[f"auc_{bad}"] = roc_auc(scores[good], scores[bad])
    out["mean_score"] = {k: round(statistics.fmean(v), 3) for k, v in scores.items() if v}
    out["missing_named"] = {k: round(named[k] / len(v), 3) for k, v in scores.items() if v}
    return out


def build(data: Path, index: Path | None, limit: int) -> list[Answer]:
    """The labelled answers of the first `limit` dev questions and conversations."""
    records = {str(r["id"]): r for r in _jsonl(data / "corpus.jsonl")}
    queries = list(_jsonl(data / "dev_queries.jsonl"))
    conversations = list(_jsonl(data / "dev_conversations.jsonl"))
    step = max(1, len(queries) // limit)
    sample = queries[::step][:limit]
    if index is not None:
        retriever = BM25Retriever.load(index)
    else:
        retriever = BM25Retriever.from_records(list(records.values()))
    answers = single_turn_answers(sample, records)
    step = max(1, len(conversations) // max(1, limit // 2))
    answers += follow_up_answers(conversations[::step][: limit // 2], records, retriever)
    return answers


def main(argv: Sequence[str] | None = None) -> int:
    """Build the set, score it, print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the MedQuAD folder")
    parser.add_argument("--index", type=Path, help="a built index of its corpus (else built)")
    parser.add_argument("--limit", type=int, default=600, help="dev questions (spread evenly)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--dump", type=Path, help="write every answer with its score (JSONL)")
    args = parser.parse_args(argv)
    if not (args.data / "corpus.jsonl").exists():
        print(f"error: no MedQuAD data in {args.data} (--data)", file=sys.stderr)
        return 2
    answers = build(args.data, args.index, args.limit)
    with quiet_logs():
        asyncio.run(score(answers))
    if args.dump:
        with args.dump.open("w", encoding="utf-8") as f:
            for a in answers:
                row = {k: getattr(a, k) for k in ("kind", "query", "topic", "response", "score")}
                f.write(json.dumps({**row, "metrics": a.metrics}) + "\n")
    result = report(answers)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:16} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
