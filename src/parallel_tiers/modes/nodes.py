"""The nodes around the tiers: validation, expert choice, tools, generation, saving the turn."""

from __future__ import annotations

import asyncio
import copy
import uuid
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    get_buffer_string,
    trim_messages,
)
from langchain_core.messages.utils import count_tokens_approximately
from langchain_core.runnables import RunnableConfig
from langgraph.config import get_config
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from parallel_tiers.context import Context, context_of
from parallel_tiers.errors import describe_error
from parallel_tiers.identity import apply_identity
from parallel_tiers.logs import get_logger
from parallel_tiers.modes.spec import Mode
from parallel_tiers.resilience import service_key
from parallel_tiers.resilience.guard import (
    MalformedResultError,
    Outcome,
    guarded,
)
from parallel_tiers.services.agents import Agent
from parallel_tiers.services.conversation import earlier_questions, memory_used, prompt_memory
from parallel_tiers.services.generation import build_messages
from parallel_tiers.services.memory import unsaved_turns
from parallel_tiers.services.tools import allowed_tools
from parallel_tiers.state import TURN_DEFAULTS, State, turn_input
from parallel_tiers.threads import checkpointer_of
from parallel_tiers.validation import (
    InvalidInputError,
    check_agent_and_tools,
    clean_text,
    resolve_services,
    validate_run,
)

log = get_logger()
GENERATION = "generation"
"""Service-key prefix of the chat model (its breaker, limiter and latencies):
`generation/<model name>`, or per tenant and instance for a model object the run brought."""


class GenerationTimeoutError(TimeoutError):
    """The model gave no answer within `generation_timeout_ms` (retries included)."""


class ModelUnavailableError(RuntimeError):
    """The chat model could not be created (provider package or API key missing).

    No call went out, so nothing is priced, and trying again would not help.
    """


ERROR_CODES: dict[str, str] = {
    "failed": "generation_failed",
    "timed_out": "generation_timed_out",
    "circuit_open": "circuit_open",
}
"""`error_code` of a failed generation by the guard's status."""


TURN_RESULTS: dict[str, Any] = {
    "response": "",
    "rag_results": [],
    "suggested_tools": [],
    "tool_results": [],
    "memory": [],
    "quality_score": None,
    "quality_metrics": {},
    "citations": [],
    "cost_data": {},
    "error": None,
    "error_code": None,
    "generation": {},
}
"""The results of a turn, and their cleared values: on a thread, `validate_input` clears those
the previous turn left, so a turn shows its own results only (none yet while it is paused for
tool approval). A run with nothing to clear (a first turn, a run without a checkpointer, a
mode graph run as a node of another graph) writes none of them: a step writes only what it
produces, so a parent graph keeps its own values of these keys unless the run produces one."""
TURN_METADATA = ("retrieval", "parallel_tier1", "generation", "parallel_tier2")
"""The `metadata` entries of one turn, cleared (`{}`) like `TURN_RESULTS` when a thread's
previous turn left them (`metadata` merges across turns; `save_turn` carries over on purpose)."""


def _run_id(runtime: Runtime[Context]) -> str:
    """The run's id (`config["run_id"]`, the server's run), else a new one."""
    info = runtime.execution_info
    return (info.run_id if info is not None else None) or str(uuid.uuid4())


async def validate_input(
    mode: Mode, state: State, runtime: Runtime[Context], config: RunnableConfig
) -> dict[str, Any]:
    """Refuse bad input before any service runs; record the mode, settings and identity.

    Behind LangGraph auth, `tenant_id` and `user_id` are the authenticated caller's (an input
    naming anyone else is refused), and every later node reads them from this update. Besides
    `metadata` and `turn`, it writes only what changes: the previous turn's results on a
    thread cleared (`TURN_RESULTS`, `TURN_METADATA`), the query stripped, an identity filled in.
    """
    ctx = context_of(runtime)
    parsed = validate_run(state, ctx)
    identity = apply_identity(state, config)
    services = resolve_services(ctx)
    allowed = None
    if mode.manual and parsed.agent_id in services.agents.agents:
        allowed = _tools_for(ctx, services.agents.get(parsed.agent_id))
    check_agent_and_tools(
        parsed,
        manual=mode.manual,
        agent_ids=services.agents.ids,
        tool_names=list(services.tools),
        allowed_tools=allowed,
    )
    held = state.get("metadata") or {}
    meta = {
        **{key: {} for key in TURN_METADATA if key in held},
        "mode": mode.name,
        "mode_number": mode.number,
        "run_id": _run_id(runtime),
        "session_id": parsed.session_id,
        "settings": ctx.settings(),
        "turn": {key: getattr(parsed, key) for key in TURN_DEFAULTS},
    }
    # Only what this run changes: the last turn's results, the query without its outer
    # spaces, an identity taken from auth (see TURN_RESULTS).
    update = {key: copy.copy(cleared) for key, cleared in TURN_RESULTS.items() if key in state}
    changed = {"query": parsed.query.strip(), **identity}
    update.update({key: value for key, value in changed.items() if state.get(key) != value})
    return {**update, "metadata": meta, "turn": meta["turn"]}


def choose_expert(mode: Mode, state: State, ctx: Context) -> dict[str, Any]:
    """The expert of this run, as `selected_agent` records it.

    Manual modes: the caller's `agent_id` (`validate_input` checked it). Automatic modes: the
    registry ranked against the question, with the ranking and the reason. Tier 1 has run:
    when experts own passage sources, the sources of the top `registry.evidence_k` passages
    of `rag_results` are evidence too (any retriever; nothing is searched a second time).
    Without retrieval (`enable_rag=False`, or the branch failed) routing uses the domain terms
    alone. Deterministic and cheap: `generate` runs it again when resumed after tool approval.
    """
    registry = ctx.services.agents
    if mode.manual:
        agent = registry.get(str(state.get("agent_id")))
        return {**agent.summary(), "allowed_tools": _tools_for(ctx, agent), "selection": "manual"}
    evidence: list[dict[str, Any]] = []
    if registry.uses_sources:
        evidence = list(state.get("rag_results") or [])[: registry.evidence_k]
    selection = registry.select(state["query"], history=earlier_questions(state), evidence=evidence)
    return {
        **selection.agent.summary(),
        "allowed_tools": _tools_for(ctx, selection.agent),
        "selection": "automatic",
        "reason": selection.reason,
        "ranking": selection.ranking,
    }


def _tools_for(ctx: Context, agent: Agent) -> list[str]:
    """The tools `agent` may use in this run (`services.tools.allowed_tools`)."""
    return allowed_tools(agent.allowed_tools, ctx.services.agents, ctx.tools)


def approve_tools(
    mode: Mode, state: State, expert: dict[str, Any], config: RunnableConfig
) -> list[dict[str, Any]]:
    """The suggested tool calls that may run: those the expert allows and the caller confirmed.

    Automatic modes approve every suggestion the expert allows. Manual modes run only the
    tools the caller confirmed: from `confirmed_tools`, or, when none were given and a
    checkpointer can hold the paused run, from an `interrupt()` resumed with tool names.
    """
    allowed = set(expert.get("allowed_tools") or [])
    suggestions = [
        s
        for s in state.get("suggested_tools") or []
        if s.get("args") is not None and s["name"] in allowed
    ]
    if not suggestions or turn_input(state, "enable_tools") is False:
        return []
    if not mode.manual:
        return suggestions
    confirmed = turn_input(state, "confirmed_tools")
    if confirmed is None and checkpointer_of(config) is not None:
        answer = interrupt(
            {
                "type": "tool_approval",
                "question": "Which of these tools may run? Resume with a list of tool names.",
                "suggested_tools": suggestions,
            }
        )
        confirmed = answer.get("confirmed_tools") if isinstance(answer, dict) else answer
        if not isinstance(confirmed, list) or not all(isinstance(n, str) for n in confirmed):
            raise InvalidInputError(
                [
                    (
                        "resume",
                        f"expected a list of tool names, e.g. {[s['name'] for s in suggestions]}",
                    )
                ]
            )
    chosen = set(confirmed or [])
    return [s for s in suggestions if s["name"] in chosen]


async def execute_tools(ctx: Context, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run the approved tool calls concurrently, each under the run's timeout."""
    if len(calls) == 1:
        return [await _run_tool(ctx, calls[0])]
    return list(await asyncio.gather(*(_run_tool(ctx, call) for call in calls)))


async def _run_tool(ctx: Context, call: dict[str, Any]) -> dict[str, Any]:
    """One tool call under the run's `parallel_timeout_ms`: its result record.

    No breaker and no limiter: a tool fails mostly on the caller's input (a refused
    expression), which must not switch the tool off for every other run.
    """
    tool = ctx.services.tools.get(call["name"])

    async def invoke() -> str:
        if tool is None:
            raise LookupError(f"tool {call['name']!r} is not registered")
        output = await tool.ainvoke(call.get("args") or {})
        return output if isinstance(output, str) else str(output)

    outcome = await guarded(invoke, ctx, timeout_ms=ctx.parallel_timeout_ms)
    return {
        "name": call["name"],
        "args": call.get("args"),
        "status": outcome.status,
        "output": outcome.value,
        "error": outcome.error,
        "duration_ms": outcome.duration_ms,
    }


async def generate(
    mode: Mode, state: State, runtime: Runtime[Context], config: RunnableConfig
) -> dict[str, Any]:
    """The expert, its tools and the answer: one node, one superstep, after tier 1.

    1. `choose_expert` (`selected_agent`), from the question and what tier 1 retrieved.
    2. `approve_tools` keeps the suggestions the expert allows; manual modes pause here on
       `interrupt()` for the caller's confirmation (the node runs again from its start on
       resume: the steps before the interrupt are deterministic and call no service).
    3. `execute_tools` runs the approved calls concurrently, each under the guard
       (`tool_results`, written only when a tool ran).
    4. The answer, from the retrieved passages and tool results, with the context's chat
       model.

    The model call runs under the guard (`resilience.guard`): `generation_retries` retries, all
    within `generation_timeout_ms`, and the model's circuit breaker and concurrency limit (its
    key: `generation/<model>`). Chat modes send the last `max_history_tokens` of the
    conversation. A failure does not lose the run: the answer says so plainly, `error` and
    `error_code` (`generation_failed`, `generation_timed_out`, or `circuit_open` when the
    breaker skipped the call) are set, and tier 2 still prices the prompt that was sent.

    The prompt also carries the topic retrieval resolved for a follow-up
    (`metadata["retrieval"]["topic"]`) and the recalled memories whose turns its history
    lacks (`conversation.prompt_memory`); `metadata["generation"]` names both (`topic`,
    `memory_used`: the keys of the memories the answer drew on, `conversation.memory_used`).
    """
    ctx = context_of(runtime)
    services = ctx.services
    expert = choose_expert(mode, state, ctx)
    calls = approve_tools(mode, state, expert, config)
    update: dict[str, Any] = {"selected_agent": expert}
    tool_results: list[dict[str, Any]] = []
    if calls:  # no tool runs: no `tool_results` (see TURN_RESULTS)
        tool_results = await execute_tools(ctx, calls)
        update["tool_results"] = tool_results
    agent_id = expert.get("id")
    agent = services.agents.get(agent_id) if agent_id in services.agents.agents else None
    # The question joins the thread together with its answer, in one write (below): a run
    # stopped before that leaves no half turn behind.
    earlier: list[BaseMessage] = list[BaseMessage](state.get("messages") or [])
    history = trim_history(earlier, ctx.max_history_tokens)
    memory = prompt_memory(state.get("memory") or [], history)
    topic = ((state.get("metadata") or {}).get("retrieval") or {}).get("topic")
    messages = build_messages(
        state["query"],
        state.get("rag_results") or [],
        system_prompt=agent.system_prompt if agent else "You are a careful expert assistant.",
        tool_results=tool_results,
        history=history,
        topic=topic,
        memory=memory,
    )
    model_name = services.model_name
    brought = services.brought.get("model")
    key = (
        service_key(GENERATION, brought, state.get("tenant_id"))
        if brought is not None
        else f"{GENERATION}/{model_name}"
    )

    async def call_model() -> BaseMessage:
        try:
            model = services.model
        except Exception as exc:
            raise ModelUnavailableError(describe_error(exc)) from exc
        reply: BaseMessage = await model.ainvoke(messages)
        return reply

    outcome = await guarded(
        call_model,
        ctx,
        timeout_ms=ctx.generation_timeout_ms,
        service=key,
        priority=turn_input(state, "priority"),
        retries=ctx.generation_retries,
        retry_on=_worth_retrying,
        check=_check_reply,
        timeout_error=GenerationTimeoutError,
        timeout_text="no answer within {ms:g} ms",
        name=GENERATION,
    )
    if outcome.value is not None:
        reply = outcome.value
        # No checkpointer or store takes NUL and its kind: a model's stray ones are dropped.
        response, usage = clean_text(str(reply.text)), getattr(reply, "usage_metadata", None)
        answer = reply if isinstance(reply, AIMessage) else AIMessage(content=response)
        used = memory_used(reply, memory)
    else:
        usage, used = None, []
        response, answer = _apology(outcome)
        update.update(error=outcome.error, error_code=ERROR_CODES[outcome.status])
        log.warning(
            "generation_failed",
            error=type(outcome.exception).__name__,
            error_code=update["error_code"],
            model=model_name,
            run_id=(state.get("metadata") or {}).get("run_id"),
        )
    if mode.chat:
        update["messages"] = [HumanMessage(content=state["query"]), answer]
    sent = outcome.status != "circuit_open" and not isinstance(
        outcome.exception, ModelUnavailableError
    )
    generation = {
        "model": model_name,
        "usage": dict(usage) if usage else None,
        "duration_ms": outcome.duration_ms,
        "status": "failed" if outcome.status == "circuit_open" else outcome.status,
        "sent": sent,
        "error": outcome.error,
        "history_messages": len(history),
        "history_left_out": len(earlier) - len(history),
        "topic": topic,
        "memory_shown": [str(item.get("key")) for item in memory],
        "memory_used": used,
    }
    if not usage and sent:
        generation["prompt"] = get_buffer_string(messages)
    shown = (
        "model",
        "duration_ms",
        "status",
        "history_messages",
        "history_left_out",
        "topic",
        "memory_shown",
        "memory_used",
    )
    return {
        **update,
        "response": response,
        "generation": generation,
        "metadata": {"generation": {k: generation[k] for k in shown}},
    }


def _worth_retrying(exc: Exception) -> bool:
    return not isinstance(exc, ModelUnavailableError)


def _check_reply(reply: object) -> None:
    if not isinstance(reply, BaseMessage):
        raise MalformedResultError(f"model reply: expected a message, got {type(reply).__name__}")


def _apology(outcome: Outcome[Any]) -> tuple[str, AIMessage]:
    """The plain answer of a failed generation, and its message marked with the error code.

    Marked, so the next turn's catch-up never saves an apology to memory.
    """
    late = outcome.status == "timed_out"
    response = (
        "Sorry, no answer could be generated: the language model "
        f"{'did not answer in time' if late else 'failed'} "
        f"({type(outcome.exception).__name__}). Please try again."
    )
    code = ERROR_CODES[outcome.status]
    return response, AIMessage(content=response, response_metadata={"error_code": code})


def trim_history(messages: list[BaseMessage], max_tokens: int) -> list[BaseMessage]:
    """The most recent `messages` within `max_tokens` (approximate), starting on a question."""
    if max_tokens <= 0 or not messages:
        return []
    return list(
        trim_messages(
            messages,
            max_tokens=max_tokens,
            token_counter=count_tokens_approximately,
            strategy="last",
            start_on="human",
        )
    )


async def save_turn(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Chat modes: save the question and answer to the user's memory, as one item.

    The item's key is the answer's message id, so saving a turn again replaces it. On a
    checkpointer thread, earlier turns that memory lacks (a run stopped between `generate`
    and this node, or a store that failed) are saved first: `metadata["save_turn"]["turn"]`
    names the latest turn handled, and the answered turns after it (at most
    `CATCH_UP_TURNS`) are saved with this one (`caught_up` counts them).

    The store calls run under one `store_timeout_ms`. A store that fails or hangs costs the
    turn its memory, never its answer: `metadata["save_turn"]` records the outcome (`ok`,
    `failed`, `timed_out`, or `skipped` with no user or a failed generation) and the run ends
    normally, so the thread is never left waiting at this node; the next turn saves it.
    """
    messages = list(state.get("messages") or [])
    saved_through = ((state.get("metadata") or {}).get("save_turn") or {}).get("turn")
    answer = messages[-1] if messages and isinstance(messages[-1], AIMessage) else None
    this_turn = answer.id if answer is not None else None
    failed = bool(state.get("error"))
    earlier = (
        unsaved_turns(messages[:-2] if answer else messages, saved_through=saved_through)
        if checkpointer_of(get_config()) is not None
        else []
    )
    if not state.get("user_id") or (failed and not earlier):
        reason = "no user_id" if not state.get("user_id") else "generation failed"
        return {
            "metadata": {"save_turn": {"status": "skipped", "error": reason, "turn": this_turn}}
        }
    ctx = context_of(runtime)
    # (question, answer, agent, key): the earlier turns memory lacks, then this one
    turns = [(str(q.text), str(a.text), None, a.id) for q, a in earlier]
    if not failed:
        agent_id = (state.get("selected_agent") or {}).get("id")
        turns.append((state["query"], state.get("response") or "", agent_id, this_turn))
    saved = 0

    async def save() -> None:
        nonlocal saved
        store = ctx.memory_store_for(runtime)
        for query, response, agent, key in turns:
            await ctx.services.memory.asave_turn(
                store,
                tenant_id=state.get("tenant_id"),
                user_id=str(state["user_id"]),
                query=query,
                response=response,
                agent_id=agent,
                session_id=state.get("session_id"),
                key=key,
            )
            saved += 1

    outcome = await guarded(
        save,
        ctx,
        timeout_ms=ctx.store_timeout_ms,
        timeout_text="no answer from the store within {ms:g} ms",
    )
    status, error, handled = outcome.status, outcome.error, this_turn
    if not outcome.ok:
        handled = saved_through  # the next turn tries again
        log.warning(
            "save_turn_failed",
            status=status,
            error=error,
            tenant_id=state.get("tenant_id"),
            run_id=(state.get("metadata") or {}).get("run_id"),
        )
    elif failed:  # only earlier turns were saved
        status, error = "skipped", "generation failed"
    record = {"status": status, "error": error, "duration_ms": outcome.duration_ms}
    caught_up = min(saved, len(earlier))
    return {"metadata": {"save_turn": {**record, "turn": handled, "caught_up": caught_up}}}
