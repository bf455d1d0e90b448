from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from parallel_tiers.logs import logged


@pytest.fixture
def quiet_logs() -> Iterator[None]:
    """Drop the package's info events (load tests make tens of thousands of them)."""
    with logged(logging.WARNING):
        yield
