"""Any malformed input gives a clear validation error naming the field, never a crash inside a
service (property-based)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parallel_tiers import MAX_QUERY_CHARS, InvalidInputError, build_mode_graph
from tests.conftest import fake_context
from tests.fakes import Fakes

INPUT_KEYS = (
    "query",
    "agent_id",
    "user_id",
    "tenant_id",
    "session_id",
    "enable_rag",
    "enable_tools",
    "confirmed_tools",
    "priority",
)
anything = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
inputs = st.dictionaries(st.sampled_from(INPUT_KEYS), anything, max_size=len(INPUT_KEYS))
GRAPH = build_mode_graph(1)


def run(payload: dict[str, Any], fakes: Fakes) -> dict[str, Any]:
    return asyncio.run(GRAPH.ainvoke(payload, context=fake_context(fakes)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=inputs)
def test_malformed_input_is_refused_with_the_field_named(payload: dict[str, Any]) -> None:
    fakes = Fakes()
    try:
        out = run(payload, fakes)
    except InvalidInputError as err:
        assert err.problems, "an InvalidInputError always lists its problems"
        for field, message in err.problems:
            assert re.split(r"[.\[]", field)[0] in {*INPUT_KEYS, "context"}, field
            assert message
        assert all(
            getattr(fakes, b).calls == 0
            for b in (
                "rag_retrieval",
                "tool_suggestion",
                "memory_retrieval",
                "quality_scoring",
                "citation_extraction",
                "cost_tracking",
            )
        )  # refused before any service ran
    else:  # it was valid after all: it must have answered
        assert isinstance(payload.get("query"), str) and payload["query"].strip()
        assert out["response"]


def test_a_one_megabyte_query_is_refused_by_the_documented_limit() -> None:
    fakes = Fakes()
    try:
        run({"query": "a" * 1_000_000, "agent_id": "neurology"}, fakes)
    except InvalidInputError as err:
        assert f"query: is 1,000,000 characters; the limit is {MAX_QUERY_CHARS:,}" in str(err)
    else:
        raise AssertionError("a 1 MB query was accepted")
    assert fakes.rag_retrieval.calls == 0
