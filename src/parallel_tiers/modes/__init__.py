"""The four mode graphs."""

from parallel_tiers.modes.graphs import build_mode_graph
from parallel_tiers.modes.spec import MODES, Mode

__all__ = [
    "MODES",
    "Mode",
    "build_mode_graph",
]
