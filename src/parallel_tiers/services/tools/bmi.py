"""Body mass index with the WHO adult category, and the `bmi_calculator` tool."""

from __future__ import annotations

import math

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from parallel_tiers.services.tools.arithmetic import format_number

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


class BmiCalculatorInput(BaseModel):
    """Arguments of `bmi_calculator`."""

    weight_kg: float = Field(description="Body weight in kilograms.")
    height_m: float = Field(description="Height in metres (1.75, not 175).")


bmi_calculator: BaseTool = StructuredTool.from_function(
    func=calculate_bmi,
    name="bmi_calculator",
    description="Compute an adult's body mass index (BMI) from weight in kg and height in "
    "metres, with the WHO weight category.",
    args_schema=BmiCalculatorInput,
)
