"""Per-tenant performance tracking of the tiers, readable from Python and from Prometheus.

`TierMetrics` aggregates every tier run by (tier, tenant) and every branch by (tier, branch,
tenant): counts per status, duration histograms, and the tier's speedup. `snapshot()` returns
plain dicts; `PrometheusCollector` (extra `metrics`: prometheus-client) exposes the same figures
under the metric names the original system planned. Label cardinality is bounded: the first
`max_tenants` tenants seen get series of their own, every later one is counted under the
tenant label `OVERFLOW_TENANT` (env `PARALLEL_TIERS_METRICS_MAX_TENANTS`, default 100).
"""

from __future__ import annotations

import bisect
import os
import threading
from collections import deque
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Histogram upper bounds in seconds (Prometheus' defaults)."""
SPEEDUP_WINDOW = 100
ENV_MAX_TENANTS = "PARALLEL_TIERS_METRICS_MAX_TENANTS"
DEFAULT_MAX_TENANTS = 100
"""Tenants with series of their own, per process; later ones share `OVERFLOW_TENANT`."""
OVERFLOW_TENANT = "_other"


@dataclass
class Histogram:
    """Counts per upper bound, plus sum and count (cumulative when exported)."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS_S) + 1))
    total: float = 0.0
    n: int = 0

    def observe(self, seconds: float) -> None:
        """Add one observation."""
        self.counts[bisect.bisect_left(BUCKETS_S, seconds)] += 1
        self.total += seconds
        self.n += 1

    def snapshot(self) -> dict[str, Any]:
        """Plain figures: count, sum, and cumulative bucket counts."""
        cumulative, running = [], 0
        for c in self.counts[:-1]:
            running += c
            cumulative.append(running)
        return {
            "count": self.n,
            "sum": round(self.total, 6),
            "buckets": dict(zip(BUCKETS_S, cumulative, strict=True)),
        }


@dataclass
class BranchStats:
    """One branch of one tier for one tenant."""

    statuses: dict[str, int] = field(default_factory=dict)
    duration: Histogram = field(default_factory=Histogram)

    @property
    def success_rate(self) -> float | None:
        """Share of the calls that ran (not skipped nor circuit-open) and succeeded."""
        ran = sum(self.statuses.get(s, 0) for s in ("ok", "failed", "timed_out"))
        return self.statuses.get("ok", 0) / ran if ran else None


@dataclass
class TierStats:
    """One tier for one tenant."""

    runs: int = 0
    duration: Histogram = field(default_factory=Histogram)
    speedups: deque[float] = field(default_factory=lambda: deque(maxlen=SPEEDUP_WINDOW))


class TierMetrics:
    """Thread-safe aggregation of tier metadata, by tenant."""

    def __init__(self, max_tenants: int | None = None) -> None:
        self._lock = threading.Lock()
        self.max_tenants = max_tenants or int(
            os.environ.get(ENV_MAX_TENANTS) or DEFAULT_MAX_TENANTS
        )
        """Tenants with series of their own; the rest are counted as `OVERFLOW_TENANT`."""
        self.tenants: set[str] = set()
        self.tiers: dict[tuple[str, str], TierStats] = {}
        self.branches: dict[tuple[str, str, str], BranchStats] = {}

    def _label(self, tenant: str | None) -> str:
        tenant = tenant or "default"
        if tenant in self.tenants:
            return tenant
        if len(self.tenants) < self.max_tenants:
            self.tenants.add(tenant)
            return tenant
        return OVERFLOW_TENANT

    def record(self, tier: str, tenant: str | None, summary: dict[str, Any]) -> None:
        """Add one tier run, as summarised in its metadata."""
        with self._lock:
            tenant = self._label(tenant)
            stats = self.tiers.get((tier, tenant))
            if stats is None:  # (no `setdefault`: it would build the stats on every run)
                stats = self.tiers[(tier, tenant)] = TierStats()
            stats.runs += 1
            stats.duration.observe(summary["duration_ms"] / 1000)
            stats.speedups.append(summary["speedup_vs_sequential"])
            for name, task in summary["tasks"].items():
                branch = self.branches.get((tier, name, tenant))
                if branch is None:
                    branch = self.branches[(tier, name, tenant)] = BranchStats()
                branch.statuses[task["status"]] = branch.statuses.get(task["status"], 0) + 1
                if task["status"] not in ("skipped", "circuit_open"):
                    branch.duration.observe(task["duration_ms"] / 1000)

    def snapshot(self) -> dict[str, Any]:
        """Every figure as plain data: `tiers[tier][tenant]`, `branches[tier][branch][tenant]`."""
        with self._lock:
            tiers: dict[str, Any] = {}
            for (tier, tenant), s in self.tiers.items():
                speedup = sum(s.speedups) / len(s.speedups) if s.speedups else None
                tiers.setdefault(tier, {})[tenant] = {
                    "runs": s.runs,
                    "duration_seconds": s.duration.snapshot(),
                    "mean_speedup": speedup,
                }
            branches: dict[str, Any] = {}
            for (tier, name, tenant), b in self.branches.items():
                branches.setdefault(tier, {}).setdefault(name, {})[tenant] = {
                    "statuses": dict(b.statuses),
                    "success_rate": b.success_rate,
                    "duration_seconds": b.duration.snapshot(),
                }
            return {"tiers": tiers, "branches": branches}


@lru_cache(maxsize=1)
def default_metrics() -> TierMetrics:
    """The process-wide metrics used when the context brings none."""
    return TierMetrics()


class PrometheusCollector:
    """A prometheus-client collector over a `TierMetrics` (register it in a registry)."""

    def __init__(self, metrics: TierMetrics) -> None:
        self.metrics = metrics

    def describe(self) -> list[Any]:
        """No fixed description: the families are built at each scrape."""
        return []

    def collect(self) -> Any:
        """Yield the six metric families with tier, branch and tenant labels."""
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        snap = self.metrics.snapshot()
        duration = HistogramMetricFamily(
            "parallel_execution_duration_seconds",
            "Wall time of a tier run",
            labels=["tier", "tenant"],
        )
        speedup = GaugeMetricFamily(
            "parallel_speedup_ratio",
            "Mean speedup_vs_sequential of recent tier runs",
            labels=["tier", "tenant"],
        )
        for tier, by_tenant in snap["tiers"].items():
            for tenant, t in by_tenant.items():
                duration.add_metric(
                    [tier, tenant], _buckets(t["duration_seconds"]), t["duration_seconds"]["sum"]
                )
                if t["mean_speedup"] is not None:
                    speedup.add_metric([tier, tenant], t["mean_speedup"])
        labels = ["tier", "branch", "tenant"]
        task_duration = HistogramMetricFamily(
            "parallel_task_duration_seconds", "Duration of a branch call", labels=labels
        )
        failures = CounterMetricFamily(
            "parallel_task_failures_total", "Branch calls that failed", labels=labels
        )
        timeouts = CounterMetricFamily(
            "parallel_timeouts_total", "Branch calls that timed out", labels=labels
        )
        success = GaugeMetricFamily(
            "parallel_success_rate", "Share of branch calls that succeeded", labels=labels
        )
        for tier, by_branch in snap["branches"].items():
            for branch, by_tenant in by_branch.items():
                for tenant, b in by_tenant.items():
                    key = [tier, branch, tenant]
                    task_duration.add_metric(
                        key, _buckets(b["duration_seconds"]), b["duration_seconds"]["sum"]
                    )
                    failures.add_metric(key, b["statuses"].get("failed", 0))
                    timeouts.add_metric(key, b["statuses"].get("timed_out", 0))
                    if b["success_rate"] is not None:
                        success.add_metric(key, b["success_rate"])
        yield from (duration, speedup, task_duration, failures, timeouts, success)


def _buckets(hist: dict[str, Any]) -> list[tuple[str, float]]:
    pairs = [(str(bound), float(count)) for bound, count in hist["buckets"].items()]
    return [*pairs, ("+Inf", float(hist["count"]))]


def serve_prometheus(
    port: int, addr: str = "127.0.0.1", metrics: TierMetrics | None = None
) -> tuple[Any, Any]:
    """Expose `metrics` (default: the process-wide ones) on http://addr:port/metrics.

    Returns prometheus-client's `(server, thread)`; call `server.shutdown()` to stop.
    """
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry()
    registry.register(PrometheusCollector(metrics or default_metrics()))
    return start_http_server(port, addr=addr, registry=registry)
