"""Circuit breakers, adaptive timeouts, priority queues, per-tenant metrics, model retries."""

from __future__ import annotations

import asyncio
import statistics
import time
import urllib.request

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from parallel_tiers import Context, build_mode_graph, build_tier1_graph
from parallel_tiers.metrics import PrometheusCollector, TierMetrics
from parallel_tiers.resilience import (
    BreakerPolicy,
    CircuitBreakers,
    PriorityLimiter,
    Resilience,
    adaptive_timeout_ms,
    service_key,
)
from tests.conftest import fake_context
from tests.fakes import Fakes

TIER1_INPUT = {
    "query": "aspirin?",
    "user_id": "u",
    "tenant_id": "acme",
    "selected_agent": {"allowed_tools": ["calculator"]},
}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_breaker_opens_after_consecutive_failures_and_probes_after_cooldown() -> None:
    clock = Clock()
    breakers = CircuitBreakers(clock=clock)
    policy = BreakerPolicy(failure_threshold=3, window=100, cooldown_ms=1000)
    for _ in range(2):
        assert await breakers.allow("svc", policy)
        await breakers.record("svc", True, policy)
    assert await breakers.status("svc") == "closed"
    await breakers.record("svc", True, policy)
    assert await breakers.status("svc") == "open"
    assert not await breakers.allow("svc", policy)
    clock.now += 1.0
    assert await breakers.allow("svc", policy)  # the probe
    assert not await breakers.allow("svc", policy)  # only one probe at a time
    await breakers.record("svc", True, policy)  # probe failed: open again
    assert await breakers.status("svc") == "open"
    clock.now += 1.0
    assert await breakers.allow("svc", policy)
    await breakers.record("svc", False, policy)  # probe succeeded: closed
    assert await breakers.status("svc") == "closed"
    assert await breakers.allow("svc", policy)


async def test_breaker_opens_on_failure_rate_over_the_window() -> None:
    breakers = CircuitBreakers(clock=Clock())
    policy = BreakerPolicy(failure_threshold=100, failure_rate=0.5, window=10)
    for failed in (True, False) * 2:  # 4 calls: fewer than half the window, no verdict yet
        await breakers.record("svc", failed, policy)
    assert await breakers.status("svc") == "closed"
    await breakers.record("svc", True, policy)  # 5 calls, 3 failures: 60 % >= 50 %
    assert await breakers.status("svc") == "open"


async def test_dead_retriever_stops_costing_the_timeout_and_recovers() -> None:
    fakes = Fakes()
    fakes.rag_retrieval.kind = "hang"
    policy = BreakerPolicy(failure_threshold=3, cooldown_ms=300)
    ctx = fake_context(fakes, parallel_timeout_ms=100, resilience=Resilience(policy=policy))
    graph = build_tier1_graph()

    async def tier_ms() -> tuple[str, float]:
        meta = (await graph.ainvoke(TIER1_INPUT, context=ctx))["metadata"]["parallel_tier1"]
        return meta["tasks"]["rag_retrieval"]["status"], meta["duration_ms"]

    first = [await tier_ms() for _ in range(3)]
    assert [s for s, _ in first] == ["timed_out"] * 3
    assert min(ms for _, ms in first) >= 100
    opened = [await tier_ms() for _ in range(10)]
    assert [s for s, _ in opened] == ["circuit_open"] * 10
    assert statistics.median(ms for _, ms in opened) < 50  # generous; the bench has the figure
    assert fakes.rag_retrieval.calls == 3  # skipped calls never reach the service
    fakes.rag_retrieval.kind = "ok"
    await asyncio.sleep(0.35)
    status, _ = await tier_ms()
    assert status == "ok"
    key = service_key("rag_retrieval", ctx.services.brought["retriever"], "acme")
    assert await ctx.resilience_state.breakers.status(key) == "closed"


async def test_adaptive_timeout_follows_recent_latency() -> None:
    assert adaptive_timeout_ms([10.0] * 3, factor=3, floor_ms=5, ceiling_ms=500) == 500
    assert adaptive_timeout_ms([10.0] * 20, factor=3, floor_ms=5, ceiling_ms=500) == 30
    assert adaptive_timeout_ms([1.0] * 20, factor=3, floor_ms=50, ceiling_ms=500) == 50
    assert adaptive_timeout_ms([400.0] * 20, factor=3, floor_ms=5, ceiling_ms=500) == 500
    fakes = Fakes()
    fakes.rag_retrieval.delay = 0.01
    ctx = fake_context(
        fakes, adaptive_timeout=True, adaptive_timeout_floor_ms=60, parallel_timeout_ms=5000
    )
    graph = build_tier1_graph()
    for _ in range(6):
        await graph.ainvoke(TIER1_INPUT, context=ctx)
    fakes.rag_retrieval.delay = 1.0  # suddenly slow
    started = time.perf_counter()
    meta = (await graph.ainvoke(TIER1_INPUT, context=ctx))["metadata"]["parallel_tier1"]
    task = meta["tasks"]["rag_retrieval"]
    assert task["status"] == "timed_out"
    assert 60 <= task["timeout_ms"] < 200  # p95 of ~10 ms x 3, floored at 60 ms
    assert time.perf_counter() - started < 0.9


async def test_priority_limiter_serves_high_before_low() -> None:
    limiter = PriorityLimiter(1)
    order: list[str] = []
    gate = asyncio.Event()

    async def hold() -> None:
        async with limiter.slot():
            await gate.wait()

    async def call(name: str, priority: str) -> None:
        async with limiter.slot(priority):
            order.append(name)

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiters = [
        asyncio.create_task(call(n, p))
        for n, p in [("low-1", "low"), ("normal", "normal"), ("low-2", "low"), ("high", "high")]
    ]
    await asyncio.sleep(0.01)
    assert limiter.queued == 4
    gate.set()
    await asyncio.gather(holder, *waiters)
    assert order == ["high", "normal", "low-1", "low-2"]
    assert limiter.active == 0


async def test_cancelled_waiter_gives_its_turn_away() -> None:
    limiter = PriorityLimiter(1)
    async with limiter.slot():
        waiter = asyncio.create_task(limiter._acquire(0))
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    assert limiter.active == 0 and limiter.queued == 0


async def test_queue_wait_is_recorded_per_task() -> None:
    fakes = Fakes()
    fakes.rag_retrieval.delay = 0.05
    ctx = fake_context(fakes, resilience=Resilience(max_concurrency=1))
    graph = build_tier1_graph()
    runs = await asyncio.gather(
        graph.ainvoke({**TIER1_INPUT, "priority": "low"}, context=ctx),
        graph.ainvoke({**TIER1_INPUT, "priority": "high"}, context=ctx),
    )
    waits = sorted(
        r["metadata"]["parallel_tier1"]["tasks"]["rag_retrieval"]["queue_ms"] for r in runs
    )
    assert waits[0] < 10 and waits[1] >= 40


async def test_metrics_by_tenant_and_prometheus_export() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    metrics = TierMetrics()
    fakes = Fakes()
    graph = build_tier1_graph()
    for tenant in ("acme", "acme", "globex"):
        await graph.ainvoke(
            {**TIER1_INPUT, "tenant_id": tenant}, context=fake_context(fakes, metrics=metrics)
        )
    fakes.tool_suggestion.kind = "raise"
    await graph.ainvoke(TIER1_INPUT, context=fake_context(fakes, metrics=metrics))
    snap = metrics.snapshot()
    assert snap["tiers"]["parallel_tier1"]["acme"]["runs"] == 3
    assert snap["tiers"]["parallel_tier1"]["globex"]["runs"] == 1
    tool = snap["branches"]["parallel_tier1"]["tool_suggestion"]["acme"]
    assert tool["statuses"] == {"ok": 2, "failed": 1}
    assert tool["success_rate"] == pytest.approx(2 / 3)
    registry = CollectorRegistry()
    registry.register(PrometheusCollector(metrics))  # type: ignore[arg-type]
    text = generate_latest(registry).decode()
    for name in (
        "parallel_execution_duration_seconds",
        "parallel_task_failures_total",
        "parallel_speedup_ratio",
        "parallel_task_duration_seconds",
        "parallel_timeouts_total",
        "parallel_success_rate",
    ):
        assert f"# TYPE {name}" in text
    assert (
        'parallel_task_failures_total{branch="tool_suggestion",tenant="acme",'
        'tier="parallel_tier1"} 1.0'
    ) in text


@pytest.mark.enable_socket
async def test_prometheus_endpoint_is_scraped_over_http() -> None:
    from parallel_tiers.metrics import serve_prometheus

    metrics = TierMetrics()
    await build_tier1_graph().ainvoke(TIER1_INPUT, context=fake_context(Fakes(), metrics=metrics))
    server, thread = serve_prometheus(0, metrics=metrics)
    try:
        port = server.server_address[1]
        body = await asyncio.to_thread(
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        )
        assert b'parallel_success_rate{branch="rag_retrieval",tenant="acme"' in body
    finally:
        server.shutdown()
        thread.join(timeout=5)


class FlakyModel(GenericFakeChatModel):
    failures_left: int = 1

    async def _agenerate(self, *args, **kwargs):  # type: ignore[no-untyped-def,override]
        if self.failures_left > 0:
            self.failures_left -= 1
            raise ConnectionError("blip")
        return await super()._agenerate(*args, **kwargs)


async def test_generation_is_retried_then_fails_plainly_and_opens_its_breaker() -> None:
    ok = FlakyModel(messages=iter([AIMessage(content="Fine [1].")]), failures_left=1)
    out = await build_mode_graph(2).ainvoke(
        {"query": "stroke signs?"}, context=Context(model=ok, resilience=Resilience())
    )
    assert out["response"] == "Fine [1]." and not out.get("error")
    res = Resilience(policy=BreakerPolicy(failure_threshold=2))
    dead = FlakyModel(messages=iter([]), failures_left=10_000)
    ctx = Context(model=dead, resilience=res, generation_retries=1)
    codes = []
    for _ in range(3):
        out = await build_mode_graph(2).ainvoke({"query": "stroke signs?"}, context=ctx)
        codes.append(out["error_code"])
        assert "no answer could be generated" in out["response"]
        cost = out["cost_data"]
        if out["error_code"] == "circuit_open":  # never sent: nothing to pay for
            assert cost["total_tokens"] == 0 and cost["total_cost_usd"] == 0
            assert "circuit breaker is open" in cost["not_sent"]
        else:  # sent and failed: the prompt, estimated; never the package's apology
            assert cost["input_tokens"] > 0 and cost["output_tokens"] == 0
            assert cost["tokens_estimated"]
    assert codes == ["generation_failed", "generation_failed", "circuit_open"]
    assert dead.failures_left == 10_000 - 4  # 2 runs x (1 try + 1 retry), then skipped
