"""Process settings for many runs at once: Python's garbage collector (opt-in).

With many runs in flight, each run's objects (its state, tasks, futures, callbacks) are live
for a while, and CPython's default collector (`gc.get_threshold()` = (700, 10, 10)) walks them
again and again: at 100 and 1,000 concurrent zero-latency mode-2 runs it cost about 20 % and
40 % of the throughput on the benchmark's machine. `tune_gc()` raises the thresholds to
`GC_THRESHOLD` (50,000, 20, 20), so young objects are examined far less often (runs free most
of theirs by reference counting anyway): measured side by side in `python -m benchmarks`
(table e3), 1.14x / 1.30x the runs/s of the default at 100 runs at once and 2.02x / 1.79x at
1,000 in two runs; `gc.freeze()` after start-up (`freeze=True`) cost throughput in one run and
was within the noise in the other, so it is off by default.

Call it once per process, after start-up and before serving: from a server's HTTP app module
(`langgraph.json`'s `http.app`), a startup hook, or a batch script's `main`. Cyclic garbage
is still collected, only less often: memory held by cycles
can grow by up to the first threshold's worth of container objects between collections.
"""

from __future__ import annotations

import gc

GC_THRESHOLD = (50_000, 20, 20)
"""What `tune_gc()` sets by default (CPython's default is (700, 10, 10))."""


def tune_gc(
    threshold: tuple[int, int, int] | None = GC_THRESHOLD, *, freeze: bool = False
) -> tuple[int, int, int]:
    """Tune the garbage collector for many concurrent runs; returns the previous thresholds.

    Args:
        threshold: `gc.set_threshold` values (None: leave them).
        freeze: collect, then `gc.freeze()` every object alive now, so later full collections
            skip them; call it after start-up (graphs compiled, services built).

    Restore with `gc.set_threshold(*previous)` and `gc.unfreeze()`.

    """
    previous: tuple[int, int, int] = gc.get_threshold()
    if freeze:
        gc.collect()
        gc.freeze()
    if threshold is not None:
        gc.set_threshold(*threshold)
    return previous


__all__ = ["GC_THRESHOLD", "tune_gc"]
