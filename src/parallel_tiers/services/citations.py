"""Citations: which passage each `[n]` marker of an answer cites, and whether it supports it.

An answer is split into sentences (pysbd). Markers a sentence starts with (`... fever. [1] Next
...`) belong to the sentence before, so both `claim [1].` and `claim. [1]` styles read right.
Each distinct marker of a sentence yields one citation; `[n]` refers to `documents[n-1]`.

Support (`check_support`) combines two kinds of evidence:

* fuzzy: `rapidfuzz.fuzz.partial_ratio` of the normalised claim against the normalised passage,
  high for verbatim and near-verbatim quotes;
* coverage: the share of the claim's stemmed content words (`tokenize`) found in the passage,
  which tolerates reordering and light paraphrase.

A claim is supported when partial_ratio >= `FUZZY_THRESHOLD` (90; the claim needs at least one
content word) or coverage >= `COVERAGE_THRESHOLD` (0.7) with at least `MIN_COVERAGE_WORDS` (3)
content words. 90 accepts quotes that differ by punctuation, case or a short word while
claims that merely share a topic with the passage stay well below it (typically 50-75); 0.7
coverage leaves room for the connective words a paraphrase adds ("typically", "recommended")
but not for a claim whose main terms are absent. The coverage path needs 3 words so that one
or two common words cannot carry a claim. This is a lexical check, fast enough (tens of
microseconds) to run on every answer, and it has the limits of one: it does not see negation
("X does not reduce Y" passes against "X reduces Y"), and one swapped word in a long quote
("in children" for "in adults") still passes.

Sizes are bounded so the work stays linear in the answer: only the first `MAX_ANSWER_CHARS`
characters of an answer are read, passages are read as the prompt carries them (the first
`generation.MAX_SOURCE_CHARS` characters), and a claim longer than `MAX_FUZZY_CLAIM_CHARS` is
matched exactly instead of fuzzily. `CitationExtractor` works in the services' CPU worker
thread when the answer and its passages are large (`INLINE_MAX_CHARS`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from rapidfuzz import fuzz

from parallel_tiers.services.generation import MAX_SOURCE_CHARS, MAX_TITLE_CHARS, source_content
from parallel_tiers.services.text import (
    clip,
    markers,
    off_loop,
    split_sentences,
    tokenize,
    without_markers,
)

FUZZY_THRESHOLD = 90.0
"""`fuzz.partial_ratio` (0..100) from which a claim counts as quoted from the passage."""
COVERAGE_THRESHOLD = 0.7
"""Share of the claim's content words found in the passage from which it is supported."""
MIN_COVERAGE_WORDS = 3
"""Content words a claim needs before coverage alone can support it."""
MAX_ANSWER_CHARS = 20_000
"""Characters of an answer that citation extraction and quality scoring read (about 5,000
tokens; the offline model's answers to MedQuAD questions have at most 2,500). A longer answer
is cut at its last sentence end before the limit (`text.clip`): markers past the cut give no
citation, and `quality_metrics["answer_truncated"]` records the cut."""
MAX_FUZZY_CLAIM_CHARS = 500
"""Longest claim (normalised) compared with `fuzz.partial_ratio`, whose time grows steeply
with the claim's length (against a 32,000-character passage: 300 characters 2 ms, 500
characters 20 ms, 1,000 characters 80 ms, 5,000 characters 2.7 s). A longer claim counts as
quoted (partial_ratio 100) when it occurs in the passage verbatim once both are normalised, and
is otherwise judged by coverage alone; 99% of MedQuAD sentences are shorter than 560
characters, and a quoted one always has full coverage."""
INLINE_MAX_CHARS = 4_000
"""Most characters (`work_size`: the answer and the passages it cites) checked on the event
loop; more are checked in the services' CPU worker thread (`text.off_loop`, about 0.05 ms
more) by `CitationExtractor` and `quality.QualityScorer`. Measured on MedQuAD answers of the offline
model (work size median 1,400): scoring costs about 1.8 µs a character the first time an
answer and its passages are seen (sentence splitting, passage words), a fifth of that after,
so up to 4,000 characters it stays under about 4 ms."""

_NON_WORD = re.compile(r"[^a-z0-9]+")
_LEADING_MARKERS = re.compile(r"^(?:\s*\[\d+\])+")
# A marker group closed by final punctuation ends a claim, even where pysbd sees no sentence
# end ("... information [1].) - Next claim [2].").
_CLAIM_END = re.compile(r"\[\d+\][.!?]+[\"')\]\u201d\u2019]*(\s+)(?=\S)")


def _normalise(text: str) -> str:
    return _NON_WORD.sub(" ", text.lower()).strip()


@lru_cache(maxsize=512)
def _passage_profile(passage: str) -> tuple[str, frozenset[str]]:
    return _normalise(passage), frozenset(tokenize(passage))


def check_support(claim: str, passage: str) -> tuple[bool, float]:
    """Whether `passage` supports `claim` (a sentence without markers), and how strongly.

    Args:
        claim: The statement to check.
        passage: The text it should come from (title and content, say).

    Returns:
        `(supported, strength)`: see the module docstring for the rule; `strength` in 0..1 is
        the stronger of partial_ratio / 100 and the coverage (scaled down for claims with
        fewer than `MIN_COVERAGE_WORDS` content words).

    """
    claim_terms = set(tokenize(claim))
    if not claim_terms or not passage.strip():
        return False, 0.0
    claim_norm = _normalise(claim)
    passage_norm, passage_terms = _passage_profile(passage)
    if len(claim_norm) > MAX_FUZZY_CLAIM_CHARS:
        fuzzy = 100.0 if claim_norm in passage_norm else 0.0
    elif len(claim_norm) <= len(passage_norm):
        fuzzy = fuzz.partial_ratio(claim_norm, passage_norm)
    else:  # partial_ratio would find the short passage inside the long claim
        fuzzy = fuzz.ratio(claim_norm, passage_norm)
    coverage = len(claim_terms & passage_terms) / len(claim_terms)
    enough_words = len(claim_terms) >= MIN_COVERAGE_WORDS
    supported = fuzzy >= FUZZY_THRESHOLD or (enough_words and coverage >= COVERAGE_THRESHOLD)
    scaled = coverage * min(1.0, len(claim_terms) / MIN_COVERAGE_WORDS)
    return supported, round(max(fuzzy / 100, scaled), 4)


def claim_text(sentence: str) -> str:
    """`sentence` without its markers (and without the space they leave before punctuation)."""
    return without_markers(sentence)


@dataclass
class AnswerSentence:
    """One sentence of an answer."""

    text: str
    """The sentence without markers."""
    markers: list[int]
    """Its distinct markers, in order."""


def answer_sentences(answer: str) -> list[AnswerSentence]:
    """Split `answer` into sentences with their distinct markers (see the module docstring).

    Only the first `MAX_ANSWER_CHARS` characters are read (`text.clip`). Sentences that are
    empty once markers are removed are dropped (their markers moved to the sentence before
    when there is one).
    """
    result: list[AnswerSentence] = []
    text = clip(answer or "", MAX_ANSWER_CHARS)
    pieces = (piece for s in split_sentences(text) for piece in _split_claims(s))
    for raw in pieces:
        lead = _LEADING_MARKERS.match(raw)
        if lead and result:
            _add_markers(result[-1], markers(lead.group()))
            raw = raw[lead.end() :]
        text = claim_text(raw)
        if text:
            sentence = AnswerSentence(text=text, markers=[])
            _add_markers(sentence, markers(raw))
            result.append(sentence)
    return result


def _split_claims(sentence: str) -> list[str]:
    pieces, start = [], 0
    for match in _CLAIM_END.finditer(sentence):
        pieces.append(sentence[start : match.start(1)])
        start = match.end(1)
    pieces.append(sentence[start:])
    return pieces


def _add_markers(sentence: AnswerSentence, found: Sequence[int]) -> None:
    for n in found:
        if n not in sentence.markers:
            sentence.markers.append(n)


def resolve(index: int, documents: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """Return the document a marker `[index]` cites, or None when it is out of range."""
    return documents[index - 1] if 1 <= index <= len(documents) else None


def passage_text(document: Mapping[str, Any]) -> str:
    """Return the text a citation of `document` is checked against: title and content.

    Both as the prompt carries them when they are longer than it does (`MAX_TITLE_CHARS`,
    `MAX_SOURCE_CHARS`): a marker is checked against what the model was shown.
    """
    title = str(document.get("title") or "")
    content = str(document.get("content") or "")
    if len(title) > MAX_TITLE_CHARS:
        title = clip(title, MAX_TITLE_CHARS)
    if len(content) > MAX_SOURCE_CHARS:
        content = source_content(document)
    return f"{title}. {content}".strip(" .")


def passage_terms(text: str) -> frozenset[str]:
    """The stemmed content words of a `passage_text` (cached by text)."""
    return _passage_profile(text)[1]


def is_truncated(document: Mapping[str, Any]) -> bool:
    """Whether `passage_text` reads only a prefix of `document`'s content."""
    return len(str(document.get("content") or "")) > MAX_SOURCE_CHARS


def work_size(answer: str, documents: Sequence[Mapping[str, Any]]) -> int:
    """Characters read to check `answer`: the answer and the passages it cites, as read."""
    size = min(len(answer), MAX_ANSWER_CHARS)
    for n in set(markers(clip(answer, MAX_ANSWER_CHARS))):
        doc = resolve(n, documents)
        if doc is not None:
            content = len(str(doc.get("content") or ""))
            size += min(content, MAX_SOURCE_CHARS) + min(
                len(str(doc.get("title") or "")), MAX_TITLE_CHARS
            )
    return size


@dataclass(frozen=True)
class MarkerCheck:
    """One marker of a sentence, checked against the passage it cites."""

    index: int
    """The marker's number: `[index]` cites `documents[index - 1]`."""
    document: Mapping[str, Any] | None
    """The cited passage; None when the marker is out of range."""
    supported: bool
    """Whether the passage supports the sentence (`check_support`)."""


def check_markers(
    sentence: AnswerSentence,
    documents: Sequence[Mapping[str, Any]],
    texts: dict[int, str] | None = None,
) -> list[MarkerCheck]:
    """Check each marker of `sentence` against its passage: the one support check.

    `texts` caches each cited passage's `passage_text` by marker across the sentences of one
    answer (the caller passes the same dict for all of them).
    """
    texts = {} if texts is None else texts
    found = []
    for n in sentence.markers:
        doc = resolve(n, documents)
        if doc is not None and n not in texts:
            texts[n] = passage_text(doc)
        supported = doc is not None and check_support(sentence.text, texts[n])[0]
        found.append(MarkerCheck(n, doc, supported))
    return found


def extract_citations(answer: str, documents: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One citation per distinct marker of each answer sentence.

    Args:
        answer: The generated answer with `[n]` markers.
        documents: The passages the markers refer to (`[n]` is `documents[n-1]`).

    Returns:
        Dicts with `index`, `document_id` and `title` (None when the marker is out of range),
        `quote` (the sentence without markers) and `supported` (see `check_support`).

    """
    texts: dict[int, str] = {}
    return [
        {
            "index": check.index,
            "document_id": None if check.document is None else check.document.get("id"),
            "title": None if check.document is None else check.document.get("title"),
            "quote": sentence.text,
            "supported": check.supported,
        }
        for sentence in answer_sentences(answer)
        for check in check_markers(sentence, documents, texts)
    ]


def is_supported(sentence: AnswerSentence, documents: Sequence[Mapping[str, Any]]) -> bool:
    """Whether any marker of `sentence` cites a document that supports it."""
    return any(check.supported for check in check_markers(sentence, documents))


def unsupported_claims(answer: str, documents: Sequence[Mapping[str, Any]]) -> list[str]:
    """List the answer's sentences (without markers) that no cited passage supports.

    Every such sentence is listed, including sentences without any marker (a tool-result
    sentence or "I could not find this ..." among them): the check is deliberately simple.
    """
    return [s.text for s in answer_sentences(answer) if not is_supported(s, documents)]


class CitationExtractor:
    """The default citations service: `await aextract(answer, documents)`."""

    async def aextract(
        self, answer: str, documents: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """Return the citations of `answer` (see `extract_citations`).

        In a worker thread when the work is large (`INLINE_MAX_CHARS`).
        """
        if work_size(answer, documents) <= INLINE_MAX_CHARS:
            return extract_citations(answer, documents)
        return await off_loop(extract_citations, answer, documents)
