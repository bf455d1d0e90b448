"""Question analysis: what kind of answer a question asks for, and what it is about.

A health question usually has a *type* (symptoms, treatment, causes, ...) and a *focus* (the
condition, test or medicine it is about): "What are the treatments for gout?" asks for the
`treatment` of `gout`. Sectioned corpora label their passages the same way (MedQuAD titles read
"Gout (treatment)" or "What are the treatments for Gout ?"), so the retriever matches the focus
against passage titles and the type against passage sections (see `retrieval.BM25Retriever`).

Types are recognised by cue phrases (`QUESTION_TYPES`, regular expressions over the lower-cased
text): generic English phrasings, not the templates of any one data set. The type names follow
MedQuAD's question types (plus the medicine sections of MedlinePlus drug pages). A question may
show several cues: the first cue in the text weighs 1.0, the other types `SECONDARY_WEIGHT`,
since the opening words ("What causes ...", "How is ... treated") usually carry the intent while
later cue words are often part of the focus ("What is a blood count test?"). A question with no
type cue asks for general `information`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from parallel_tiers.services.text import tokenize, words

INFORMATION = "information"
"""The type of a question with no more specific cue ("What is gout?", "Tell me about gout")."""

SECONDARY_WEIGHT = 0.5
"""Weight of the types cued after the first one."""

QUESTION_TYPES: tuple[tuple[str, str], ...] = (
    ("symptoms", r"\bsymptoms?\b|\bsigns?\b|\bfeel like\b|\bmanifestations?\b"),
    (
        "treatment",
        r"\btreat(?:s|ed|ing|ments?)?\b|\btherap(?:y|ies)\b|\bcur(?:e|es|ed|able)\b"
        r"|\bremed(?:y|ies)\b|\bmanag(?:e|ed|ing|ement)\b",
    ),
    ("genetic changes", r"\bgenetic changes?\b|\bgenes?\b|\bmutations?\b|\bvariants?\b"),
    (
        "inheritance",
        r"\binherit(?:s|ed|ance)?\b|\bhereditary\b|\bpass(?:ed)? (?:on|down)\b"
        r"|\bruns? in (?:the )?famil\w*",
    ),
    ("causes", r"\bcaus(?:e|es|ed|ing)\b|\bwhy (?:do|does|did|is|are)\b|\btriggers?\b"),
    (
        "frequency",
        r"\bhow (?:many|common|often|rare|prevalent)\b|\bprevalence\b|\bincidence\b|\bfrequency\b",
    ),
    (
        "exams and tests",
        r"\bdiagnos(?:e|es|ed|is|ing|tic)\b|\btests?\b|\btesting\b|\bexams?\b|\bexamination\b"
        r"|\bscreen(?:ing)?\b|\bdetect(?:ed)?\b",
    ),
    ("prevention", r"\bprevent(?:s|ed|ing|ion)?\b|\bavoid\b|\breduce (?:the|my|your) risk\b"),
    (
        "outlook",
        r"\boutlook\b|\bprognosis\b|\blife expectancy\b|\bsurviv(?:e|al)\b|\brecover(?:y)?\b",
    ),
    (
        "susceptibility",
        r"\bat risk\b|\brisk factors?\b|\bsusceptib(?:le|ility)\b|\bwho (?:gets|get|is likely)\b",
    ),
    ("research", r"\bresearch\b|\bclinical trials?\b|\bstud(?:y|ies)\b"),
    ("stages", r"\bstag(?:e|es|ing)\b"),
    ("complications", r"\bcomplications?\b"),
    (
        "considerations",
        r"\bconsiderations?\b|\bwhat to do for\b|\bdiet(?:ary)?\b|\beating\b|\bnutrition\b",
    ),
    ("support groups", r"\bsupport groups?\b|\bfind support\b"),
    ("see a doctor", r"\bsee a (?:doctor|health)|\bcall (?:a|your) (?:doctor|health)"),
    ("side effects", r"\bside[- ]effects?\b|\badverse (?:effects?|reactions?)\b"),
    ("dosage", r"\bdos(?:e|es|age|ing)\b|\bhow (?:should|do|to) (?:i )?(?:use|take)\b"),
    ("brand names", r"\bbrand names?\b"),
    ("interactions", r"\binteract(?:s|ion|ions)?\b"),
    ("overdose", r"\boverdose\b|\bemergency\b"),
    ("storage", r"\bstor(?:e|age)\b|\bdispos(?:e|al)\b"),
    ("precautions", r"\bprecautions?\b|\bsafety concerns?\b|\bwarnings?\b"),
    (
        INFORMATION,
        r"^\W*what(?:'s| is| are)(?: \(are\))? (?!(?:the|its|their|his|her|your|my|our)\b)"
        r"|\binformation (?:about|on)\b"
        r"|\btell me about\b|\boverview\b",
    ),
)
"""(type, cue regex) pairs, matched against the lower-cased text."""

TYPE_NAMES = frozenset(name for name, _ in QUESTION_TYPES)

ANSWER_CUES: dict[str, str] = {
    "symptoms": r"\bsymptoms?\b|\bsigns?\b|\bfeatures?\b|\bcharacteri[sz]ed by\b|\bexperiences?\b"
    r"|\bpain\b|\bfever\b|\bweakness\b|\bmay (?:have|develop|feel|notice)\b",
    "treatment": r"\btreat\w*|\btherap\w*|\bcur(?:e|es|ed|able)\b|\bmanag\w*"
    r"|\bmedic(?:ine|ation)s?\b|\bdrugs?\b|\bsurg\w*|\btransplant\w*|\brehabilitation\b",
    "genetic changes": r"\bmutat\w*|\bvariants?\b|\bchromosom\w*|\bproteins?\b|\bdeletions?\b"
    r"|\bduplications?\b|\bencod\w*|\binstructions for making\b",
    "inheritance": r"\binherit\w*|\bautosomal\b|\b(?:dominant|recessive)\b|\bx-linked\b"
    r"|\bde novo\b|\bpattern\b|\bpass(?:ed)? (?:on|down)\b|\bhereditary\b|\bfamil(?:y|ies)\b",
    "causes": r"\bcaus\w*|\bresults? (?:from|in)\b|\bdue to\b|\btriggers?\b|\bmutations?\b"
    r"|\brisk\b|\blead(?:s)? to\b|\binfect\w*|\bfactors?\b",
    "frequency": r"\bprevalen\w*|\bincidence\b|\bcommon\b|\brare\b"
    r"|\baffects? (?:about|an|approximately|some|one|\d)|\b\d[\d,.]* (?:in|out of|per) [\d,.]+"
    r"|\bpercent\b|%|\bestimated\b|\bcases?\b|\bfrequen\w*",
    "exams and tests": r"\bdiagnos\w*|\btests?\b|\btesting\b|\bexam\w*|\bscreen\w*|\bimaging\b"
    r"|\bbiops\w*|\bscans?\b|\bx-rays?\b|\bblood\b|\bdetect\w*|\bconfirm\w*",
    "prevention": r"\bprevent\w*|\bavoid\w*|\breduc\w* (?:the|your|their)? ?risk\b|\bvaccin\w*"
    r"|\bprotect\w*|\blower (?:the|your) risk\b",
    "outlook": r"\boutlook\b|\bprognosis\b|\blife expectancy\b|\bsurviv\w*|\brecover\w*"
    r"|\bdepends? on\b|\bprogress\w*|\bfatal\b|\bdeath\b|\blifespan\b|\bnormal life\b",
    "susceptibility": r"\brisk\b|\bmore likely\b|\bsusceptib\w*|\bat higher\b|\bwho (?:are|is)\b"
    r"|\bage\b|\bolder\b|\bwomen\b|\bmen\b",
    "research": r"\bresearch\w*|\bstud(?:y|ies|ying)\b|\btrials?\b|\bscientists?\b|\binvestigat\w*"
    r"|\bfund\w*|\bnih\b|\binstitute\b",
    "stages": r"\bstag(?:e|es|ing)\b|\bspread\b|\bgrade\b",
    "complications": r"\bcomplications?\b|\blead(?:s)? to\b|\bcan cause\b|\brisk of\b",
    "considerations": r"\bdiet\w*|\beat\w*|\bnutrition\w*|\bfoods?\b|\bdrink\w*",
}
"""Answer-side cues of each question type: words by which an answer speaks to it (it may use
others than a question does: a frequency answer says "1 in 5,000 people", not "how common")."""


BOILERPLATE = frozenset(
    tokenize(
        "information know learn tell find please question ask anyone someone done affected "
        "related people person hi hello thanks thank dear regards sir madam help"
    )
)
"""Stemmed words of question phrasing that say nothing about the topic."""

_CUES = tuple((name, re.compile(pattern)) for name, pattern in QUESTION_TYPES)
_CUE_BY_NAME = dict(_CUES)
_LABEL = re.compile(r"\(([a-z ]+)\)\s*$")
_QUESTION_START = re.compile(
    r"^\W*(?:what|how|who|whom|why|when|where|which|is|are|do|does|can|could|should|will)\b"
)
_SPACES = re.compile(r"\s+")
_WORDS = re.compile(r"[\w%'-]+(?:[.,]\d+)*")
_SENTENCE = re.compile(r"[^.?!]+[.?!]*")


@dataclass
class QuestionAnalysis:
    """What `analyse_question` found."""

    types: dict[str, float]
    """Question types with their weights (the first cued 1.0, the others `SECONDARY_WEIGHT`)."""
    terms: list[str] = field(default_factory=list)
    """Stemmed content words of the whole question, boilerplate removed."""
    focus_terms: list[str] = field(default_factory=list)
    """Stemmed content words once the type cues are removed: what the question is about
    (all of `terms` when removing the cues leaves nothing)."""


def _cue_matches(low: str) -> list[tuple[int, int, str]]:
    found = [
        (match.start(), match.end(), name) for name, regex in _CUES for match in regex.finditer(low)
    ]
    found.sort()
    return found


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


def analyse_question(text: str, secondary_weight: float = SECONDARY_WEIGHT) -> QuestionAnalysis:
    """Find the types a question asks for and the words of its focus.

    Args:
        text: The question, in any case and phrasing.
        secondary_weight: Weight of every cued type after the first.

    Returns:
        A `QuestionAnalysis`; `types` is never empty (`information` when nothing is cued).

    """
    low = _SPACES.sub(" ", text.lower())
    found = _cue_matches(low)
    asked = _asking_span(low)
    types: dict[str, float] = {}
    # The first cue inside the asking sentence is the intent; every other cue is secondary.
    primary = next((name for start, _, name in found if asked[0] <= start < asked[1]), None)
    if primary is None and found:
        primary = found[0][2]
    if primary is not None:
        types[primary] = 1.0
    for _, _, name in found:
        types.setdefault(name, secondary_weight)
    if not types:
        types[INFORMATION] = 1.0
    terms = _content(low)
    focus = _content(_blank(low, found)) or terms
    return QuestionAnalysis(types=types, terms=terms, focus_terms=focus)


@lru_cache(maxsize=4096)
def _speaks_to(text: str, name: str) -> bool:
    return _CUE_BY_NAME[name].search(text.lower()) is not None


def speaks_to(text: str, types: Iterable[str]) -> bool:
    """Whether `text` carries a cue of any of `types` ("treated" for `treatment`, ...)."""
    return any(name in _CUE_BY_NAME and _speaks_to(text, name) for name in types)


def section_of_title(title: str) -> tuple[str | None, str]:
    """The section type a passage title declares, and the title without it.

    A title declares a type with a trailing label naming one ("Gout (treatment)") or by being
    a question with a type cue ("What are the treatments for Gout ?"). Any other title
    ("Gout", "Stroke signs and symptoms") declares none: a topic title is not a section.

    Returns:
        `(type or None, focus text)`.

    """
    low = _SPACES.sub(" ", title.lower()).strip()
    label = _LABEL.search(low)
    if label and label.group(1).strip() in TYPE_NAMES:
        return label.group(1).strip(), low[: label.start()].strip()
    if _QUESTION_START.match(low) or low.endswith("?"):
        found = _cue_matches(low)
        if found:
            return found[0][2], _blank(low, found)
        return INFORMATION, low
    return None, low


def focus_terms_of_title(title: str) -> list[str]:
    """Stemmed content words of a title, its section label or type cues removed."""
    return _content(section_of_title(title)[1])


def focus_words(text: str) -> list[str]:
    """The words a question names its focus with, as written (lower case, not stemmed).

    Type cues, stop words and question boilerplate are removed, with no fallback: a question
    that names nothing beyond what it asks ("How is it treated?", "What is the outlook?")
    has none. "What are the symptoms of Sneddon syndrome?" gives `["sneddon", "syndrome"]`.
    """
    low = _SPACES.sub(" ", text.lower())
    blanked = _blank(low, _cue_matches(low))
    return [w for w in words(blanked) if not set(tokenize(w)) <= BOILERPLATE]


def title_topic(title: str) -> list[str]:
    """Stemmed words of what a title is about, whatever its shape.

    Its section label, type cues and boilerplate are removed: "Stroke signs and symptoms"
    gives `["stroke"]`, "What are the treatments for Gout ?" `["gout"]`.
    """
    return tokenize(" ".join(focus_words(section_of_title(title)[1])))


def names_title(terms: Iterable[str], title_terms: Iterable[str]) -> bool:
    """Whether stemmed `terms` name the topic of a title with topic words `title_terms`.

    They do when they hold at least half of the title's words (`title_topic`), and at least
    one: "asthma" names "Asthma" and "Asthma in children", "type 2 diabetes" names "What is
    type 2 diabetes?", but "children" does not name "Asthma in children and older adults".
    """
    title = set(title_terms)
    shared = title.intersection(terms)
    return bool(shared) and 2 * len(shared) >= len(title)


_ANSWER_CUES = {name: re.compile(pattern) for name, pattern in ANSWER_CUES.items()}

TYPE_WORDS = frozenset(
    tokenize(
        " ".join(TYPE_NAMES) + " sign signs symptom therapy therapies diagnosis diagnosed "
        "test tests cause causes inherited pattern patterns figure figures frequency prevalence "
        "prognosis outlook risk risks factor factors study studies trial trials effect effects"
    )
)
"""Stemmed words that name a kind of answer rather than give one ("symptoms", "causes")."""


def addresses(text: str, question_type: str, ignore: Iterable[str] = ()) -> bool:
    """Whether `text` speaks to `question_type`: by its answer cues (`ANSWER_CUES`), or by its
    question cues for a type that has no answer cues.

    Words of `ignore` (the question's focus words, lower case) are left out first: "autosomal"
    in "Is autosomal recessive methemoglobinemia inherited?" names the topic, not its pattern.
    """
    low = " ".join(w for w in _WORDS.findall(text.lower()) if w not in set(ignore))
    answer = _ANSWER_CUES.get(question_type)
    if answer is not None:
        return answer.search(low) is not None
    return _speaks_to(low, question_type)


def asked_type(analysis: QuestionAnalysis) -> str | None:
    """The one type a question asks for first, or None for a general question."""
    first = next((name for name, weight in analysis.types.items() if weight == 1.0), None)
    return None if first in (None, INFORMATION) else first
