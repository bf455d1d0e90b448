"""Answer quality: lexical measurements of how grounded and on-topic an answer is.

All metrics are computed from the query, the answer and the passages; nothing calls a model, so
the score works offline and costs well under a millisecond for a short answer.

`quality_metrics` fields (the answer is split into sentences as in `citations`, markers
removed; a "topic word" is a stemmed content word of the question's focus, i.e. without its
type cues such as "symptoms of" or question boilerplate, see
`questions.QuestionTypes.analyse_question`; the types and their cues are the profile's, see
`parallel_tiers.profiles`; with none, `aspect` is always None):

=====================  =========================  ==================================================
field                  range                      meaning
=====================  =========================  ==================================================
groundedness           0..1                       share of answer sentences supported
                                                  (`citations.check_support`) by a passage one of
                                                  their own markers cites
citation_precision     0..1, or None              share of (sentence, distinct marker) pairs whose
                                                  marker resolves to a passage supporting the
                                                  sentence; None when the answer has no marker
query_coverage         0..1, or None              share of the question's topic words found in the
                                                  answer; None when the question has no content
                                                  word
evidence_relevance     0..1, or None              share of the question's topic words found in the
                                                  passages the answer cites (title and content);
                                                  None as above
topicality             0..1, or None              the larger of query_coverage and
                                                  evidence_relevance: how much of the question's
                                                  topic the answer or its evidence names (None
                                                  when both are None); 0 when the question
                                                  names no topic and refers back ("How is it
                                                  treated?") with nothing resolved for it
informativeness        0..1                       share of answer sentences that say something
                                                  beyond the question: not a list introduction
                                                  without its items, not a restatement of the
                                                  question's words (`content.empty_sentences`)
aspect                 str, or None               the type of answer asked for first
                                                  (`questions.asked_type`: "treatment" for "How
                                                  is it treated?"); None for a general question
aspect_addressed       bool, or None              whether the answer speaks to `aspect`: it cites
                                                  a passage whose title declares that section, or
                                                  its sentences speak to it (`.addresses` of the
                                                  profile's `QuestionTypes`;
                                                  most of them when the passages it cites declare
                                                  other sections); None when `aspect` is None
missing                list of str                what the answer lacks, in words: the asked
                                                  aspect, content, words of the question's topic,
                                                  support; empty for a complete answer
empty_sentences        list of dict               the sentences that say nothing (`sentence`,
                                                  `reason`)
answer_sentences       int >= 1                   sentences in the answer
cited_sentences        int, 0..answer_sentences   sentences with at least one marker
unsupported_claims     list of str                the sentences (markers removed) no cited passage
                                                  supports, in order; sentences without a marker
                                                  included
reason                 str (only when no score)   why there is no score ("empty answer")
answer_truncated       dict (only when cut)       the answer was longer than
                                                  `citations.MAX_ANSWER_CHARS`: `chars` (its
                                                  length) and `scored_chars` (the prefix scored)
passages_truncated     list of int (only when     the markers of cited passages longer than
                       any)                       `generation.MAX_SOURCE_CHARS`, checked against
                                                  their first part (what the prompt carried)
=====================  =========================  ==================================================

`quality_score` (0..1, or None for an empty answer) is the `WEIGHTS`-weighted mean
`0.5 * groundedness + 0.25 * query_coverage + 0.25 * evidence_relevance` (the weights of None
metrics left out and the rest renormalised), times `topicality` (when not None), times
`informativeness`, times
`ASPECT_MISSED_FACTOR` (0.5) when `aspect_addressed` is False. Groundedness alone cannot tell
an on-topic answer from a faithful quote of the wrong passage; the two topic metrics do, which
is why the topic words leave the type cues out: an unrelated passage on the "causes" of another
disease shares "causes" with the question, not its topic; an answer that names none of the
topic, quoting passages that do not either, scores 0. A faithful quote that says nothing
("... provides the following list of signs and symptoms [1].") scores 0, and one about the
right topic's diagnosis for a treatment question half. In a conversation the post-generation
tier scores the question as it was resolved (the question and its topic, see
`tiers.post_generation.quality_scoring`).

Measured on a labelled set built from MedQuAD's dev data (`make eval-quality`, see
`evals/quality_labels.py` in the repository): the ROC AUC of good answers over vacuous ones,
wrong-aspect ones, wrong-topic follow-ups and answers from unrelated passages is reported in
the README.

The work is linear in the answer and bounded (see the caps above); `QualityScorer` scores in a
worker thread when it is large (`citations.INLINE_MAX_CHARS`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from parallel_tiers.services.citations import (
    INLINE_MAX_CHARS,
    MAX_ANSWER_CHARS,
    answer_sentences,
    check_markers,
    is_truncated,
    passage_terms,
    resolve,
    work_size,
)
from parallel_tiers.services.content import empty_sentences
from parallel_tiers.services.conversation import refers_back
from parallel_tiers.services.questions import (
    INFORMATION,
    QuestionTypes,
    asked_type,
    default_questions,
)
from parallel_tiers.services.text import clip, off_loop, strip_markers, tokenize

WEIGHTS = {"groundedness": 0.5, "query_coverage": 0.25, "evidence_relevance": 0.25}
"""Weights of the metrics in `quality_score` (see `QualityScorer.ascore`)."""
ASPECT_MISSED_FACTOR = 0.5
"""Factor of the score of an answer that does not address the aspect asked for."""


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def score_answer(
    query: str,
    answer: str,
    documents: Sequence[Mapping[str, Any]],
    questions: QuestionTypes | None = None,
) -> tuple[float | None, dict[str, Any]]:
    """Score `answer` to `query` given the passages its `[n]` markers cite.

    The metrics and the score are described in this module's docstring. When the query has
    no content words the two query metrics are None and the score is groundedness alone (the
    weights of the available metrics are renormalised). The question is read with
    `questions` (default: the default profile's question types).

    Returns:
        `(quality_score, quality_metrics)`; the score is None, and the metrics carry a
        `reason`, when the answer is empty.

    """
    scored = clip(answer, MAX_ANSWER_CHARS)
    sentences = answer_sentences(scored)
    if not sentences:
        return None, {"reason": "empty answer", "answer_sentences": 0, "cited_sentences": 0}
    pairs = 0
    good_pairs = 0
    grounded = 0
    unsupported = []
    texts: dict[int, str] = {}  # passage_text by marker, built once
    for sentence in sentences:
        checks = check_markers(sentence, documents, texts)
        pairs += len(checks)
        good_pairs += sum(check.supported for check in checks)
        supported = any(check.supported for check in checks)
        grounded += supported
        if not supported:
            unsupported.append(sentence.text)
    cited_terms = {t for text in texts.values() for t in passage_terms(text)}
    qt = default_questions() if questions is None else questions
    analysis = qt.analyse_question(query)
    query_terms = set(analysis.focus_terms)
    answer_terms = set(tokenize(strip_markers(scored)))
    asked = set(analysis.terms) | query_terms | qt.empty_words
    empty = empty_sentences([(s.text, s.markers) for s in sentences], asked)
    saying = [s.text for i, s in enumerate(sentences) if i not in empty]
    aspect = asked_type(analysis)
    named = qt.focus_words(query)
    addressed = None if aspect is None else _addresses(qt, aspect, named, saying, documents, texts)
    metrics: dict[str, Any] = {
        "groundedness": _share(grounded, len(sentences)),
        "citation_precision": _share(good_pairs, pairs),
        "query_coverage": _share(len(query_terms & answer_terms), len(query_terms)),
        "evidence_relevance": _share(len(query_terms & cited_terms), len(query_terms)),
        "informativeness": _share(len(saying), len(sentences)),
        "aspect": aspect,
        "aspect_addressed": addressed,
        "answer_sentences": len(sentences),
        "cited_sentences": sum(1 for s in sentences if s.markers),
        "unsupported_claims": unsupported,
        "empty_sentences": [
            {"sentence": sentences[i].text, "reason": reason} for i, reason in empty.items()
        ],
        **_truncations(answer, scored, documents, texts),
    }
    topical = [
        metrics[k] for k in ("query_coverage", "evidence_relevance") if metrics[k] is not None
    ]
    metrics["topicality"] = max(topical) if topical else None
    unresolved = not named and refers_back(query)  # "How is it treated?", nothing resolved
    if unresolved:
        metrics["topicality"] = 0.0
    metrics["missing"] = _missing(metrics, query_terms - answer_terms, unresolved)
    available = {k: w for k, w in WEIGHTS.items() if metrics[k] is not None}
    score = sum(w * metrics[k] for k, w in available.items()) / sum(available.values())
    score *= metrics["informativeness"]
    if metrics["topicality"] is not None:
        score *= metrics["topicality"]
    if addressed is False:
        score *= ASPECT_MISSED_FACTOR
    return round(score, 4), metrics


def _addresses(
    qt: QuestionTypes,
    aspect: str,
    ignore: Collection[str],
    sentences: Sequence[str],
    documents: Sequence[Mapping[str, Any]],
    cited: Mapping[int, str],
) -> bool:
    """Whether the answer speaks to the asked aspect (see the module docstring)."""
    sections = set()
    for n in cited:
        doc = resolve(n, documents)
        if doc is not None:
            sections.add(qt.section_of_title(str(doc.get("title") or ""))[0])
    if aspect in sections:
        return True
    speaking = sum(qt.addresses(s, aspect, ignore) for s in sentences)
    if sections - {None, INFORMATION}:
        # quoting passages that declare other sections: most of what it says must speak to it
        return 2 * speaking > len(sentences)
    return speaking > 0


def _missing(
    metrics: Mapping[str, Any], topic_words_missing: set[str], unresolved: bool
) -> list[str]:
    """What the answer lacks, in words: the asked aspect, content, the topic, support."""
    missing = []
    if metrics["aspect_addressed"] is False:
        missing.append(f"the asked aspect ({metrics['aspect']}) is not addressed")
    if metrics["informativeness"] is not None and metrics["informativeness"] < 1:
        empty = len(metrics["empty_sentences"])
        missing.append(f"{empty} of {metrics['answer_sentences']} sentences say nothing")
    if unresolved:
        missing.append("the question's topic: it refers back to something it does not name")
    elif metrics["query_coverage"] is not None and metrics["query_coverage"] < 1:
        missing.append("words of the question's topic: " + ", ".join(sorted(topic_words_missing)))
    if metrics["unsupported_claims"]:
        missing.append(f"support for {len(metrics['unsupported_claims'])} sentences")
    return missing


def _truncations(
    answer: str, scored: str, documents: Sequence[Mapping[str, Any]], cited: Mapping[int, str]
) -> dict[str, Any]:
    """The `answer_truncated` and `passages_truncated` metrics, when there is a cut."""
    found: dict[str, Any] = {}
    if len(scored) < len(answer):
        found["answer_truncated"] = {"chars": len(answer), "scored_chars": len(scored)}
    cut = sorted(n for n in cited if (doc := resolve(n, documents)) and is_truncated(doc))
    if cut:
        found["passages_truncated"] = cut
    return found


class QualityScorer:
    """The default quality service: `await ascore(query, answer, documents)`.

    Args:
        questions: The question types questions are read with (the aspect asked for, the
            topic words, the words that say nothing); default: the default profile's.
            `services.wiring.build_services` gives it the run's profile's.

    """

    def __init__(self, questions: QuestionTypes | None = None) -> None:
        self.questions = default_questions() if questions is None else questions

    async def ascore(
        self, query: str, answer: str, documents: Sequence[Mapping[str, Any]]
    ) -> tuple[float | None, dict[str, Any]]:
        """Score an answer (see `score_answer` for the metrics and the formula).

        In a worker thread when the work is large (`citations.INLINE_MAX_CHARS`).
        """
        if work_size(answer, documents) <= INLINE_MAX_CHARS:
            return score_answer(query, answer, documents, self.questions)
        return await off_loop(score_answer, query, answer, documents, self.questions)
