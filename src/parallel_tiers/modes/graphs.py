"""The four mode graphs, each wiring the two tier subgraphs around its generation node.

validate_input -> tier1 -> generate -> tier2 [-> save_turn] -> END

One node per superstep, each doing what the next needs: `generate` chooses the expert from
tier 1's passages, approves the tools (an `interrupt` in the manual modes), runs them and
answers (`modes.nodes.generate`).
"""

from __future__ import annotations

from functools import partial
from itertools import pairwise
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Durability

from parallel_tiers.context import Context
from parallel_tiers.modes import nodes
from parallel_tiers.modes.spec import MODES, Mode
from parallel_tiers.state import ChatInputState, InputState, OutputState, State
from parallel_tiers.threads import THREAD_WAIT_MS, ThreadLockedGraph
from parallel_tiers.tiers import build_tier1_graph, build_tier2_graph


def build_mode_graph(
    mode: int | str,
    *,
    checkpointer: Any = None,
    store: Any = None,
    name: str | None = None,
    thread_wait_ms: int = THREAD_WAIT_MS,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the graph of one mode (1-4, or its name, e.g. "chat_automatic").

    Runs on a checkpointer thread take turns: a run waits for the thread's running turn to
    end, at most `thread_wait_ms`, then raises `ThreadBusyError` (see `parallel_tiers.threads`).

    Args:
        mode: 1 manual, 2 automatic, 3 chat_manual, 4 chat_automatic.
        checkpointer: a LangGraph checkpointer; chat threads and tool approval need one.
        store: a LangGraph `BaseStore` for memory (else the context's, else in-process).
        name: the compiled graph's name (default `mode<N>_<name>`).
        thread_wait_ms: how long a run waits for another run on its thread to end.

    """
    spec = _mode(mode)
    builder = StateGraph(
        State,
        context_schema=Context,
        input_schema=ChatInputState if spec.chat else InputState,
        output_schema=OutputState,
    )
    builder.add_node("validate_input", partial(nodes.validate_input, spec))
    builder.add_node("tier1", build_tier1_graph())
    # the expert (from tier 1's passages), tool approval (interrupt) and tools, then the answer
    builder.add_node("generate", partial(nodes.generate, spec))
    builder.add_node("tier2", build_tier2_graph())
    steps = ["validate_input", "tier1", "generate", "tier2"]
    if spec.chat:
        # Last, a superstep after the one whose checkpoint holds the turn's messages: memory
        # never holds a turn the thread lost (a turn it lacks is caught up by the next one).
        builder.add_node("save_turn", nodes.save_turn)
        steps.append("save_turn")
    builder.add_edge(START, steps[0])
    for current, following in pairwise(steps):
        builder.add_edge(current, following)
    builder.add_edge(steps[-1], END)
    graph = builder.compile(
        checkpointer=checkpointer, store=store, name=name or f"mode{spec.number}_{spec.name}"
    )
    # A single-turn run is checkpointed once, when it ends ("exit"); a chat turn step by step
    # ("async"), so the turn's messages are saved before `save_turn` writes its memory.
    durability: Durability = "async" if spec.chat else "exit"
    return ThreadLockedGraph.of(graph, thread_wait_ms=thread_wait_ms, durability=durability)


def _mode(mode: int | str) -> Mode:
    if isinstance(mode, str) and not mode.isdigit():
        for spec in MODES.values():
            if spec.name == mode:
                return spec
    elif int(mode) in MODES:
        return MODES[int(mode)]
    names = ", ".join(f"{n} ({m.name})" for n, m in MODES.items())
    raise ValueError(f"mode: unknown mode {mode!r}; expected one of {names}")
