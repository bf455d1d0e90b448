"""`ToolSuggester`: rank tools against a query by word overlap and parsed arguments."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from functools import lru_cache
from typing import Any

from langchain_core.tools import BaseTool

from parallel_tiers.services.text import off_loop, tokenize, words
from parallel_tiers.services.tools.extract import EXTRACTORS, extract_args, mentions_units
from parallel_tiers.services.tools.lookup import LOOKUP_TOOL_NAME
from parallel_tiers.services.tools.units import unit_registry

#: Extra words matched against the query, per built-in tool.
TOOL_KEYWORDS: dict[str, str] = {
    "calculator": "calculate compute evaluate arithmetic math sum plus minus times multiply "
    "divide divided percent percentage square root power",
    "unit_converter": "convert conversion unit units kg kilogram gram mg lb lbs pound ounce oz "
    "stone mile km kilometre kilometer meter metre cm mm inch feet foot yard celsius "
    "fahrenheit kelvin temperature litre liter ml gallon cup mph",
    "date_calculator": "date dates day days week weeks between after before since until calendar",
    "bmi_calculator": "bmi body mass index weight height kg cm obesity overweight",
    LOOKUP_TOOL_NAME: "look lookup find search articles article knowledge base documents",
}
PARSED_WEIGHT = 0.5
"""Share of the score earned by a built-in tool whose arguments were parsed."""
FALLBACK_WEIGHT = 0.1
"""Share earned by a user tool whose single string argument takes the whole query."""
INLINE_MAX_QUERY_CHARS = 200
"""Longest query ranked on the event loop; a longer one is ranked in the services' CPU worker
thread (`text.off_loop`). Ranking the built-in tools takes about 1.5 ms for 200 characters
and grows linearly (8,000 characters, the validation limit: about 30-50 ms)."""


@lru_cache(maxsize=256)
def _vocabulary(name: str, description: str, keywords: str) -> frozenset[str]:
    return frozenset(tokenize(f"{name.replace('_', ' ')} {description} {keywords}"))


class ToolSuggester:
    """Rank tools against a query by word overlap, preferring tools whose arguments parse."""

    def __init__(self, keywords: dict[str, str] | None = None) -> None:
        """Create a suggester.

        Args:
            keywords: Extra words per tool name, added to (and overriding) `TOOL_KEYWORDS`.

        """
        self.keywords = {**TOOL_KEYWORDS, **(keywords or {})}

    async def asuggest(
        self,
        query: str,
        tools: Sequence[BaseTool],
        allowed: Collection[str] | None = None,
        limit: int = 3,
    ) -> list[dict[str, Any]]:
        """Suggest up to `limit` tools for `query`, best first.

        Args:
            query: The user's question.
            tools: The tools available.
            allowed: Names of the tools the agent may use; None allows all.
            limit: Most suggestions to return.

        Returns:
            Dicts with ``name``, ``score`` (0..1), ``reason`` and ``args`` (dict or None).

        """
        if unit_registry.cache_info().currsize == 0 and mentions_units(query):
            # Off the event loop, once: the first unit check loads pint's registry (~0.5 s);
            # questions without a unit phrasing never need it.
            await asyncio.to_thread(unit_registry)
        if len(query) <= INLINE_MAX_QUERY_CHARS:
            return self.suggest(query, tools, allowed, limit)
        return await off_loop(self.suggest, query, tools, allowed, limit)

    def suggest(
        self,
        query: str,
        tools: Sequence[BaseTool],
        allowed: Collection[str] | None = None,
        limit: int = 3,
    ) -> list[dict[str, Any]]:
        """Suggest tools like `asuggest`, synchronously."""
        suggestions = [
            suggestion
            for tool in tools
            if allowed is None or tool.name in allowed
            if (suggestion := self._score(query, tool)) is not None
        ]
        suggestions.sort(key=lambda s: (-s["score"], s["name"]))
        return suggestions[: max(limit, 0)]

    def _score(self, query: str, tool: BaseTool) -> dict[str, Any] | None:
        built_in = tool.name in EXTRACTORS
        args = extract_args(tool.name, query, tool)
        if built_in and args is None:
            return None
        vocabulary = _vocabulary(tool.name, tool.description, self.keywords.get(tool.name, ""))
        surface = dict(zip(tokenize(query), words(query), strict=True))
        matched = [token for token in surface if token in vocabulary]
        if not built_in and not matched:
            return None  # a user tool needs a word in common, whatever its arguments
        explained = set(matched)
        if built_in and args:
            explained |= set(tokenize(" ".join(str(v) for v in args.values()))) & surface.keys()
        coverage = len(explained) / len(surface) if surface else 0.0
        bonus = PARSED_WEIGHT if built_in else FALLBACK_WEIGHT if args else 0.0
        score = round(bonus + (1 - PARSED_WEIGHT) * coverage, 3)
        if score <= 0:
            return None
        reasons = [f"matched: {', '.join(surface[t] for t in matched)}"] if matched else []
        if built_in:
            reasons.append("arguments parsed")
        elif args:
            reasons.append("the query as its argument")
        else:
            reasons.append("arguments not parsed")
        return {"name": tool.name, "score": score, "reason": "; ".join(reasons), "args": args}
