"""Parallel retrieval and post-generation tiers for LangGraph expert assistants.

Build a mode graph and call it::

    from parallel_tiers import Context, build_mode_graph

    graph = build_mode_graph(2)
    result = await graph.ainvoke({"query": "What are the warning signs of a stroke?"},
                                 context=Context(parallel_timeout_ms=2000))

How the parts fit together: `docs/architecture.md` in the repository.
"""

from parallel_tiers.context import Context
from parallel_tiers.modes import MODES, build_mode_graph
from parallel_tiers.threads import ThreadBusyError
from parallel_tiers.tiers import build_tier1_graph, build_tier2_graph
from parallel_tiers.tuning import tune_gc
from parallel_tiers.validation import MAX_QUERY_CHARS, InvalidInputError

__all__ = [
    "MAX_QUERY_CHARS",
    "MODES",
    "Context",
    "InvalidInputError",
    "ThreadBusyError",
    "build_mode_graph",
    "build_tier1_graph",
    "build_tier2_graph",
    "tune_gc",
]
__version__ = "0.1.0"
