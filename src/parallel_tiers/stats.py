"""Percentiles: the one convention the adaptive timeouts, the evaluations and the bench share."""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(values: Iterable[float], q: float) -> float:
    """The `q` quantile (a fraction, 0 to 1: 0.95 for p95) of `values`, by nearest rank.

    Nearest rank: the smallest value with at least a share `q` of the values at or below it,
    `sorted(values)[ceil(q * n) - 1]` (the smallest value for `q` 0). Always one of the values,
    never an interpolation between two; p50 of an even count is the lower middle value.
    Raises ValueError for no values (the caller says what an empty sample means) and for a
    `q` outside 0..1 (95 for 0.95 is a mistake, not a percentile).
    """
    if not 0 <= q <= 1:
        raise ValueError(f"q must be a fraction from 0 to 1, not {q!r}")
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values: an empty sample has no percentile")
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


__all__ = ["percentile"]
