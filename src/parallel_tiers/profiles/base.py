"""The `Profile` type and the profile `none` (`GENERIC`): what every profile is built from.

Split from `parallel_tiers.profiles` so that the built-in `parallel_tiers.profiles.medical` and
the package, which loads it, both import it without importing each other. Profiles of your own
import it from `parallel_tiers.profiles`, which re-exports it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from parallel_tiers.services.question_types import QuestionTypes

OFF = "none"
"""The name of the profile without domain knowledge."""


@dataclass(frozen=True, eq=False)
class Profile:
    """A domain's knowledge: question types, experts, and a bundled knowledge base.

    Compared and hashed by identity (the built-in ones are single objects), so services
    built for a profile are cached per profile object.
    """

    name: str
    """What `metadata["settings"]["profile"]` and the index manifest record."""
    questions: QuestionTypes = field(default_factory=QuestionTypes)
    """The question types (`QuestionTypes()`: none)."""
    agents: Traversable | None = None
    """The registry JSON of the experts (`agents.py` format); None: one general expert. A
    path string is taken."""
    knowledge_base: Traversable | None = None
    """A JSONL corpus (`corpus.py` format) answered from when no index is given; None: none
    (an index is then needed). A path string is taken."""
    description: str = ""

    def __post_init__(self) -> None:
        for name in ("agents", "knowledge_base"):
            value: Any = getattr(self, name)
            if isinstance(value, str | os.PathLike):
                object.__setattr__(self, name, Path(value))


GENERIC = Profile(
    name=OFF,
    description="No domain knowledge: no question types, one general expert, no bundled "
    "knowledge base.",
)
"""The profile `none`: the generic core alone."""


__all__ = ["GENERIC", "OFF", "Profile"]
