"""Question analysis (`question_types`) and the default profile's question functions.

Everything of `question_types` is re-exported here: `QuestionTypes`, `QuestionAnalysis`,
`INFORMATION`, `names_title`, `asked_type`, ... (see there for how questions are analysed).

The module-level functions (`analyse_question`, `section_of_title`, `focus_words`, ...) are the
same methods of the *default* profile's `QuestionTypes` (`profiles.default_profile()`: the one
named by `PARALLEL_TIERS_PROFILE`, else medical), for scripts and evaluations that have no
profile at hand; the package's own services never use them. `default_questions` is that
`QuestionTypes`, the default of the services' `questions` arguments.

The generic part lives in `question_types` so that a profile, which is built from it, does not
import this module (which imports the profiles): the import graph stays acyclic.
"""

from __future__ import annotations

from collections.abc import Iterable

from parallel_tiers.profiles import default_profile
from parallel_tiers.services.question_types import (
    BOILERPLATE,
    INFORMATION,
    INFORMATION_CUE,
    SECONDARY_WEIGHT,
    SPEAKS_TO_CACHE,
    QuestionAnalysis,
    QuestionTypes,
    asked_type,
    names_title,
)


def default_questions() -> QuestionTypes:
    """The default profile's question types (`profiles.default_profile`)."""
    return default_profile().questions


def analyse_question(text: str, secondary_weight: float | None = None) -> QuestionAnalysis:
    """`QuestionTypes.analyse_question` of the default profile."""
    return default_questions().analyse_question(text, secondary_weight)


def speaks_to(text: str, types: Iterable[str]) -> bool:
    """`QuestionTypes.speaks_to` of the default profile."""
    return default_questions().speaks_to(text, types)


def section_of_title(title: str) -> tuple[str | None, str]:
    """`QuestionTypes.section_of_title` of the default profile."""
    return default_questions().section_of_title(title)


def focus_terms_of_title(title: str) -> list[str]:
    """`QuestionTypes.focus_terms_of_title` of the default profile."""
    return default_questions().focus_terms_of_title(title)


def focus_words(text: str) -> list[str]:
    """`QuestionTypes.focus_words` of the default profile."""
    return default_questions().focus_words(text)


def title_topic(title: str) -> list[str]:
    """`QuestionTypes.title_topic` of the default profile."""
    return default_questions().title_topic(title)


def addresses(text: str, question_type: str, ignore: Iterable[str] = ()) -> bool:
    """`QuestionTypes.addresses` of the default profile."""
    return default_questions().addresses(text, question_type, ignore)


__all__ = [
    "BOILERPLATE",
    "INFORMATION",
    "INFORMATION_CUE",
    "SECONDARY_WEIGHT",
    "SPEAKS_TO_CACHE",
    "QuestionAnalysis",
    "QuestionTypes",
    "addresses",
    "analyse_question",
    "asked_type",
    "default_questions",
    "focus_terms_of_title",
    "focus_words",
    "names_title",
    "section_of_title",
    "speaks_to",
    "title_topic",
]
