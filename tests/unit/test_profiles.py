"""Domain profiles: the generic core with the profile off, a profile of your own, the demo on a
non-medical corpus (issue 12, item 1)."""

from __future__ import annotations

import io
import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from parallel_tiers import Context, InvalidInputError, build_mode_graph
from parallel_tiers.cli import ask, main, parser
from parallel_tiers.profiles import GENERIC, Profile, ProfileError, load_profile, medical
from parallel_tiers.services import questions
from parallel_tiers.services.agents import GENERIC_AGENT
from parallel_tiers.services.generation import ExtractiveChatModel
from parallel_tiers.services.quality import QualityScorer, score_answer
from parallel_tiers.services.questions import INFORMATION, QuestionTypes
from parallel_tiers.services.retrieval import BM25Retriever, default_retriever

GOUT = [
    {"id": "g-t", "title": "Gout (treatment)", "source": "s", "text": "Gout is treated with "
     "colchicine, and attacks of gout ease with rest and ice on the joint."},
    {"id": "g-c", "title": "Gout (causes)", "source": "s", "text": "Gout is caused by uric "
     "acid crystals in the joint; gout attacks follow rich meals."},
    {"id": "g-q", "title": "What are the symptoms of Gout ?", "source": "s", "text": "Gout "
     "gives sudden joint pain, most often in the big toe, with redness and swelling."},
]  # fmt: skip

SUPPORT_DOCS = {
    "router-reset.md": """\
        # Resetting the router
        If the router stops responding, hold the reset button on the back for ten seconds
        until the light blinks amber. The router then restarts with its factory settings, so
        the network name and password printed on its label work again. Port forwarding rules
        are cleared by the reset and have to be entered again afterwards.
        """,
    "warranty.md": """\
        # Warranty coverage
        Every router comes with a two-year limited warranty from the date of purchase. The
        warranty covers hardware faults but not damage from power surges, water or drops. To
        claim it, keep the receipt and contact support with the serial number of the router.
        """,
    "firmware.txt": """\
        # Updating the firmware
        New firmware fixes security problems and improves the speed of the wireless network.
        Open the admin page, choose the update tab and upload the firmware file; the router
        restarts by itself when the update is installed. Never unplug it during an update.
        """,
    "returns/refunds.md": """\
        # Returns and refunds
        Unopened products can be returned within thirty days for a full refund. Opened
        products are refunded after an inspection, minus a restocking fee of ten percent.
        Refunds reach the original payment card within five business days.
        """,
}


def body(name: str) -> str:
    """A document's text without its heading, on one line."""
    return " ".join(textwrap.dedent(SUPPORT_DOCS[name]).split("\n", 1)[1].split())


def write_support_folder(root: Path) -> Path:
    for name, text in SUPPORT_DOCS.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


# ------------------------------------------------------------------------------ profile off


def test_the_profile_off_knows_no_question_types() -> None:
    qt = load_profile("none").questions
    assert load_profile("none") is GENERIC and qt == QuestionTypes() and not qt.type_names
    for question in ("How is gout treated?", "What are the symptoms of gout?", "What is gout?"):
        assert qt.analyse_question(question).types == {INFORMATION: 1.0}
        assert questions.asked_type(qt.analyse_question(question)) is None
    assert qt.focus_words("How is it treated?") == ["treated"]  # no cue to leave out
    assert qt.analyse_question("What are the treatments for gout?").focus_terms == (
        qt.analyse_question("What are the treatments for gout?").terms
    )
    for title in ("Gout (treatment)", "What are the treatments for Gout ?", "What is gout?"):
        assert qt.section_of_title(title)[0] is None
        assert qt.section_of("treatment", title) is None  # a record's own section too
    assert not qt.addresses("Gout is treated with colchicine.", "treatment")
    assert not qt.speaks_to("Gout is treated with colchicine.", ["treatment"])
    assert qt.empty_words == frozenset()


def test_the_medical_profile_holds_what_the_module_functions_use() -> None:
    qt = medical.QUESTIONS
    assert load_profile("medical") is medical.PROFILE and medical.PROFILE.questions is qt
    assert "treatment" in qt.type_names and INFORMATION in qt.type_names
    for text in ("How is gout treated?", "Is familial dysautonomia inherited?", "What is gout?"):
        assert questions.analyse_question(text) == qt.analyse_question(text)
        assert questions.focus_words(text) == qt.focus_words(text)
    assert questions.section_of_title("Gout (treatment)") == qt.section_of_title("Gout (treatment)")
    assert qt.filler <= qt.empty_words and "diseas" in qt.filler


def test_the_profile_off_gives_no_section_bonus() -> None:
    off = BM25Retriever.from_records(GOUT, questions=GENERIC.questions)
    assert [r["section"] for r in off.records] == [None, None, None]
    on = BM25Retriever.from_records(GOUT, questions=medical.QUESTIONS)
    assert [r["section"] for r in on.records] == ["treatment", "causes", "symptoms"]
    query = "How is gout treated?"
    assert on.search(query, 1)[0].metadata["id"] == "g-t"
    # the medical index read with the profile off: its recorded sections get no bonus
    read_off = BM25Retriever(
        index=on.index, title_index=on.title_index, records=on.records, questions=QuestionTypes()
    )
    no_bonus = on.model_copy(update={"section_weight": 0.0})
    assert np.allclose(read_off.scores(query), no_bonus.scores(query))
    assert not np.allclose(on.scores(query), no_bonus.scores(query))


def test_the_profile_off_needs_an_index_and_has_one_general_expert() -> None:
    ctx = Context(profile="none")
    with pytest.raises(ValueError, match="bundles no knowledge base"):
        _ = ctx.services
    with pytest.raises(ValueError, match="bundles no knowledge base"):
        default_retriever(None, "none")


async def test_an_unknown_profile_or_a_missing_index_is_refused_naming_the_setting() -> None:
    graph = build_mode_graph(2)
    with pytest.raises(InvalidInputError, match=r"context\.profile: unknown profile 'legal'"):
        await graph.ainvoke({"query": "What is gout?"}, context=Context(profile="legal"))
    with pytest.raises(InvalidInputError, match=r"context\.profile: expected a profile name"):
        await graph.ainvoke({"query": "What is gout?"}, context=Context(profile=3))
    with pytest.raises(InvalidInputError, match=r"context\.index_path: the profile 'none' bundles"):
        await graph.ainvoke({"query": "What is gout?"}, context=Context(profile="none"))


def test_the_environment_chooses_the_default_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARALLEL_TIERS_PROFILE", "none")
    assert load_profile() is GENERIC and questions.section_of_title("Gout (treatment)")[0] is None
    assert ExtractiveChatModel().questions == QuestionTypes()
    assert QualityScorer().questions == QuestionTypes()
    monkeypatch.setenv("PARALLEL_TIERS_PROFILE", "nosuch")
    with pytest.raises(ProfileError, match="'nosuch' \\(from PARALLEL_TIERS_PROFILE\\)"):
        load_profile()


# ------------------------------------------------------------------------------ your own


SUPPORT_TYPES = QuestionTypes(
    types=(
        ("warranty", r"\bwarrant(?:y|ies)\b|\bguarantee\b"),
        ("troubleshooting", r"\breset\b|\bnot working\b|\bstops? responding\b|\bfix\b"),
    ),
    answer_cues={"warranty": r"\bwarrant\w*|\bcover\w*", "troubleshooting": r"\breset\b|\bhold\b"},
    type_words={"warranti", "troubleshoot"},
)


def support_profile(root: Path) -> Profile:
    rows = [
        {"id": "reset", "title": "Router (troubleshooting)", "source": "support-site",
         "text": body("router-reset.md")},
        {"id": "warranty", "title": "Router (warranty)", "source": "legal-site",
         "text": body("warranty.md")},
    ]  # fmt: skip
    kb = root / "kb.jsonl"
    kb.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    agents = root / "agents.json"
    agents.write_text(
        json.dumps(
            {
                "default_agent": "support",
                "agents": [
                    {
                        "id": "support",
                        "name": "Support",
                        "description": "Device help.",
                        "sources": ["support-site"],
                        "allowed_tools": ["calculator"],
                    },
                    {
                        "id": "legal",
                        "name": "Legal",
                        "description": "Contract terms.",
                        "sources": ["legal-site"],
                        "allowed_tools": [],
                    },
                ],
            }
        ),
        encoding="utf-8",
    )
    return Profile(name="support", questions=SUPPORT_TYPES, agents=agents, knowledge_base=kb)


async def test_a_profile_of_your_own_is_used_by_every_default_service(tmp_path: Path) -> None:
    profile = support_profile(tmp_path)
    ctx = Context(profile=profile)
    services = ctx.services
    assert services.profile is profile
    assert services.agents.ids == ["legal", "support"]
    assert {r["id"]: r["section"] for r in services.retriever.records} == {
        "reset": "troubleshooting",
        "warranty": "warranty",
    }
    assert services.retriever.questions is SUPPORT_TYPES
    assert services.quality.questions is SUPPORT_TYPES
    assert isinstance(services.model, ExtractiveChatModel)
    assert services.model.questions is SUPPORT_TYPES

    result = await build_mode_graph(2).ainvoke(
        {"query": "Is water damage covered by the warranty?"}, context=ctx
    )
    assert result["rag_results"][0]["id"] == "warranty"
    assert result["selected_agent"]["id"] == "legal"  # owns the top passage's source
    assert result["metadata"]["settings"]["profile"] == "support"
    assert result["quality_metrics"]["aspect"] == "warranty"
    assert result["quality_metrics"]["aspect_addressed"] is True
    assert result["citations"] and all(c["supported"] for c in result["citations"])

    # the same question asked for a section of the user's types, scored by them
    _, metrics = score_answer(
        "How do I reset the router?", "The warranty lasts two years [1].", result["rag_results"]
    )
    assert metrics["aspect"] is None  # the default (medical) types know no "troubleshooting"
    _, own = score_answer(
        "How do I reset the router?",
        "The warranty lasts two years [1].",
        result["rag_results"],
        SUPPORT_TYPES,
    )
    assert own["aspect"] == "troubleshooting" and own["aspect_addressed"] is False


def test_a_profile_module_is_named_by_its_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my_profiles").mkdir()
    (tmp_path / "my_profiles" / "__init__.py").write_text("")
    module = tmp_path / "my_profiles" / "support.py"
    module.write_text(
        "from parallel_tiers.profiles import Profile\n"
        "from parallel_tiers.services.questions import QuestionTypes\n"
        "PROFILE = Profile(name='mine', questions=QuestionTypes(types=(('x', r'\\bx\\b'),)))\n"
        "OTHER = 3\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert load_profile("my_profiles.support").name == "mine"
        assert load_profile("my_profiles.support:PROFILE").questions.type_names == {"x"}
        with pytest.raises(ProfileError, match="is a int, expected a Profile"):
            load_profile("my_profiles.support:OTHER")
        with pytest.raises(ProfileError, match="cannot import profile module"):
            load_profile("no_such_module.profile")
        with pytest.raises(ProfileError, match="unknown profile 'my_profiles'"):
            load_profile("my_profiles")  # a bare name is a built-in one or nothing
    finally:
        sys.modules.pop("my_profiles.support", None)
        sys.modules.pop("my_profiles", None)


# ------------------------------------------------------------------------------ the demo


async def test_the_demo_on_a_support_folder_with_the_profile_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`parallel-tiers ingest FOLDER` then `ask`, PARALLEL_TIERS_PROFILE=none: no medicine."""
    monkeypatch.setenv("PARALLEL_TIERS_PROFILE", "none")
    monkeypatch.setenv("PARALLEL_TIERS_HOME", str(tmp_path / "home"))
    folder = write_support_folder(tmp_path / "support")
    index = tmp_path / "index"
    assert main(["ingest", str(folder), "--index", str(index)]) == 0
    assert "indexed 4 passages" in capsys.readouterr().out
    manifest_files = list(index.glob("*/manifest.json"))
    assert [json.loads(m.read_text())["profile"] for m in manifest_files] == ["none"]
    loaded = BM25Retriever.load(index)
    assert loaded.questions == QuestionTypes()
    assert all(r["section"] is None for r in loaded.records)

    out = io.StringIO()
    args = parser().parse_args(
        ["ask", "How do I reset my router?", "--mode", "2", "--index", str(index), "--json"]
    )
    code = await ask(args, out, io.StringIO())
    result = json.loads(out.getvalue())
    assert code == 0 and not result.get("error")
    assert result["metadata"]["settings"]["profile"] == "none"
    # a cited answer from the right document, every citation checked against its passage
    assert result["rag_results"][0]["id"] == "router-reset.md"
    # hard-wrapped lines read as the sentences they are: each quote is a whole sentence
    assert result["response"].startswith(
        "If the router stops responding, hold the reset button on the back for ten seconds "
        "until the light blinks amber [1]."
    )
    assert result["citations"] and all(c["supported"] for c in result["citations"])
    assert {c["document_id"] for c in result["citations"]} == {"router-reset.md"}
    # quality scored, with no medical aspect read into the question
    assert result["quality_score"] is not None and result["quality_score"] >= 0.8
    assert result["quality_metrics"]["aspect"] is None
    assert result["quality_metrics"]["groundedness"] == 1.0
    # no medical expert: the profile's single general one
    assert result["selected_agent"]["id"] == GENERIC_AGENT.id
    assert not result["metadata"]["parallel_tier1"]["failed_tasks"]
    assert not result["metadata"]["parallel_tier2"]["failed_tasks"]
