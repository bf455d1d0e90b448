"""Tier 2, post-generation: `quality_scoring`, `citation_extraction`, `cost_tracking`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from parallel_tiers.context import Context
from parallel_tiers.resilience.guard import MalformedResultError
from parallel_tiers.state import Tier2Output, Tier2State
from parallel_tiers.tiers.branch import Branch, expect_list_of_dicts
from parallel_tiers.tiers.builder import Tier, build_tier_graph


async def quality_scoring(
    state: Mapping[str, Any], ctx: Context, runtime: Runtime[Context]
) -> dict[str, Any]:
    """Score the answer against the question and its evidence.

    In a conversation, the question is scored as it was resolved: a follow-up ("How is it
    treated?") with the topic generation was given (`generation["topic"]`), so an answer about
    another topic does not pass for on topic.
    """
    query = str(state.get("query") or "")
    topic = (state.get("generation") or {}).get("topic")
    score, metrics = await ctx.services.quality.ascore(
        f"{query} {topic}" if topic else query,
        str(state.get("response") or ""),
        state.get("rag_results") or [],
    )
    return {"quality_score": score, "quality_metrics": metrics}


async def citation_extraction(
    state: Mapping[str, Any], ctx: Context, runtime: Runtime[Context]
) -> dict[str, Any]:
    """Resolve the answer's `[n]` markers and check each against its passage."""
    found = await ctx.services.citations.aextract(
        str(state.get("response") or ""), state.get("rag_results") or []
    )
    return {"citations": list(found)}


async def cost_tracking(
    state: Mapping[str, Any], ctx: Context, runtime: Runtime[Context]
) -> dict[str, Any]:
    """Price the generation from its token usage; add it to the context's `cost_ledger`.

    Only what reached a model is priced: a call that never went out (circuit open, model not
    available) costs 0 and `not_sent` says why; a failed call is priced for its prompt alone
    (estimated, `tokens_estimated`), never for the package's own apology text.
    """
    gen = state.get("generation") or {}
    model = str(gen.get("model") or ctx.services.model_name)
    if gen.get("sent") is False:
        cost = await ctx.services.cost.atrack(model, {"input_tokens": 0, "output_tokens": 0})
        reason = str(gen.get("error") or "the model was not called")
        cost = {**cost, "total_cost_usd": 0.0, "price_unknown": False, "not_sent": reason}
    else:
        ok = gen.get("status", "ok") == "ok"
        cost = await ctx.services.cost.atrack(
            model,
            gen.get("usage"),
            prompt_text=str(gen.get("prompt") or ""),
            completion_text=str(state.get("response") or "") if ok else "",
        )
    if ctx.cost_ledger is not None and isinstance(cost, Mapping):
        info = getattr(runtime, "execution_info", None)  # None outside a graph run
        thread = str(info.thread_id) if info is not None and info.thread_id else None
        ctx.cost_ledger.add(cost, thread_id=thread, tenant_id=state.get("tenant_id"))
    return {"cost_data": dict(cost)}


def _check_quality(update: dict[str, Any]) -> None:
    score = update.get("quality_score")
    if score is not None and not (isinstance(score, int | float) and 0.0 <= score <= 1.0):
        raise MalformedResultError(
            f"quality_score: expected None or a number in 0..1, got {score!r}"
        )
    if not isinstance(update.get("quality_metrics"), dict):
        raise MalformedResultError("quality_metrics: expected a dict")


def _check_cost(update: dict[str, Any]) -> None:
    cost = update.get("cost_data")
    if not isinstance(cost, dict) or "total_tokens" not in cost:
        raise MalformedResultError("cost_data: expected a dict with total_tokens")


TIER2 = Tier(
    name="parallel_tier2",
    branches=(
        Branch(
            name="quality_scoring",
            run=quality_scoring,
            default={"quality_score": None, "quality_metrics": {}},
            check=_check_quality,
            service="quality",
        ),
        Branch(
            name="citation_extraction",
            run=citation_extraction,
            default={"citations": []},
            check=expect_list_of_dicts("citations", ("index", "document_id", "supported")),
            service="citations",
        ),
        Branch(
            name="cost_tracking",
            run=cost_tracking,
            default={"cost_data": {}},
            check=_check_cost,
            service="cost",
        ),
    ),
    parallel_setting="enable_parallel_tier2",
    log_event="parallel_post_generation_completed",
    state_schema=Tier2State,
    output_schema=Tier2Output,
)


def build_tier2_graph() -> CompiledStateGraph[Any, Any, Any, Any]:
    """The post-generation tier as a compiled fan-out/fan-in subgraph."""
    return build_tier_graph(TIER2)
