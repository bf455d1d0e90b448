"""Mode 3 (chat_manual) for LangGraph Studio and `langgraph dev`.

Compiled without checkpointer or store: the server brings its own."""

from parallel_tiers import build_mode_graph

graph = build_mode_graph("chat_manual")
