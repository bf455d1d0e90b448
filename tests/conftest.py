from __future__ import annotations

import pytest
from langgraph.store.memory import InMemoryStore

from parallel_tiers import Context
from parallel_tiers.metrics import TierMetrics
from parallel_tiers.resilience import Resilience
from parallel_tiers.services.agents import Agent, AgentRegistry, load_registry
from tests.fakes import Behaviour, FakeMemoryStore, Fakes

TIER1 = ("rag_retrieval", "tool_suggestion", "memory_retrieval")
TIER2 = ("quality_scoring", "citation_extraction", "cost_tracking")


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


def fake_context(fakes: Fakes, **settings: object) -> Context:
    """A context whose six branch services are the given fakes."""
    store = FakeMemoryStore(InMemoryStore(), fakes.memory_retrieval)
    settings.setdefault("resilience", Resilience())
    settings.setdefault("metrics", TierMetrics())
    return Context(**fakes.context_kwargs(), memory_store=store, **settings)  # type: ignore[arg-type]


def reserving_registry(tool: str, agent_id: str, description: str) -> AgentRegistry:
    """The medical experts, and one more (`agent_id`) that alone may use `tool`."""
    medical = load_registry()
    name = agent_id.replace("_", " ").capitalize()
    reserving = Agent(id=agent_id, name=name, description=description, allowed_tools=(tool,))
    return AgentRegistry.from_agents([*medical.agents.values(), reserving], medical.default_id)


__all__ = ["TIER1", "TIER2", "Behaviour", "fake_context", "reserving_registry"]


@pytest.fixture(autouse=True)
def _structlog_defaults():
    """Give every test the logging it started with back (the CLI configures the package's).

    structlog's global configuration, and the `parallel_tiers` logger's level, handlers and
    propagation.
    """
    import logging

    import structlog

    from parallel_tiers.logs import LOGGER_NAME

    logger = logging.getLogger(LOGGER_NAME)
    before = (logger.level, list(logger.handlers), logger.propagate)
    yield
    structlog.reset_defaults()
    logger.setLevel(before[0])
    logger.handlers[:] = before[1]
    logger.propagate = before[2]
