"""Question analysis: what kind of answer a question asks for, and what it is about.

A question may have a *type* (what kind of answer it asks for) and has a *focus* (what it is
about): in a medical corpus "What are the treatments for gout?" asks for the `treatment` of
`gout`; in a product-support corpus "How do I reset the router?" could ask for the
`troubleshooting` of `router`. Sectioned corpora label their passages the same way (titles
such as "Gout (treatment)" or "What are the treatments for Gout ?"), so the retriever matches
the focus against passage titles and the type against passage sections (see
`retrieval.BM25Retriever`), the offline model prefers sentences that speak to the type
(`generation`), and the quality scorer checks the answer addresses it (`quality`).

Which types exist, and the words that cue them, are a domain's knowledge, so they are data: a
`QuestionTypes` built from (type, question-cue regex) pairs, answer cues and a few word lists,
held by a domain profile (`parallel_tiers.profiles`; the medical one is
`parallel_tiers.profiles.medical`). Every service is given its profile's `QuestionTypes`; none
reaches for a global one. The empty `QuestionTypes()` is "no domain knowledge" (the profile
`none`): every question asks for general `information`, no title declares a section, and the
focus is every content word of the question but its boilerplate.

What stays here is plain English, for any domain: question boilerplate (`BOILERPLATE`), the
shape of a question-title ("What ...", "... ?") and of a section label ("Title (section)"), the
first asking sentence of a message, and the general `INFORMATION` type with its cue
(`INFORMATION_CUE`, which a profile may include among its types).

A question may show several cues: the first cue of the asking sentence weighs 1.0, the other
types `QuestionTypes.secondary_weight`, since the opening words ("What causes ...", "How is
... treated") usually carry the intent while later cue words are often part of the focus
("What is a blood count test?"). A question with no type cue asks for general `information`.

This module holds no domain knowledge and imports no profile, so a profile
(`parallel_tiers.profiles`) is built from it; `questions` re-exports it and adds the default
profile's functions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from parallel_tiers.services.text import tokenize, words

INFORMATION = "information"
"""The type of a question with no more specific cue ("What is gout?", "Tell me about gout")."""

INFORMATION_CUE = (
    r"^\W*what(?:'s| is| are)(?: \(are\))? (?!(?:the|its|their|his|her|your|my|our)\b)"
    r"|\binformation (?:about|on)\b"
    r"|\btell me about\b|\boverview\b"
)
"""English cues of a general question ("What is X?", "Tell me about X"): a profile whose titles
are often such questions lists `(INFORMATION, INFORMATION_CUE)` among its types."""

SECONDARY_WEIGHT = 0.5
"""Weight of the types cued after the first one."""

BOILERPLATE = frozenset(
    tokenize(
        "information know learn tell find please question ask anyone someone done affected "
        "related people person hi hello thanks thank dear regards sir madam help"
    )
)
"""Stemmed words of question phrasing that say nothing about the topic."""

_LABEL = re.compile(r"\(([a-z ]+)\)\s*$")
_QUESTION_START = re.compile(
    r"^\W*(?:what|how|who|whom|why|when|where|which|is|are|do|does|can|could|should|will)\b"
)
_SPACES = re.compile(r"\s+")
_WORDS = re.compile(r"[\w%'-]+(?:[.,]\d+)*")
_SENTENCE = re.compile(r"[^.?!]+[.?!]*")
SPEAKS_TO_CACHE = 4096
"""Texts per `QuestionTypes` whose cue matches are remembered (answers repeat sentences)."""


@dataclass
class QuestionAnalysis:
    """What `QuestionTypes.analyse_question` found."""

    types: dict[str, float]
    """Question types with their weights (the first cued 1.0, the others the secondary
    weight); `{"information": 1.0}` when nothing is cued."""
    terms: list[str] = field(default_factory=list)
    """Stemmed content words of the whole question, boilerplate removed."""
    focus_terms: list[str] = field(default_factory=list)
    """Stemmed content words once the type cues are removed: what the question is about
    (all of `terms` when removing the cues leaves nothing)."""


@dataclass(frozen=True)
class QuestionTypes:
    r"""A domain's question types: their cues, and the words of answers about them.

    Immutable and hashable (by value). `QuestionTypes()` knows no type (see the module
    docstring). Build one from plain data::

        QuestionTypes(
            types=(("warranty", r"\bwarrant(?:y|ies)\b|\bguarantee\b"),
                   ("troubleshooting", r"\bnot working\b|\bfix\b|\breset\b")),
            answer_cues={"warranty": r"\bwarrant\w*|\bcover(?:s|ed|age)?\b"},
        )
    """

    types: tuple[tuple[str, str], ...] = ()
    """(type, question-cue regex) pairs, matched against the lower-cased question; a type's
    name is also the section label titles may carry ("Gout (treatment)"). A `list` is taken."""
    answer_cues: tuple[tuple[str, str], ...] = ()
    """(type, answer-cue regex) pairs: the words by which an answer speaks to a type (it may
    use others than a question does: a frequency answer says "1 in 5,000 people", not "how
    common"). A type without answer cues is recognised in answers by its question cues. A
    mapping is taken."""
    type_words: frozenset[str] = frozenset()
    """Stemmed words that name a kind of answer rather than give one ("symptoms", "causes"):
    a sentence of these and the question's words says nothing (`content.vacuous_reason`).
    Any iterable of stemmed words is taken."""
    filler: frozenset[str] = frozenset()
    """Stemmed words of this domain that name no fact ("disease" in a medical corpus), added
    to the English ones of `content.FILLER` when judging whether a sentence says anything."""
    secondary_weight: float = SECONDARY_WEIGHT
    """Weight of every cued type after the first."""
    _cues: tuple[tuple[str, re.Pattern[str]], ...] = field(
        init=False, repr=False, compare=False, hash=False
    )
    _cue_by_name: Mapping[str, re.Pattern[str]] = field(
        init=False, repr=False, compare=False, hash=False
    )
    _answer: Mapping[str, re.Pattern[str]] = field(
        init=False, repr=False, compare=False, hash=False
    )
    _speaks: Callable[[str, str], bool] = field(init=False, repr=False, compare=False, hash=False)
    _names: frozenset[str] = field(init=False, repr=False, compare=False, hash=False)
    _empty: frozenset[str] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        put("types", tuple((str(n), str(p)) for n, p in self.types))
        given: Any = self.answer_cues
        cues = given.items() if isinstance(given, Mapping) else given
        put("answer_cues", tuple((str(n), str(p)) for n, p in cues))
        put("type_words", frozenset(self.type_words))
        put("filler", frozenset(self.filler))
        compiled = tuple((name, re.compile(pattern)) for name, pattern in self.types)
        put("_cues", compiled)
        put("_cue_by_name", dict(compiled))
        put("_answer", {name: re.compile(pattern) for name, pattern in self.answer_cues})
        put("_speaks", lru_cache(maxsize=SPEAKS_TO_CACHE)(self._speaks_uncached))
        put("_names", frozenset(self._cue_by_name))
        put("_empty", self.type_words | self.filler)

    @property
    def type_names(self) -> frozenset[str]:
        """The names of the types (also the section labels titles may carry)."""
        return self._names

    @property
    def empty_words(self) -> frozenset[str]:
        """`type_words` and `filler`: the domain's words that say nothing in an answer."""
        return self._empty

    # ------------------------------------------------------------------------------ questions

    def _cue_matches(self, low: str) -> list[tuple[int, int, str]]:
        found = [
            (match.start(), match.end(), name)
            for name, regex in self._cues
            for match in regex.finditer(low)
        ]
        found.sort()
        return found

    def analyse_question(
        self, text: str, secondary_weight: float | None = None
    ) -> QuestionAnalysis:
        """Find the types a question asks for and the words of its focus.

        Args:
            text: The question, in any case and phrasing.
            secondary_weight: Weight of every cued type after the first (default: this
                instance's `secondary_weight`).

        Returns:
            A `QuestionAnalysis`; `types` is never empty (`information` when nothing is cued).

        """
        weight = self.secondary_weight if secondary_weight is None else secondary_weight
        low = _SPACES.sub(" ", text.lower())
        found = self._cue_matches(low)
        asked = _asking_span(low)
        types: dict[str, float] = {}
        # The first cue inside the asking sentence is the intent; every other cue is secondary.
        primary = next((name for start, _, name in found if asked[0] <= start < asked[1]), None)
        if primary is None and found:
            primary = found[0][2]
        if primary is not None:
            types[primary] = 1.0
        for _, _, name in found:
            types.setdefault(name, weight)
        if not types:
            types[INFORMATION] = 1.0
        terms = _content(low)
        focus = _content(_blank(low, found)) or terms
        return QuestionAnalysis(types=types, terms=terms, focus_terms=focus)

    def _speaks_uncached(self, text: str, name: str) -> bool:
        return self._cue_by_name[name].search(text.lower()) is not None

    def speaks_to(self, text: str, types: Iterable[str]) -> bool:
        """Whether `text` carries a question cue of any of `types` ("treated" for `treatment`)."""
        return any(name in self._cue_by_name and self._speaks(text, name) for name in types)

    def focus_words(self, text: str) -> list[str]:
        """The words a question names its focus with, as written (lower case, not stemmed).

        Type cues, stop words and question boilerplate are removed, with no fallback: a
        question that names nothing beyond what it asks ("How is it treated?", "What is the
        outlook?") has none. "What are the symptoms of Sneddon syndrome?" gives `["sneddon",
        "syndrome"]` with the medical types.
        """
        low = _SPACES.sub(" ", text.lower())
        blanked = _blank(low, self._cue_matches(low))
        return [w for w in words(blanked) if not set(tokenize(w)) <= BOILERPLATE]

    # ------------------------------------------------------------------------------ titles

    def section_of_title(self, title: str) -> tuple[str | None, str]:
        """The section type a passage title declares, and the title without it.

        A title declares a type with a trailing label naming one ("Gout (treatment)") or by
        being a question with a type cue ("What are the treatments for Gout ?"); a question
        with no cue declares `information` when that is one of the types. Any other title
        ("Gout", "Stroke signs and symptoms") declares none: a topic title is not a section.
        Without types, no title declares one.

        Returns:
            `(type or None, focus text)`.

        """
        low = _SPACES.sub(" ", title.lower()).strip()
        label = _LABEL.search(low)
        if label and label.group(1).strip() in self._cue_by_name:
            return label.group(1).strip(), low[: label.start()].strip()
        if _QUESTION_START.match(low) or low.endswith("?"):
            found = self._cue_matches(low)
            if found:
                return found[0][2], _blank(low, found)
            if INFORMATION in self._cue_by_name:
                return INFORMATION, low
        return None, low

    def section_of(self, section: Any, title: str) -> str | None:
        """A passage's section type: its own `section` when it names a type, else its title's."""
        if isinstance(section, str) and section.strip().lower() in self._cue_by_name:
            return section.strip().lower()
        return self.section_of_title(title)[0]

    def focus_terms_of_title(self, title: str) -> list[str]:
        """Stemmed content words of a title, its section label or type cues removed."""
        return _content(self.section_of_title(title)[1])

    def title_topic(self, title: str) -> list[str]:
        """Stemmed words of what a title is about, whatever its shape.

        Its section label, type cues and boilerplate are removed: with the medical types,
        "Stroke signs and symptoms" gives `["stroke"]`, "What are the treatments for Gout ?"
        `["gout"]`.
        """
        return tokenize(" ".join(self.focus_words(self.section_of_title(title)[1])))

    # ------------------------------------------------------------------------------ answers

    def addresses(self, text: str, question_type: str, ignore: Iterable[str] = ()) -> bool:
        """Whether `text` speaks to `question_type`.

        It does by the type's answer cues, or by its question cues for a type that has no
        answer cues (never for a type this instance lacks). Words of `ignore` (the question's
        focus words, lower case) are left out first: "autosomal" in "Is autosomal recessive
        methemoglobinemia inherited?" names the topic, not its pattern.
        """
        skip = set(ignore)
        low = " ".join(w for w in _WORDS.findall(text.lower()) if w not in skip)
        answer = self._answer.get(question_type)
        if answer is not None:
            return answer.search(low) is not None
        return question_type in self._cue_by_name and self._speaks(low, question_type)


def _blank(low: str, spans: list[tuple[int, int, str]]) -> str:
    chars = list(low)
    for start, end, _ in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def _content(text: str) -> list[str]:
    return [t for t in tokenize(text) if t not in BOILERPLATE]


def _asking_span(low: str) -> tuple[int, int]:
    """The span of the first sentence ending in "?" (the whole text when none does).

    A message such as "My son was diagnosed with X. What symptoms should we expect?" gives its
    context first: the question sentence says what is asked.
    """
    for match in _SENTENCE.finditer(low):
        if match.group().rstrip().endswith("?"):
            return match.start(), match.end()
    return 0, len(low)


def names_title(terms: Iterable[str], title_terms: Iterable[str]) -> bool:
    """Whether stemmed `terms` name the topic of a title with topic words `title_terms`.

    They do when they hold at least half of the title's words (`QuestionTypes.title_topic`),
    and at least one: "asthma" names "Asthma" and "Asthma in children", "type 2 diabetes"
    names "What is type 2 diabetes?", but "children" does not name "Asthma in children and
    older adults".
    """
    title = set(title_terms)
    shared = title.intersection(terms)
    return bool(shared) and 2 * len(shared) >= len(title)


def asked_type(analysis: QuestionAnalysis) -> str | None:
    """The one type a question asks for first, or None for a general question."""
    first = next((name for name, weight in analysis.types.items() if weight == 1.0), None)
    return None if first in (None, INFORMATION) else first
