"""Unit conversion with a `pint` registry and the `unit_converter` tool."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import pint
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from parallel_tiers.services.tools.arithmetic import format_number

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


MAX_UNIT_CHARS = 64
"""Longest unit name accepted (pint parses unit expressions; a long one is refused first)."""


def resolve_unit(name: str) -> str:
    """Map a friendly unit name ("lbs", "°C", "celsius") to one pint understands."""
    if len(name) > MAX_UNIT_CHARS:
        raise ValueError(f"unit name longer than {MAX_UNIT_CHARS} characters")
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


class UnitConverterInput(BaseModel):
    """Arguments of `unit_converter`."""

    value: float = Field(description="The amount to convert, e.g. 70.")
    from_unit: str = Field(description="Unit of the value, e.g. 'kg', 'lbs', 'miles', '°C'.")
    to_unit: str = Field(description="Unit to convert to, e.g. 'pound', 'km', 'fahrenheit'.")


unit_converter: BaseTool = StructuredTool.from_function(
    func=convert_units,
    name="unit_converter",
    description="Convert a value between units of measurement: weight, length, volume, speed, "
    "temperature (Celsius, Fahrenheit, Kelvin) and more.",
    args_schema=UnitConverterInput,
)
