"""`parallel_tiers.tune_gc()`: the garbage-collector setting for many runs at once."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

import parallel_tiers
from parallel_tiers.tuning import GC_THRESHOLD, tune_gc


@pytest.fixture
def restored() -> Iterator[None]:
    before = gc.get_threshold()
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


def test_tune_gc_raises_the_threshold_and_freezes_on_request(restored: None) -> None:
    before = gc.get_threshold()
    assert parallel_tiers.tune_gc is tune_gc
    assert tune_gc() == before
    assert gc.get_threshold() == GC_THRESHOLD == (50_000, 20, 20)
    assert gc.get_freeze_count() == 0, "freezing is opt-in: it did not pay in the benchmark"
    tune_gc(freeze=True)
    assert gc.get_freeze_count() > 0


def test_tune_gc_can_leave_either_part(restored: None) -> None:
    before = gc.get_threshold()
    tune_gc(None, freeze=False)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
    tune_gc((5_000, 10, 10), freeze=False)
    assert gc.get_threshold() == (5_000, 10, 10) and gc.get_freeze_count() == 0
