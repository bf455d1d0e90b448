"""PNG charts of a bench report (matplotlib, in the `dev` extra), drawn without pyplot.

Figures are built as `matplotlib.figure.Figure` objects, so no GUI backend is ever selected;
PNGs are written with the Agg renderer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

COLORS = {
    "parallel": "#1f77b4",
    "sequential": "#ff7f0e",
    "ideal": "#2ca02c",
    "asyncio.gather": "#2ca02c",
    "RunnableParallel": "#9467bd",
    "bare LangGraph": "#8c564b",
    "bare LangGraph + switch": "#e377c2",
}


def available() -> bool:
    """Whether matplotlib is installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def tiers_figure(report: dict[str, Any]) -> Any:
    """Parallel vs sequential vs ideal, one panel per profile, bars per tier."""
    profiles = list(dict.fromkeys(r["profile"] for r in report["tiers"]))
    fig = _figure(5 * len(profiles), 4)
    axes = fig.subplots(1, len(profiles), squeeze=False)[0]
    for ax, profile in zip(axes, profiles, strict=True):
        rows = [r for r in report["tiers"] if r["profile"] == profile]
        tiers = list(dict.fromkeys(r["tier"] for r in rows))
        width = 0.27
        for i, tier in enumerate(tiers):
            by = {r["execution"]: r for r in rows if r["tier"] == tier}
            bars = [
                ("parallel", by["parallel"]["median_ms"]),
                ("sequential", by["sequential"]["median_ms"]),
                ("ideal", by["parallel"]["ideal_ms"]),
            ]
            for j, (label, value) in enumerate(bars):
                x = i + (j - 1) * width
                ax.bar(x, value, width, color=COLORS[label], label=label if i == 0 else None)
                ax.annotate(f"{value:.1f}", (x, value), ha="center", va="bottom", fontsize=7)
        labels = []
        for tier in tiers:
            par = next(r for r in rows if r["tier"] == tier and r["execution"] == "parallel")
            labels.append(
                f"{tier}\nefficiency {par['efficiency']:.3f}, "
                f"speedup {par['speedup_vs_sequential']:.2f}"
            )
        ax.set_xticks(range(len(tiers)), labels, fontsize=8)
        ax.set_ylabel("ms (median)")
        ax.set_title(f"profile {profile}")
        ax.legend(fontsize=8)
    fig.suptitle("Tier wall time: parallel vs sequential vs ideal (slowest branch)")
    return fig


def overhead_figure(report: dict[str, Any]) -> Any:
    """What our tier graph adds over each alternative, ms per tier, one panel per profile."""
    profiles = list(dict.fromkeys(r["profile"] for r in report["overhead"]))
    fig = _figure(5 * len(profiles), 4)
    axes = fig.subplots(1, len(profiles), squeeze=False)[0]
    others = [o for o in COLORS if o in report["overhead"][0]["overhead_ms"]]
    for ax, profile in zip(axes, profiles, strict=True):
        rows = [r for r in report["overhead"] if r["profile"] == profile]
        width = 0.8 / len(others)
        for i, r in enumerate(rows):
            for j, other in enumerate(others):
                value = r["overhead_ms"][other]
                x = i + (j - (len(others) - 1) / 2) * width
                ax.bar(x, value, width, color=COLORS[other], label=other if i == 0 else None)
                ax.annotate(f"{value:.2f}", (x, value), ha="center", va="bottom", fontsize=7)
        ax.axhline(0.5, color="red", linestyle="--", linewidth=1, label="target vs bare (0.5)")
        top = max((r["overhead_ms"][o] for r in rows for o in others), default=1.0)
        ax.set_ylim(min(0.0, ax.get_ylim()[0]), max(top, 0.5) * 1.6)  # room for the legend
        ax.set_xticks(range(len(rows)), [r["tier"] for r in rows])
        ax.set_ylabel("ms added by parallel-tiers (median)")
        ax.set_title(f"profile {profile}")
        ax.legend(fontsize=7, loc="upper right", ncols=2)
    fig.suptitle("Overhead of the tier graph over each alternative, per tier")
    return fig


def concurrency_figure(report: dict[str, Any]) -> Any:
    """Latency percentiles and throughput against runs at once."""
    rows = report["concurrency"]
    fig = _figure(6, 4)
    ax = fig.subplots()
    levels = [r["concurrency"] for r in rows]
    for q, style in (("median", "o-"), ("p95", "s--"), ("p99", "^:")):
        ax.plot(levels, [r["latency_ms"][q] for r in rows], style, label=f"latency {q}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("runs at once")
    ax.set_ylabel("latency ms")
    twin = ax.twinx()
    twin.plot(levels, [r["throughput_runs_per_s"] for r in rows], "k.-", label="runs/s")
    twin.set_ylabel("throughput, runs/s")
    lines = ax.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="upper left")
    wait = rows[0]["branch_wait_ms"] if rows else "?"
    fig.suptitle(f"Mode 2 under concurrency (branches wait {wait} ms)")
    return fig


def mode_figure(report: dict[str, Any]) -> Any:
    """CPU per mode run: LangGraph's floor, this package, with a checkpointer."""
    rows = report["mode_run"]
    fig = _figure(7, 1.5 + 0.35 * len(rows))
    ax = fig.subplots()
    names = [r["variant"] for r in rows]
    values = [r["cpu_ms"]["median"] for r in rows]
    colors = ["#7f7f7f" if r.get("graph") == "LangGraph floor" else "#1f77b4" for r in rows]
    ax.barh(names, values, color=colors)
    for y, v in enumerate(values):
        ax.annotate(f"{v:.2f}", (v, y), va="center", fontsize=8)
    ax.axvline(5.0, color="red", linestyle="--", linewidth=1, label="target 5 ms")
    ax.set_xlabel("CPU ms per run (median)")
    ax.invert_yaxis()
    ax.legend(fontsize=8)
    fig.suptitle("A whole mode-2 run with zero-latency services")
    return fig


def retrieval_figure(report: dict[str, Any]) -> Any | None:
    """BM25 query latency against corpus size."""
    rows = report["retrieval"].get("rows") or []
    if not rows:
        return None
    fig = _figure(6, 3.5)
    ax = fig.subplots()
    sizes = [r["passages"] for r in rows]
    for key, label in (("search_ms", "search"), ("ainvoke_ms", "ainvoke")):
        ax.plot(sizes, [r[key]["median"] for r in rows], "o-", label=f"{label} p50")
        ax.plot(sizes, [r[key]["p95"] for r in rows], "s--", label=f"{label} p95")
    ax.set_xscale("log")
    ax.set_xlabel("passages indexed")
    ax.set_ylabel("ms per query")
    ax.legend(fontsize=8)
    fig.suptitle("BM25Retriever query latency by corpus size")
    return fig


def memory_figure(report: dict[str, Any]) -> Any:
    """RSS growth along the runs."""
    curve = report["memory"]["curve"]
    fig = _figure(6, 3.5)
    ax = fig.subplots()
    ax.plot([p["runs"] for p in curve], [p["growth_mb"] for p in curve], "o-")
    ax.axhline(10.0, color="red", linestyle="--", linewidth=1, label="target 10 MB")
    ax.set_xlabel("runs after warm-up")
    ax.set_ylabel("RSS growth, MB")
    ax.legend(fontsize=8)
    fig.suptitle("Resident memory over repeated mode-2 runs")
    return fig


def figures(report: dict[str, Any]) -> dict[str, Any]:
    """Every chart of the report, by file stem."""
    found = {
        "tiers": tiers_figure(report),
        "overhead": overhead_figure(report),
        "concurrency": concurrency_figure(report),
        "mode_cpu": mode_figure(report),
        "retrieval": retrieval_figure(report),
        "memory": memory_figure(report),
    }
    return {name: fig for name, fig in found.items() if fig is not None}


def write(report: dict[str, Any], out: Path) -> list[Path]:
    """Write every chart as `<name>.png` in `out`; returns the paths."""
    paths = []
    for name, fig in figures(report).items():
        path = out / f"{name}.png"
        fig.savefig(path, dpi=110)
        paths.append(path)
    return paths
