"""The default BM25 retriever: demo knowledge base, ingestion, persisted index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from parallel_tiers.services.retrieval import (
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
    with pytest.raises(ValueError, match=r"bad\.jsonl:1: each line needs 'id' and 'text'"):
        read_corpus(bad)
    with pytest.raises(FileNotFoundError, match="parallel-tiers ingest"):
        BM25Retriever.load(tmp_path)
