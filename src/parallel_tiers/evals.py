"""Evaluations on your own labelled questions: retrieval, answers (citations), routing.

parallel-tiers eval retrieval --index DIR --queries FILE [--limit N] [--json]
parallel-tiers eval answers   --index DIR --queries FILE [--limit N] [--json]
parallel-tiers eval routing   --queries FILE [--index DIR] [--limit N] [--json]

The questions file is JSONL, one object a line with `query` and `relevant` (the ids of the
passages, as ingested, that answer it). `--limit N` takes the first N. Nothing here reads a
particular dataset's ids or fields: the project's own studies on MedQuAD (its held-out half,
chat conversations, the quality score's AUC) live in the repository's `evals/` folder.

* retrieval: R@1, R@5, R@10 (share of a question's relevant passages in the top k, averaged),
  MRR@10 (1 / rank of the first relevant passage, 0 past rank 10) and the p50/p95 latency of one
  query (nearest rank, `stats.percentile`), measured around `BM25Retriever.search` (any other
  retriever: around `invoke`).
* answers: the offline `ExtractiveChatModel` answers each question from the top
  `ANSWER_PASSAGES` retrieved passages; citation precision is the share of (sentence, marker)
  pairs whose passage supports the sentence, sentence support the share of answer sentences
  with at least one supporting citation (both pooled over all answers).
* routing: the share of questions for which `AgentRegistry.select` picks the expert whose
  `sources` include the source of the question's relevant passage (its `source` in the index).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from parallel_tiers.context import ENV_INDEX_PATH
from parallel_tiers.stats import percentile

ANSWER_PASSAGES = 5
"""Passages the answer eval retrieves per question (the graphs' default `retrieval_k`)."""


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


def ratio(part: int, whole: int) -> float | None:
    """`part / whole`, None when `whole` is 0."""
    return part / whole if whole else None


def _latency_figures(latency_ms: Sequence[float]) -> dict[str, float | None]:
    """p50 and p95 (nearest rank) of the latencies; None for no latencies."""
    return {f"p{q}_ms": percentile(latency_ms, q / 100) if latency_ms else None for q in (50, 95)}


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


def read_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) of each non-blank line of a JSONL file."""
    with Path(path).open(encoding="utf-8") as lines:
        for n, line in enumerate(lines, 1):
            if line.strip():
                yield n, json.loads(line)


def is_labelled(row: Any) -> bool:
    """A labelled question: a dict with a `query` string and a `relevant` list."""
    return (
        isinstance(row, dict)
        and isinstance(row.get("query"), str)
        and isinstance(row.get("relevant"), list)
    )


def load_queries(
    path: str | Path,
    limit: int | None = None,
    keep: Callable[[Mapping[str, Any]], bool] | None = None,
) -> list[dict[str, Any]]:
    """The first `limit` questions of a JSONL file (each needs `query` and `relevant`).

    With `keep`, only the questions it accepts are kept, and `limit` counts those.
    """
    rows: list[dict[str, Any]] = []
    for n, row in read_jsonl(path):
        if not is_labelled(row):
            raise ValueError(f"{path}:{n}: each line needs 'query' and a 'relevant' list")
        if keep is not None and not keep(row):
            continue
        rows.append(row)
        if limit is not None and len(rows) >= limit:
            break
    if not rows:
        raise ValueError(f"{path}: no questions")
    return rows


def open_retriever(index: str | None) -> tuple[BaseRetriever, float]:
    """The index at `index` (else $PARALLEL_TIERS_INDEX, else the demo knowledge base).

    With the seconds it took to load.
    """
    from parallel_tiers.services.retrieval import BM25Retriever, default_retriever

    index = index or os.environ.get(ENV_INDEX_PATH) or None
    start = time.perf_counter()
    retriever = BM25Retriever.load(index) if index else default_retriever(None)
    return retriever, time.perf_counter() - start


def ranked(retriever: BaseRetriever, query: str, k: int) -> list[Document]:
    """The top `k` passages for `query` (`BM25Retriever.search`, else `invoke`)."""
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
    ranked(retriever, str(queries[0]["query"]), 10)  # warm up (first-call imports, caches)
    for q in queries:
        start = time.perf_counter()
        docs = ranked(retriever, str(q["query"]), 10)
        latency_ms.append((time.perf_counter() - start) * 1000)
        ids = [_doc_id(d) for d in docs]
        for k, values in recalls.items():
            values.append(recall_at_k(ids, q["relevant"], k))
        rr.append(reciprocal_rank(ids, q["relevant"], 10))
    return {
        "questions": len(queries),
        "R@1": statistics.fmean(recalls[1]),
        "R@5": statistics.fmean(recalls[5]),
        "R@10": statistics.fmean(recalls[10]),
        "MRR@10": statistics.fmean(rr),
        **_latency_figures(latency_ms),
    }


# --------------------------------------------------------------------------------------------
# Answers: citations
# --------------------------------------------------------------------------------------------


def offline_answer(query: str, documents: Sequence[Mapping[str, Any]]) -> str:
    """The offline `ExtractiveChatModel`'s answer to `query` from `documents` (results)."""
    from parallel_tiers.services.generation import ExtractiveChatModel, build_messages

    messages = build_messages(query, documents, system_prompt="You are a careful expert.")
    return str(ExtractiveChatModel().invoke(messages).content)


def answer_from_index(retriever: BaseRetriever, query: str) -> tuple[list[dict[str, Any]], str]:
    """The top `ANSWER_PASSAGES` passages for `query` (as results) and the offline answer."""
    from parallel_tiers.services.retrieval import documents_to_results

    docs = documents_to_results(ranked(retriever, query, ANSWER_PASSAGES))
    return docs, offline_answer(query, docs)


def record_results(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Index records (`id`, `title`, `source`, `text`) as retrieval results."""
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


@dataclass
class CitationTally:
    """Citation markers and answer sentences, and how many of each their passages support."""

    markers: int = 0
    supported_markers: int = 0
    sentences: int = 0
    supported_sentences: int = 0
    not_found: int = 0

    def add(self, answer: str, documents: Sequence[Mapping[str, Any]]) -> None:
        """Count one answer's markers and sentences against the passages it was given."""
        from parallel_tiers.services.citations import (
            answer_sentences,
            extract_citations,
            is_supported,
        )
        from parallel_tiers.services.generation import NOT_FOUND

        self.not_found += NOT_FOUND in answer
        citations = extract_citations(answer, documents)
        self.markers += len(citations)
        self.supported_markers += sum(bool(c["supported"]) for c in citations)
        sentences = answer_sentences(answer)
        self.sentences += len(sentences)
        self.supported_sentences += sum(is_supported(s, documents) for s in sentences)

    def figures(self) -> dict[str, Any]:
        """Citation precision, sentence support and the counts behind them."""
        return {
            "citation_precision": ratio(self.supported_markers, self.markers),
            "sentence_support": ratio(self.supported_sentences, self.sentences),
            "markers": self.markers,
            "sentences": self.sentences,
            "not_found_answers": self.not_found,
        }


def eval_answers(retriever: BaseRetriever, queries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Citation precision and sentence support of offline answers from retrieved passages."""
    tally = CitationTally()
    for q in queries:
        docs, answer = answer_from_index(retriever, str(q["query"]))
        tally.add(answer, docs)
    return {"questions": len(queries), **tally.figures()}


# --------------------------------------------------------------------------------------------
# Routing
# --------------------------------------------------------------------------------------------


def eval_routing(
    queries: Sequence[Mapping[str, Any]],
    *,
    registry: Any = None,
    retriever: BaseRetriever | None = None,
    source_of: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """Share of questions routed to the expert owning the relevant passage's source.

    The source of a passage is its record's `source` when the retriever has the records, else
    `source_of(passage id)` when given; a question whose source no expert owns is counted in
    `unowned_source`, not routed. The router gets the retriever's top passages as evidence, as
    the automatic modes do.
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
        if not source and source_of is not None and relevant:
            source = source_of(relevant[0])
        expected = owners.get(source or "")
        if expected is None:
            unowned += 1
            continue
        start = time.perf_counter()
        evidence = (
            documents_to_results(ranked(retriever, str(q["query"]), registry.evidence_k))
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
        "accuracy": ratio(hits, counted),
        "per_expert": {a: ratio(h, t) for a, (h, t) in sorted(per_expert.items())},
        **_latency_figures(latency_ms),
    }


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------

COMMANDS = {
    "retrieval": "R@1/5/10, MRR@10 and query latency",
    "answers": "citation precision and sentence support of offline answers",
    "routing": "share of questions routed to the expert owning the source",
}
"""The `eval` subcommands and their help."""


def add_parser(sub: Any, parents: Sequence[argparse.ArgumentParser] = ()) -> None:
    """Register `eval retrieval|answers|routing` on the CLI's subparsers."""
    e = sub.add_parser(
        "eval",
        help="measure retrieval, answers or routing on your labelled questions",
        parents=list(parents),
    )
    which = e.add_subparsers(dest="eval_command", required=True)
    for name, text in COMMANDS.items():
        add_command(which, name, text, parents)


def add_command(
    which: Any,
    name: str,
    text: str,
    parents: Sequence[argparse.ArgumentParser] = (),
    *,
    needs_index: bool | None = None,
    queries_help: str = "JSONL questions with 'relevant' ids",
    counted: str = "questions",
) -> argparse.ArgumentParser:
    """Add one eval subcommand with --index, --queries, --limit and --json; returns its parser.

    `--index` is required except for routing (the router can use the demo knowledge base),
    unless `needs_index` says otherwise; `counted` names what `--limit` counts.
    """
    needs_index = name != "routing" if needs_index is None else needs_index
    p: argparse.ArgumentParser = which.add_parser(name, help=text, parents=list(parents))
    p.add_argument(
        "--index",
        required=needs_index,
        help="index folder from `parallel-tiers ingest`"
        + ("" if needs_index else " (retrieval evidence for the router; default: demo)"),
    )
    p.add_argument("--queries", required=True, help=queries_help)
    p.add_argument("--limit", type=int, help=f"only the first N {counted}")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    return p


def main(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run the `eval` subcommand named in `args`, printing to `out` (default stdout)."""
    queries = load_queries(args.queries, args.limit)
    measures: dict[str, Callable[[BaseRetriever], dict[str, Any]]] = {
        "retrieval": lambda retriever: eval_retrieval(retriever, queries),
        "answers": lambda retriever: eval_answers(retriever, queries),
        "routing": lambda retriever: eval_routing(queries, retriever=retriever),
    }
    return report(args, measures[args.eval_command], out)


def report(
    args: argparse.Namespace,
    measure: Callable[[BaseRetriever], dict[str, Any]],
    out: TextIO | None = None,
    *,
    quiet: bool = False,
    **header: Any,
) -> int:
    """Open `args.index`, run `measure` on it and print its figures to `out` (default stdout).

    The figures follow a header: the eval (`args.eval_command`), the index, the questions file
    (`args.queries`), any `header` items and the index's load time; then the wall time. As JSON
    with `args.json`, else as aligned text. `quiet` keeps the graphs' log events below error
    out of the output while `measure` runs.
    """
    out = out or sys.stdout
    retriever, load_s = open_retriever(args.index)
    start = time.perf_counter()
    with quiet_logs(quiet):
        figures = measure(retriever)
    result = {
        "eval": args.eval_command,
        "index": args.index or os.environ.get(ENV_INDEX_PATH) or "(demo knowledge base)",
        "queries": str(args.queries),
        **header,
        "index_load_s": load_s,
        **figures,
        "wall_s": time.perf_counter() - start,
    }
    if args.json:
        json.dump(result, out, indent=2)
        out.write("\n")
    else:
        _print(result, out)
    return 0


@contextmanager
def quiet_logs(quiet: bool = True) -> Iterator[None]:
    """Only errors of the graphs' log events within (they log two a turn).

    The `parallel_tiers` logger's level is restored after (`logs.logged`).
    """
    import logging
    from contextlib import nullcontext

    from parallel_tiers.logs import logged

    with logged(logging.ERROR) if quiet else nullcontext():
        yield


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
    "eval_retrieval",
    "eval_routing",
    "load_queries",
    "recall_at_k",
    "reciprocal_rank",
    "roc_auc",
]
