"""The one guard (`resilience.guard`) and what its callers get from it (issue 12, item 2)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.tools import tool

from parallel_tiers import Context, build_mode_graph
from parallel_tiers.resilience import BreakerPolicy, Resilience
from parallel_tiers.resilience.guard import (
    CallTimeoutError,
    CircuitOpenError,
    MalformedResultError,
    guarded,
)
from parallel_tiers.tiers import TIER1
from parallel_tiers.tiers.branch import Branch
from tests.logs import capture_events

STROKE = "What are the warning signs of a stroke?"


def context(**settings: Any) -> Context:
    settings.setdefault("resilience", Resilience(policy=BreakerPolicy(failure_threshold=2)))
    return Context(**settings)


class Flaky:
    """Fails `failures` times with `error`, then answers "fine"."""

    def __init__(self, failures: int, error: BaseException | None = None) -> None:
        self.failures, self.calls = failures, 0
        self.error = error or ConnectionError("blip")

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "fine"


async def test_retries_then_ok_with_one_breaker_outcome() -> None:
    ctx, call = context(), Flaky(2)
    with capture_events() as logs:
        outcome = await guarded(call, ctx, timeout_ms=1000, service="svc", retries=2, name="x")
    assert (outcome.status, outcome.value, outcome.error, call.calls) == ("ok", "fine", None, 3)
    assert [e["attempt"] for e in logs if e["event"] == "x_retry"] == [1, 2]
    state = await ctx.resilience_state.breakers.store.load("svc")
    assert state is not None and state.consecutive_failures == 0 and len(state.recent) == 1


async def test_retry_on_refuses_a_second_try() -> None:
    call = Flaky(1, LookupError("gone"))
    outcome = await guarded(call, context(), timeout_ms=1000, retries=3, retry_on=lambda e: False)
    assert (outcome.status, call.calls) == ("failed", 1)
    assert outcome.error == "LookupError: gone"
    assert isinstance(outcome.exception, LookupError)


async def test_one_time_limit_for_every_try() -> None:
    calls = 0

    async def hang() -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(3600)

    outcome = await guarded(
        hang, context(), timeout_ms=100, retries=5, timeout_text="nothing in {ms:g} ms"
    )
    assert outcome.status == "timed_out" and calls == 1
    assert outcome.error == "nothing in 100 ms"
    assert isinstance(outcome.exception, CallTimeoutError)
    assert 100 <= outcome.duration_ms < 2000


async def test_a_timeout_error_of_the_service_is_a_failure_not_a_timeout() -> None:
    outcome = await guarded(Flaky(1, TimeoutError("upstream")), context(), timeout_ms=1000)
    assert outcome.status == "failed" and outcome.error == "TimeoutError: upstream"


async def test_open_breaker_skips_at_once_and_names_the_last_error() -> None:
    ctx, call = context(), Flaky(10, ConnectionError("refused"))
    statuses = [(await guarded(call, ctx, timeout_ms=1000, service="svc")).status for _ in range(3)]
    assert statuses == ["failed", "failed", "circuit_open"] and call.calls == 2
    outcome = await guarded(call, ctx, timeout_ms=1000, service="svc")
    assert isinstance(outcome.exception, CircuitOpenError)
    assert outcome.error == "circuit breaker is open; last error: ConnectionError: refused"


async def test_without_a_service_no_breaker_opens() -> None:
    ctx, call = context(), Flaky(10)
    for _ in range(5):
        assert (await guarded(call, ctx, timeout_ms=1000)).status == "failed"
    assert call.calls == 5


async def test_malformed_result_is_a_failure_the_breaker_hears() -> None:
    def check(value: str) -> None:
        raise MalformedResultError(f"bad: {value}")

    ctx = context()
    outcome = await guarded(Flaky(0), ctx, timeout_ms=1000, service="svc", check=check)
    assert (outcome.status, outcome.value) == ("failed", None)
    assert outcome.error == "MalformedResultError: bad: fine"
    state = await ctx.resilience_state.breakers.store.load("svc")
    assert state is not None and state.consecutive_failures == 1


async def test_cancelled_error_of_the_service_is_a_failure() -> None:
    outcome = await guarded(Flaky(1, asyncio.CancelledError()), context(), timeout_ms=1000)
    assert outcome.status == "failed"


async def test_cancelling_the_run_goes_through_and_releases_the_probe() -> None:
    policy = BreakerPolicy(failure_threshold=1, cooldown_ms=0)
    ctx = context(resilience=Resilience(policy=policy))
    await guarded(Flaky(1), ctx, timeout_ms=1000, service="svc")  # opens the breaker
    started = asyncio.Event()

    async def probe() -> None:
        started.set()
        await asyncio.sleep(3600)

    task = asyncio.create_task(guarded(probe, ctx, timeout_ms=10_000, service="svc"))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # the probe was released: the next call probes, succeeds and closes the breaker
    assert (await guarded(Flaky(0), ctx, timeout_ms=1000, service="svc")).ok
    assert await ctx.resilience_state.breakers.status("svc") == "closed"


async def test_queueing_for_a_slot_counts_against_the_limit() -> None:
    ctx = context(resilience=Resilience(max_concurrency=1))

    async def slow() -> str:
        await asyncio.sleep(0.2)
        return "done"

    first, second, third = await asyncio.gather(
        guarded(slow, ctx, timeout_ms=1000, service="svc"),
        guarded(slow, ctx, timeout_ms=1000, service="svc", priority="high"),
        guarded(slow, ctx, timeout_ms=100, service="svc"),
    )
    assert first.ok and second.ok and third.status == "timed_out"
    assert first.queue_ms < 50 and second.queue_ms >= 150


def test_declarations_are_keyword_only_and_defaults_fresh() -> None:
    rag = TIER1.branches[0]
    with pytest.raises(TypeError):
        Branch(rag.name, rag.run, rag.default, rag.check)  # type: ignore[call-arg]
    first = rag.safe_default()
    first["rag_results"].append({"id": "x"})
    assert rag.safe_default()["rag_results"] == []


# --- the callers ---------------------------------------------------------------------------


async def test_metadata_run_id_is_the_runs_own() -> None:
    run_id = uuid.uuid4()
    out = await build_mode_graph(2).ainvoke({"query": STROKE}, {"run_id": run_id})
    assert out["metadata"]["run_id"] == str(run_id)
    other = await build_mode_graph(2).ainvoke({"query": STROKE})
    assert uuid.UUID(other["metadata"]["run_id"]) != run_id


class CountingModel(GenericFakeChatModel):
    """Answers after a pause; counts the calls in flight at once."""

    in_flight: int = 0
    most: int = 0

    async def _agenerate(self, *args: Any, **kwargs: Any) -> Any:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            await asyncio.sleep(0.05)
            return await super()._agenerate(*args, **kwargs)
        finally:
            self.in_flight -= 1


async def test_model_calls_obey_the_services_concurrency_limit() -> None:
    model = CountingModel(messages=iter([AIMessage(content=f"Answer {i} [1].") for i in range(3)]))
    ctx = context(model=model, resilience=Resilience(max_concurrency=1))
    graph = build_mode_graph(2)
    outs = await asyncio.gather(*(graph.ainvoke({"query": STROKE}, context=ctx) for _ in range(3)))
    assert all(not out.get("error") for out in outs)
    assert model.most == 1


async def test_generation_timeout_keeps_its_error_and_code() -> None:
    class Silent(GenericFakeChatModel):
        async def _agenerate(self, *args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(3600)

    out = await build_mode_graph(2).ainvoke(
        {"query": STROKE},
        context=context(model=Silent(messages=iter([])), generation_timeout_ms=100),
    )
    assert out["error_code"] == "generation_timed_out"
    assert out["error"] == "no answer within 100 ms"
    assert "(GenerationTimeoutError)" in out["response"]
    assert out["metadata"]["generation"]["status"] == "timed_out"


@tool
async def stuck(x: str) -> str:
    """Never answers."""
    await asyncio.sleep(3600)
    return x


@tool
async def upstream(x: str) -> str:
    """Its own upstream timed out."""
    raise TimeoutError("upstream took too long")


async def test_tool_calls_run_under_the_guard() -> None:
    from parallel_tiers.modes.nodes import _run_tool

    ctx = context(tools=[stuck, upstream], parallel_timeout_ms=100)
    hung = await _run_tool(ctx, {"name": "stuck", "args": {"x": "1"}})
    assert (hung["status"], hung["output"]) == ("timed_out", None)
    assert hung["error"] == "no result within 100 ms" and hung["duration_ms"] >= 100
    own = await _run_tool(ctx, {"name": "upstream", "args": {"x": "1"}})
    assert own["status"] == "failed" and "upstream took too long" in own["error"]
    missing = await _run_tool(ctx, {"name": "nope", "args": {}})
    assert missing["status"] == "failed" and "not registered" in missing["error"]
