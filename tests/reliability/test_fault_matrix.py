"""Each of the six branches x each fault: the run completes, statuses are right, and nothing
from the healthy branches is lost."""

from __future__ import annotations

import pytest

from parallel_tiers import build_mode_graph
from tests.conftest import TIER1, TIER2, fake_context
from tests.fakes import Fakes

FAULTS = {
    "raise": "failed",
    "hang": "timed_out",
    "slow": "ok",
    "garbage": "failed",
    "cancelled": "failed",
}
BRANCHES = [(1, b) for b in TIER1] + [(2, b) for b in TIER2]
HEALTHY = {  # what each branch contributes when it works, per the fakes
    "rag_retrieval": lambda out: [d["id"] for d in out["rag_results"]] == ["d1", "d2"],
    "tool_suggestion": lambda out: out["suggested_tools"][0]["name"] == "calculator",
    "memory_retrieval": lambda out: out["memory"] == [],
    "quality_scoring": lambda out: out["quality_score"] == 0.75,
    "citation_extraction": lambda out: out["citations"][0]["document_id"] == "d1",
    "cost_tracking": lambda out: out["cost_data"]["total_tokens"] == 2,
}
DEFAULTS = {
    "rag_retrieval": lambda out: out["rag_results"] == [],
    "tool_suggestion": lambda out: out["suggested_tools"] == [],
    "memory_retrieval": lambda out: out["memory"] == [],
    "quality_scoring": lambda out: out["quality_score"] is None,
    "citation_extraction": lambda out: out["citations"] == [],
    "cost_tracking": lambda out: out["cost_data"] == {},
}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize(("tier", "branch"), BRANCHES, ids=[b for _, b in BRANCHES])
async def test_fault_in_one_branch(tier: int, branch: str, fault: str) -> None:
    fakes = Fakes()
    behaviour = getattr(fakes, branch)
    behaviour.kind = "ok" if fault == "slow" else fault
    behaviour.delay = 0.05 if fault == "slow" else 0.0
    ctx = fake_context(fakes, parallel_timeout_ms=250)
    out = await build_mode_graph(2).ainvoke(
        {"query": "Is aspirin a blood thinner?", "user_id": "ann"}, context=ctx
    )
    assert out["response"]  # the run completed and answered
    meta = out["metadata"][f"parallel_tier{tier}"]
    assert meta["tasks"][branch]["status"] == FAULTS[fault]
    for other in (*TIER1, *TIER2):
        other_tier = 1 if other in TIER1 else 2
        if other != branch:
            assert out["metadata"][f"parallel_tier{other_tier}"]["tasks"][other]["status"] == "ok"
            assert HEALTHY[other](out), other
    check = HEALTHY if FAULTS[fault] == "ok" else DEFAULTS
    assert check[branch](out)
    if fault == "hang":
        assert behaviour.cancelled == 1  # the hung call was cancelled, not left running
        assert meta["duration_ms"] < 250 + 1000
