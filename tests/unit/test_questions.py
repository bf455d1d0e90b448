"""Question analysis: types asked for, focus words, and the sections titles declare."""

from __future__ import annotations

import pytest

from parallel_tiers.services.questions import (
    INFORMATION,
    analyse_question,
    focus_terms_of_title,
    section_of_title,
    speaks_to,
)
from parallel_tiers.services.text import tokenize


@pytest.mark.parametrize(
    ("question", "asked"),
    [
        ("What are the symptoms of gout?", "symptoms"),
        ("What are the first signs of Parkinson's disease?", "symptoms"),
        ("How is celiac disease diagnosed?", "exams and tests"),
        ("Is there a cure for psoriasis?", "treatment"),
        ("Is familial dysautonomia inherited?", "inheritance"),
        ("Does diabetes run in families?", "inheritance"),
        ("How common is cystic fibrosis?", "frequency"),
        ("What causes restless legs?", "causes"),
        ("Who is at risk for shingles?", "susceptibility"),
        ("What is the prognosis of ALS?", "outlook"),
        ("How can I prevent kidney stones?", "prevention"),
        ("What are the side effects of amlodipine?", "side effects"),
        ("What is gout?", INFORMATION),
        ("gout", INFORMATION),
        ("Tell me about lupus", INFORMATION),
    ],
)
def test_question_types(question: str, asked: str) -> None:
    types = analyse_question(question).types
    assert max(types, key=lambda t: types[t]) == asked
    assert types[asked] == 1.0


def test_focus_leaves_out_type_cues_and_boilerplate() -> None:
    analysis = analyse_question("What are the treatments for Paget disease of bone ?")
    assert analysis.focus_terms == tokenize("Paget disease bone")
    assert "treatment" in analysis.terms
    research = analyse_question("what research (or clinical trials) is being done for Dystonia ?")
    assert research.types == {"research": 1.0}
    assert research.focus_terms == tokenize("Dystonia")
    # nothing left once the cues are removed: the focus is every content word
    assert analyse_question("symptoms?").focus_terms == tokenize("symptoms")


def test_the_asking_sentence_carries_the_intent() -> None:
    analysis = analyse_question(
        "My daughter was diagnosed with Beckwith-Wiedemann syndrome. What symptoms should we "
        "expect?"
    )
    assert analysis.types == {"symptoms": 1.0, "exams and tests": 0.5}
    # a cue inside the focus stays secondary to the opening frame
    assert analyse_question("What is a blood count test?").types == {
        INFORMATION: 1.0,
        "exams and tests": 0.5,
    }


@pytest.mark.parametrize(
    ("title", "section", "focus"),
    [
        ("Gout (treatment)", "treatment", "gout"),
        ("Paget disease of bone (exams and tests)", "exams and tests", "Paget disease of bone"),
        ("What are the symptoms of Sinusitis ?", "symptoms", "Sinusitis"),
        ("Do you have information about Dental Health", INFORMATION, "Dental Health"),
        ("What is (are) Appendicitis ?", INFORMATION, "Appendicitis"),
        ("Stroke signs and symptoms", None, "Stroke signs and symptoms"),  # a topic, not a section
        ("Diabetes (the disease)", None, "Diabetes disease"),  # not a known section label
    ],
)
def test_section_of_title(title: str, section: str | None, focus: str) -> None:
    assert section_of_title(title)[0] == section
    assert focus_terms_of_title(title) == tokenize(focus)


def test_speaks_to() -> None:
    assert speaks_to("Attacks are treated with triptans.", ["treatment"])
    assert not speaks_to("Attacks come with nausea.", ["treatment"])
    assert not speaks_to("Attacks are treated with triptans.", ["unknown type"])
