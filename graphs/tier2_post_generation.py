"""Tier 2 (post-generation) on its own, for LangGraph Studio / `langgraph dev`."""

from parallel_tiers import build_tier2_graph

graph = build_tier2_graph()
