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


# ---------------------------------------------------------------------------------- sources

SITES = {
    "CancerGov": "oncology",
    "GHR": "genetics_rare_diseases",
    "GARD": "genetics_rare_diseases",
    "NIDDK": "digestive_kidney_endocrine",
    "NINDS": "neurology",
    "NHLBI": "heart_lung_blood",
    "MPlusDrugs": "medicines_supplements",
    "MPlusHerbsSuppls": "medicines_supplements",
    "CDC": "infectious_disease",
    "NIHSeniorHealth": "healthy_ageing",
    "MPlusHealthTopics": "healthy_ageing",
    "ADAM": "healthy_ageing",
}


def test_every_medquad_site_has_one_owner() -> None:
    assert load_registry().source_owners() == SITES


def test_retrieval_evidence_routes_to_the_owner_of_the_sources() -> None:
    registry = load_registry()
    question = "What are the symptoms of Spinocerebellar ataxia 34?"  # no domain word at all
    assert "fell back" in registry.select(question).reason
    evidence = [{"source": "GARD"}, {"source": "NINDS"}, {"source": "GARD"}]
    selection = registry.select(question, evidence=evidence)
    assert selection.agent.id == "genetics_rare_diseases"
    assert "top passages from GARD" in selection.reason
    top = selection.ranking[0]
    # ranks 1 and 3 of 3 (weights 1 + 1/3 of 1 + 1/2 + 1/3)
    assert top["evidence"] == pytest.approx((1 + 1 / 3) / (1 + 1 / 2 + 1 / 3), abs=1e-4)
    assert abs(sum(r["score"] for r in selection.ranking) - 1.0) < 0.01


def test_evidence_outweighs_a_weak_domain_match_but_unowned_evidence_counts_for_nobody() -> None:
    registry = load_registry()
    question = "What is the outlook for a brain tumor in children?"
    assert registry.select(question, evidence=[{"source": "CancerGov"}]).agent.id == "oncology"
    unowned = [{"source": "parallel-tiers demo knowledge base"}] * 3
    assert registry.select(question, evidence=unowned) == registry.select(question)


def test_a_source_has_one_owner_and_sources_are_optional(tmp_path: Path) -> None:
    rows = [
        {"id": "a", "name": "A", "description": "d", "sources": ["S"]},
        {"id": "b", "name": "B", "description": "d", "sources": ["S"]},
    ]
    with pytest.raises(ValueError, match="source 'S' is owned by both 'a' and 'b'"):
        AgentRegistry.from_mapping({"agents": rows})
    path = tmp_path / "agents.json"
    path.write_text(json.dumps({"agents": [{"id": "a", "name": "A", "description": "d"}]}))
    registry = AgentRegistry.from_file(path)
    assert registry.source_owners() == {} and not registry.uses_sources


async def test_automatic_mode_routes_on_the_retrievers_sources() -> None:
    from parallel_tiers import Context, build_mode_graph
    from parallel_tiers.services.retrieval import BM25Retriever
    from tests.fakes import FakeRetriever, doc

    records = [
        {"id": f"GARD_{i}_Sec1", "title": f"Spinocerebellar ataxia {i} (symptoms)",
         "source": "GARD", "text": f"Spinocerebellar ataxia {i} affects balance and gait."}
        for i in (33, 34, 35)
    ]  # fmt: skip
    question = {"query": "What are the symptoms of Spinocerebellar ataxia 34?"}
    ctx = Context(retriever=BM25Retriever.from_records(records))
    out = await build_mode_graph(2).ainvoke(question, context=ctx)
    assert out["selected_agent"]["id"] == "genetics_rare_diseases"
    assert out["selected_agent"]["ranking"][0]["evidence"] == 1.0
    off = await build_mode_graph(2).ainvoke({**question, "enable_rag": False}, context=ctx)
    assert "fell back" in off["selected_agent"]["reason"]
    # another retriever is not called twice: routing uses domain terms only
    fake = FakeRetriever(docs=[doc(1)])
    out = await build_mode_graph(2).ainvoke(question, context=Context(retriever=fake))
    assert "fell back" in out["selected_agent"]["reason"] and fake.behaviour.calls == 1
