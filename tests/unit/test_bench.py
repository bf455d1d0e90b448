"""The bench helpers and report on synthetic figures (the quick run: test_cli_and_graphs)."""

from __future__ import annotations

import logging

import pytest
import structlog

from parallel_tiers.bench import harness, report


def test_percentiles_and_stats() -> None:
    values = [float(v) for v in range(1, 101)]
    assert harness.pct(values, 0.5) == 51.0
    assert harness.pct(values, 0.99) == 99.0
    s = harness.stats(values)
    assert s["median"] == 50.5 and s["n"] == 100 and s["min"] == 1.0


def test_quiet_logging_drops_info_and_restores_the_configuration() -> None:
    before = structlog.get_config()
    with harness.quiet_logging(logging.WARNING):
        log = structlog.get_logger("bench-test")
        log.info("dropped")  # filtered: no output, no error
        assert structlog.get_config()["wrapper_class"] is not before["wrapper_class"]
    assert structlog.get_config() == before


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
