"""Read tool arguments out of a question: regex extractors per tool and `extract_args`."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from datetime import date
from functools import lru_cache
from typing import Any

from langchain_core.tools import BaseTool

from parallel_tiers.services.text import split_sentences
from parallel_tiers.services.tools.arithmetic import parse_expression
from parallel_tiers.services.tools.lookup import LOOKUP_TOOL_NAME
from parallel_tiers.services.tools.units import _convertible

_NUM = r"-?\d+(?:\.\d+)?"
_ISO = r"\d{4}-\d{2}-\d{2}"


def _clean(query: str) -> str:
    return " ".join(query.split()).strip().rstrip("?!.").strip()


_CALC_CUE_WORDS = (
    r"(?:(?:what|how\s+much)\s+(?:is|are)|what's|calculate|compute|evaluate|work\s+out|solve)"
)
_CALC_CUE = re.compile(rf"^{_CALC_CUE_WORDS}\s+", re.I)
_CALC_CUE_BEFORE = re.compile(rf"\b{_CALC_CUE_WORDS}\s*$", re.I)
_CALC_WORDS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.I), replacement)
    for pattern, replacement in (
        (rf"\bsquare\s+root\s+of\s+({_NUM})", r"sqrt(\1)"),
        (rf"({_NUM})\s*%\s*of\s+", r"\1 / 100 * "),
        (r"\bto\s+the\s+power\s+of\b", "**"),
        (r"\bplus\b", "+"),
        (r"\bminus\b", "-"),
        (r"\b(?:times|multiplied\s+by)\b", "*"),
        (r"\bdivided\s+by\b", "/"),
        (r"\bsquared\b", "**2"),
        (r"\bcubed\b", "**3"),
    )
)


_CALC_TOKEN = (
    r"(?:\d+(?:\.\d+)?|\b(?:sqrt|round|abs|min|max|log|exp|pi)\b|\*\*|//|[-+*/%^\u00d7\u00f7(),])"
)
_CALC_SPAN = re.compile(rf"{_CALC_TOKEN}(?:\s*{_CALC_TOKEN})*", re.I)


def _is_calculation(text: str) -> bool:
    if not re.search(r"\d", text):
        return False
    try:
        tree = parse_expression(text)
    except ValueError:
        return False
    return any(isinstance(n, ast.BinOp | ast.Call) for n in ast.walk(tree))  # not a lone number


def _extract_calculator(query: str) -> dict[str, Any] | None:
    text = _clean(query)
    for pattern, replacement in _CALC_WORDS:
        text = pattern.sub(replacement, text)
    whole = _CALC_CUE.sub("", text, count=1).strip().rstrip("=").strip()
    if _is_calculation(whole):
        return {"expression": whole}
    # Arithmetic inside a sentence counts only right after a cue ("what is", "calculate"). The
    # cue is looked for just before the span (`_CUE_WINDOW`), not in all the text before it:
    # that took time growing with the square of the query's length.
    for match in _CALC_SPAN.finditer(text):
        span = match.group().strip().rstrip(",+-*/%^=").strip()
        window = max(0, match.start() - _CUE_WINDOW)
        if _CALC_CUE_BEFORE.search(text, window, match.start()) and _is_calculation(span):
            return {"expression": span}
    return None


_CUE_WINDOW = 40
"""Characters before an arithmetic span searched for a cue; the longest cue, "how much are",
has 12 once `_clean` has left single spaces."""


_UNIT_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern, re.I)
    for pattern in (
        rf"\b(?:convert|change|turn)\s+(?P<value>{_NUM})\s*(?P<src>\D+?)"
        r"\s+(?:to|into|in)\s+(?P<dst>.+)$",
        rf"^(?:(?:what|how\s+much)\s+is\s+|what's\s+)?(?P<value>{_NUM})\s*(?P<src>\D+?)"
        r"\s+(?:in|to|into|as)\s+(?P<dst>.+)$",
        r"^how\s+(?:many|much)\s+(?P<dst>.+?)\s+(?:are\s+there\s+in|are\s+in|is\s+in|is|are|in)"
        rf"\s+(?P<value>{_NUM})\s*(?P<src>\D+)$",
    )
)


def mentions_units(query: str) -> bool:
    """Whether `query` has a unit phrasing, so that checking it needs pint's registry."""
    text = _clean(query)
    return any(pattern.search(text) for pattern in _UNIT_PATTERNS)


def _extract_unit_converter(query: str) -> dict[str, Any] | None:
    text = _clean(query)
    for pattern in _UNIT_PATTERNS:
        match = pattern.search(text)
        if match is None:
            continue
        src, dst = match["src"].strip(), match["dst"].strip()
        if _convertible(src, dst):
            return {"value": float(match["value"]), "from_unit": src, "to_unit": dst}
    return None


_DATE_OFFSET = re.compile(
    r"(?P<n>\d+)\s+(?P<unit>days?|weeks?)\s+(?P<dir>after|from|later\s+than|before|prior\s+to)"
    rf"\s+(?P<date>{_ISO})",
    re.I,
)
_DATE_PLUS = re.compile(
    rf"(?P<date>{_ISO})\s*(?P<sign>\+|-|plus|minus)\s*(?P<n>\d+)\s*(?P<unit>days?|weeks?)\b",
    re.I,
)
_DATE_SPAN = re.compile(r"\b(?:days?|weeks?|between|from|until|till|since|how\s+long)\b", re.I)


def _valid_dates(*texts: str) -> bool:
    try:
        for text in texts:
            date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _extract_date_calculator(query: str) -> dict[str, Any] | None:
    text = _clean(query)
    for pattern in (_DATE_OFFSET, _DATE_PLUS):
        match = pattern.search(text)
        if match and _valid_dates(match["date"]):
            days = int(match["n"]) * (7 if match["unit"].lower().startswith("week") else 1)
            backwards = match.groupdict().get("dir") or match.groupdict().get("sign") or ""
            if backwards.lower().startswith(("before", "prior", "-", "minus")):
                days = -days
            return {"start": match["date"], "days": days}
    dates = re.findall(_ISO, text)
    if not dates or not _valid_dates(*dates) or not _DATE_SPAN.search(text):
        return None
    if len(dates) >= 2:
        return {"start": dates[0], "end": dates[1]}
    today = date.today().isoformat()
    if re.search(r"\b(?:until|till|to)\s+" + _ISO, text, re.I):
        return {"start": today, "end": dates[0]}
    if re.search(r"\bsince\s+" + _ISO, text, re.I):
        return {"start": dates[0], "end": today}
    return None


_BMI_CUE = re.compile(r"\b(?:bmi|body\s+mass\s+index)\b", re.I)
_WEIGHT = re.compile(rf"({_NUM})\s*(kgs?|kilograms?|kilos?|lbs?|pounds?)\b", re.I)
_HEIGHT = re.compile(rf"({_NUM})\s*(cm|centimet(?:er|re)s?|m|met(?:er|re)s?)\b", re.I)
_HEIGHT_FEET = re.compile(r"(\d)\s*(?:ft|feet|foot|')\s*(\d{1,2})?\s*(?:in|inches|\"|'')?", re.I)


def _extract_bmi_calculator(query: str) -> dict[str, Any] | None:
    if not _BMI_CUE.search(query):
        return None
    weight, height = _WEIGHT.search(query), _HEIGHT.search(query)
    feet = None if height else _HEIGHT_FEET.search(query)
    if weight is None or (height is None and feet is None):
        return None
    weight_kg = float(weight[1])
    if weight[2].lower().startswith(("lb", "pound")):
        weight_kg = round(weight_kg * 0.45359237, 2)
    if height is not None:
        height_m = float(height[1]) / (100 if height[2].lower().startswith("c") else 1)
    else:
        assert feet is not None
        height_m = round((int(feet[1]) * 12 + int(feet[2] or 0)) * 0.0254, 3)
    return {"weight_kg": weight_kg, "height_m": height_m}


_LOOKUP_CUE = re.compile(
    r"\b(?:look\s*up|search\s+(?:the\s+)?(?:knowledge\s*base|kb|articles)\s+(?:for|about|on)"
    r"|find\s+(?:me\s+)?(?:some\s+|the\s+)?(?:articles?|documents?|papers?|pages?|entries)"
    r"\s+(?:about|on|for|regarding))\s+(?P<topic>.+)$",
    re.I,
)
_TOPIC_PREFIX = re.compile(
    r"^(?:(?:some\s+)?(?:info(?:rmation)?|articles?|documents?)\s+(?:about|on|for)\s+)?"
    r"(?:the\s+)?",
    re.I,
)
_TOPIC_SUFFIX = re.compile(r"\s+in\s+the\s+(?:knowledge\s*base|kb)$", re.I)


def _extract_knowledge_base_lookup(query: str) -> dict[str, Any] | None:
    match = _LOOKUP_CUE.search(_clean(query))
    if match is None:
        return None
    topic = _TOPIC_SUFFIX.sub("", _TOPIC_PREFIX.sub("", match["topic"].strip())).strip()
    return {"topic": topic} if topic else None


EXTRACTORS: dict[str, Callable[[str], dict[str, Any] | None]] = {
    "calculator": _extract_calculator,
    "unit_converter": _extract_unit_converter,
    "date_calculator": _extract_date_calculator,
    "bmi_calculator": _extract_bmi_calculator,
    LOOKUP_TOOL_NAME: _extract_knowledge_base_lookup,
}
"""One argument extractor per built-in tool, by tool name."""


def _single_string_field(tool: BaseTool) -> str | None:
    fields = tool.args
    if len(fields) != 1:
        return None
    name, schema = next(iter(fields.items()))
    return name if isinstance(schema, dict) and schema.get("type") == "string" else None


def _parts(query: str) -> Iterator[str]:
    """Yield the whole query, then its sentences ("How many pounds is 70 kg? I'm on a diet.")."""
    yield query
    sentences = _sentences(query)
    if len(sentences) > 1:
        yield from sentences


@lru_cache(maxsize=64)
def _sentences(query: str) -> tuple[str, ...]:
    # Cached: every built-in tool's extractor reads the same query's sentences.
    return tuple(split_sentences(query))


def extract_args(tool_name: str, query: str, tool: BaseTool | None = None) -> dict[str, Any] | None:
    """Read a tool's arguments out of a natural-language query.

    Args:
        tool_name: A built-in tool's name uses its regex extractor.
        query: The user's question, e.g. ``"convert 70 kg to lbs"``.
        tool: For a tool without an extractor: when its args schema has exactly one string
            field, the whole query becomes that argument.

    Returns:
        The arguments, or None when they cannot be read from the query.

    """
    extractor = EXTRACTORS.get(tool_name)
    if extractor is not None:
        return next((a for text in _parts(query) if (a := extractor(text)) is not None), None)
    if tool is not None and query.strip() and (field := _single_string_field(tool)):
        return {field: query.strip()}
    return None
