"""The expert registry: loading, lookup errors, and routing of a few fixed questions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from parallel_tiers.services.agents import AgentRegistry, UnknownAgentError, load_registry

EXPERTS = {
    "oncology",
    "genetics_rare_diseases",
    "digestive_kidney_endocrine",
    "neurology",
    "heart_lung_blood",
    "medicines_supplements",
    "infectious_disease",
    "healthy_ageing",
}


def test_bundled_registry_has_the_experts() -> None:
    registry = load_registry()
    assert set(registry.ids) == EXPERTS
    for agent in registry.agents.values():
        assert agent.description and agent.system_prompt and agent.domains
        assert "calculator" in agent.allowed_tools


@pytest.mark.parametrize(
    ("question", "expert"),
    [
        ("What are the warning signs of a stroke?", "neurology"),
        ("Who should get screened for colorectal cancer?", "oncology"),
        ("How is type 2 diabetes treated?", "digestive_kidney_endocrine"),
        ("Is cystic fibrosis inherited?", "genetics_rare_diseases"),
        ("What causes high blood pressure?", "heart_lung_blood"),
        ("Can I take ibuprofen with warfarin?", "medicines_supplements"),
        ("How is tuberculosis spread?", "infectious_disease"),
        ("How can older adults prevent falls?", "healthy_ageing"),
    ],
)
def test_routing_of_fixed_questions(question: str, expert: str) -> None:
    selection = load_registry().select(question)
    assert selection.agent.id == expert, selection.ranking[:3]
    assert selection.ranking[0]["agent_id"] == expert
    assert abs(sum(r["score"] for r in selection.ranking) - 1.0) < 0.01


def test_no_match_falls_back_and_says_so() -> None:
    selection = load_registry().select("zzzz")
    assert "fell back" in selection.reason


def test_unknown_agent_names_the_known_ones() -> None:
    with pytest.raises(
        UnknownAgentError, match="unknown agent 'x'; known agents: digestive_kidney_endocrine, "
    ):
        load_registry().get("x")


def test_registry_file_errors(tmp_path: Path) -> None:
    path = tmp_path / "agents.json"
    path.write_text(json.dumps({"agents": [{"id": "a", "name": "A"}]}))
    with pytest.raises(ValueError, match=r"agents\[0\] lacks description"):
        AgentRegistry.from_file(path)
    path.write_text(json.dumps({"agents": [{"id": "a", "name": "A", "description": "d"}] * 2}))
    with pytest.raises(ValueError, match="duplicate agent id 'a'"):
        AgentRegistry.from_file(path)
