"""The two parallel tiers, each described once as data and built into a subgraph."""

from parallel_tiers.tiers.builder import Tier, build_tier_graph, summarize
from parallel_tiers.tiers.post_generation import TIER2, build_tier2_graph
from parallel_tiers.tiers.retrieval import TIER1, build_tier1_graph

__all__ = [
    "TIER1",
    "TIER2",
    "Tier",
    "build_tier1_graph",
    "build_tier2_graph",
    "build_tier_graph",
    "summarize",
]
