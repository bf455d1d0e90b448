"""Input validation: every check a caller can fail, run before any service is called."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from functools import cache
from os import PathLike
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from parallel_tiers.context import Context

if TYPE_CHECKING:
    from parallel_tiers.services import Services

MAX_QUERY_CHARS = 8_000
"""Longest accepted `query`; longer ones are refused (not truncated) with a clear error."""
MAX_ID_CHARS = 256
MAX_TIMEOUT_MS = 600_000

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


class Settings(BaseModel):
    """The plain settings of the runtime context."""

    enable_parallel_tier1: StrictBool
    enable_parallel_tier2: StrictBool
    parallel_timeout_ms: Annotated[StrictInt, Field(gt=0, le=MAX_TIMEOUT_MS)]
    retrieval_k: Annotated[StrictInt, Field(ge=1, le=100)]
    circuit_breaker: StrictBool
    adaptive_timeout: StrictBool
    adaptive_timeout_factor: Annotated[float, Field(gt=0)]
    adaptive_timeout_floor_ms: Annotated[StrictInt, Field(gt=0)]
    generation_retries: Annotated[StrictInt, Field(ge=0, le=10)]
    generation_timeout_ms: Annotated[StrictInt, Field(gt=0, le=MAX_TIMEOUT_MS)]
    store_timeout_ms: Annotated[StrictInt, Field(gt=0, le=MAX_TIMEOUT_MS)]
    max_history_tokens: Annotated[StrictInt, Field(ge=0, le=1_000_000)]


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
        Settings.model_validate({k: getattr(ctx, k) for k in Settings.model_fields})
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


@cache
def _slot_kinds() -> dict[str, tuple[str, Any]]:
    """Each service slot of `Context`: what it takes, and a check of a given value."""
    from langchain_core.language_models import BaseChatModel
    from langchain_core.retrievers import BaseRetriever
    from langchain_core.tools import BaseTool
    from langgraph.store.base import BaseStore

    from parallel_tiers.metrics import TierMetrics
    from parallel_tiers.resilience import Resilience
    from parallel_tiers.services.agents import AgentRegistry

    def has(method: str) -> Any:
        return lambda v: callable(getattr(v, method, None))

    path = (str, PathLike)
    return {
        "retriever": ("a LangChain BaseRetriever", lambda v: isinstance(v, BaseRetriever)),
        "tools": (
            "a list of LangChain BaseTools",
            lambda v: isinstance(v, list | tuple) and all(isinstance(t, BaseTool) for t in v),
        ),
        "memory_store": (
            "a LangGraph BaseStore",
            lambda v: isinstance(v, BaseStore) or (has("asearch")(v) and has("aput")(v)),
        ),
        "model": (
            'a BaseChatModel or a model string such as "openai:gpt-4o-mini"',
            lambda v: isinstance(v, BaseChatModel | str),
        ),
        "agents": (
            "an AgentRegistry or the path of a registry JSON file",
            lambda v: isinstance(v, AgentRegistry | str | PathLike),
        ),
        "index_path": ("the path of an index folder", lambda v: isinstance(v, path)),
        "tool_suggester": ("an object with `asuggest` (ToolSuggester)", has("asuggest")),
        "quality": ("an object with `ascore` (QualityScorer)", has("ascore")),
        "citations": ("an object with `aextract` (CitationExtractor)", has("aextract")),
        "cost": ("an object with `atrack` (CostTracker)", has("atrack")),
        "cost_ledger": ("an object with `add` (CostLedger)", has("add")),
        "resilience": ("a Resilience", lambda v: isinstance(v, Resilience)),
        "metrics": ("a TierMetrics", lambda v: isinstance(v, TierMetrics)),
        "extra": ("a dict", lambda v: isinstance(v, dict)),
    }


def slot_problems(ctx: Context) -> list[tuple[str, str]]:
    """The service slots of `ctx` given something of the wrong kind."""
    problems = []
    for name, (expected, fits) in _slot_kinds().items():
        value = getattr(ctx, name)
        if value is not None and not fits(value):
            problems.append((f"context.{name}", f"expected {expected}, got {type(value).__name__}"))
    return problems


def resolve_services(ctx: Context) -> Services:
    """The run's services, or `InvalidInputError` when the context's cannot be opened.

    A registry file or index folder that is missing or damaged is the caller's to fix: the
    error names the setting instead of surfacing as a server's "internal error".
    """
    problems = slot_problems(ctx)
    if isinstance(ctx.agents, str | PathLike) and not os.path.isfile(ctx.agents):
        problems.append(("context.agents", f"no agent registry file at {str(ctx.agents)!r}"))
    if problems:
        raise InvalidInputError(problems)
    try:
        return ctx.services
    except (OSError, ValueError) as exc:
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
