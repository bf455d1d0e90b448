"""Day counts and date offsets on ISO dates, and the `date_calculator` tool."""

from __future__ import annotations

from datetime import date, timedelta

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field


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


class DateCalculatorInput(BaseModel):
    """Arguments of `date_calculator`."""

    start: str = Field(description="Start date, ISO format YYYY-MM-DD.")
    end: str | None = Field(
        default=None, description="End date (YYYY-MM-DD) to count the days to; omit with days."
    )
    days: int | None = Field(
        default=None, description="Days to add to start (negative: subtract); omit with end."
    )


date_calculator: BaseTool = StructuredTool.from_function(
    func=calculate_date,
    name="date_calculator",
    description="Count the days between two ISO dates, or add/subtract a number of days to a date.",
    args_schema=DateCalculatorInput,
)
