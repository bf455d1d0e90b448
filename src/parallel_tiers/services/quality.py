"""Answer quality: lexical measurements of how grounded and on-topic an answer is.

All metrics are computed from the query, the answer and the passages; nothing calls a model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from parallel_tiers.services.citations import (
    answer_sentences,
    check_support,
    passage_text,
    resolve,
)
from parallel_tiers.services.text import strip_markers, tokenize

WEIGHTS = {"groundedness": 0.5, "query_coverage": 0.25, "evidence_relevance": 0.25}
"""Weights of the metrics in `quality_score` (see `QualityScorer.ascore`)."""


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def score_answer(
    query: str, answer: str, documents: Sequence[Mapping[str, Any]]
) -> tuple[float | None, dict[str, Any]]:
    """Score `answer` to `query` given the passages its `[n]` markers cite.

    Metrics (shares in 0..1):

    * `groundedness`: answer sentences supported (`check_support`) by a passage they cite;
    * `citation_precision`: (sentence, distinct marker) pairs whose marker resolves to a passage
      that supports the sentence; None when the answer has no marker;
    * `query_coverage`: the query's content words (`tokenize`) found in the answer;
    * `evidence_relevance`: the query's content words found in the cited passages;
    * `answer_sentences`, `cited_sentences`: counts; `unsupported_claims`: sentences no cited
      passage supports.

    Score: `0.5 * groundedness + 0.25 * query_coverage + 0.25 * evidence_relevance`. When the
    query has no content words the two query metrics are None and the score is groundedness
    alone (the weights of the available metrics are renormalised).

    Returns:
        `(quality_score, quality_metrics)`; the score is None, and the metrics carry a
        `reason`, when the answer is empty.

    """
    sentences = answer_sentences(answer)
    if not sentences:
        return None, {"reason": "empty answer", "answer_sentences": 0, "cited_sentences": 0}
    pairs = 0
    good_pairs = 0
    grounded = 0
    unsupported = []
    cited_terms: set[str] = set()
    for sentence in sentences:
        supported = False
        for n in sentence.markers:
            pairs += 1
            doc = resolve(n, documents)
            if doc is None:
                continue
            text = passage_text(doc)
            cited_terms.update(tokenize(text))
            if check_support(sentence.text, text)[0]:
                good_pairs += 1
                supported = True
        grounded += supported
        if not supported:
            unsupported.append(sentence.text)
    query_terms = set(tokenize(query))
    answer_terms = set(tokenize(strip_markers(answer)))
    metrics: dict[str, Any] = {
        "groundedness": _share(grounded, len(sentences)),
        "citation_precision": _share(good_pairs, pairs),
        "query_coverage": _share(len(query_terms & answer_terms), len(query_terms)),
        "evidence_relevance": _share(len(query_terms & cited_terms), len(query_terms)),
        "answer_sentences": len(sentences),
        "cited_sentences": sum(1 for s in sentences if s.markers),
        "unsupported_claims": unsupported,
    }
    available = {k: w for k, w in WEIGHTS.items() if metrics[k] is not None}
    score = sum(w * metrics[k] for k, w in available.items()) / sum(available.values())
    return round(score, 4), metrics


class QualityScorer:
    """The default quality service: `await ascore(query, answer, documents)`."""

    async def ascore(
        self, query: str, answer: str, documents: Sequence[Mapping[str, Any]]
    ) -> tuple[float | None, dict[str, Any]]:
        """Score an answer (see `score_answer` for the metrics and the formula)."""
        return score_answer(query, answer, documents)
