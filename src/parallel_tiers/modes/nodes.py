"""The nodes around the tiers: validation, expert choice, tools, generation, saving the turn."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import structlog
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
from langgraph.constants import CONFIG_KEY_CHECKPOINTER
from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt

from parallel_tiers.context import Context, context_of
from parallel_tiers.errors import describe_error
from parallel_tiers.identity import apply_identity
from parallel_tiers.modes.spec import Mode
from parallel_tiers.resilience import service_key
from parallel_tiers.services.conversation import memory_used, prompt_memory
from parallel_tiers.services.generation import build_messages
from parallel_tiers.services.memory import unsaved_turns
from parallel_tiers.services.retrieval import BM25Retriever, documents_to_results
from parallel_tiers.state import TURN_DEFAULTS, State, turn_input
from parallel_tiers.tiers.retrieval import earlier_questions
from parallel_tiers.validation import (
    InvalidInputError,
    check_agent_and_tools,
    clean_text,
    resolve_services,
    validate_run,
)

log = structlog.get_logger("parallel_tiers")
GENERATION = "generation"
"""Circuit-breaker key prefix of the chat model: `generation/<model name>`, or per tenant and
instance for a model object the run brought."""


class CircuitOpenError(RuntimeError):
    """A call skipped because its service's circuit breaker is open."""


class GenerationTimeoutError(TimeoutError):
    """The model gave no answer within `generation_timeout_ms` (retries included)."""


class ModelUnavailableError(RuntimeError):
    """The chat model could not be created (provider package or API key missing).

    No call went out, so nothing is priced.
    """


ERROR_CODES: dict[type[Exception], str] = {
    CircuitOpenError: "circuit_open",
    GenerationTimeoutError: "generation_timed_out",
}
"""`error_code` of a failed generation by cause; any other failure is `generation_failed`."""


TURN_RESULTS: dict[str, Any] = {
    "response": "",
    "rag_results": [],
    "suggested_tools": [],
    "approved_tools": [],
    "tool_results": [],
    "memory": [],
    "quality_score": None,
    "quality_metrics": {},
    "citations": [],
    "cost_data": {},
    "generation": {},
}
"""What `validate_input` resets each run: the results of the thread's previous turn."""


def _run_id(config: RunnableConfig) -> str:
    configurable = config.get("configurable") or {}
    return str(config.get("run_id") or configurable.get("run_id") or uuid.uuid4())


async def validate_input(
    mode: Mode, state: State, runtime: Runtime[Context], config: RunnableConfig
) -> dict[str, Any]:
    """Refuse bad input before any service runs; record the mode, settings and identity.

    Behind LangGraph auth, `tenant_id` and `user_id` are the authenticated caller's (an input
    naming anyone else is refused), and every later node reads them from this update.
    """
    ctx = context_of(runtime)
    parsed = validate_run(state, ctx)
    identity = apply_identity(state, config)
    services = resolve_services(ctx)
    allowed = None
    if mode.manual and parsed.agent_id in services.agents.agents:
        allowed = list(services.agents.get(parsed.agent_id).allowed_tools)
    check_agent_and_tools(
        parsed,
        manual=mode.manual,
        agent_ids=services.agents.ids,
        tool_names=list(services.tools),
        allowed_tools=allowed,
    )
    query = parsed.query.strip()
    meta = {
        "mode": mode.name,
        "mode_number": mode.number,
        "run_id": _run_id(config),
        "session_id": parsed.session_id,
        "settings": ctx.settings(),
    }
    update: dict[str, Any] = {
        "query": query,
        **identity,
        "metadata": meta,
        "error": None,
        "error_code": None,
    }
    turn = {key: getattr(parsed, key) for key in TURN_DEFAULTS}
    meta["turn"] = update["turn"] = turn
    # Results are the turn's own: a turn paused for tool approval shows none of the last's.
    return {**TURN_RESULTS, **update}


async def load_agent(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Manual modes: the caller's expert."""
    agent = context_of(runtime).services.agents.get(str(state.get("agent_id")))
    return {"selected_agent": {**agent.summary(), "selection": "manual"}}


async def select_agent(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Automatic modes: rank the registry against the question; keep ranking and reason.

    When experts own passage sources and the retriever is the embedded BM25 index (in-process,
    well under a millisecond), its top passages are evidence too. Another retriever, possibly
    remote, is not called a second time before tier 1: routing then uses domain terms only.
    """
    ctx = context_of(runtime)
    registry = ctx.services.agents
    retriever = ctx.services.retriever
    evidence: list[dict[str, Any]] = []
    if (
        registry.uses_sources
        and isinstance(retriever, BM25Retriever)
        and turn_input(state, "enable_rag") is not False
    ):
        evidence = documents_to_results(retriever.search(state["query"], registry.evidence_k))
    selection = registry.select(state["query"], history=earlier_questions(state), evidence=evidence)
    return {
        "selected_agent": {
            **selection.agent.summary(),
            "selection": "automatic",
            "reason": selection.reason,
            "ranking": selection.ranking,
        }
    }


def _has_checkpointer(config: RunnableConfig) -> bool:
    return (config.get("configurable") or {}).get(CONFIG_KEY_CHECKPOINTER) is not None


async def approve_tools(
    mode: Mode, state: State, runtime: Runtime[Context], config: RunnableConfig
) -> Command[str]:
    """Decide which suggested tool calls may run; go on to `execute_tools` only if any may.

    Automatic modes approve every suggestion the agent allows. Manual modes run only the
    tools the caller confirmed: from `confirmed_tools`, or, when none were given and a
    checkpointer can hold the paused run, from an `interrupt()` resumed with tool names.
    """
    suggestions = [s for s in state.get("suggested_tools") or [] if s.get("args") is not None]
    allowed = set((state.get("selected_agent") or {}).get("allowed_tools") or [])
    suggestions = [s for s in suggestions if s["name"] in allowed]
    if turn_input(state, "enable_tools") is False or not suggestions:
        return _approve([])
    if not mode.manual:
        return _approve(suggestions)
    confirmed = turn_input(state, "confirmed_tools")
    if confirmed is None and _has_checkpointer(config):
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
    return _approve([s for s in suggestions if s["name"] in chosen])


def _approve(calls: list[dict[str, Any]]) -> Command[str]:
    if calls:
        return Command(update={"approved_tools": calls}, goto="execute_tools")
    return Command(update={"approved_tools": [], "tool_results": []}, goto="generate")


async def execute_tools(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Run the approved tool calls concurrently, each under the run's timeout."""
    ctx = context_of(runtime)
    calls = state.get("approved_tools") or []
    allowed = set((state.get("selected_agent") or {}).get("allowed_tools") or [])
    results = await asyncio.gather(
        *(_run_tool(ctx, call) for call in calls if call["name"] in allowed)
    )
    return {"tool_results": list(results)}


async def _run_tool(ctx: Context, call: dict[str, Any]) -> dict[str, Any]:
    tool = ctx.services.tools.get(call["name"])
    start = time.perf_counter()
    result = {
        "name": call["name"],
        "args": call.get("args"),
        "status": "ok",
        "output": None,
        "error": None,
    }
    try:
        if tool is None:
            raise LookupError(f"tool {call['name']!r} is not registered")
        async with asyncio.timeout(ctx.parallel_timeout_ms / 1000):
            output = await tool.ainvoke(call.get("args") or {})
        result["output"] = output if isinstance(output, str) else str(output)
    except TimeoutError:
        result.update(status="timed_out", error=f"no result within {ctx.parallel_timeout_ms} ms")
    except Exception as exc:
        result.update(status="failed", error=describe_error(exc))
    result["duration_ms"] = round((time.perf_counter() - start) * 1000, 3)
    return result


async def generate(mode: Mode, state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Answer from the retrieved passages and tool results with the context's chat model.

    The model call is retried `generation_retries` times, all within `generation_timeout_ms`,
    and guarded by a circuit breaker. Chat modes send the last `max_history_tokens` of the
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
    agent_id = (state.get("selected_agent") or {}).get("id")
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
        tool_results=state.get("tool_results") or [],
        history=history,
        topic=topic,
        memory=memory,
    )
    used: list[str] = []
    model_name = services.model_name
    breakers, policy = ctx.resilience_state.breakers, ctx.breaker_policy
    brought = services.brought.get("model")
    key = (
        service_key(GENERATION, brought, state.get("tenant_id"))
        if brought is not None
        else f"{GENERATION}/{model_name}"
    )
    start = time.perf_counter()
    update: dict[str, Any] = {}
    sent = True
    try:
        if ctx.circuit_breaker and not await breakers.allow(key, policy):
            last = await breakers.last_error(key)
            raise CircuitOpenError(
                "the model failed repeatedly; its circuit breaker is open"
                + (f" (last error: {last})" if last else "")
            )
        reply = await _guarded_model_call(ctx, key, services, messages)
        # No checkpointer or store takes NUL and its kind: a model's stray ones are dropped.
        response, usage, status = clean_text(str(reply.text)), reply.usage_metadata, "ok"
        answer = reply if isinstance(reply, AIMessage) else AIMessage(content=response)
        used = memory_used(reply, memory)
    except Exception as exc:
        usage = None
        sent = not isinstance(exc, CircuitOpenError | ModelUnavailableError)
        code = ERROR_CODES.get(type(exc), "generation_failed")
        status = "timed_out" if code == "generation_timed_out" else "failed"
        response = (
            "Sorry, no answer could be generated: the language model "
            f"{'did not answer in time' if status == 'timed_out' else 'failed'} "
            f"({type(exc).__name__}). Please try again."
        )
        update.update(error=describe_error(exc), error_code=code)
        log.warning(
            "generation_failed",
            error=type(exc).__name__,
            error_code=code,
            model=model_name,
            run_id=(state.get("metadata") or {}).get("run_id"),
        )
        # Marked, so the next turn's catch-up never saves an apology to memory.
        answer = AIMessage(content=response, response_metadata={"error_code": code})
    if mode.chat:
        update["messages"] = [HumanMessage(content=state["query"]), answer]
    duration_ms = round((time.perf_counter() - start) * 1000, 3)
    generation = {
        "model": model_name,
        "usage": dict(usage) if usage else None,
        "duration_ms": duration_ms,
        "status": status,
        "sent": sent,
        "error": update.get("error"),
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


async def _guarded_model_call(
    ctx: Context, key: str, services: Any, messages: list[BaseMessage]
) -> Any:
    """The model call under its time limit, its outcome told to the model's breaker.

    A probe call that ends without an outcome (the run was cancelled) is released, so the
    breaker never stays half-open.
    """
    breakers, policy = ctx.resilience_state.breakers, ctx.breaker_policy
    recorded = False
    try:
        try:
            try:
                model = services.model
            except Exception as exc:
                raise ModelUnavailableError(describe_error(exc)) from exc
            reply = await _ainvoke_within(
                model, messages, ctx.generation_retries, ctx.generation_timeout_ms
            )
        except Exception as exc:
            if ctx.circuit_breaker:
                await breakers.record(key, True, policy, describe_error(exc))
            recorded = True
            raise
        if ctx.circuit_breaker:
            await breakers.record(key, False, policy)
        recorded = True
        return reply
    finally:
        if ctx.circuit_breaker and not recorded:
            await breakers.release(key)


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


async def _ainvoke_within(
    model: Any, messages: list[BaseMessage], retries: int, timeout_ms: int
) -> Any:
    """`_ainvoke_with_retries` under one time limit for all attempts."""
    limit = asyncio.timeout(timeout_ms / 1000)
    try:
        async with limit:
            return await _ainvoke_with_retries(model, messages, retries)
    except TimeoutError as exc:
        if limit.expired():
            raise GenerationTimeoutError(f"no answer within {timeout_ms} ms") from exc
        raise


async def _ainvoke_with_retries(model: Any, messages: list[BaseMessage], retries: int) -> Any:
    """Call the model, trying again up to `retries` times; the last error propagates.

    A plain loop: wrapping the model in `with_retry()` on every run cost about 0.7 ms a run.
    """
    for attempt in range(retries + 1):
        try:
            return await model.ainvoke(messages)
        except Exception:
            if attempt == retries:
                raise
            log.info("generation_retry", attempt=attempt + 1)
    raise AssertionError("unreachable")


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
        if _has_checkpointer(get_config())
        else []
    )
    if not state.get("user_id") or (failed and not earlier):
        reason = "no user_id" if not state.get("user_id") else "generation failed"
        return {
            "metadata": {"save_turn": {"status": "skipped", "error": reason, "turn": this_turn}}
        }
    ctx = context_of(runtime)
    memory, tenant_id, user_id = ctx.services.memory, state.get("tenant_id"), str(state["user_id"])
    start = time.perf_counter()
    status, error = ("skipped", "generation failed") if failed else ("ok", None)
    handled, caught_up = this_turn, 0
    limit = asyncio.timeout(ctx.store_timeout_ms / 1000)
    try:
        async with limit:
            store = ctx.memory_store_for(runtime)
            for question, reply in earlier:
                await memory.asave_turn(
                    store,
                    tenant_id=tenant_id,
                    user_id=user_id,
                    query=str(question.text),
                    response=str(reply.text),
                    session_id=state.get("session_id"),
                    key=reply.id,
                )
                caught_up += 1
            if not failed:
                await memory.asave_turn(
                    store,
                    tenant_id=tenant_id,
                    user_id=user_id,
                    query=state["query"],
                    response=state.get("response") or "",
                    agent_id=(state.get("selected_agent") or {}).get("id"),
                    session_id=state.get("session_id"),
                    key=this_turn,
                )
    except Exception as exc:
        handled = saved_through  # the next turn tries again
        if limit.expired():
            status, error = (
                "timed_out",
                f"no answer from the store within {ctx.store_timeout_ms} ms",
            )
        else:
            status, error = "failed", describe_error(exc)
        log.warning(
            "save_turn_failed",
            status=status,
            error=error,
            tenant_id=state.get("tenant_id"),
            run_id=(state.get("metadata") or {}).get("run_id"),
        )
    duration_ms = round((time.perf_counter() - start) * 1000, 3)
    record = {"status": status, "error": error, "duration_ms": duration_ms, "turn": handled}
    return {"metadata": {"save_turn": {**record, "caught_up": caught_up}}}
