"""Performance, measured side by side (issue 5): `python -m benchmarks [--quick] [--out DIR]`.

Run from the repository root (`make bench`, `make bench-quick`); it is not part of the installed
package, and its services are the test suite's fakes (`tests/fakes.py`).

In one process, with services that wait a fixed time (I/O-like) or answer at once:

a. each tier, parallel vs sequential, at the original latency profile and at a tenth of it;
b. the same branches under `asyncio.gather` and LangChain's `RunnableParallel`;
c. a bare LangGraph fan-out of the same shape (no guard, metadata or logging);
d. a whole mode-2 run with zero-latency services: CPU per run next to LangGraph's floor for
   the same graph shape (`benchmarks.floor`, rebuilt from the compiled graph), with no
   checkpointer, `InMemorySaver` and `AsyncSqliteSaver`, at the package's durability and at
   LangGraph's;
e. 1 to 1,000 runs at once: throughput and latency percentiles; the same zero-latency, package
   vs floor, with each checkpointer; and garbage-collector settings side by side;
f. a hung branch under a 100 ms timeout: the overshoot;
g. resident memory over many runs, and asyncio tasks left pending;
h. the default retriever's query latency on 1k, 10k and all MedQuAD passages.

Compared variants run interleaved, after a warm-up; figures are medians and p95/p99. Info log
events are dropped during the run (structlog filtered at WARNING), as in a deployment that ships
warnings only. Output: tables on stdout, `bench.json` and PNG charts in `--out`.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from pathlib import Path
from typing import Any

from benchmarks import cases, scale
from benchmarks.cases import PROFILES
from benchmarks.harness import machine, quiet_logging
from benchmarks.report import check_targets, render

LOGGING_NOTE = (
    "structlog filtered at WARNING during the bench: info events (one per tier fan-in) are "
    "dropped, warnings are rendered to /dev/null"
)

__all__ = ["PROFILES", "collect", "load", "machine", "render", "run"]


def plan(quick: bool, repeat: int | None) -> dict[str, Any]:
    """How many runs each case makes."""
    n = repeat or (5 if quick else 20)
    if quick:
        return {
            "repeat": n,
            "warmup": 1,
            "tier_profiles": ["original/10"],
            "overhead_profiles": {"zero": 10 * n, "original/10": n},
            "mode_rounds": 10 * n,
            "concurrency": {"levels": [1, 10, 100], "min_runs": 10},
            "throughput": {"levels": [1, 10, 100], "min_runs": 20},
            "gc": {"levels": [100], "min_runs": 100},
            "timeouts": {"repeat": max(n, 5), "concurrent": 10},
            "memory": {"runs": 300, "warmup": 50},
            "retrieval": {"sizes": [1_000, 10_000], "queries": 30},
        }
    return {
        "repeat": n,
        "warmup": 3,
        "tier_profiles": ["original", "original/10"],
        "overhead_profiles": {"zero": 10 * n, "original/10": 3 * n},
        "mode_rounds": 15 * n,
        "concurrency": {"levels": [1, 10, 100, 1_000], "min_runs": 100},
        "throughput": {"levels": [1, 10, 100, 1_000], "min_runs": 100},
        "gc": {"levels": [100, 1_000], "min_runs": 300},
        "timeouts": {"repeat": 2 * n, "concurrent": 100},
        "memory": {"runs": 10_000, "warmup": 200},
        "retrieval": {"sizes": [1_000, 10_000, None], "queries": 200},
    }


async def collect(quick: bool, repeat: int | None, progress: bool = True) -> dict[str, Any]:
    """Run every case; returns the report (plain data, as written to bench.json)."""
    p = plan(quick, repeat)
    started = time.perf_counter()

    def step(name: str) -> None:
        gc.collect()
        if progress:
            print(f"[{time.perf_counter() - started:6.1f} s] {name}", flush=True)

    report: dict[str, Any] = {
        "machine": machine(),
        "quick": quick,
        "repeat": p["repeat"],
        "plan": p,
        "logging": LOGGING_NOTE,
    }
    step("a. tiers, parallel vs sequential")
    report["tiers"] = []
    for name in p["tier_profiles"]:
        report["tiers"] += await cases.tiers(name, p["repeat"], p["warmup"])
    step("b, c. asyncio.gather, RunnableParallel, bare LangGraph")
    report["overhead"] = []
    for name, rounds in p["overhead_profiles"].items():
        report["overhead"] += await cases.overhead(name, rounds, max(p["warmup"], rounds // 10))
    step("d. a whole mode run, zero-latency services")
    mode = await cases.mode_run(p["mode_rounds"], max(10, p["mode_rounds"] // 10))
    report["mode_run"] = mode.pop("rows")
    report["floor_ratio"] = mode
    step("e. concurrency")
    report["concurrency"] = await scale.concurrency(delay_ms=20, **p["concurrency"])
    step("e2. package vs floor at once, zero-latency services, with and without a checkpointer")
    report["throughput"] = await scale.throughput(**p["throughput"])
    step("e3. garbage-collector settings")
    report["gc"] = await scale.gc_variants(**p["gc"])
    step("f. timeouts")
    report["timeouts"] = await scale.timeouts(**p["timeouts"])
    step("g. memory")
    report["memory"] = scale.memory_isolated(**p["memory"])
    step("h. retrieval at scale")
    report["retrieval"] = await scale.retrieval(**p["retrieval"])
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["targets"] = check_targets(report)
    return report


def load(path: str | Path) -> dict[str, Any]:
    """A report written by `run` (a bench.json file, or the folder holding it)."""
    path = Path(path)
    if path.is_dir():
        path = path / "bench.json"
    report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return report


def run(quick: bool, repeat: int | None, out: Path | None) -> dict[str, Any]:
    """Run the benchmark, print the tables; with `out`, write bench.json and the PNG charts."""
    from benchmarks import charts

    with quiet_logging():
        report = asyncio.run(collect(quick, repeat))
    print(render(report))
    if out:
        out.mkdir(parents=True, exist_ok=True)
        if charts.available():
            report["charts"] = [p.name for p in charts.write(report, out)]
        else:
            report["charts"] = []
            print("no charts: matplotlib is missing (the `dev` extra installs it)")
        (out / "bench.json").write_text(json.dumps(report, indent=2))
        print(f"wrote {out / 'bench.json'} and {len(report['charts'])} charts")
    return report
