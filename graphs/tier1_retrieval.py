"""Tier 1 (retrieval) on its own, for LangGraph Studio / `langgraph dev`."""

from parallel_tiers import build_tier1_graph

graph = build_tier1_graph()
