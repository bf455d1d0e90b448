"""Capture the package's log events in a test (what `structlog.testing.capture_logs` gave).

The package's events are standard `logging` records of the `parallel_tiers` logger, whatever
structlog's global configuration (`parallel_tiers.logs`), so structlog's capture does not see
them: this does, with the same shape (the event's fields plus `log_level`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from parallel_tiers.logs import logged


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        event = dict(record.msg) if isinstance(record.msg, dict) else {"event": record.msg}
        self.events.append({**event, "log_level": record.levelname.lower()})


@contextmanager
def capture_events(level: int = logging.DEBUG) -> Iterator[list[dict[str, Any]]]:
    """Within: every event of the package from `level` on, appended to the list yielded."""
    capture = _Capture()
    with logged(level, capture):
        yield capture.events
