"""Safe arithmetic on an `ast` whitelist (never `eval`) and the `calculator` tool."""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

Number = int | float

MAX_EXPRESSION_CHARS = 200
"""Longest expression the calculator accepts."""
MAX_EXPONENT = 1000
"""Largest absolute exponent of `**`."""
MAX_INT_BITS = 10_000
"""Largest integer (in bits, about 3000 digits) an operand or intermediate result may reach."""
MAX_ROUND_DIGITS = 400
"""Largest absolute `ndigits` of `round()` (Python builds 10**ndigits to round an integer)."""
MAX_DEPTH = 40
"""Deepest nesting of operations and calls in an expression."""

# Every limit is checked before the operation runs: an operation on Python integers holds the
# GIL until it is done, so a time limit cannot stop it once started (``round(1, -10**8)``
# builds a number of 10**8 digits and froze the whole process).

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


def _round(value: Number, ndigits: Number | None = None) -> Number:
    if ndigits is None:
        return round(value)
    if not isinstance(ndigits, int):
        raise ValueError("round(): the number of digits must be a whole number")
    if abs(ndigits) > MAX_ROUND_DIGITS:
        raise ValueError(f"round(): the number of digits is limited to ±{MAX_ROUND_DIGITS}")
    return round(value, ndigits)


#: Allowed functions: (implementation, fewest arguments, most arguments).
_FUNCTIONS: dict[str, tuple[Callable[..., Any], int, int]] = {
    "sqrt": (math.sqrt, 1, 1),
    "round": (_round, 1, 2),
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


def _validate(node: ast.AST, depth: int = 0) -> None:
    allowed = ", ".join(sorted(_FUNCTIONS))
    if depth > MAX_DEPTH:
        raise ValueError(f"the expression is nested more than {MAX_DEPTH} levels deep")
    if isinstance(node, ast.Constant):
        if type(node.value) not in (int, float):
            raise ValueError(f"only numbers are allowed, not {node.value!r}")
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY_OPS:
            raise ValueError(f"operator {type(node.op).__name__} is not allowed")
        _validate(node.left, depth + 1)
        _validate(node.right, depth + 1)
    elif isinstance(node, ast.UnaryOp):
        if type(node.op) not in _UNARY_OPS:
            raise ValueError(f"operator {type(node.op).__name__} is not allowed")
        _validate(node.operand, depth + 1)
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
            _validate(arg, depth + 1)
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


def _product(left: Number, right: Number) -> Number:
    if (
        isinstance(left, int)
        and isinstance(right, int)
        and left.bit_length() + right.bit_length() > MAX_INT_BITS + 1
    ):
        raise ValueError("the result is too large")
    return _check_size(left * right)


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
        if isinstance(node.op, ast.Mult):
            return _product(left, right)
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


class CalculatorInput(BaseModel):
    """Arguments of `calculator`."""

    expression: str = Field(
        description="Arithmetic expression, e.g. '12.5 * 4 + 3' or 'sqrt(2) ** 2'. Allowed: "
        "numbers, + - * / // % ** (or ^), parentheses, sqrt, round, abs, min, max, log, exp, "
        "pi and e. At most 200 characters."
    )


calculator: BaseTool = StructuredTool.from_function(
    func=calculate,
    name="calculator",
    description="Evaluate an arithmetic expression exactly and safely (no code execution). "
    "Use for sums, products, percentages, powers and square roots.",
    args_schema=CalculatorInput,
)
