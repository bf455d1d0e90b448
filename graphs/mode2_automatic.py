"""Mode 2 (automatic) for LangGraph Studio and `langgraph dev`.

Compiled without checkpointer or store: the server brings its own."""

from parallel_tiers import build_mode_graph

graph = build_mode_graph("automatic")
