"""Built-in LangChain tools, argument extraction from plain questions, and tool suggestion.

The tools are real `BaseTool`s that an agent (or a user) can call:

| tool                    | does                                                     |
|-------------------------|----------------------------------------------------------|
| `calculator`            | safe arithmetic on an `ast` whitelist (never `eval`)      |
| `unit_converter`        | unit conversion with `pint`, temperatures included        |
| `date_calculator`       | days between ISO dates, or a date plus/minus N days       |
| `bmi_calculator`        | body mass index with the WHO adult category               |
| `knowledge_base_lookup` | top article titles from a retriever (`make_knowledge_base_lookup`) |

`extract_args` reads a tool's arguments out of a natural-language question with one small regex
extractor per built-in tool, so `ToolSuggester` can offer tools with ready arguments offline.
"""

from __future__ import annotations

import ast
import asyncio
import math
import operator
import re
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

import pint
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from parallel_tiers.services.text import split_sentences, tokenize, words

Number = int | float

# --------------------------------------------------------------------------- calculator

MAX_EXPRESSION_CHARS = 200
"""Longest expression the calculator accepts."""
MAX_EXPONENT = 1000
"""Largest absolute exponent of `**`."""
MAX_INT_BITS = 10_000
"""Largest integer (in bits, about 3000 digits) an intermediate result may reach."""

_BINARY_OPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,  # guarded in `_power`
}
_UNARY_OPS: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}
#: Allowed functions: (implementation, fewest arguments, most arguments).
_FUNCTIONS: dict[str, tuple[Callable[..., Any], int, int]] = {
    "sqrt": (math.sqrt, 1, 1),
    "round": (round, 1, 2),
    "abs": (abs, 1, 1),
    "min": (min, 2, 20),
    "max": (max, 2, 20),
    "log": (math.log, 1, 2),
    "exp": (math.exp, 1, 1),
}
_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}
_SYMBOLS = str.maketrans({"\u00d7": "*", "\u00f7": "/", "\u2212": "-"})  # times, divide, minus


def _normalise_expression(expression: str) -> str:
    return expression.translate(_SYMBOLS).replace("^", "**").strip()


def parse_expression(expression: str) -> ast.Expression:
    """Parse and validate an arithmetic expression without evaluating it.

    Args:
        expression: Arithmetic such as ``"12.5 * 4 + 3"`` or ``"sqrt(16) ^ 2"`` (``^`` is power).

    Returns:
        The validated syntax tree.

    Raises:
        ValueError: The expression is too long, not valid syntax, or uses anything outside
            numbers, ``+ - * / // % **``, parentheses, the allowed functions and ``pi``/``e``.

    """
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ValueError(f"expression is longer than {MAX_EXPRESSION_CHARS} characters")
    text = _normalise_expression(expression)
    if not text:
        raise ValueError("expression is empty")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, RecursionError, MemoryError) as exc:
        raise ValueError(f"not a valid arithmetic expression: {expression!r}") from exc
    _validate(tree.body)
    return tree


def _validate(node: ast.AST) -> None:
    allowed = ", ".join(sorted(_FUNCTIONS))
    if isinstance(node, ast.Constant):
        if type(node.value) not in (int, float):
            raise ValueError(f"only numbers are allowed, not {node.value!r}")
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY_OPS:
            raise ValueError(f"operator {type(node.op).__name__} is not allowed")
        _validate(node.left)
        _validate(node.right)
    elif isinstance(node, ast.UnaryOp):
        if type(node.op) not in _UNARY_OPS:
            raise ValueError(f"operator {type(node.op).__name__} is not allowed")
        _validate(node.operand)
    elif isinstance(node, ast.Name):
        if node.id not in _CONSTANTS:
            raise ValueError(f"unknown name {node.id!r}: only pi, e and {allowed}() are allowed")
    elif isinstance(node, ast.Call):
        if isinstance(node.func, ast.Attribute):
            raise ValueError("attribute access is not allowed")
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
            raise ValueError(f"only the functions {allowed} may be called")
        _, fewest, most = _FUNCTIONS[node.func.id]
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise ValueError(f"{node.func.id}() takes plain positional arguments only")
        if not fewest <= len(node.args) <= most:
            raise ValueError(f"{node.func.id}() takes {fewest} to {most} arguments")
        for arg in node.args:
            _validate(arg)
    elif isinstance(node, ast.Attribute):
        raise ValueError("attribute access is not allowed")
    else:
        raise ValueError(f"{type(node).__name__} is not allowed in an arithmetic expression")


def _check_size(value: Any) -> Number:
    if isinstance(value, complex):
        raise ValueError("the result is not a real number")
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise ValueError("the result is too large")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("the result is too large or undefined")
    return value


def _power(base: Number, exponent: Number) -> Number:
    if abs(exponent) > MAX_EXPONENT:
        raise ValueError(f"exponent {exponent} is larger than {MAX_EXPONENT}")
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and exponent * abs(base).bit_length() > MAX_INT_BITS
        and abs(base) > 1
    ):
        raise ValueError("the result is too large")
    return _check_size(base**exponent)


def _evaluate(node: ast.AST) -> Number:
    if isinstance(node, ast.Constant):
        return node.value  # type: ignore[return-value]  # ints and floats only, see _validate
    if isinstance(node, ast.Name):
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp):
        return _check_size(_UNARY_OPS[type(node.op)](_evaluate(node.operand)))
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow):
            return _power(left, right)
        return _check_size(_BINARY_OPS[type(node.op)](left, right))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        function = _FUNCTIONS[node.func.id][0]
        return _check_size(function(*(_evaluate(arg) for arg in node.args)))
    raise ValueError(f"{type(node).__name__} is not allowed")  # unreachable after _validate


def format_number(value: float, decimals: int = 2) -> str:
    """Format a number for people: integers as such, others rounded, trailing zeros cut."""
    if isinstance(value, int):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if abs(value) >= 1 or value == 0:
        text = f"{value:.{decimals}f}" if abs(value) < 1e15 else f"{value:.6g}"
    else:
        text = f"{value:.4g}"
    return text.rstrip("0").rstrip(".") if "." in text and "e" not in text else text


def evaluate_expression(expression: str) -> Number:
    """Evaluate an arithmetic expression safely (an `ast` whitelist, never `eval`).

    Args:
        expression: See `parse_expression`.

    Returns:
        The value, an int when the arithmetic stays in integers.

    Raises:
        ValueError: The expression is not allowed, or the arithmetic fails (division by zero,
            math domain error, result too large).

    """
    tree = parse_expression(expression)
    try:
        return _evaluate(tree.body)
    except ZeroDivisionError as exc:
        raise ValueError("division by zero") from exc
    except OverflowError as exc:
        raise ValueError("the result is too large") from exc
    except TypeError as exc:
        raise ValueError(f"invalid arguments: {exc}") from exc
    except ValueError as exc:
        message = str(exc)
        raise ValueError("math domain error" if "domain" in message else message) from exc


def calculate(expression: str) -> str:
    """Evaluate `expression` and answer its value: ``"53"``, ``"0.333333333333"``."""
    value = evaluate_expression(expression)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.12g}" if isinstance(value, float) else str(value)


# --------------------------------------------------------------------------- unit converter

#: Friendly unit names that pint reads differently or not at all (lower-cased keys).
UNIT_ALIASES: dict[str, str] = {
    "c": "degC",
    "°c": "degC",
    "celsius": "degC",
    "centigrade": "degC",
    "degree celsius": "degC",
    "degrees celsius": "degC",
    "deg c": "degC",
    "f": "degF",
    "°f": "degF",
    "fahrenheit": "degF",
    "degree fahrenheit": "degF",
    "degrees fahrenheit": "degF",
    "deg f": "degF",
    "k": "kelvin",
    "lbs": "pound",
    "st": "stone",
    "fl oz": "fluid_ounce",
    "kilos": "kilogram",
    "kilo": "kilogram",
}


@lru_cache(maxsize=1)
def unit_registry() -> pint.UnitRegistry:
    """Return the process-wide pint registry (created on first use: it takes ~0.5 s)."""
    return pint.UnitRegistry()


def resolve_unit(name: str) -> str:
    """Map a friendly unit name ("lbs", "°C", "celsius") to one pint understands."""
    cleaned = " ".join(name.strip().split())
    return UNIT_ALIASES.get(cleaned.lower(), cleaned)


def _quantity(value: float, unit: str) -> Any:
    registry = unit_registry()
    try:
        return registry.Quantity(value, resolve_unit(unit))
    except (pint.errors.UndefinedUnitError, AttributeError, ValueError, TypeError) as exc:
        raise ValueError(f"unknown unit {unit!r}") from exc


def _unit_name(quantity: Any) -> str:
    return str(quantity.units).replace("_", " ")


def convert_units(value: float, from_unit: str, to_unit: str) -> str:
    """Convert `value` from one unit to another and answer ``"70 kilogram = 154.32 pound"``.

    Raises:
        ValueError: A unit is unknown, or the two units measure different things.

    """
    source = _quantity(value, from_unit)
    target_unit = resolve_unit(to_unit)
    try:
        target = source.to(target_unit)
    except pint.errors.DimensionalityError as exc:
        raise ValueError(f"cannot convert {from_unit!r} to {to_unit!r}") from exc
    except (pint.errors.UndefinedUnitError, AttributeError, ValueError, TypeError) as exc:
        raise ValueError(f"unknown unit {to_unit!r}") from exc
    return (
        f"{format_number(value)} {_unit_name(source)} = "
        f"{format_number(float(target.magnitude))} {_unit_name(target)}"
    )


def _convertible(from_unit: str, to_unit: str) -> bool:
    try:
        convert_units(1.0, from_unit, to_unit)
    except (ValueError, pint.errors.PintError):
        return False
    return True


# --------------------------------------------------------------------------- dates and BMI


def _iso_date(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(f"{field}: {text!r} is not an ISO date (YYYY-MM-DD)") from exc


def calculate_date(start: str, end: str | None = None, days: int | None = None) -> str:
    """Count the days from `start` to `end`, or shift `start` by `days` (negative: earlier).

    Raises:
        ValueError: A date is not ISO, or not exactly one of `end` and `days` is given.

    """
    first = _iso_date(start, "start")
    if (end is None) == (days is None):
        raise ValueError("give either end (a second date) or days (an offset), not both")
    if end is not None:
        last = _iso_date(end, "end")
        count = (last - first).days
        unit = "day" if abs(count) == 1 else "days"
        return f"{count} {unit} from {first.isoformat()} to {last.isoformat()}"
    assert days is not None
    try:
        shifted = first + timedelta(days=days)
    except OverflowError as exc:
        raise ValueError(f"{first.isoformat()} shifted by {days} days is out of range") from exc
    sign = "+" if days >= 0 else "-"
    return f"{first.isoformat()} {sign} {abs(days)} days = {shifted.isoformat()} ({shifted:%A})"


#: WHO adult BMI categories: (upper bound, exclusive; name).
BMI_CATEGORIES: tuple[tuple[float, str], ...] = (
    (18.5, "underweight"),
    (25.0, "normal weight"),
    (30.0, "pre-obesity (overweight)"),
    (35.0, "obesity class I"),
    (40.0, "obesity class II"),
    (math.inf, "obesity class III"),
)


def bmi_category(bmi: float) -> str:
    """Name the WHO adult category of a BMI value."""
    return next(name for bound, name in BMI_CATEGORIES if bmi < bound)


def calculate_bmi(weight_kg: float, height_m: float) -> str:
    """BMI of an adult with the WHO category, e.g. ``"BMI 22.9 (normal weight) ..."``.

    Raises:
        ValueError: The weight is outside 2-650 kg or the height outside 0.4-2.8 m.

    """
    if not 2 <= weight_kg <= 650:
        raise ValueError(f"weight_kg must be between 2 and 650, got {weight_kg}")
    if not 0.4 <= height_m <= 2.8:
        hint = f" (did you mean {height_m / 100:g} m?)" if 40 <= height_m <= 280 else ""
        raise ValueError(f"height_m must be in metres, between 0.4 and 2.8, got {height_m}{hint}")
    bmi = weight_kg / height_m**2
    return (
        f"BMI {bmi:.1f} ({bmi_category(bmi)}, WHO adult category) for "
        f"{format_number(weight_kg)} kg and {format_number(height_m)} m"
    )


# --------------------------------------------------------------------------- tools


class CalculatorInput(BaseModel):
    """Arguments of `calculator`."""

    expression: str = Field(
        description="Arithmetic expression, e.g. '12.5 * 4 + 3' or 'sqrt(2) ** 2'. Allowed: "
        "numbers, + - * / // % ** (or ^), parentheses, sqrt, round, abs, min, max, log, exp, "
        "pi and e. At most 200 characters."
    )


class UnitConverterInput(BaseModel):
    """Arguments of `unit_converter`."""

    value: float = Field(description="The amount to convert, e.g. 70.")
    from_unit: str = Field(description="Unit of the value, e.g. 'kg', 'lbs', 'miles', '°C'.")
    to_unit: str = Field(description="Unit to convert to, e.g. 'pound', 'km', 'fahrenheit'.")


class DateCalculatorInput(BaseModel):
    """Arguments of `date_calculator`."""

    start: str = Field(description="Start date, ISO format YYYY-MM-DD.")
    end: str | None = Field(
        default=None, description="End date (YYYY-MM-DD) to count the days to; omit with days."
    )
    days: int | None = Field(
        default=None, description="Days to add to start (negative: subtract); omit with end."
    )


class BmiCalculatorInput(BaseModel):
    """Arguments of `bmi_calculator`."""

    weight_kg: float = Field(description="Body weight in kilograms.")
    height_m: float = Field(description="Height in metres (1.75, not 175).")


class KnowledgeBaseLookupInput(BaseModel):
    """Arguments of `knowledge_base_lookup`."""

    topic: str = Field(description="What to look up, e.g. 'asthma' or 'migraine treatment'.")


calculator: BaseTool = StructuredTool.from_function(
    func=calculate,
    name="calculator",
    description="Evaluate an arithmetic expression exactly and safely (no code execution). "
    "Use for sums, products, percentages, powers and square roots.",
    args_schema=CalculatorInput,
)
unit_converter: BaseTool = StructuredTool.from_function(
    func=convert_units,
    name="unit_converter",
    description="Convert a value between units of measurement: weight, length, volume, speed, "
    "temperature (Celsius, Fahrenheit, Kelvin) and more.",
    args_schema=UnitConverterInput,
)
date_calculator: BaseTool = StructuredTool.from_function(
    func=calculate_date,
    name="date_calculator",
    description="Count the days between two ISO dates, or add/subtract a number of days to a date.",
    args_schema=DateCalculatorInput,
)
bmi_calculator: BaseTool = StructuredTool.from_function(
    func=calculate_bmi,
    name="bmi_calculator",
    description="Compute an adult's body mass index (BMI) from weight in kg and height in "
    "metres, with the WHO weight category.",
    args_schema=BmiCalculatorInput,
)

LOOKUP_TOOL_NAME = "knowledge_base_lookup"


def _format_hits(topic: str, documents: Sequence[Document], limit: int) -> str:
    lines: list[str] = []
    seen: set[str] = set()
    for doc in documents:
        doc_id = str(doc.metadata.get("id", "?"))
        if doc_id in seen:
            continue
        seen.add(doc_id)
        title = doc.metadata.get("title") or doc.page_content[:60].strip() or "(untitled)"
        lines.append(f"[{doc_id}] {title}")
        if len(lines) == limit:
            break
    return "\n".join(lines) if lines else f"No articles found for {topic!r}."


def make_knowledge_base_lookup(retriever: BaseRetriever, *, limit: int = 3) -> BaseTool:
    """Build the `knowledge_base_lookup` tool over `retriever` (sync and async).

    Args:
        retriever: Any retriever whose documents carry ``metadata["id"]`` and
            ``metadata["title"]``.
        limit: How many distinct articles to list.

    Returns:
        A tool answering one ``"[id] title"`` line per article.

    """

    def lookup(topic: str) -> str:
        return _format_hits(topic, retriever.invoke(topic), limit)

    async def alookup(topic: str) -> str:
        return _format_hits(topic, await retriever.ainvoke(topic), limit)

    return StructuredTool.from_function(
        func=lookup,
        coroutine=alookup,
        name=LOOKUP_TOOL_NAME,
        description="Look up articles in the knowledge base and list the most relevant "
        "titles with their ids.",
        args_schema=KnowledgeBaseLookupInput,
    )


def default_tools(retriever: BaseRetriever | None = None) -> list[BaseTool]:
    """Return the built-in tools, plus `knowledge_base_lookup` when a retriever is given."""
    tools = [calculator, unit_converter, date_calculator, bmi_calculator]
    if retriever is not None:
        tools.append(make_knowledge_base_lookup(retriever))
    return tools


# --------------------------------------------------------------------------- argument extraction

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
    # Arithmetic inside a sentence counts only right after a cue ("what is", "calculate").
    for match in _CALC_SPAN.finditer(text):
        span = match.group().strip().rstrip(",+-*/%^=").strip()
        if _CALC_CUE_BEFORE.search(text[: match.start()]) and _is_calculation(span):
            return {"expression": span}
    return None


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
    sentences = split_sentences(query)
    if len(sentences) > 1:
        yield from sentences


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


# --------------------------------------------------------------------------- suggestion

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
        if unit_registry.cache_info().currsize == 0:
            # Off the event loop once: the first unit check loads pint's registry (~0.5 s).
            await asyncio.to_thread(unit_registry)
        return self.suggest(query, tools, allowed, limit)

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
