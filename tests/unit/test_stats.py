"""The one percentile convention: nearest rank, q a fraction, no values refused."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parallel_tiers.stats import percentile


def test_nearest_rank() -> None:
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0  # the lower middle, not 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.51) == 3.0
    hundred = [float(v) for v in range(1, 101)]
    assert (percentile(hundred, 0.95), percentile(hundred, 0.99)) == (95.0, 99.0)
    assert percentile(hundred, 0) == 1.0 and percentile(hundred, 1) == 100.0
    assert percentile([7.0], 0.95) == 7.0
    assert percentile(iter([2.0, 1.0]), 0.5) == 1.0  # any iterable


def test_no_values_and_a_percent_for_a_fraction_are_refused() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)
    with pytest.raises(ValueError, match="fraction from 0 to 1"):
        percentile([1.0], 95)


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1), st.floats(0, 1))
def test_the_percentile_is_a_value_with_a_share_q_at_or_below_it(
    values: list[float], q: float
) -> None:
    p = percentile(values, q)
    assert p in values
    at_or_below = sum(v <= p for v in values)
    assert at_or_below >= math.ceil(q * len(values))
    assert sum(v < p for v in values) < max(1, math.ceil(q * len(values)))
