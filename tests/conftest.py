from __future__ import annotations

import pytest
from langgraph.store.memory import InMemoryStore

from parallel_tiers import Context
from parallel_tiers.metrics import TierMetrics
from parallel_tiers.resilience import Resilience
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


__all__ = ["TIER1", "TIER2", "Behaviour", "fake_context"]


@pytest.fixture(autouse=True)
def _structlog_defaults():
    """The CLI configures structlog globally; give every test the library's defaults back."""
    import structlog

    yield
    structlog.reset_defaults()
