"""`python -m evals.medquad ... --half A|B`: the split by topic of the README's held-out half."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from evals.medquad import (
    HALVES,
    load_conversations,
    load_queries,
    main,
    question_half,
    topic_half,
)

ROOT = Path(__file__).resolve().parents[2]
MEDQUAD = ROOT.parent / "shared" / "data" / "medquad"
TOPICS = ["Asthma", "Gout", "Marfan syndrome", "Stroke", "Lupus", "Anemia", "Glaucoma", "Acne"]


def _questions(topics: list[str]) -> list[dict]:
    return [
        {"query": f"What are the {kind} of {topic} ?", "focus": topic, "relevant": [f"{topic}_{n}"]}
        for n, kind in enumerate(("symptoms", "treatments", "causes"))
        for topic in topics
    ]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_a_topic_has_one_half_whatever_its_case_and_spaces() -> None:
    for topic in TOPICS:
        half = topic_half(topic)
        assert half in HALVES
        assert topic_half(f"  {topic.upper()} ") == topic_half(topic.lower()) == half


def test_the_hash_is_md5_of_the_stripped_lower_cased_focus() -> None:
    # Fixed values: the split must not change between runs, processes or Python versions.
    assert topic_half("") == "A"  # md5 d41d8cd98f00b204e9800998ecf8427e: 0x7e is even
    assert topic_half("Asthma") == "A"  # md5("asthma") ends in 0a
    assert topic_half("Marfan syndrome") == "B"  # md5("marfan syndrome") ends in f9
    assert "".join(map(topic_half, TOPICS)) == "AABABBAB"


def test_the_halves_are_disjoint_cover_all_and_keep_a_topic_together(tmp_path: Path) -> None:
    rows = _questions(TOPICS)
    path = _write(tmp_path / "q.jsonl", rows)
    every = load_queries(path)
    a, b = load_queries(path, half="A"), load_queries(path, half="B")
    assert a and b
    key = json.dumps
    assert not {key(r) for r in a} & {key(r) for r in b}
    assert sorted(map(key, a + b)) == sorted(map(key, every))
    for half, rows_of_half in (("A", a), ("B", b)):
        assert {question_half(r) for r in rows_of_half} == {half}
    topics_a, topics_b = {r["focus"] for r in a}, {r["focus"] for r in b}
    assert not topics_a & topics_b
    assert all(n == 3 for n in Counter(r["focus"] for r in a).values()), "all 3 of a topic"
    # --limit counts the questions of the half.
    assert load_queries(path, limit=2, half="B") == b[:2]


def test_a_conversation_goes_with_its_first_turn(tmp_path: Path) -> None:
    turns = _questions(TOPICS)
    conversations = [
        {"id": f"c{n}", "turns": [first, second]}
        for n, (first, second) in enumerate(zip(turns, reversed(turns), strict=True))
    ]
    path = _write(tmp_path / "c.jsonl", conversations)
    for half in HALVES:
        kept = load_conversations(path, half=half)
        assert [c["id"] for c in kept] == [
            c["id"] for c in conversations if topic_half(c["turns"][0]["focus"]) == half
        ]
    assert len(load_conversations(path, half="A")) + len(load_conversations(path, half="B")) == (
        len(conversations)
    )


def test_an_unknown_half_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "q.jsonl", _questions(TOPICS[:1]))
    with pytest.raises(ValueError, match="half must be one of A, B"):
        load_queries(path, half="C")


def test_the_command_reports_its_half(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path / "q.jsonl", _questions(TOPICS))
    assert main(["routing", "--queries", str(path), "--half", "B", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["half"] == "B"
    assert report["questions"] == len(load_queries(path, half="B"))


@pytest.mark.skipif(
    not (MEDQUAD / "dev_queries.jsonl").is_file(), reason="MedQuAD data not found at ../shared"
)
def test_the_readme_split_of_medquad() -> None:
    """4,090 / 4,113 of the 8,203 dev questions, as the README's held-out half states."""
    rows = load_queries(MEDQUAD / "dev_queries.jsonl")
    halves = Counter(question_half(r) for r in rows)
    assert (len(rows), halves["A"], halves["B"]) == (8203, 4090, 4113)
    sides: dict[str, set[str]] = {}
    for r in rows:
        sides.setdefault(str(r.get("focus") or "").strip().lower(), set()).add(question_half(r))
    assert all(len(s) == 1 for s in sides.values()), "a topic on both sides"
