"""The four mode graphs."""

from parallel_tiers.modes.graphs import (
    build_mode1_graph,
    build_mode2_graph,
    build_mode3_graph,
    build_mode4_graph,
    build_mode_graph,
)
from parallel_tiers.modes.spec import MODES, Mode

__all__ = [
    "MODES",
    "Mode",
    "build_mode1_graph",
    "build_mode2_graph",
    "build_mode3_graph",
    "build_mode4_graph",
    "build_mode_graph",
]
