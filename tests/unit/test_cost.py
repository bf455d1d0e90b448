from __future__ import annotations

import asyncio

import genai_prices
import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import InMemorySaver

from parallel_tiers import Context, build_mode_graph
from parallel_tiers.services.cost import (
    PRICE_SOURCE,
    CostLedger,
    CostTracker,
    price_usd,
    split_model,
)

USAGE = {"input_tokens": 1200, "output_tokens": 300, "total_tokens": 1500}


def genai_price(model: str, provider: str | None, **tokens: int) -> float:
    usage = genai_prices.Usage(**tokens)
    return float(genai_prices.calc_price(usage, model_ref=model, provider_id=provider).total_price)


async def test_usage_gives_exact_tokens_and_known_price() -> None:
    cost = await CostTracker().atrack("openai:gpt-4o-mini", USAGE)
    assert cost == {
        "model": "openai:gpt-4o-mini",
        "input_tokens": 1200,
        "output_tokens": 300,
        "total_tokens": 1500,
        "total_cost_usd": genai_price(
            "gpt-4o-mini", "openai", input_tokens=1200, output_tokens=300
        ),
        "price_unknown": False,
        "tokens_estimated": False,
        "price_source": f"genai-prices {genai_prices.__version__}",
    }
    assert cost["total_cost_usd"] > 0


@pytest.mark.parametrize(
    ("model", "ref", "provider"),
    [
        ("gpt-4o-mini", "gpt-4o-mini", None),
        ("anthropic:claude-sonnet-4-5", "claude-sonnet-4-5", "anthropic"),
        ("google_genai:gemini-2.0-flash", "gemini-2.0-flash", "google"),
    ],
)
async def test_provider_strings_and_bare_names(model: str, ref: str, provider: str | None) -> None:
    cost = await CostTracker().atrack(model, USAGE)
    assert cost["total_cost_usd"] == genai_price(
        ref, provider, input_tokens=1200, output_tokens=300
    )
    assert not cost["price_unknown"]


async def test_cached_input_tokens_are_priced_as_cache_reads() -> None:
    usage = {**USAGE, "input_token_details": {"cache_read": 1000}}
    cost = await CostTracker().atrack("openai:gpt-4o-mini", usage)
    expected = genai_price(
        "gpt-4o-mini", "openai", input_tokens=1200, output_tokens=300, cache_read_tokens=1000
    )
    assert cost["total_cost_usd"] == expected
    uncached = await CostTracker().atrack("openai:gpt-4o-mini", USAGE)
    assert cost["total_cost_usd"] < uncached["total_cost_usd"]


@pytest.mark.parametrize(
    "model",
    ["acme:model-x", "my-private-model-v9", "ollama:llama3:8b", "openai:not-a-real-model", ""],
)
async def test_unknown_model_has_no_price(model: str) -> None:
    cost = await CostTracker().atrack(model, USAGE)
    assert cost["total_cost_usd"] is None
    assert cost["price_unknown"] is True
    assert cost["total_tokens"] == 1500
    assert cost["price_source"] == PRICE_SOURCE


async def test_local_model_is_free() -> None:
    cost = await CostTracker().atrack("local:extractive", USAGE)
    assert cost["total_cost_usd"] == 0.0
    assert cost["price_unknown"] is False
    assert cost["price_source"] == "local model, no charge"


async def test_missing_usage_estimates_tokens() -> None:
    prompt = "What are the symptoms of asthma? " * 20
    cost = await CostTracker().atrack(
        "local:extractive", None, prompt_text=prompt, completion_text="Wheezing and cough [1]."
    )
    assert cost["tokens_estimated"] is True
    assert cost["input_tokens"] > cost["output_tokens"] > 0
    assert cost["total_tokens"] == cost["input_tokens"] + cost["output_tokens"]
    empty = await CostTracker().atrack("local:extractive", {})
    assert (empty["total_tokens"], empty["tokens_estimated"]) == (0, True)


async def test_estimated_tokens_are_priced_too() -> None:
    cost = await CostTracker().atrack(
        "openai:gpt-4o-mini", None, prompt_text="hello " * 100, completion_text="hi"
    )
    assert cost["tokens_estimated"] is True
    assert cost["total_cost_usd"] == genai_price(
        "gpt-4o-mini",
        "openai",
        input_tokens=cost["input_tokens"],
        output_tokens=cost["output_tokens"],
    )


async def test_total_tokens_default_to_the_sum() -> None:
    cost = await CostTracker().atrack("local:x", {"input_tokens": 7, "output_tokens": 5})
    assert (cost["total_tokens"], cost["tokens_estimated"]) == (12, False)


def test_split_model_and_price_usd() -> None:
    assert split_model("openai:gpt-4o-mini") == ("openai", "gpt-4o-mini")
    assert split_model("gpt-4o-mini") == (None, "gpt-4o-mini")
    assert split_model("ollama:llama3:8b") == ("ollama", "llama3:8b")
    assert price_usd("nobody:knows", 10, 10) is None


async def test_ledger_totals_per_thread_and_tenant() -> None:
    tracker, ledger = CostTracker(), CostLedger()
    known = await tracker.atrack("openai:gpt-4o-mini", USAGE)
    unknown = await tracker.atrack("acme:model-x", {"input_tokens": 10, "output_tokens": 5})
    local = await tracker.atrack(
        "local:extractive", None, prompt_text="hi there", completion_text="hello"
    )

    async def add(cost: dict, thread: str, tenant: str | None) -> None:
        await asyncio.sleep(0)
        ledger.add(cost, thread_id=thread, tenant_id=tenant)

    await asyncio.gather(
        add(known, "t1", "acme"),
        add(known, "t1", "acme"),
        add(unknown, "t2", "acme"),
        add(local, "t3", None),
    )

    t1 = ledger.totals(thread_id="t1")
    assert t1["runs"] == 2
    assert t1["total_tokens"] == 3000
    assert t1["total_cost_usd"] == pytest.approx(2 * known["total_cost_usd"])
    assert t1["unknown_price_runs"] == 0

    acme = ledger.totals(tenant_id="acme")
    assert (acme["runs"], acme["unknown_price_runs"], acme["input_tokens"]) == (3, 1, 2410)
    assert acme["total_cost_usd"] == pytest.approx(2 * known["total_cost_usd"])

    everything = ledger.totals()
    assert everything["runs"] == 4
    assert everything["estimated_token_runs"] == 1
    assert everything["total_tokens"] == 3015 + local["total_tokens"]

    assert ledger.totals(thread_id="nope")["runs"] == 0
    with pytest.raises(ValueError, match="not both"):
        ledger.totals(thread_id="t1", tenant_id="acme")


# ---------------------------------------------------------------------------------- in a run


class _UsageModel(GenericFakeChatModel):
    """A fake chat model that reports usage, named like a priced provider model."""

    model_name: str = "openai:gpt-4o-mini"


def _reply(text: str) -> AIMessage:
    return AIMessage(content=text, usage_metadata={**USAGE})  # type: ignore[typeddict-item]


async def test_cost_ledger_in_the_context_adds_up_per_thread_and_tenant() -> None:
    ledger = CostLedger()
    model = _UsageModel(messages=iter([_reply("Answer one [1]."), _reply("Answer two [1].")]))
    graph = build_mode_graph(4, checkpointer=InMemorySaver())
    ctx = Context(model=model, cost_ledger=ledger)
    for question in ("What is asthma?", "How is it treated?"):
        out = await graph.ainvoke(
            {"query": question, "tenant_id": "acme", "user_id": "ann"},
            config={"configurable": {"thread_id": "t-1"}},
            context=ctx,
        )
        assert out["cost_data"]["input_tokens"] == 1200  # the model's own usage, not estimated
        assert out["cost_data"]["tokens_estimated"] is False
    one_run = await CostTracker().atrack("openai:gpt-4o-mini", USAGE)
    thread = ledger.totals(thread_id="t-1")
    assert (thread["runs"], thread["total_tokens"]) == (2, 3000)
    assert thread["total_cost_usd"] == pytest.approx(2 * one_run["total_cost_usd"])
    assert ledger.totals(tenant_id="acme") == thread
    assert ledger.totals(tenant_id="other")["runs"] == 0


async def test_unknown_model_in_a_run_is_flagged_not_priced() -> None:
    ledger = CostLedger()
    model = GenericFakeChatModel(messages=iter([_reply("An answer [1].")]))
    out = await build_mode_graph(2).ainvoke(
        {"query": "What is asthma?", "tenant_id": "acme"},
        context=Context(model=model, cost_ledger=ledger),
    )
    cost = out["cost_data"]
    assert cost["model"] == "GenericFakeChatModel"
    assert (cost["total_cost_usd"], cost["price_unknown"], cost["total_tokens"]) == (
        None,
        True,
        1500,
    )
    totals = ledger.totals(tenant_id="acme")
    assert (totals["runs"], totals["unknown_price_runs"], totals["total_cost_usd"]) == (1, 1, 0.0)
    assert ledger.totals()["runs"] == 1  # no thread: counted overall and per tenant only


async def test_no_ledger_no_accumulation() -> None:
    out = await build_mode_graph(2).ainvoke({"query": "What is asthma?"})
    assert out["cost_data"]["total_cost_usd"] == 0.0  # the offline model costs nothing


async def test_a_call_that_never_went_out_costs_nothing_and_says_why() -> None:
    from parallel_tiers import Context, build_mode_graph
    from parallel_tiers.resilience import Resilience

    # A provider model whose package is missing: nothing was sent (it used to be priced at
    # the prompt's tokens plus the package's own apology as "output").
    out = await build_mode_graph(2).ainvoke(
        {"query": "What are the warning signs of a stroke?"},
        context=Context(model="nonexistent-provider:some-model", resilience=Resilience()),
    )
    cost = out["cost_data"]
    assert out["error_code"] == "generation_failed"
    assert (cost["input_tokens"], cost["output_tokens"], cost["total_cost_usd"]) == (0, 0, 0.0)
    assert "ModelUnavailableError" in cost["not_sent"]
    assert out["metadata"]["generation"]["status"] == "failed"
