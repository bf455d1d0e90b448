"""Text helpers shared by the services: tokenising with stemming, and sentence splitting."""

from __future__ import annotations

import re
from functools import lru_cache

import pysbd
import Stemmer

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


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


@lru_cache(maxsize=1)
def _segmenter() -> pysbd.Segmenter:
    return pysbd.Segmenter(language="en", clean=False)


def words(text: str) -> list[str]:
    """Lower-cased words of `text`, without stopwords and not stemmed."""
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


def tokenize(text: str) -> list[str]:
    """Lower-cased, stemmed content words of `text` (stopwords removed)."""
    return list(_stemmer().stemWords(words(text)))


def split_sentences(text: str) -> list[str]:
    """Split `text` into sentences (pysbd), stripped and without empty ones."""
    return list(_split_cached(text))


@lru_cache(maxsize=4096)
def _split_cached(text: str) -> tuple[str, ...]:
    # pysbd takes about 0.3-1 ms a text; passages and answers recur (tier 2 splits the same
    # answer in two branches), so the split is cached by text.
    return tuple(s.strip() for s in _segmenter().segment(text) if s.strip())


def strip_markers(text: str) -> str:
    """`text` without its `[n]` citation markers."""
    return re.sub(r"\s+", " ", _MARKER.sub("", text)).strip()


def markers(text: str) -> list[int]:
    """The `[n]` citation markers in `text`, in order, duplicates kept."""
    return [int(m) for m in _MARKER.findall(text)]
