"""Input validation: every check a caller can fail, run before any service is called."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from functools import lru_cache
from os import PathLike
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, ValidationError

from parallel_tiers.context import SLOTS, Context, SettingsModel, Slot

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
    problems += settings_problems(ctx)
    if problems or parsed is None:
        raise InvalidInputError(problems)
    return parsed


def settings_problems(ctx: Context) -> list[tuple[str, str]]:
    """What is wrong with the context's plain settings (`SettingsModel`), named `context.<k>`.

    Checked once per distinct set of values (a run's context usually repeats the last one's).
    """
    # the type is part of the key: `True == 1`, but only one of them is a bool
    key = tuple((name, type(value), value) for name, value in _settings(ctx))
    try:
        return list(_checked_settings(key))
    except TypeError:  # an unhashable value (a wrong one): checked as it is
        return list(_check_settings(dict(_settings(ctx))))


def _settings(ctx: Context) -> Iterator[tuple[str, Any]]:
    return ((name, getattr(ctx, name)) for name in SettingsModel.model_fields)


@lru_cache(maxsize=256)
def _checked_settings(key: tuple[tuple[str, type, Any], ...]) -> tuple[tuple[str, str], ...]:
    return _check_settings({name: value for name, _, value in key})


def _check_settings(settings: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    try:
        SettingsModel.model_validate(settings)
    except ValidationError as exc:
        return tuple(_problems(exc, prefix="context."))
    return ()


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
        if value is None:
            continue
        if spec.items is None and not isinstance(value, str):
            fits = _fits_kind(spec, type(value), value)
        else:  # a list (each item checked) or a string (cheap)
            fits = spec.fits(value)
        if not fits:
            problems.append(
                (f"context.{name}", f"expected {spec.expects}, got {type(value).__name__}")
            )
    return problems


_KINDS_SEEN: dict[tuple[Slot, type], bool] = {}


def _fits_kind(spec: Slot, kind: type, value: Any) -> bool:
    """`spec.fits(value)`, remembered by the value's class.

    A service protocol is checked against its methods, which the class gives; a protocol
    `isinstance` costs about 4 µs a slot on every run otherwise.
    """
    fits = _KINDS_SEEN.get((spec, kind))
    if fits is None:
        fits = spec.fits(value)
        if len(_KINDS_SEEN) < 1024:
            _KINDS_SEEN[(spec, kind)] = fits
    return fits


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
