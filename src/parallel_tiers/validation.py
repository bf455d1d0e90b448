"""Input validation: every check a caller can fail, run before any service is called."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from os import PathLike
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, ValidationError

from parallel_tiers.context import SLOTS, Context, SettingsModel

if TYPE_CHECKING:
    from parallel_tiers.services.wiring import Services

MAX_QUERY_CHARS = 8_000
"""Longest accepted `query`; longer ones are refused (not truncated) with a clear error."""
MAX_ID_CHARS = 256

Id = Annotated[StrictStr, Field(min_length=1, max_length=MAX_ID_CHARS)]

#: Characters no text input may hold: C0 controls but tab, newline and carriage return, DEL,
#: and unpaired surrogates (PostgreSQL refuses NUL; no store can encode a lone surrogate).
_BAD_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
#: Ids hold no control character at all (they name store namespaces and log fields).
_BAD_ID = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
_TEXT_FIELDS = ("query",)
_ID_FIELDS = ("agent_id", "user_id", "tenant_id", "session_id")


class InvalidInputError(ValueError):
    """A run input or setting that is wrong; the message names each field and what it needs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        detail = "; ".join(f"{field}: {msg}" for field, msg in problems)
        super().__init__(f"Invalid input: {detail}")


class RunInput(BaseModel):
    """The caller-supplied keys of a run (other state keys are ignored here)."""

    model_config = ConfigDict(extra="ignore")

    query: StrictStr
    agent_id: Id | None = None
    user_id: Id | None = None
    tenant_id: Id | None = None
    session_id: Id | None = None
    enable_rag: StrictBool = True
    enable_tools: StrictBool = True
    confirmed_tools: list[StrictStr] | None = None
    priority: Literal["high", "normal", "low"] = "normal"


Settings = SettingsModel
"""The plain settings of the runtime context (derived from their declarations in `Context`)."""


def _problems(exc: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    out = []
    for err in exc.errors():
        field = prefix + ".".join(str(p) for p in err["loc"])
        got = err.get("input")
        shown = f" (got {type(got).__name__})" if err["type"].endswith("_type") else ""
        out.append((field, f"{err['msg'].lower()}{shown}"))
    return out


def validate_run(state: Mapping[str, Any], ctx: Context) -> RunInput:
    """Check the run's input keys and the context's settings; raise `InvalidInputError`."""
    problems: list[tuple[str, str]] = []
    if "query" not in state:
        problems.append(("query", "is required (the question to answer)"))
        parsed = None
    else:
        try:
            parsed = RunInput.model_validate(dict(state))
        except ValidationError as exc:
            problems += _problems(exc)
            parsed = None
    raw = state.get("query")
    if isinstance(raw, str):
        query = raw.strip()
        if not query:
            problems.append(("query", "must be a non-empty question"))
        elif len(query) > MAX_QUERY_CHARS:
            problems.append(
                ("query", f"is {len(query):,} characters; the limit is {MAX_QUERY_CHARS:,}")
            )
    problems += _character_problems(state)
    try:
        SettingsModel.model_validate({k: getattr(ctx, k) for k in SettingsModel.model_fields})
    except ValidationError as exc:
        problems += _problems(exc, prefix="context.")
    if problems or parsed is None:
        raise InvalidInputError(problems)
    return parsed


def clean_text(text: str, limit: int | None = None) -> str:
    """`text` without the characters `bad_character` refuses, cut to `limit` characters."""
    cleaned = _BAD_TEXT.sub("", text) if _BAD_TEXT.search(text) else text
    return cleaned if limit is None or len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def bad_character(text: str, *, allow_whitespace: bool = True) -> str | None:
    """Describe the first character of `text` that no store or checkpointer takes, or None."""
    match = (_BAD_TEXT if allow_whitespace else _BAD_ID).search(text)
    if match is None:
        return None
    char = match.group()
    kind = "an unpaired surrogate" if "\ud800" <= char <= "\udfff" else "a control character"
    return f"contains {kind} (U+{ord(char):04X}) at position {match.start()}; remove it"


def _character_problems(state: Mapping[str, Any]) -> list[tuple[str, str]]:
    problems = []
    for name in (*_TEXT_FIELDS, *_ID_FIELDS):
        value = state.get(name)
        if isinstance(value, str):
            found = bad_character(value, allow_whitespace=name in _TEXT_FIELDS)
            if found:
                problems.append((name, found))
    tools = state.get("confirmed_tools")
    if isinstance(tools, list):
        for i, name in enumerate(tools):
            found = bad_character(name, allow_whitespace=False) if isinstance(name, str) else None
            if found:
                problems.append((f"confirmed_tools[{i}]", found))
    return problems


def slot_problems(ctx: Context) -> list[tuple[str, str]]:
    """The service slots of `ctx` given something of the wrong kind (see `Context`'s `slot`s)."""
    problems = []
    for name, spec in SLOTS.items():
        value = getattr(ctx, name)
        if value is not None and not spec.fits(value):
            problems.append(
                (f"context.{name}", f"expected {spec.expects}, got {type(value).__name__}")
            )
    return problems


def resolve_services(ctx: Context) -> Services:
    """The run's services, or `InvalidInputError` when the context's cannot be opened.

    A registry file or index folder that is missing or damaged, or a profile name that names
    none, is the caller's to fix: the error names the setting instead of surfacing as a
    server's "internal error".
    """
    from parallel_tiers.profiles import ProfileError

    problems = slot_problems(ctx)
    if isinstance(ctx.agents, str | PathLike) and not os.path.isfile(ctx.agents):
        problems.append(("context.agents", f"no agent registry file at {str(ctx.agents)!r}"))
    if problems:
        raise InvalidInputError(problems)
    try:
        return ctx.services
    except (OSError, ValueError) as exc:
        if isinstance(exc, ProfileError):
            field = "context.profile"
        else:
            field = "context.agents" if ctx.agents is not None else "context.index_path"
        raise InvalidInputError([(field, " ".join(str(exc).split()))]) from exc


def check_agent_and_tools(
    parsed: RunInput,
    *,
    manual: bool,
    agent_ids: list[str],
    tool_names: list[str],
    allowed_tools: list[str] | None,
) -> None:
    """Manual modes: `agent_id` must be registered; `confirmed_tools` must exist and be allowed."""
    problems: list[tuple[str, str]] = []
    if manual and not parsed.agent_id:
        problems.append(
            ("agent_id", f"is required in manual modes; known agents: {', '.join(agent_ids)}")
        )
    elif manual and parsed.agent_id not in agent_ids:
        problems.append(
            ("agent_id", f"unknown agent {parsed.agent_id!r}; known agents: {', '.join(agent_ids)}")
        )
    for name in parsed.confirmed_tools or []:
        if name not in tool_names:
            problems.append(
                (
                    "confirmed_tools",
                    f"unknown tool {name!r}; available tools: {', '.join(sorted(tool_names))}",
                )
            )
        elif allowed_tools is not None and name not in allowed_tools:
            problems.append(
                (
                    "confirmed_tools",
                    f"tool {name!r} is not allowed for agent "
                    f"{parsed.agent_id!r} (allowed: "
                    f"{', '.join(allowed_tools)})",
                )
            )
    if problems:
        raise InvalidInputError(problems)
