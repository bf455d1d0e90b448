"""The benchmark (`benchmarks/`, run from the repository root): a quick run, and its helpers
and report on synthetic figures."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pytest

import benchmarks
from benchmarks import harness, report
from benchmarks.__main__ import main
from benchmarks.cases import sleeping_context
from parallel_tiers.logs import LOGGER_NAME, get_logger

ROOT = Path(__file__).resolve().parents[2]


def test_the_benchmark_is_the_repositorys_not_an_installed_one() -> None:
    # pysbd installs a top-level `benchmarks` package of its own; the repository's must win.
    assert Path(benchmarks.__file__).resolve().parent == ROOT / "benchmarks"


def test_bench_quick_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--quick", "--repeat", "2", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "bench.json").read_text())
    assert {(r["tier"], r["execution"]) for r in report["tiers"]} == {
        ("tier1", "parallel"),
        ("tier1", "sequential"),
        ("tier2", "parallel"),
        ("tier2", "sequential"),
    }
    assert all(r["failures"] == 0 for r in report["tiers"])
    assert {r["tier"] for r in report["overhead"]} == {"tier1", "tier2"}
    assert all(r["errors"] == 0 for r in report["mode_run"] + report["concurrency"])
    assert report["memory"]["pending_tasks_after"] == 0
    assert report["targets"] and all("met" in t for t in report["targets"])
    assert "tiers.png" in report["charts"] and (tmp_path / "tiers.png").is_file()
    assert "speedup" in capsys.readouterr().out


def test_stats() -> None:
    values = [float(v) for v in range(1, 101)]
    s = harness.stats(values)
    # p95/p99 by nearest rank (parallel_tiers.stats.percentile); the median is the midpoint.
    assert (s["median"], s["p95"], s["p99"], s["min"], s["n"]) == (50.5, 95.0, 99.0, 1.0, 100)
    empty = harness.stats([])
    assert empty["n"] == 0 and all(math.isnan(empty[k]) for k in ("median", "p95", "p99", "min"))


def test_sleeping_context_hangs_only_a_branch_it_has() -> None:
    ctx = sleeping_context((5, 0, 0), hung="cost_tracking")
    assert ctx.cost.behaviour.kind == "hang" and ctx.retriever.behaviour.delay == 0.005
    with pytest.raises(ValueError, match="no branch 'nope'"):
        sleeping_context(hung="nope")


def test_quiet_logging_drops_info_and_restores_the_configuration(
    capfd: pytest.CaptureFixture[str],
) -> None:
    package = logging.getLogger(LOGGER_NAME)
    before = (package.level, list(package.handlers))
    with harness.quiet_logging(logging.WARNING):
        log = get_logger()
        log.info("dropped")  # filtered: no output, no error
        log.warning("rendered")  # to /dev/null
        assert package.level == logging.WARNING
    assert (package.level, package.handlers) == before
    assert capfd.readouterr() == ("", "")


def _report(over_bare: float, cpu: float, growth: float) -> dict:
    tier = {
        "profile": "original",
        "tier": "tier1",
        "execution": "parallel",
        "ideal_ms": 500,
        "median_ms": 502.0,
        "over_ideal_ms": 2.0,
        "efficiency": 0.996,
        "speedup_vs_sequential": 1.99,
    }
    return {
        "tiers": [tier],
        "overhead": [
            {"profile": "zero", "tier": "tier1", "overhead_ms": {"bare LangGraph": over_bare}}
        ],
        "mode_run": [{"variant": "mode 2", "cpu_ms": {"median": cpu}, "runs_per_s": 1000 / cpu}],
        "concurrency": [
            {
                "concurrency": 1000,
                "errors": 0,
                "runs_with_failed_branches": 0,
                "latency_ms": {"p99": 900.0},
            }
        ],
        "timeouts": [
            {"concurrency": 1, "timeout_ms": 100, "tier_overshoot_ms": {"median": 1.0, "p99": 2.0}}
        ],
        "memory": {
            "runs": 10_000,
            "rss_growth_mb": growth,
            "pending_tasks_after": 0,
            "pending_tasks_after_100ms": 0,
        },
    }


@pytest.mark.parametrize(
    ("over_bare", "cpu", "growth", "missed"),
    [
        (0.2, 3.0, 1.0, set()),
        (0.8, 9.0, 12.0, {"guards", "CPU", "second", "RSS"}),
    ],
)
def test_targets_are_judged_on_the_measured_figures(
    over_bare: float, cpu: float, growth: float, missed: set[str]
) -> None:
    targets = report.check_targets(_report(over_bare, cpu, growth))
    assert len(targets) == 9
    failed = {t["target"] for t in targets if not t["met"]}
    assert {word for word in missed if any(word in name for name in failed)} == missed
    assert len(failed) == len(missed)
    assert "MISSED" in report.render_targets(targets) or not missed
