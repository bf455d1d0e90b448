"""One process, many tenants: no caller breaks another's services or reads its secrets (issue 10).

In-process: breakers scoped to the service a run used, probes that always come back, error
text scrubbed of credentials, and per-process state that does not grow with tenants.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import resource
from typing import Any

import pytest
from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from parallel_tiers import Context, build_mode_graph, build_tier1_graph
from parallel_tiers.metrics import TierMetrics
from parallel_tiers.resilience import BreakerPolicy, Resilience
from tests.fakes import Behaviour, FakeRetriever
from tests.logs import capture_events

STROKE = "What are the warning signs of a stroke?"
SECRET = "sk-live-4f9a8b7c6d5e4f3a2b1c"


class LeakyRetriever(BaseRetriever):
    """Fails with a URL that carries an API key, as HTTP clients' errors do."""

    def _get_relevant_documents(self, query: str, *, run_manager: Any) -> list[Document]:
        raise NotImplementedError

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        raise ConnectionError(
            f"GET https://search.example.com/v1?q=stroke&key={SECRET} failed: "
            f"Authorization: Bearer {SECRET}"
        )


def shared(**policy: Any) -> Resilience:
    return Resilience(policy=BreakerPolicy(**{"failure_threshold": 5, **policy}))


async def test_a_tenants_broken_retriever_never_opens_anothers_breaker() -> None:
    res = shared()
    graph = build_mode_graph(2)
    broken = Context(retriever=FakeRetriever(behaviour=Behaviour("raise")), resilience=res)
    for _ in range(6):
        out = await graph.ainvoke({"query": STROKE, "tenant_id": "a"}, context=broken)
    assert out["metadata"]["parallel_tier1"]["tasks"]["rag_retrieval"]["status"] == "circuit_open"
    # Tenant B on the default retriever, in the same process with the same state: unaffected.
    other = await graph.ainvoke(
        {"query": STROKE, "tenant_id": "b"}, context=Context(resilience=res)
    )
    assert other["metadata"]["parallel_tier1"]["tasks"]["rag_retrieval"]["status"] == "ok"
    assert other["rag_results"]


async def test_a_tenants_missing_model_never_opens_the_default_models_breaker() -> None:
    res = shared(failure_threshold=2)
    graph = build_mode_graph(2)
    # A provider model whose package is not installed here: every call fails.
    for _ in range(3):
        out = await graph.ainvoke(
            {"query": STROKE, "tenant_id": "a"},
            context=Context(model="nonexistent-provider:some-model", resilience=res),
        )
    assert out["error_code"] == "circuit_open"
    fine = await graph.ainvoke({"query": STROKE, "tenant_id": "b"}, context=Context(resilience=res))
    assert fine.get("error_code") is None and "[1]" in fine["response"]


async def test_a_cancelled_probe_never_wedges_the_breaker() -> None:
    res = shared(failure_threshold=1, cooldown_ms=100)
    behaviour = Behaviour("raise")
    ctx = Context(retriever=FakeRetriever(behaviour=behaviour), resilience=res)
    graph = build_tier1_graph()
    inputs = {"query": STROKE, "tenant_id": "a"}
    await graph.ainvoke(inputs, context=ctx)  # fails: the breaker opens
    await asyncio.sleep(0.15)
    behaviour.kind = "hang"
    probe = asyncio.create_task(graph.ainvoke(inputs, context=ctx))  # the probe hangs...
    await asyncio.sleep(0.05)
    probe.cancel()  # ...and its run is cancelled (runs.cancel on the server)
    with pytest.raises(asyncio.CancelledError):
        await probe
    behaviour.kind = "ok"
    out = await graph.ainvoke(inputs, context=ctx)
    assert out["metadata"]["parallel_tier1"]["tasks"]["rag_retrieval"]["status"] == "ok"


async def test_error_text_is_scrubbed_of_credentials_everywhere() -> None:
    res = shared(failure_threshold=1)
    ctx = Context(retriever=LeakyRetriever(), resilience=res)
    graph = build_mode_graph(2)
    with capture_events(logging.INFO) as events:
        first = await graph.ainvoke({"query": STROKE, "tenant_id": "a"}, context=ctx)
        second = await graph.ainvoke({"query": STROKE, "tenant_id": "a"}, context=ctx)
    assert "parallel_branch_failed" in {e["event"] for e in events}
    logged = json.dumps(events, default=str)
    failed = first["metadata"]["parallel_tier1"]["tasks"]["rag_retrieval"]
    skipped = second["metadata"]["parallel_tier1"]["tasks"]["rag_retrieval"]
    assert failed["status"] == "failed" and "search.example.com" in failed["error"]
    assert skipped["status"] == "circuit_open"
    assert "last error: ConnectionError" in skipped["error"]  # names what failed
    for text in (failed["error"], skipped["error"], logged):
        assert SECRET not in text
    assert "[redacted]" in failed["error"]


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


async def test_ten_thousand_tenants_do_not_grow_the_process(quiet_logs: None) -> None:
    res, metrics = Resilience(), TierMetrics()
    graph = build_tier1_graph()

    async def churn(start: int, count: int) -> None:
        for i in range(start, start + count):
            ctx = Context(
                resilience=res,
                metrics=metrics,
                retriever=FakeRetriever(docs=[Document("x", metadata={"id": "d"})]),
            )
            await graph.ainvoke(
                {"query": "x", "tenant_id": f"tenant-{i}", "user_id": f"u{i}"}, context=ctx
            )

    await churn(0, 1_000)  # warm up allocators and caches
    gc.collect()
    before = _rss_mb()
    await churn(1_000, 9_000)
    gc.collect()
    growth = _rss_mb() - before
    snapshot = metrics.snapshot()
    assert len({t for _, t in metrics.tiers}) <= metrics.max_tenants + 1
    assert len(res.breakers.store.states) <= 1_000  # type: ignore[attr-defined]
    assert snapshot
    print(f"\nRSS growth over 9,000 new tenants: {growth:.1f} MB")
    assert growth < 10, f"RSS grew {growth:.1f} MB over 9,000 new tenants"


async def test_a_cancelled_model_probe_never_wedges_generation() -> None:
    from tests.reliability.test_bounded_calls import SilentModel

    class Switchable(SilentModel):
        mode: str = "raise"

        async def _agenerate(self, messages: Any, stop: Any = None, **kw: Any) -> Any:
            if self.mode == "raise":
                raise ConnectionError("model down")
            if self.mode == "hang":
                return await super()._agenerate(messages, stop, **kw)
            from langchain_core.messages import AIMessage
            from langchain_core.outputs import ChatGeneration, ChatResult

            return ChatResult(generations=[ChatGeneration(message=AIMessage(content="Fine [1]."))])

    model = Switchable()
    ctx = Context(model=model, resilience=shared(failure_threshold=1, cooldown_ms=100))
    graph = build_mode_graph(2)
    inputs = {"query": STROKE, "tenant_id": "a"}
    assert (await graph.ainvoke(inputs, context=ctx))["error_code"] == "generation_failed"
    await asyncio.sleep(0.15)
    model.mode = "hang"
    probe = asyncio.create_task(graph.ainvoke(inputs, context=ctx))
    await asyncio.sleep(0.1)
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    model.mode = "ok"
    out = await graph.ainvoke(inputs, context=ctx)
    assert out.get("error_code") is None and out["response"] == "Fine [1]."
