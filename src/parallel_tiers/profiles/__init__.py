"""Domain profiles: everything the package knows about one domain, in one place.

The retriever, the offline model, the quality scorer, the conversation topic resolution and
the router work on any corpus without domain knowledge. What a domain adds lives in a
`Profile`:

* `questions`, a `QuestionTypes`: the question types, their cues (the section names titles
  carry), the answer cues, and the words that say nothing in an answer; read by the retriever
  (section bonus, title field), the offline model, the quality scorer and the conversation
  topic resolution;
* `agents`: the experts' registry JSON (`agents.AgentRegistry` format, whose `sources` map
  passage sources to the experts owning them); read by the router (domain terms, and
  retrieval evidence by source ownership);
* `knowledge_base`: a JSONL corpus answered from when no index is given
  (`retrieval.default_retriever`).

Two are built in (`BUILTIN`):

* `medical` (the default, `parallel_tiers.profiles.medical`): MedQuAD's question types and
  their cues, the 8 bundled health experts with the 12 NIH sites they own, and the 72-passage
  health knowledge base;
* `none` (`GENERIC`): no domain knowledge. No question types (every question asks for general
  information, no title declares a section, so no section bonus), one general expert
  (`agents.GENERIC_AGENT`), no bundled knowledge base (give an index).

Choose one per run with `Context(profile="none")` (a name, or a `Profile` of your own), or
for every run of a process with the environment variable `PARALLEL_TIERS_PROFILE` (also what
`parallel-tiers ingest` and `ask` use). A name is a built-in one or `package.module[:NAME]`,
a module holding a `Profile` (attribute `NAME`, default `PROFILE`). `Context.agents`,
`index_path` and `retriever` still override the profile's registry and knowledge base.

The profile an index is built with decides the sections recorded in it (`ingest` records the
profile's name in the manifest); a run with another profile gives a section bonus only for
its own types.
"""

from __future__ import annotations

import importlib
import os

from parallel_tiers.profiles.base import GENERIC, OFF, Profile
from parallel_tiers.profiles.medical import PROFILE as MEDICAL
from parallel_tiers.services import ENV_PROFILE
from parallel_tiers.services.question_types import QuestionTypes

DEFAULT_PROFILE = "medical"
"""The profile used when neither `Context.profile` nor `PARALLEL_TIERS_PROFILE` names one."""


class ProfileError(ValueError):
    """A profile name that names no profile, or a module attribute that is not a `Profile`."""


BUILTIN = ("medical", OFF)
"""The names of the built-in profiles."""


def load_profile(spec: Profile | str | None = None) -> Profile:
    """The profile `spec` names.

    Args:
        spec: A `Profile` (returned as is); a built-in name (`BUILTIN`); `package.module` or
            `package.module:NAME`, a module holding a `Profile` (`NAME` default `PROFILE`);
            or None / "" for `PARALLEL_TIERS_PROFILE`, else `DEFAULT_PROFILE`.

    Raises:
        ProfileError: The name names no profile.

    """
    if isinstance(spec, Profile):
        return spec
    source = f" (from {ENV_PROFILE})" if not spec and os.environ.get(ENV_PROFILE) else ""
    name = (spec or os.environ.get(ENV_PROFILE) or DEFAULT_PROFILE).strip()
    if name.lower() == OFF:
        return GENERIC
    if name.lower() == "medical":
        return MEDICAL
    if "." in name or ":" in name:
        return _from_module(name, source)
    raise ProfileError(
        f"unknown profile {name!r}{source}; give {', '.join(repr(b) for b in BUILTIN)} or "
        "a module holding a Profile (package.module[:NAME])"
    )


def default_profile() -> Profile:
    """The profile of `PARALLEL_TIERS_PROFILE`, else `DEFAULT_PROFILE` (the medical one)."""
    return load_profile(None)


def _from_module(name: str, source: str = "") -> Profile:
    module_name, _, attr = name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ProfileError(f"cannot import profile module {module_name!r}{source} ({exc})") from exc
    value = getattr(module, attr or "PROFILE", None)
    if not isinstance(value, Profile):
        got = "missing" if value is None else f"a {type(value).__name__}"
        raise ProfileError(
            f"profile {module_name}:{attr or 'PROFILE'}{source} is {got}, expected a Profile"
        )
    return value


__all__ = [
    "BUILTIN",
    "DEFAULT_PROFILE",
    "ENV_PROFILE",
    "GENERIC",
    "OFF",
    "Profile",
    "ProfileError",
    "QuestionTypes",
    "default_profile",
    "load_profile",
]
