"""Text helpers shared by the services: tokenising with stemming, and sentence splitting."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import math
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any, TypeVar

import pysbd
import Stemmer

_T = TypeVar("_T")

_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
_MARKER = re.compile(r"\[(\d+)\]")

#: Common English words that carry no topic (kept short on purpose: medical words stay).
STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "also",
        "may",
        "might",
        "must",
        "shall",
        "get",
        "gets",
        "got",
        "tell",
        "know",
        "please",
        "want",
        "need",
        "much",
        "many",
    ]
)


# Neither a PyStemmer stemmer nor a pysbd segmenter may be used by two threads at once (both
# keep state between calls), and the services tokenise and split in worker threads too: each
# thread gets its own.
_per_thread = threading.local()


def _stemmer() -> Stemmer.Stemmer:
    stemmer: Stemmer.Stemmer | None = getattr(_per_thread, "stemmer", None)
    if stemmer is None:
        stemmer = _per_thread.stemmer = Stemmer.Stemmer("english")
    return stemmer


def _segmenter() -> pysbd.Segmenter:
    segmenter: pysbd.Segmenter | None = getattr(_per_thread, "segmenter", None)
    if segmenter is None:
        segmenter = _per_thread.segmenter = pysbd.Segmenter(language="en", clean=False)
    return segmenter


def words(text: str) -> list[str]:
    """Lower-cased words of `text`, without stopwords and not stemmed."""
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


def tokenize(text: str) -> list[str]:
    """Lower-cased, stemmed content words of `text` (stopwords removed)."""
    return list(_stemmer().stemWords(words(text)))


def bm25_idf(n: int, df: int) -> float:
    """BM25's inverse document frequency of a term found in `df` of `n` documents.

    Lucene's form, always positive: the one idf of the retriever's coverage and the offline
    model's sentence ranking.
    """
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


def split_sentences(text: str) -> list[str]:
    """Split `text` into sentences, stripped and without empty ones, in time linear in its size.

    A text of up to `SEGMENT_CHARS` characters (nearly every passage and answer) goes to pysbd
    whole. A longer one is first cut into blocks of at most `SEGMENT_CHARS` characters, each
    ending at the last place in it where pysbd would end a sentence too: a line break or a
    likely sentence end (`.`, `!` or `?` after a word that is neither an abbreviation nor an
    initial, before a capital or a digit) outside quotes, parentheses and brackets (pysbd never
    splits inside them). A block with no such place ends at its last space, cutting a sentence
    longer than `SEGMENT_CHARS` in two. Blocks (and short texts) go to pysbd, except blocks
    past the first `PYSBD_MAX_CHARS` characters and texts denser in what pysbd rescans the
    text for than `MAX_MARKS_PER_1000`, which go to the cheap rule that finds the block ends
    (`_rule_sentences`).
    """
    if len(text) <= SEGMENT_CHARS:
        return list(_split_cached(text))
    sentences: list[str] = []
    start = 0
    while start < len(text):
        end = _block_end(text, start)
        block = text[start:end]
        sentences.extend(_rule_sentences(block) if start >= PYSBD_MAX_CHARS else _split(block))
        start = end
    return sentences


SEGMENT_CHARS = 4_000
"""Longest text pysbd splits in one go. Its abbreviation pass rescans the whole text for each
abbreviation it finds, so its time grows with the square of the text's length (10 KB: 0.09 s,
40 KB: 0.9 s, 100 KB: 4.9 s, 300 KB: about 45 s); in blocks of at most 4,000 characters it
costs about 5 µs a character. MedQuAD passages are 850 characters at the median and 7,400 at
the 99th percentile; split in blocks they give the same sentences as whole (checked on all
17,908 passages and 8,203 questions)."""

PYSBD_MAX_CHARS = 100_000
"""Characters of a text split by pysbd (about 0.5 s of prose); the rest, which no caller in
this package sends (passages and answers are capped well below it: `generation.MAX_SOURCE_CHARS`,
`citations.MAX_ANSWER_CHARS`), is split by the rule that cuts the blocks, at well under 1 µs a
character."""

MAX_MARKS_PER_1000 = 80
"""Most marks per 1,000 characters (counted on at least 1,000) a text may hold to go to pysbd:
`.`, `!`, `?` and words starting like one of its abbreviations ("is", "ill", "no", ...).
pysbd rescans the whole text once per such mark, so its time grows with their number as well
as with the text's length: 4,000 characters of "x. x. x." take it 0.6 s, of "what is 1" 40 ms.
MedQuAD passages and questions hold at most 70 (median 20); a denser text is split by the
cheap rule."""


@lru_cache(maxsize=4096)
def _split_cached(text: str) -> tuple[str, ...]:
    # pysbd takes about 0.3-1 ms a text; passages and answers recur (tier 2 splits the same
    # answer in two branches), so the split is cached by text (texts of at most SEGMENT_CHARS).
    return _split(text)


def _split(text: str) -> tuple[str, ...]:
    """Split a text of at most about `SEGMENT_CHARS` characters (pysbd or the cheap rule)."""
    marks = text.count(".") + text.count("!") + text.count("?")
    marks += len(_ABBREVIATION_START.findall(text))
    if marks > MAX_MARKS_PER_1000 * max(len(text), 1000) / 1000:
        return tuple(_rule_sentences(text))
    return _segment(text)


def _segment(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in _segmenter().segment(text) if s.strip())


# A run of final punctuation (matched from its first character only, so a long run of dots is
# not rescanned from each of its characters), closing quotes or brackets, white space, and a
# capital or a digit next (possibly after an opening quote or bracket); or a line break.
_SENTENCE_END = re.compile(
    r"(?<![.!?])[.!?]++[\"')\]\u201d\u2019]*+\s++(?=[\"'(\[\u201c\u2018]?[A-Z0-9])|\n"
)
_WORD_CHARS = re.compile(r"\w+")
_CLOSERS = frozenset(")]\"'\u201d\u2019")
_ABBREVIATIONS = frozenset(
    word for word in pysbd.lang.english.English.Abbreviation.ABBREVIATIONS if "." not in word
)
# What pysbd's abbreviation pass rescans the text for: a word starting like an abbreviation.
_ABBREVIATION_START = re.compile(
    r"(?:^|(?<=\s))(?:"
    + "|".join(
        re.escape(a.strip())
        for a in sorted(pysbd.lang.english.English.Abbreviation.ABBREVIATIONS, key=len)[::-1]
    )
    + ")",
    re.IGNORECASE,
)
# Stretches within a line that pysbd never splits: text in parentheses, brackets or quotes,
# and between two "--".
_PROTECTED = tuple(
    re.compile(pattern)
    for pattern in (
        r"\([^()\n]*\)",
        r"\[[^\[\]\n]*\]",
        r'"[^"\n]*"',
        r"\u201c[^\u201c\u201d\n]*\u201d",
        r"--[^-\n]*--",
    )
)


def _ends_sentence(text: str, match: re.Match[str]) -> bool:
    """Whether a `_SENTENCE_END` match in `text` ends a sentence (not "Dr.", "e.g.", "J.").

    A period after a closing bracket or quote ends one (`claim [1].`); after a word, when the
    word is no abbreviation or initial (two letters or more, one of them lower case).
    """
    if text[match.start()] != ".":
        return True
    if match.start() > 0 and text[match.start() - 1] in _CLOSERS:
        return True
    # The word before the period, read backwards from it over at most 32 characters.
    before = _WORD_CHARS.match(text[max(0, match.start() - 32) : match.start()][::-1])
    word = before.group()[::-1] if before else ""
    return len(word) >= 2 and any(c.islower() for c in word) and word.lower() not in _ABBREVIATIONS


def _block_end(text: str, start: int) -> int:
    """Where the block of `text` that begins at `start` ends (see `split_sentences`).

    At the last place where pysbd would end a sentence too (`_block_ends`) within
    `SEGMENT_CHARS` characters of `start`; else at the first one (or the text's end) within
    twice that, so a sentence up to about `SEGMENT_CHARS` long stays whole; else at the last
    space within `SEGMENT_CHARS`.
    """
    high, limit = start + SEGMENT_CHARS, start + 2 * SEGMENT_CHARS
    if len(text) <= high:
        return len(text)
    last = None
    for end in _block_ends(text, start, limit):
        if end > high:
            return end if last is None else last
        last = end
    if last is not None:
        return last
    if len(text) <= limit:
        return len(text)
    space = text.rfind(" ", start + 1, high)
    return space + 1 if space > start else high


def _block_ends(text: str, start: int, stop: int) -> Iterator[int]:
    """Yield the places in `text[start:stop]` where a block may end.

    After a line break, or after a sentence end `_ends_sentence` accepts, without a closing
    quote or bracket (pysbd may give a ")" to the next sentence), outside the protected
    stretches (`_PROTECTED`, found from `start`).
    """
    spans = _protected_spans(text, start, stop + SEGMENT_CHARS)
    i = 0
    for match in _SENTENCE_END.finditer(text, start, stop + 1):
        if match.end() > stop:
            return
        while i < len(spans) and spans[i][1] < match.end():
            i += 1
        if i < len(spans) and spans[i][0] < match.start():
            continue  # within parentheses, brackets or quotes
        bare = match.group().rstrip()[-1:] in ("", ".", "!", "?")  # "" for a line break
        if bare and _ends_sentence(text, match):
            yield match.end()


def _protected_spans(text: str, start: int, stop: int) -> list[tuple[int, int]]:
    """The stretches of `text[start:stop]` pysbd keeps whole, merged where they overlap.

    Each kind is found on its own, as pysbd does: a quote may overlap parentheses
    (`(see "Living With It). More ... "`).
    """
    found = sorted(m.span() for kind in _PROTECTED for m in kind.finditer(text, start, stop))
    merged: list[tuple[int, int]] = []
    for begin, end in found:
        if merged and begin < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((begin, end))
    return merged


def _rule_sentences(block: str) -> list[str]:
    """Split `block` at line breaks and at the sentence ends `_ends_sentence` accepts."""
    sentences, start = [], 0
    for match in _SENTENCE_END.finditer(block):
        if _ends_sentence(block, match):
            sentences.append(block[start : match.end()])
            start = match.end()
    sentences.append(block[start:])
    return [s.strip() for s in sentences if s.strip()]


_CPU_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parallel-tiers-cpu")


async def off_loop(func: Callable[..., _T], *args: Any) -> _T:
    """Run `func(*args)` in the services' CPU worker thread, keeping the event loop free.

    For pure-Python work larger than a few milliseconds (sentence splitting, scoring, ranking
    tools for a long query). There is one such thread per process: the work holds the GIL, so
    more threads would not finish it sooner; they would only be more contenders for the GIL
    with the event loop, which gets it back within the interpreter's switch interval (5 ms)
    plus the longest single C call of the work (a few ms: every text it reads is capped). The
    caller's context variables (tracing, callbacks) go with the call.
    """
    call = functools.partial(contextvars.copy_context().run, func, *args)
    return await asyncio.get_running_loop().run_in_executor(_CPU_WORKER, call)


def clip(text: str, limit: int) -> str:
    """Return `text` cut to at most `limit` characters at a sentence end; unchanged if shorter.

    The cut is at the last line break or sentence end (as `split_sentences` finds them) in the
    last quarter of the limit, else at the last space there, else at `limit`; the white space
    it leaves at the end is dropped. Reads at most `limit` characters, whatever the text's size.
    """
    if len(text) <= limit:
        return text
    low = limit - limit // 4
    cut = max(_block_ends(text, low, limit), default=None)
    if cut is None:
        space = text.rfind(" ", low, limit)
        cut = space if space > 0 else limit
    return text[:cut].rstrip()


def strip_markers(text: str) -> str:
    """`text` without its `[n]` citation markers."""
    return re.sub(r"\s+", " ", _MARKER.sub("", text)).strip()


_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:!?)])")


def without_markers(text: str) -> str:
    """`text` without its markers and without the space they leave before punctuation."""
    return _SPACE_BEFORE_PUNCT.sub(r"\1", strip_markers(text))


def markers(text: str) -> list[int]:
    """The `[n]` citation markers in `text`, in order, duplicates kept."""
    return [int(m) for m in _MARKER.findall(text)]
