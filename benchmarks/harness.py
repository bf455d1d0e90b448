"""Measuring helpers: summary figures, machine description, resident memory, quiet logging."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from parallel_tiers.logs import console_handler, logged
from parallel_tiers.stats import percentile


def stats(values: Sequence[float], digits: int = 3) -> dict[str, float]:
    """Median, p95, p99, min and count of `values`, rounded; NaN figures when empty.

    The median is `statistics.median` (the mean of the two middle values of an even count);
    p95 and p99 are by nearest rank (`parallel_tiers.stats.percentile`), one of the values.
    """
    if not values:
        nan = float("nan")
        return {"median": nan, "p95": nan, "p99": nan, "min": nan, "n": 0}
    return {
        "median": round(statistics.median(values), digits),
        "p95": round(percentile(values, 0.95), digits),
        "p99": round(percentile(values, 0.99), digits),
        "min": round(min(values), digits),
        "n": len(values),
    }


def dist_version(name: str) -> str | None:
    """The installed version of a distribution, or None."""
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "langgraph": dist_version("langgraph"),
        "langchain_core": dist_version("langchain-core"),
        "package": dist_version("langgraph-parallel-tiers"),
        "platform": platform.platform(),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "load_average_at_start": [round(x, 2) for x in load] if load else None,
    }


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def rss_mb() -> float:
    """Resident memory of this process now, in MB (peak RSS where /proc is missing)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 1e6 if sys.platform == "darwin" else peak / 1e3


def settled_rss_mb() -> float:
    """RSS after a full garbage collection."""
    gc.collect()
    return rss_mb()


def pending_tasks() -> int:
    """Tasks of the running loop other than the caller's."""
    me = asyncio.current_task()
    return sum(1 for t in asyncio.all_tasks() if t is not me and not t.done())


@contextmanager
def quiet_logging(level: int = logging.WARNING) -> Iterator[None]:
    """Drop the package's log events below `level` (info, by default), send the rest nowhere.

    The tiers log one info event per fan-in; a real deployment filters or ships them, so the
    bench measures the filtered path. Warnings (a timed-out branch) are still built and
    rendered, to /dev/null. The `parallel_tiers` logger is restored afterwards (`logs.logged`).
    """
    with open(os.devnull, "w", encoding="utf-8") as sink, logged(level, console_handler(sink)):
        yield
