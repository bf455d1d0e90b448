"""Bad input gets a clear error naming the field, before any service runs."""

from __future__ import annotations

import pytest

from parallel_tiers import MAX_QUERY_CHARS, Context, InvalidInputError, build_mode_graph
from tests.conftest import fake_context
from tests.fakes import Fakes

CASES = [
    ({}, "query: is required"),
    ({"query": ""}, "query: must be a non-empty question"),
    ({"query": "   "}, "query: must be a non-empty question"),
    ({"query": "x" * (MAX_QUERY_CHARS + 1)}, "query: is 8,001 characters; the limit is 8,000"),
    ({"query": 42}, "query: input should be a valid string"),
    ({"query": "ok?", "enable_rag": "yes"}, "enable_rag: input should be a valid boolean"),
    ({"query": "ok?", "user_id": ["u"]}, "user_id: input should be a valid string"),
    (
        {"query": "ok?", "confirmed_tools": "calculator"},
        "confirmed_tools: input should be a valid list",
    ),
    ({"query": "ok?", "confirmed_tools": ["rm_rf"]}, "confirmed_tools: unknown tool 'rm_rf'"),
    # What a checkpointer or store would refuse mid-run (PostgreSQL: NUL) is refused up front.
    ({"query": "a\x00b?"}, "query: contains a control character (U+0000) at position 1"),
    ({"query": "ok?", "user_id": "ann\x00"}, "user_id: contains a control character (U+0000)"),
    ({"query": "ok?", "tenant_id": "t\x1b[2J"}, "tenant_id: contains a control character"),
    ({"query": "ok?", "session_id": "s\n1"}, "session_id: contains a control character (U+000A)"),
    ({"query": "bad \ud800 text?"}, "query: contains an unpaired surrogate (U+D800)"),
    (
        {"query": "ok?", "confirmed_tools": ["calc\x00"]},
        "confirmed_tools[0]: contains a control character",
    ),
]


async def test_a_question_may_span_lines_and_tabs() -> None:
    out = await build_mode_graph(2).ainvoke({"query": "What is\tasthma?\r\nPlease explain."})
    assert out["response"]


@pytest.mark.parametrize(("inputs", "message"), CASES)
async def test_bad_input_is_refused_before_services_run(inputs: dict, message: str) -> None:
    fakes = Fakes()
    with pytest.raises(InvalidInputError) as err:
        await build_mode_graph(2).ainvoke(inputs, context=fake_context(fakes))
    assert message in str(err.value)
    assert all(
        getattr(fakes, n).calls == 0
        for n in ("rag_retrieval", "tool_suggestion", "quality_scoring", "cost_tracking")
    )


async def test_unknown_agent_lists_the_known_ones() -> None:
    with pytest.raises(InvalidInputError) as err:
        await build_mode_graph(1).ainvoke({"query": "ok?", "agent_id": "dermatology"})
    text = str(err.value)
    assert "agent_id: unknown agent 'dermatology'" in text
    assert "neurology" in text and "oncology" in text


async def test_manual_mode_requires_an_agent() -> None:
    with pytest.raises(InvalidInputError, match="agent_id: is required in manual modes"):
        await build_mode_graph(3).ainvoke({"query": "ok?"})


async def test_confirmed_tool_must_be_allowed_for_the_agent() -> None:
    with pytest.raises(InvalidInputError, match="not allowed for agent 'neurology'"):
        await build_mode_graph(1).ainvoke(
            {"query": "ok?", "agent_id": "neurology", "confirmed_tools": ["bmi_calculator"]}
        )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"parallel_timeout_ms": 0}, "context.parallel_timeout_ms: input should be greater than 0"),
        (
            {"parallel_timeout_ms": "fast"},
            "context.parallel_timeout_ms: input should be a valid integer",
        ),
        (
            {"enable_parallel_tier1": "no"},
            "context.enable_parallel_tier1: input should be a valid boolean",
        ),
    ],
)
async def test_bad_settings_are_refused(settings: dict, message: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        await build_mode_graph(2).ainvoke({"query": "ok?"}, context=Context(**settings))
    assert message in str(err.value)


async def test_several_problems_are_reported_together() -> None:
    with pytest.raises(InvalidInputError) as err:
        await build_mode_graph(2).ainvoke({"query": "", "enable_tools": 1})
    assert {p[0] for p in err.value.problems} == {"query", "enable_tools"}
