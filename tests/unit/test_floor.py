"""The benchmark's LangGraph floor follows the package's mode graph (`benchmarks.floor`)."""

from __future__ import annotations

import warnings

from benchmarks.cases import RUN_INPUT, floor_graph, sleeping_context
from benchmarks.floor import shape, trace_run
from parallel_tiers.modes import build_mode_graph


async def test_the_floor_has_the_package_graphs_shape_and_path() -> None:
    graph = build_mode_graph(2)
    floor = await floor_graph(graph)
    assert shape(floor) == shape(graph)
    assert set(floor.builder.nodes) == set(graph.builder.nodes)
    ctx = sleeping_context()
    # the same nodes run, in every (sub)graph, and the floor's nodes are no-ops
    assert await trace_run(floor, RUN_INPUT, context=ctx) == await trace_run(
        graph, RUN_INPUT, context=ctx
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = await floor.ainvoke(RUN_INPUT, context=ctx)
    assert "response" not in out
