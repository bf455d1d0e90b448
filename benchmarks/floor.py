"""LangGraph's floor for a compiled graph: the same shape, every node a no-op (issue 13).

`floor_of(graph, trace)` rebuilds a compiled `StateGraph` from its own builder: the same nodes
(each a no-op returning no update, with the node's input schema), the same edges, fan-ins
(waiting edges) and conditional edges, the same state, input, output and context schemas, and
every compiled subgraph node rebuilt the same way as a subgraph of its own. What is left is what
LangGraph itself costs to run that shape, so the floor follows the package's graph as it changes.

The routes cannot be re-run on no-op state, so the floor takes the path a real run took:
`trace_run` records which nodes ran in each (sub)graph, a conditional edge returns the ones of
its destinations that ran, and a node with `Command` destinations hands over (`goto`) to each
destination that ran and that no edge or route from a node that ran explains.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig
from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

Trace = dict[tuple[str, ...], set[str]]
"""Per (sub)graph path (the names of the subgraph nodes from the top, () for the top graph):
the nodes that ran in it."""


async def trace_run(graph: Any, input: Any, **kwargs: Any) -> Trace:
    """The nodes each (sub)graph ran in one run of `graph` (its `astream` kwargs)."""
    trace: Trace = {}
    async for namespace, task in graph.astream(
        input, stream_mode="tasks", subgraphs=True, **kwargs
    ):
        if "input" in task:  # the task's start (its end carries "result")
            path = tuple(part.split(":", 1)[0] for part in namespace)
            trace.setdefault(path, set()).add(task["name"])
    return trace


class _FixedRoute(Runnable[Any, list[str]]):
    """A conditional edge that returns the destinations the traced run took (no tracing)."""

    name = "floor_route"

    def __init__(self, taken: list[str]) -> None:
        self.taken = taken

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> list[str]:
        return self.taken

    async def ainvoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> list[str]:
        return self.taken


async def _noop(state: Any) -> dict[str, Any]:
    return {}


def _goto(targets: list[str]) -> Any:
    async def node(state: Any) -> Command[str]:
        return Command(goto=targets)

    return node


def _subgraph(runnable: Any) -> CompiledStateGraph[Any, Any, Any, Any] | None:
    return runnable if isinstance(runnable, CompiledStateGraph) else None


def _branch_ends(spec: Any) -> list[str]:
    ends: Mapping[Hashable, str] | None = spec.ends
    return list(dict.fromkeys(ends.values())) if ends else []


def floor_of(
    graph: CompiledStateGraph[Any, Any, Any, Any],
    trace: Trace,
    path: tuple[str, ...] = (),
    **compile_kwargs: Any,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """`graph`'s shape with no-op nodes (see the module doc); `compile_kwargs` for the top."""
    b = graph.builder
    ran = trace.get(path, set())
    floor: StateGraph[Any, Any, Any, Any] = StateGraph(
        b.state_schema,
        context_schema=b.context_schema,
        input_schema=b.input_schema,
        output_schema=b.output_schema,
    )
    # destinations a node that ran reaches by a plain edge, a fan-in or a route
    explained: set[str] = set()
    for start, end in b.edges:
        if start == START or start in ran:
            explained.add(end)
    for starts, end in b.waiting_edges:
        if all(s in ran for s in starts):
            explained.add(end)
    for source, branches in b.branches.items():
        if source == START or source in ran:
            for route in branches.values():
                explained.update(e for e in _branch_ends(route) if e in ran)
    spec: Any
    for name, spec in b.nodes.items():
        sub = _subgraph(spec.runnable)
        action: Any
        if sub is not None:
            action = floor_of(sub, trace, (*path, name), name=sub.name)
        elif spec.ends:
            goto = [d for d in spec.ends if d in ran and d not in explained]
            action = _goto(goto) if goto and name in ran else _noop
        else:
            action = _noop
        floor.add_node(
            name,
            action,
            input_schema=spec.input_schema,
            destinations=tuple(spec.ends) if spec.ends else None,
            defer=spec.defer,
        )
    for start, end in b.edges:
        floor.add_edge(start, end)
    for starts, end in b.waiting_edges:
        floor.add_edge(list(starts), end)
    for source, branches in b.branches.items():
        for route in branches.values():
            ends = _branch_ends(route)
            taken = [e for e in ends if e in ran]
            floor.add_conditional_edges(source, _FixedRoute(taken), ends or None)
    return floor.compile(**compile_kwargs)


def shape(graph: CompiledStateGraph[Any, Any, Any, Any]) -> dict[str, Any]:
    """Nodes, edges, fan-ins and route destinations of `graph` and its subgraphs (for tests)."""
    b = graph.builder
    return {
        "nodes": {
            name: shape(sub) if (sub := _subgraph(spec.runnable)) is not None else None
            for name, spec in b.nodes.items()
        },
        "edges": sorted(b.edges),
        "fan_ins": sorted((tuple(sorted(s)), e) for s, e in b.waiting_edges),
        "routes": sorted(
            (source, sorted(_branch_ends(spec)))
            for source, branches in b.branches.items()
            for spec in branches.values()
        ),
        "commands": sorted((n, tuple(s.ends)) for n, s in b.nodes.items() if s.ends),
    }
