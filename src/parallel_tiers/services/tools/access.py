"""Which tools an expert may use in a run: the registry's `allowed_tools`, and the caller's own."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from langchain_core.tools import BaseTool

if TYPE_CHECKING:
    from parallel_tiers.services.agents import AgentRegistry


def allowed_tools(
    agent_tools: Sequence[str],
    registry: AgentRegistry,
    caller_tools: Iterable[BaseTool] | None,
) -> list[str]:
    """The names of the tools an expert may use: its own, then the caller's unreserved ones.

    A tool the caller passes (`Context(tools=[...])`) that no expert of the registry names in
    its `allowed_tools` is allowed for every expert: passing it is what makes it available. A
    tool the registry names (the built-in ones, or one of yours listed there) is reserved: it
    stays with the experts naming it. The embedded default tools (no `Context.tools`) are never
    added: they follow the registry alone.

    Args:
        agent_tools: the expert's `allowed_tools` in the registry.
        registry: the run's experts.
        caller_tools: `Context.tools`, None when the run uses the default tools.

    """
    named = {name for agent in registry.agents.values() for name in agent.allowed_tools}
    unreserved = dict.fromkeys(t.name for t in caller_tools or () if t.name not in named)
    return [*agent_tools, *unreserved]
