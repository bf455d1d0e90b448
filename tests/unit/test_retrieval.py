"""The default BM25 retriever: demo knowledge base, ingestion, persisted index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from parallel_tiers.services.retrieval import (
    INDEX_FORMAT,
    BM25Retriever,
    default_retriever,
    demo_records,
    ingest,
    read_corpus,
)


def test_demo_knowledge_base_is_realistic() -> None:
    records = demo_records()
    assert len(records) >= 60
    assert len({r["id"] for r in records}) == len(records)
    assert all(r["title"] and r["source"] and len(r["text"].split()) >= 40 for r in records)


@pytest.mark.parametrize(
    ("query", "expected_word"),
    [
        ("What are the warning signs of a stroke?", "stroke"),
        ("How is chronic kidney disease diagnosed?", "kidney"),
        ("Who should be screened for colorectal cancer?", "colorectal"),
        ("Can I take ibuprofen with high blood pressure?", "ibuprofen"),
    ],
)
async def test_demo_retrieval_finds_the_topic(query: str, expected_word: str) -> None:
    docs = await default_retriever().ainvoke(query)
    assert docs and expected_word in (docs[0].metadata["title"] + docs[0].page_content).lower()
    assert docs[0].metadata["score"] >= docs[-1].metadata["score"] > 0


async def test_no_match_returns_nothing() -> None:
    assert await default_retriever().ainvoke("zzzz qqqq") == []


def test_ingest_jsonl_and_load(tmp_path: Path) -> None:
    corpus = tmp_path / "c.jsonl"
    rows = [
        {"id": "a", "title": "Gout", "source": "s", "text": "Gout causes joint pain."},
        {"id": "b", "title": "Asthma", "source": "s", "content": "Asthma narrows airways."},
    ]
    corpus.write_text("\n".join(json.dumps(r) for r in rows))
    report = ingest(corpus, tmp_path / "idx")
    assert report["passages"] == 2
    retriever = BM25Retriever.load(tmp_path / "idx")
    docs = retriever.invoke("joint pain")
    assert [d.metadata["id"] for d in docs] == ["a"]


def test_ingest_folder_of_markdown(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "gout.md").write_text("# Gout\nGout causes sudden joint pain.")
    (tmp_path / "docs" / "notes.txt").write_text("Asthma narrows the airways.")
    records = read_corpus(tmp_path / "docs")
    assert {r["title"] for r in records} == {"Gout", "notes"}
    assert records[0]["text"] == "Gout causes sudden joint pain."


def test_bad_corpus_and_index_errors_say_what_to_do(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"title": "no id"}\n')
    with pytest.raises(
        ValueError, match=r"bad\.jsonl has 1 problem: line 1: missing 'id', missing 'text'"
    ):
        read_corpus(bad)
    with pytest.raises(FileNotFoundError, match="parallel-tiers ingest"):
        BM25Retriever.load(tmp_path)


# ---------------------------------------------------------------------------------- ranking

SECTIONED = [
    {"id": "gout-1", "title": "Gout (information)", "source": "s",
     "text": "Gout is a painful form of arthritis caused by uric acid crystals in a joint."},
    {"id": "gout-2", "title": "Gout (treatment)", "source": "s",
     "text": "Attacks are eased with anti-inflammatory medicines; other drugs lower uric acid."},
    {"id": "gout-3", "title": "Gout (symptoms)", "source": "s",
     "text": "A gout attack brings sudden, severe pain, swelling and redness in a joint."},
    {"id": "pseudo-1", "title": "Pseudogout (information)", "source": "s",
     "text": "Pseudogout looks like gout but calcium crystals, not uric acid, cause the pain."},
    {"id": "diet-1", "title": "Eating for healthy joints", "source": "s",
     "text": "Treatment of gout and arthritis often includes diet changes; treatment of gout "
     "flares and gout symptoms needs a doctor. Gout gout gout."},
]  # fmt: skip


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("What are the treatments for gout?", "gout-2"),
        ("How is gout treated?", "gout-2"),
        ("What are the symptoms of gout?", "gout-3"),
        ("What is gout?", "gout-1"),
        ("What is pseudogout?", "pseudo-1"),
    ],
)
def test_title_field_and_question_type_pick_the_section(query: str, expected: str) -> None:
    retriever = BM25Retriever.from_records(SECTIONED)
    docs = retriever.invoke(query)
    assert docs[0].metadata["id"] == expected, [d.metadata["id"] for d in docs]


def test_sections_are_derived_or_taken_from_the_record() -> None:
    records = [*SECTIONED, {"id": "x", "title": "Gout notes", "source": "s", "text": "Gout.",
                            "section": "Treatment"}]  # fmt: skip
    retriever = BM25Retriever.from_records(records)
    sections = {r["id"]: r["section"] for r in retriever.records}
    assert sections["gout-2"] == "treatment" and sections["diet-1"] is None
    assert sections["x"] == "treatment"
    doc = retriever.invoke("gout treatment")[0]
    assert set(doc.metadata) == {"id", "title", "source", "url", "section", "score"}


def test_scores_are_positive_only_for_passages_sharing_a_word() -> None:
    retriever = BM25Retriever.from_records(SECTIONED)
    scores = retriever.scores("What are the treatments for pseudogout?")
    assert scores.shape == (len(SECTIONED),)
    # "treatments" matches gout-2's section and diet-1's text; every gout passage but the
    # pseudogout one shares no word: a section bonus alone never makes a passage eligible
    assert scores[0] == 0.0 and scores[2] == 0.0
    assert scores[3] == scores.max() > 0
    assert len(retriever.invoke("What are the treatments for pseudogout?", k=10)) == 3


def test_index_format_is_checked(tmp_path: Path) -> None:
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("\n".join(json.dumps(r) for r in SECTIONED))
    ingest(corpus, tmp_path / "idx")
    version = tmp_path / "idx" / (tmp_path / "idx" / "CURRENT").read_text().strip()
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["format"] == INDEX_FORMAT == 3
    assert manifest["sections"]["information"] == 2
    loaded = BM25Retriever.load(tmp_path / "idx")
    assert loaded.records == BM25Retriever.from_records(read_corpus(corpus)).records
    assert loaded.invoke("How is gout treated?")[0].metadata["id"] == "gout-2"
    (version / "manifest.json").write_text(json.dumps({**manifest, "format": 2}))
    with pytest.raises(
        ValueError,
        match=r"older version \(index format 2; this version reads "
        r"format 3\); rebuild it with `parallel-tiers ingest CORPUS --index",
    ):
        BM25Retriever.load(tmp_path / "idx")
