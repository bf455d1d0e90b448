"""Graph state: the contract keys of the mode graphs and the private state of each tier.

Input and output keys keep the names of the system this package replaces (see the README's
inputs and outputs).
Every key is written by one node only, except `metadata` (merged) and `messages` (appended).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from langchain_core.messages import AnyMessage, BaseMessage, convert_to_messages
from langgraph.channels.ephemeral_value import EphemeralValue
from langgraph.graph.message import Messages, add_messages
from typing_extensions import TypedDict  # pydantic (server schemas) needs it on Python < 3.12

from parallel_tiers.validation import clean_text

MAX_MESSAGE_CHARS = 32_000
"""Longest text of one message kept in a thread; longer ones are cut (ending in "…")."""
MAX_NEW_MESSAGES = 200
"""Most messages one write (a run's `messages` input) adds to a thread: its last ones."""


def merge_dicts(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Reducer: shallow-merge `right` into `left` (later writes win per key)."""
    return {**(left or {}), **(right or {})}


def add_turn_messages(left: Messages, right: Messages) -> Messages:
    """Reducer of `messages`: LangGraph's `add_messages`, each incoming message made safe first.

    Incoming text loses the characters no checkpointer or store takes (control characters but
    tab, newline and carriage return; unpaired surrogates) and is cut to `MAX_MESSAGE_CHARS`;
    one write keeps at most its last `MAX_NEW_MESSAGES` messages. Cleaning here, where the
    input enters the thread, means nothing unsafe is ever saved: a check that refused the run
    afterwards would leave the input behind on the thread.
    """
    incoming = right if isinstance(right, list) else [right]
    cleaned = [_clean_message(m) for m in convert_to_messages(incoming[-MAX_NEW_MESSAGES:])]
    return add_messages(left, cleaned)  # type: ignore[arg-type]


def _clean_message(message: BaseMessage) -> BaseMessage:
    content = message.content
    if isinstance(content, str):
        new: Any = clean_text(content, MAX_MESSAGE_CHARS)
    else:
        new = [
            {**block, "text": clean_text(block["text"], MAX_MESSAGE_CHARS)}
            if isinstance(block, dict) and isinstance(block.get("text"), str)
            else block
            for block in content
        ]
    return message if new == content else message.model_copy(update={"content": new})


TURN_DEFAULTS: dict[str, Any] = {
    "confirmed_tools": None,
    "enable_rag": True,
    "enable_tools": True,
    "priority": "normal",
}
"""The per-turn inputs and their values when a run does not give them. They apply to the run
that gives them only: a chat thread never carries them over to its next turn (their channels
are `EphemeralValue`s), so consent to run a tool is asked again each turn."""


def turn_input(state: Mapping[str, Any], key: str) -> Any:
    """The run's value of a per-turn input (`TURN_DEFAULTS`).

    In a mode graph it comes from `turn`; in a tier graph run on its own, from the state.
    """
    turn = state.get("turn")
    source = turn if isinstance(turn, Mapping) else state
    value = source.get(key)
    return TURN_DEFAULTS[key] if value is None else value


class InputState(TypedDict, total=False):
    """What a caller passes to a single-turn mode graph (mode 1 and 2).

    `confirmed_tools`, `enable_rag`, `enable_tools` and `priority` apply to this run only (see
    `TURN_DEFAULTS`); on a chat thread, `messages`, `agent_id`, `user_id`, `tenant_id` and
    `session_id` carry over to the next turn until a turn gives new ones.
    """

    query: str
    """The question. Required, non-empty, at most `MAX_QUERY_CHARS` characters."""
    agent_id: str | None
    """The expert to answer (manual modes; must be in the agent registry)."""
    user_id: str | None
    """Who asks; memory is read and saved under (tenant_id, user_id)."""
    tenant_id: str | None
    """Tenant; memory and metrics never cross tenants."""
    session_id: str | None
    """Free-form session id, carried through to metadata and logs."""
    enable_rag: Annotated[bool, EphemeralValue]
    """False skips the `rag_retrieval` branch (recorded as skipped). This run only."""
    enable_tools: Annotated[bool, EphemeralValue]
    """False skips `tool_suggestion` and runs no tools. This run only."""
    confirmed_tools: Annotated[list[str] | None, EphemeralValue]
    """Manual modes: the suggested tools the caller allows to run. This run only: a chat turn
    without it asks again (an interrupt, with a checkpointer) or runs no tools."""
    priority: Annotated[Literal["high", "normal", "low"], EphemeralValue]
    """Queue order when services are at their concurrency limit (default "normal"). This run
    only."""


class ChatInputState(InputState, total=False):
    """What a caller passes to a chat mode graph (mode 3 and 4)."""

    messages: Annotated[list[AnyMessage], add_turn_messages]
    """Conversation history; each turn appends the question and the answer. Text is cleaned
    and cut as `add_turn_messages` says; the model sees the last `max_history_tokens`."""


class OutputState(ChatInputState, total=False):
    """What a mode graph returns: the inputs as given plus every result."""

    response: str
    """The generated answer, with `[n]` markers referring to `rag_results[n-1]`."""
    rag_results: list[dict[str, Any]]
    """Retrieved passages: `id`, `title`, `source`, `content`, `score`."""
    suggested_tools: list[dict[str, Any]]
    """Tools ranked for the query: `name`, `score`, `reason`, `args`."""
    tool_results: list[dict[str, Any]]
    """Executed tools: `name`, `args`, `status`, `output`, `error`, `duration_ms`."""
    memory: list[dict[str, Any]]
    """Memories of earlier turns of this tenant and user, most relevant first."""
    quality_score: float | None
    """Answer quality in 0..1 (None when it could not be computed)."""
    quality_metrics: dict[str, Any]
    """The measurements behind `quality_score` (see services/quality.py)."""
    citations: list[dict[str, Any]]
    """One per marker and sentence: `index`, `document_id`, `title`, `quote`, `supported`."""
    cost_data: dict[str, Any]
    """Tokens and price of the generation: `model`, `*_tokens`, `total_cost_usd`, ..."""
    selected_agent: dict[str, Any]
    """The expert that answered: `id`, `name`, `allowed_tools`; automatic modes add the ranking."""
    error: str | None
    """Set when generation failed: a plain description."""
    error_code: str | None
    """Set when generation failed: a stable code such as `generation_failed`."""
    metadata: Annotated[dict[str, Any], merge_dicts]
    """Run metadata: `mode`, `run_id`, `settings`, `parallel_tier1`, `parallel_tier2`, ..."""


class State(OutputState, total=False):
    """The full state of a mode graph: the output keys plus private working keys."""

    turn: dict[str, Any]
    """This run's per-turn inputs, defaults filled in (written by `validate_input` each run)."""
    generation: dict[str, Any]
    """What tier 2 needs from generation: `model`, `usage`, `prompt`, `duration_ms`."""


class Tier1State(TypedDict, total=False):
    """State of the retrieval tier: what its branches read and write."""

    query: str
    messages: Annotated[list[AnyMessage], add_turn_messages]
    user_id: str | None
    tenant_id: str | None
    priority: str
    enable_rag: bool
    enable_tools: bool
    turn: dict[str, Any]
    """This run's per-turn inputs, in a mode graph (`turn_input` reads them)."""
    rag_results: list[dict[str, Any]]
    suggested_tools: list[dict[str, Any]]
    memory: list[dict[str, Any]]
    metadata: Annotated[dict[str, Any], merge_dicts]
    tasks: Annotated[dict[str, dict[str, Any]], merge_dicts]
    """Private: each branch's task record, with its start and end clock readings."""


class Tier1Output(TypedDict, total=False):
    """What the retrieval tier hands back to its parent graph."""

    rag_results: list[dict[str, Any]]
    suggested_tools: list[dict[str, Any]]
    memory: list[dict[str, Any]]
    metadata: Annotated[dict[str, Any], merge_dicts]


class Tier2State(TypedDict, total=False):
    """State of the post-generation tier: what its branches read and write."""

    query: str
    response: str
    rag_results: list[dict[str, Any]]
    tenant_id: str | None
    priority: str
    turn: dict[str, Any]
    generation: dict[str, Any]
    quality_score: float | None
    quality_metrics: dict[str, Any]
    citations: list[dict[str, Any]]
    cost_data: dict[str, Any]
    metadata: Annotated[dict[str, Any], merge_dicts]
    tasks: Annotated[dict[str, dict[str, Any]], merge_dicts]
    """Private: each branch's task record, with its start and end clock readings."""


class Tier2Output(TypedDict, total=False):
    """What the post-generation tier hands back to its parent graph."""

    quality_score: float | None
    quality_metrics: dict[str, Any]
    citations: list[dict[str, Any]]
    cost_data: dict[str, Any]
    metadata: Annotated[dict[str, Any], merge_dicts]
