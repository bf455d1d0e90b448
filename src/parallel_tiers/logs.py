"""The package's log events: written with structlog, delivered as standard `logging` records.

Every module logs with `log = get_logger()` (`log.info("event", key=value, ...)`). The events
go to the standard library logger `parallel_tiers` (`LOGGER_NAME`), whichever way structlog is
configured globally, and that logger has a `NullHandler`. So:

- an application that configures no logging sees nothing (no line on stdout or stderr);
- one that configures `logging` (`logging.basicConfig(level=logging.INFO)`, a handler on
  `parallel_tiers`, pytest's `caplog`) gets one record per event, at the event's level: its
  message reads `event key=value ...`, and `record.msg` is the event itself, a `LogEvent` (a
  dict: `event`, `level`, `timestamp` and the fields);
- a structlog application sees the events through its usual bridge for standard logging
  records: `structlog.stdlib.ProcessorFormatter` renders them as its own events (they are
  wrapped as `ProcessorFormatter.wrap_for_formatter` does). The package never calls
  `structlog.configure`.

Events below the `parallel_tiers` logger's effective level are dropped before anything is
built (`structlog.stdlib.filter_by_level`): with nothing configured, that is every info event.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, WrappedLogger

LOGGER_NAME = "parallel_tiers"
"""The standard library logger every event of the package goes to."""
SHOWN_APART = frozenset({"event", "level", "timestamp"})
"""Keys a `LogEvent`'s message leaves out: the event leads it, and a logging formatter shows
the level and time itself."""

_logger = logging.getLogger(LOGGER_NAME)
_logger.addHandler(logging.NullHandler())


class LogEvent(dict[str, Any]):
    """One event: `event`, `level`, `timestamp` and its fields; prints as `event key=value ...`.

    It is the `msg` of the event's `logging` record, so `record.getMessage()` (what a plain
    `logging.Formatter` shows) reads `parallel_retrieval_completed duration_ms=12.3 ...`,
    while `record.msg["duration_ms"]` gives the field itself.
    """

    def __str__(self) -> str:
        fields = " ".join(f"{k}={_shown(v)}" for k, v in self.items() if k not in SHOWN_APART)
        return f"{self.get('event', '')} {fields}".rstrip()


def _shown(value: Any) -> str:
    if isinstance(value, str) and value and not any(c.isspace() or c in "='\"" for c in value):
        return value
    return repr(value)


_STACKLEVEL = 4
"""Frames from the `logging` call up to the package's `log.info(...)`: structlog's two
`_proxy_to_logger` and its `info`, so a record names the package's module, function and line."""


def _to_record(
    logger: WrappedLogger, method_name: str, event_dict: EventDict
) -> tuple[tuple[LogEvent], dict[str, Any]]:
    """Last processor: the `logging` call's arguments (as `wrap_for_formatter` gives them)."""
    extra = {"_logger": logger, "_name": method_name}
    return (LogEvent(event_dict),), {"extra": extra, "stacklevel": _STACKLEVEL}


PROCESSORS: tuple[Any, ...] = (
    structlog.stdlib.filter_by_level,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso"),
    _to_record,
)
"""What each event goes through: dropped below the logger's level, else given its level and
an ISO timestamp, then handed to the `parallel_tiers` logger."""


def get_logger() -> structlog.stdlib.BoundLogger:
    """The package's logger: structlog's API, the standard `parallel_tiers` logger's records.

    Independent of `structlog.configure`: the global configuration neither routes nor filters
    these events, and the package never changes it.
    """
    return structlog.stdlib.BoundLogger(_logger, list(PROCESSORS), {})


def console_handler(stream: TextIO | None = None) -> logging.Handler:
    """A handler writing each event as one structlog console line: time, level, event, fields.

    Args:
        stream: where to write; None writes to `sys.stderr` as it is at each event.

    """
    handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.dev.ConsoleRenderer(colors=False),
            ]
        )
    )
    return handler


class _StderrHandler(logging.StreamHandler):
    """A `StreamHandler` on `sys.stderr` as it is when an event is written (pytest swaps it)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


@contextmanager
def logged(level: int | str, handler: logging.Handler | None = None) -> Iterator[None]:
    """Within: the `parallel_tiers` logger at `level`, with `handler` added when given.

    The logger's level and handlers are as before afterwards. For a command or a measurement
    that decides the package's output for a while (the evaluations run quiet with
    `logged(logging.ERROR)`); an application configures `logging` as usual instead.
    """
    before = _logger.level
    _logger.setLevel(level)
    if handler is not None:
        _logger.addHandler(handler)
    try:
        yield
    finally:
        if handler is not None:
            _logger.removeHandler(handler)
        _logger.setLevel(before)


__all__ = ["LOGGER_NAME", "LogEvent", "console_handler", "get_logger", "logged"]
