"""Cost of a generation: tokens from the model's usage, prices from the genai-prices table.

`CostTracker.atrack` reads LangChain `usage_metadata` (or estimates tokens from the texts when a
model reports none) and prices them with `genai_prices.calc_price`. Local models
(``"local:..."``) cost nothing; a model the table does not know gets ``total_cost_usd=None`` and
``price_unknown=True``, never a guessed price.

genai-prices caches its model lookups itself: a priced call takes ~0.1 ms once warm (the first
loads the table, ~20 ms), so no extra cache is kept here. `CostLedger` adds costs up per thread
and per tenant in-process.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import genai_prices
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.messages.utils import count_tokens_approximately

LOCAL_PREFIX = "local:"
"""Model names starting with this are the offline models: no charge."""
LOCAL_PRICE_SOURCE = "local model, no charge"
PRICE_SOURCE = f"genai-prices {genai_prices.__version__}"


def split_model(model: str) -> tuple[str | None, str]:
    """Split an `init_chat_model` string into provider and model name.

    Args:
        model: ``"openai:gpt-4o-mini"`` or a bare name such as ``"gpt-4o-mini"``.

    Returns:
        ``(provider, name)``; the provider is None for a bare name.

    """
    provider, sep, name = model.strip().partition(":")
    if sep and provider and name and "/" not in provider:
        return provider.lower(), name.strip()
    return None, model.strip()


def price_usd(
    model: str,
    input_tokens: int,
    output_tokens: int,
    *,
    cache_read_tokens: int = 0,
    cache_write_tokens: int = 0,
) -> float | None:
    """Price a call with genai-prices; None when the table does not know the model.

    Args:
        model: ``"provider:model"`` or a bare model name (genai-prices picks the provider).
        input_tokens: All input tokens, cached ones included (as LangChain counts them).
        output_tokens: Output tokens.
        cache_read_tokens: Input tokens read from the provider's prompt cache.
        cache_write_tokens: Input tokens written to the provider's prompt cache.

    Returns:
        The total price in USD, or None for an unknown model or provider.

    """
    counts = {"input_tokens": input_tokens, "output_tokens": output_tokens}
    if 0 < cache_read_tokens + cache_write_tokens <= input_tokens:
        counts |= {"cache_read_tokens": cache_read_tokens, "cache_write_tokens": cache_write_tokens}
    usage = genai_prices.Usage(**counts)
    provider, name = split_model(model)
    # "llama3:8b" is a bare name with a colon: try the whole string when the split fails.
    attempts = [(name, provider), (model.strip(), None)] if provider else [(name, None)]
    for model_ref, provider_id in attempts:
        try:
            calculation = genai_prices.calc_price(
                usage, model_ref=model_ref, provider_id=provider_id
            )
        except LookupError:
            continue
        return float(calculation.total_price)
    return None


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and value > 0 else 0


class CostTracker:
    """Tokens and price of a generation (the `cost` service)."""

    async def atrack(
        self,
        model: str,
        usage: Mapping[str, Any] | None,
        *,
        prompt_text: str = "",
        completion_text: str = "",
    ) -> dict[str, Any]:
        """Count the tokens of a generation and price them.

        Args:
            model: The model's name, e.g. ``"openai:gpt-4o-mini"`` or ``"local:extractive"``.
            usage: The response's `usage_metadata` (``input_tokens``, ``output_tokens``,
                ``total_tokens``, optional ``input_token_details``); None when not reported.
            prompt_text: The prompt, to estimate input tokens when `usage` is missing.
            completion_text: The answer, to estimate output tokens when `usage` is missing.

        Returns:
            ``model``, ``input_tokens``, ``output_tokens``, ``total_tokens``,
            ``total_cost_usd`` (None when unknown), ``price_unknown``, ``tokens_estimated``
            and ``price_source``.

        """
        reported = usage is not None and (
            usage.get("input_tokens") is not None or usage.get("output_tokens") is not None
        )
        details: Mapping[str, Any] = {}
        if usage is not None and reported:
            input_tokens = _int(usage.get("input_tokens"))
            output_tokens = _int(usage.get("output_tokens"))
            total_tokens = _int(usage.get("total_tokens")) or input_tokens + output_tokens
            details = usage.get("input_token_details") or {}
        else:
            input_tokens = _estimate(prompt_text, HumanMessage)
            output_tokens = _estimate(completion_text, AIMessage)
            total_tokens = input_tokens + output_tokens

        if model.startswith(LOCAL_PREFIX):
            cost: float | None = 0.0
            source = LOCAL_PRICE_SOURCE
        else:
            cost = price_usd(
                model,
                input_tokens,
                output_tokens,
                cache_read_tokens=_int(details.get("cache_read")),
                cache_write_tokens=_int(details.get("cache_creation")),
            )
            source = PRICE_SOURCE
        return {
            "model": model,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "total_tokens": total_tokens,
            "total_cost_usd": cost,
            "price_unknown": cost is None,
            "tokens_estimated": not reported,
            "price_source": source,
        }


def _estimate(text: str, message_type: type[HumanMessage] | type[AIMessage]) -> int:
    return count_tokens_approximately([message_type(content=text)]) if text else 0


@dataclass
class _Totals:
    runs: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    total_cost_usd: float = 0.0
    unknown_price_runs: int = 0
    estimated_token_runs: int = 0

    def add(self, cost: Mapping[str, Any]) -> None:
        self.runs += 1
        self.input_tokens += _int(cost.get("input_tokens"))
        self.output_tokens += _int(cost.get("output_tokens"))
        self.total_tokens += _int(cost.get("total_tokens"))
        price = cost.get("total_cost_usd")
        if price is None or cost.get("price_unknown"):
            self.unknown_price_runs += 1
        else:
            self.total_cost_usd += float(price)
        self.estimated_token_runs += bool(cost.get("tokens_estimated"))


class CostLedger:
    """In-process running totals of costs, overall, per thread and per tenant.

    `add` holds a lock and never awaits, so it is safe from coroutines and threads alike.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._totals: dict[tuple[str, str], _Totals] = {}

    def add(self, cost: Mapping[str, Any], *, thread_id: str | None, tenant_id: str | None) -> None:
        """Record one `CostTracker.atrack` result.

        Args:
            cost: The result to add (unknown prices count as runs, not as cost).
            thread_id: The conversation it belongs to, if any.
            tenant_id: The tenant it belongs to, if any.

        """
        keys = [("all", "")]
        if thread_id is not None:
            keys.append(("thread", thread_id))
        if tenant_id is not None:
            keys.append(("tenant", tenant_id))
        with self._lock:
            for key in keys:
                self._totals.setdefault(key, _Totals()).add(cost)

    def totals(
        self, *, thread_id: str | None = None, tenant_id: str | None = None
    ) -> dict[str, Any]:
        """Return the totals of one thread, of one tenant, or (neither given) of everything.

        Returns:
            ``runs``, ``input_tokens``, ``output_tokens``, ``total_tokens``,
            ``total_cost_usd`` (known prices only), ``unknown_price_runs`` and
            ``estimated_token_runs``; zeros for an unseen thread or tenant.

        Raises:
            ValueError: Both a thread and a tenant were given.

        """
        if thread_id is not None and tenant_id is not None:
            raise ValueError("give thread_id or tenant_id, not both")
        if thread_id is not None:
            key = ("thread", thread_id)
        elif tenant_id is not None:
            key = ("tenant", tenant_id)
        else:
            key = ("all", "")
        with self._lock:
            return asdict(self._totals.get(key, _Totals()))
