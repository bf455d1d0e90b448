"""What an answer sentence says: content, or nothing beyond the question.

Two kinds of sentence read like an answer and say nothing, and both are common in extracts of
reference pages:

* a **list introduction without its items**: "The Human Phenotype Ontology provides the
  following list of signs and symptoms for Marfan syndrome." or "... the table below
  includes ...": it announces content (`ANNOUNCES`) that is not in the sentence (no colon
  followed by items);
* a **restatement**: every content word of the sentence is a word of the question (or of the
  conversation's topic), a word that names no fact (`FILLER`: "common", "described", ...) or
  one of the domain's words that say nothing in an answer (the profile's
  `QuestionTypes.empty_words`: "symptoms", "disease" in the medical one, which the callers
  pass with the question's words): "These are common symptoms of Marfan syndrome."

`vacuous_reason` tells which, `None` for a sentence with content. The offline model leaves
such sentences out of its answers (`generation.extractive_answer`) and the quality scorer counts
them (`quality.score_answer`'s `informativeness`). Only English discourse words are used here:
the domain's words come from the caller, so the same rules hold for any corpus.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence

from parallel_tiers.services.text import tokenize

LIST_INTRODUCTION = "list introduction without its items"
RESTATEMENT = "says nothing beyond the question"

ANNOUNCES = re.compile(
    r"\b(?:the|these|this) following\b|\bfollowing (?:list|table|information|are|is)\b"
    r"|\b(?:list(?:ed)?|shown|table|described|given) below\b|\bbelow (?:is|are|lists?|includes?)\b"
    r"|\bas follows\b|\binclud(?:e|es|ing)\s*:\s*$|:\s*$",
    re.IGNORECASE,
)
"""Words by which a sentence announces content that comes after it."""

_ITEMS_AFTER_COLON = re.compile(r":\s*\S+(?:\s+\S+)")

FILLER = frozenset(
    tokenize(
        "common commonly problem problems issue issues information informations known "
        "describe described describes description discuss discussed explain explained "
        "available here below above following list listed table section page source sources "
        "answer question questions various different several certain type types kind kinds "
        "aspect aspects thing things way ways people person persons individual individuals "
        "general generally detail details include includes included including provide "
        "provides provided learn see mention mentioned refer refers term terms topic topics "
        "fact facts main important importantly usually typically often sometimes also well "
        "something anything everything related associated regarding concerning number numbers "
        "find found help helps helpful useful resource resources read reading summary "
        "overview given shown show shows present presents presented exist exists existing "
        "relevant basic key essential specific particular overall whole complete brief short"
    )
)
"""Stemmed English words that name no fact: a sentence made of these and the question's words
is empty. A domain adds its own (`QuestionTypes.filler`, "disease" in the medical profile): the
callers pass them with the question's words."""


def vacuous_reason(
    sentence: str, question_terms: Collection[str], terms: Iterable[str] | None = None
) -> str | None:
    """Why `sentence` says nothing (`LIST_INTRODUCTION`, `RESTATEMENT`), or None.

    Args:
        sentence: One answer sentence, citation markers removed.
        question_terms: Stemmed content words of the question and of the topic it was resolved
            to in a conversation (`text.tokenize`), with the domain's words that say nothing
            in an answer (`QuestionTypes.empty_words`).
        terms: The sentence's `text.tokenize` words when the caller has them already.

    """
    text = sentence.strip()
    if ANNOUNCES.search(text) and not _ITEMS_AFTER_COLON.search(text):
        return LIST_INTRODUCTION
    if not new_terms(text, question_terms, terms):
        return RESTATEMENT
    return None


def empty_sentences(
    sentences: Sequence[tuple[str, Collection[int]]], question_terms: Collection[str]
) -> dict[int, str]:
    """The answer sentences that say nothing, by position, with the reason.

    Args:
        sentences: Each sentence's text (markers removed) and the markers it carries.
        question_terms: As for `vacuous_reason`.

    A list introduction followed by a sentence with content from the same passage (a shared
    marker, or no markers on either) introduces what follows it: it is not counted.

    """
    found = {
        i: r for i, (text, _) in enumerate(sentences) if (r := vacuous_reason(text, question_terms))
    }
    for i, reason in list(found.items()):
        if reason == LIST_INTRODUCTION and i + 1 < len(sentences) and i + 1 not in found:
            here, after = set(sentences[i][1]), set(sentences[i + 1][1])
            if here & after or not (here or after):
                del found[i]
    return found


def new_terms(
    sentence: str, question_terms: Collection[str], terms: Iterable[str] | None = None
) -> set[str]:
    """The sentence's stemmed content words that are neither the question's nor `FILLER`.

    `terms`: the sentence's `text.tokenize` words when the caller has them already.
    """
    found = tokenize(sentence) if terms is None else terms
    return {t for t in found if t not in question_terms and t not in FILLER}
