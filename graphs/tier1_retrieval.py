"""Tier 1 (retrieval) on its own, for LangGraph Studio / `langgraph dev`.

The tier runs behind a `resolve_identity` node: with LangGraph auth on, `memory_retrieval` reads
the authenticated caller's memory, and an input `tenant_id`/`user_id` naming anyone else is
refused (see `parallel_tiers.identity`)."""

from parallel_tiers import build_tier1_graph
from parallel_tiers.identity import with_identity

graph = with_identity(build_tier1_graph())
