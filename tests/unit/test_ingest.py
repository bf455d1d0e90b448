"""Ingest: a corpus is checked before anything is written; an index is all or nothing."""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from pathlib import Path

import pytest

from parallel_tiers.services import index as index_module
from parallel_tiers.services.corpus import (
    MAX_FIELD_CHARS,
    MAX_PROBLEMS_SHOWN,
    split_text,
    unwrap_lines,
)
from parallel_tiers.services.retrieval import (
    INDEX_FORMAT,
    MAX_PASSAGE_CHARS,
    BM25Retriever,
    CorpusError,
    IndexIntegrityError,
    ingest,
    read_corpus,
)

GOUT = {"id": "gout", "title": "Gout", "source": "s", "text": "Gout causes sudden joint pain."}
ASTHMA = {"id": "asthma", "title": "Asthma", "source": "s", "text": "Asthma narrows airways."}
STROKE = {"id": "stroke", "title": "Stroke", "source": "s", "text": "Stroke signs: face droop."}


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def build(tmp_path: Path, rows: list[dict], name: str = "idx") -> Path:
    corpus = write_jsonl(tmp_path / f"{name}.jsonl", rows)
    ingest(corpus, tmp_path / name)
    return tmp_path / name


def live(index: Path) -> Path:
    """The version folder `CURRENT` names."""
    return index / (index / "CURRENT").read_text().strip()


def ids(index: Path, query: str) -> list[str]:
    return [d.metadata["id"] for d in BM25Retriever.load(index).invoke(query)]


def refused(index: Path, detail: str) -> str:
    """Load `index`, expecting one IndexIntegrityError naming it, `detail` and the rebuild."""
    with pytest.raises(IndexIntegrityError) as caught:
        BM25Retriever.load(index)
    message = str(caught.value)
    assert message.startswith(f"index_path: {index} ")
    assert detail in message, message
    assert message.endswith(f"rebuild it with `parallel-tiers ingest CORPUS --index {index}`")
    assert isinstance(caught.value, ValueError) and caught.value.folder == str(index)
    return message


# ---------------------------------------------------------------------------------- layout


def test_a_build_is_a_version_folder_named_by_current(tmp_path: Path) -> None:
    index = build(tmp_path, [GOUT, ASTHMA])
    version = live(index)
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["format"] == INDEX_FORMAT == 3 and manifest["build"] == version.name
    assert manifest["passages"] == 2
    assert set(manifest["files"]) >= {"records.jsonl", "bm25/params.index.json"}
    for rel, entry in manifest["files"].items():
        assert (version / rel).stat().st_size == entry["size"] and len(entry["sha256"]) == 64
    assert sorted(p.name for p in index.iterdir()) == [".lock", "CURRENT", version.name]


def test_a_new_build_replaces_the_old_and_removes_it(tmp_path: Path) -> None:
    index = build(tmp_path, [GOUT, ASTHMA])
    old = live(index)
    report = ingest(write_jsonl(tmp_path / "new.jsonl", [STROKE]), index)
    assert report["passages"] == 1 and report["build"] == live(index).name != old.name
    assert not old.exists() and ids(index, "stroke face") == ["stroke"]
    assert sorted(p.name for p in index.iterdir()) == [".lock", "CURRENT", report["build"]]


def test_a_failed_build_leaves_the_old_index_and_no_leftovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = build(tmp_path, [GOUT, ASTHMA])
    new = write_jsonl(tmp_path / "new.jsonl", [STROKE])

    def killed_midway(self: BM25Retriever, folder: Path) -> None:
        self.index.save(str(folder / "bm25"))  # half the files written, then "killed"
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(BM25Retriever, "_write", killed_midway)
        with pytest.raises(KeyboardInterrupt):
            ingest(new, index)
    assert ids(index, "joint pain") == ["gout"]  # the old index is untouched
    assert not list(index.glob(".tmp-*"))  # and the unfinished build removed
    # What a killed ingest leaves (it cannot clean up) goes with the next ingest.
    stale = index / ".tmp-0123456789abcdef"
    shutil.copytree(live(index), stale)
    (index / ".CURRENT.tmp-0123456789abcdef").write_text("v-x")
    ingest(new, index)
    assert sorted(p.name for p in index.iterdir()) == [".lock", "CURRENT", live(index).name]
    assert ids(index, "stroke face") == ["stroke"]


def test_an_index_of_the_older_flat_layout_is_refused_then_replaced(tmp_path: Path) -> None:
    index = build(tmp_path, [GOUT, ASTHMA])
    flat = tmp_path / "flat"
    shutil.copytree(live(index), flat)  # the format-2 layout: the files right in the folder
    manifest = json.loads((flat / "manifest.json").read_text())
    (flat / "manifest.json").write_text(json.dumps({**manifest, "format": 2}))
    (flat / "notes.txt").write_text("mine")
    refused(flat, "was built by an older version (index format 2; this version reads format 3)")
    ingest(tmp_path / "idx.jsonl", flat)
    assert ids(flat, "joint pain") == ["gout"]
    names = {p.name for p in flat.iterdir()}
    assert names == {".lock", "CURRENT", live(flat).name, "notes.txt"}  # not the user's file


def test_a_copied_index_or_version_folder_loads(tmp_path: Path) -> None:
    index = build(tmp_path, [GOUT, ASTHMA])
    shutil.copytree(index, tmp_path / "copy")
    shutil.copytree(live(index), tmp_path / "version")
    assert ids(tmp_path / "copy", "joint pain") == ids(tmp_path / "version", "joint pain")


def test_a_file_as_index_folder_is_refused_before_reading(tmp_path: Path) -> None:
    (tmp_path / "idx").write_text("not a folder")
    with pytest.raises(NotADirectoryError, match="idx exists and is not a folder"):
        ingest(tmp_path / "missing.jsonl", tmp_path / "idx")


def test_no_index_at_all_says_how_to_build_one(tmp_path: Path) -> None:
    for folder in (tmp_path / "missing", tmp_path):
        with pytest.raises(FileNotFoundError, match=r"is not an index.*parallel-tiers ingest"):
            BM25Retriever.load(folder)


def test_a_load_racing_a_new_build_reads_the_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = build(tmp_path, [GOUT, ASTHMA])
    new = write_jsonl(tmp_path / "new.jsonl", [STROKE])
    real = index_module.verified_version
    calls = []

    def swapped_after_check(target: Path) -> tuple[Path, dict]:
        checked = real(target)
        calls.append(checked[0].name)
        if len(calls) == 1:  # an ingest replaces (and removes) the version being read
            ingest(new, index)
        return checked

    monkeypatch.setattr(index_module, "verified_version", swapped_after_check)
    assert [d.metadata["id"] for d in BM25Retriever.load(index).invoke("stroke face")] == ["stroke"]
    assert len(calls) == 2 and calls[0] != calls[1]


# ---------------------------------------------------------------------------------- damage


@pytest.fixture
def medium(tmp_path: Path) -> Path:
    """An index of 300 passages, so that matrices have room for bit flips."""
    rng = random.Random(7)
    words = [f"w{i}" for i in range(400)]
    rows = [
        {"id": f"p{i}", "title": f"Topic {i}", "text": " ".join(rng.choices(words, k=60))}
        for i in range(300)
    ]
    return build(tmp_path, rows)


@pytest.mark.parametrize("at_line_end", [False, True])
def test_truncated_records_are_refused(medium: Path, at_line_end: bool) -> None:
    # Cut mid-line, the old loader raised a JSONDecodeError; cut at a line end, it loaded
    # and every search then failed with an IndexError.
    records = live(medium) / "records.jsonl"
    data = records.read_bytes()
    cut = data.index(b"\n", len(data) // 2) + 1 if at_line_end else len(data) // 2
    records.write_bytes(data[:cut])
    refused(medium, "is damaged: records.jsonl has")


def test_empty_records_are_refused(medium: Path) -> None:
    (live(medium) / "records.jsonl").write_bytes(b"")
    refused(medium, "records.jsonl has 0 bytes, its manifest says")


def test_bit_flips_in_the_matrices_are_refused(medium: Path) -> None:
    rng = random.Random(1)
    for name in ("data.csc.index.npy", "indices.csc.index.npy"):
        path = live(medium) / "bm25" / name
        data = bytearray(path.read_bytes())
        header = 128  # .npy header: the flips hit the numbers, so numpy still loads the file
        for _ in range((len(data) - header) // 100):  # 1% of the bytes, one bit each
            data[rng.randrange(header, len(data))] ^= 1 << rng.randrange(8)
        path.write_bytes(bytes(data))
    refused(medium, "bm25/data.csc.index.npy does not match its checksum")


def test_a_folder_mixing_two_builds_is_refused(tmp_path: Path, medium: Path) -> None:
    other = build(tmp_path, [GOUT, ASTHMA, STROKE], name="other")
    for name in ("bm25", "bm25_title"):  # new matrices, old records and manifest
        shutil.rmtree(live(medium) / name)
        shutil.copytree(live(other) / name, live(medium) / name)
    refused(medium, "is damaged: bm25/data.csc.index.npy has")


def test_a_file_of_another_build_is_refused(medium: Path) -> None:
    (live(medium) / "bm25" / "nonoccurrence_array.index.npy").write_bytes(b"\x93NUMPY")
    refused(medium, "bm25/nonoccurrence_array.index.npy is not part of this build")


def test_a_missing_file_is_refused(medium: Path) -> None:
    (live(medium) / "bm25_title" / "vocab.index.json").unlink()
    refused(medium, "is incomplete: bm25_title/vocab.index.json is missing")


def test_a_manifest_that_is_not_json_is_refused(medium: Path) -> None:
    manifest = live(medium) / "manifest.json"
    manifest.write_text(manifest.read_text()[:-40])
    refused(medium, "is damaged: manifest.json is not valid JSON")


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"passages": 299}, "its manifest counts 299 passages, its records and indexes 300"),
        ({"passages": "300"}, "manifest.json has no passage count"),
        ({"files": {}}, "manifest.json lists no files"),
        ({"files": {"../../etc/passwd": {"size": 1, "sha256": "0" * 64}}}, "is invalid"),
        ({"format": 99}, "was built by another version (index format 99"),
    ],
)
def test_a_manifest_that_disagrees_is_refused(medium: Path, change: dict, detail: str) -> None:
    path = live(medium) / "manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
    refused(medium, detail)


def test_a_current_naming_nothing_is_refused(medium: Path) -> None:
    (medium / "CURRENT").write_text("../elsewhere\n")
    refused(medium, "is damaged: CURRENT names no version folder")
    (medium / "CURRENT").write_text("v-20260101T000000Z-00000000\n")
    refused(medium, "is incomplete: CURRENT names v-20260101T000000Z-00000000, missing")


def test_checking_stays_quick(medium: Path) -> None:
    start = time.perf_counter()
    index_module.verified_version(medium)
    assert time.perf_counter() - start < 0.5


# ---------------------------------------------------------------------------------- corpus lines


def test_every_bad_line_is_reported_with_its_real_number(tmp_path: Path) -> None:
    corpus = tmp_path / "c.jsonl"
    lines = [
        json.dumps(GOUT),
        "",  # blank lines count in the numbering
        "   ",
        '{"id": "a", "text": "unterminated}',
        '["a", "list"]',
        "42",
        '"a string"',
        json.dumps({"title": "no id", "text": "x"}),
        json.dumps({"id": "b", "title": "no text"}),
        json.dumps({"id": "c", "text": ["not", "a", "string"]}),
        json.dumps({"id": "d", "content": None}),
        json.dumps({"id": {"nested": 1}, "text": "x"}),
        json.dumps({"id": "e", "text": "x", "title": ["t"]}),
        json.dumps({"id": "f", "text": "x", "title": "T" * (MAX_FIELD_CHARS + 1)}),
        "[" * 100_000,
        json.dumps(ASTHMA),
    ]
    corpus.write_bytes(("\n".join(lines) + "\n").encode() + b'{"id": "g", "text": "\xff"}\n')
    with pytest.raises(CorpusError) as caught:
        ingest(corpus, tmp_path / "idx")
    assert caught.value.problems == [
        "line 4: invalid JSON (Unterminated string starting at column 21)",
        "line 5: a list, expected an object with 'id' and 'text'",
        "line 6: a number, expected an object with 'id' and 'text'",
        "line 7: a string, expected an object with 'id' and 'text'",
        "line 8: missing 'id'",
        "line 9: missing 'text' (or 'content')",
        "line 10: 'text' is a list, expected a string",
        "line 11: 'content' is null, expected a string",
        "line 12: 'id' is an object, expected a string",
        "line 13: 'title' is a list, expected a string",
        f"line 14: 'title' has {MAX_FIELD_CHARS + 1:,} characters (limit {MAX_FIELD_CHARS:,})",
        "line 15: invalid JSON (nested too deeply)",
        "line 17: not UTF-8 text (byte 22 of the line)",
    ]
    message = str(caught.value)
    assert message.startswith(f"corpus: {corpus} has 13 problems: line 4: invalid JSON")
    assert message.endswith("; fix them and ingest again")
    assert "\n" not in message
    assert not (tmp_path / "idx").exists()  # nothing written


def test_at_most_twenty_problems_are_shown(tmp_path: Path) -> None:
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("[]\n" * 45)
    with pytest.raises(CorpusError) as caught:
        read_corpus(corpus)
    assert len(caught.value.problems) == 45 and MAX_PROBLEMS_SHOWN == 20
    message = str(caught.value)
    assert "line 20: a list" in message and "line 21:" not in message
    assert "; ... and 25 more; fix them" in message


def test_a_bad_corpus_leaves_the_existing_index_alone(tmp_path: Path) -> None:
    index = build(tmp_path, [GOUT, ASTHMA])
    before = sorted(p.name for p in index.iterdir())
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(STROKE) + "\n[1]\n")
    with pytest.raises(CorpusError, match="line 2: a list"):
        ingest(bad, index)
    assert sorted(p.name for p in index.iterdir()) == before
    assert ids(index, "joint pain") == ["gout"]


def test_byte_order_mark_and_crlf_are_fine(tmp_path: Path) -> None:
    corpus = tmp_path / "c.jsonl"
    corpus.write_bytes(b"\xef\xbb\xbf" + f"{json.dumps(GOUT)}\r\n{json.dumps(ASTHMA)}\r\n".encode())
    assert [r["id"] for r in read_corpus(corpus)] == ["gout", "asthma"]


def test_repeated_ids_are_refused_naming_them(tmp_path: Path) -> None:
    corpus = write_jsonl(
        tmp_path / "c.jsonl",
        [GOUT, {**GOUT, "text": "again"}, ASTHMA, {"id": 7, "text": "x"}, {"id": "7", "text": "y"}],
    )
    with pytest.raises(CorpusError) as caught:
        ingest(corpus, tmp_path / "idx")
    assert caught.value.problems == [
        "line 2: duplicate id 'gout' (first at line 1)",
        "line 5: duplicate id '7' (first at line 4)",
    ]
    assert str(caught.value).endswith(
        "fix them and ingest again (or keep the first passage of each id: `ingest --dedupe`, "
        "`dedupe=True`)"
    )
    assert not (tmp_path / "idx").exists()


def test_dedupe_keeps_the_first_and_reports_the_others(tmp_path: Path) -> None:
    corpus = write_jsonl(tmp_path / "c.jsonl", [GOUT, ASTHMA, {**GOUT, "text": "Other gout."}])
    assert [r["text"] for r in read_corpus(corpus, dedupe=True)] == [GOUT["text"], ASTHMA["text"]]
    report = ingest(corpus, tmp_path / "idx", dedupe=True)
    assert report["passages"] == report["input_passages"] == 2
    assert report["dropped_ids"] == ["gout"]
    assert report["warnings"] == ["dropped line 3: duplicate id 'gout' (kept line 1)"]


def test_empty_corpus_is_refused(tmp_path: Path) -> None:
    (tmp_path / "c.jsonl").write_text("\n\n")
    with pytest.raises(CorpusError, match="has 1 problem: no passages"):
        ingest(tmp_path / "c.jsonl", tmp_path / "idx")
    with pytest.raises(CorpusError, match="no passages"):
        BM25Retriever.from_records([])


def test_in_memory_records_are_checked_too() -> None:
    with pytest.raises(CorpusError) as caught:
        BM25Retriever.from_records([GOUT, ["not", "a", "record"], {"id": "x"}])  # type: ignore[list-item]
    assert caught.value.problems == [
        "records[1]: a list, expected an object with 'id' and 'text'",
        "records[2]: missing 'text' (or 'content')",
    ]


# ---------------------------------------------------------------------------------- folders


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    """A folder corpus, with a secret beside it (outside the folder)."""
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "gout.md").write_text("# Gout\nGout causes sudden joint pain.")
    (folder / "sub" / "asthma.txt").write_text("Asthma narrows the airways.")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.md").write_text("# Secret\npassword hunter2")
    return folder


def test_a_symlink_out_of_the_folder_is_not_followed(tmp_path: Path, docs: Path) -> None:
    (docs / "leak.md").symlink_to(tmp_path / "outside" / "secret.md")
    (docs / "passwd.txt").symlink_to("/etc/passwd")
    (docs / "ext").symlink_to(tmp_path / "outside", target_is_directory=True)
    (docs / "broken.md").symlink_to(docs / "nowhere.md")
    report = ingest(docs, tmp_path / "idx")
    retriever = BM25Retriever.load(tmp_path / "idx")
    assert sorted(r["id"] for r in retriever.records) == ["gout.md", "sub/asthma.txt"]
    assert not retriever.invoke("password hunter2") and not retriever.invoke("root bin bash")
    secret = (tmp_path / "outside" / "secret.md").resolve()
    assert report["skipped"] == [
        "broken.md: symlink to something that is not a regular file",
        "ext: directory symlink",
        f"leak.md: symlink to {secret}, outside the corpus folder",
        "passwd.txt: symlink to /etc/passwd, outside the corpus folder",
    ]
    assert all(w.startswith("skipped ") for w in report["warnings"])


def test_a_symlink_staying_inside_the_folder_is_read(tmp_path: Path, docs: Path) -> None:
    (docs / "alias.md").symlink_to(Path("sub") / "asthma.txt")
    (tmp_path / "docs-link").symlink_to(docs, target_is_directory=True)
    records = read_corpus(tmp_path / "docs-link")  # a corpus given through a link is fine
    assert [r["id"] for r in records] == ["alias.md", "gout.md", "sub/asthma.txt"]
    assert records[0]["text"] == "Asthma narrows the airways."


def test_line_breaks_inside_a_paragraph_are_spaces(docs: Path) -> None:
    (docs / "wrapped.md").write_text(
        "# Router\nHold the reset button\nfor ten seconds.\r\nIt restarts.\n\nSteps:\n"
        "- unplug it\n- wait a\n  minute\n1. plug in\n```\nreset --all\nexit\n```\n"
        "Done\n> quoted\n    code line\n"
    )
    text = {r["id"]: r["text"] for r in read_corpus(docs)}["wrapped.md"]
    assert text == (
        "Hold the reset button for ten seconds. It restarts.\n\nSteps:\n- unplug it\n"
        "- wait a minute\n1. plug in\n```\nreset --all\nexit\n```\nDone\n> quoted\n"
        "    code line"
    )
    assert unwrap_lines("no line break  at all") == "no line break  at all"


def test_a_file_that_is_not_utf8_is_reported(docs: Path) -> None:
    (docs / "latin1.txt").write_bytes(b"caf\xe9")
    with pytest.raises(CorpusError, match=r"latin1\.txt: not UTF-8 text \(byte 4\)"):
        read_corpus(docs)


# ---------------------------------------------------------------------------------- size


def test_an_oversize_passage_is_split_into_parts(tmp_path: Path) -> None:
    paragraph = "Gout causes joint pain. " * 400  # 9,600 characters
    text = "\n\n".join([paragraph.strip()] * 8)  # about 77,000 characters
    corpus = write_jsonl(tmp_path / "c.jsonl", [{**GOUT, "text": text, "url": "u"}, ASTHMA])
    report = ingest(corpus, tmp_path / "idx")
    assert (report["input_passages"], report["split_passages"]) == (2, 1)
    records = BM25Retriever.load(tmp_path / "idx").records
    parts = [r for r in records if r["id"].split("#")[0] == "gout"]
    assert [r["id"] for r in parts] == ["gout", "gout#2", "gout#3"]
    assert report["passages"] == len(records) == 4
    assert all(len(r["text"]) <= MAX_PASSAGE_CHARS for r in parts)
    assert all((r["title"], r["source"], r["url"]) == ("Gout", "s", "u") for r in parts)
    assert " ".join(r["text"] for r in parts).split() == text.split()  # nothing lost
    assert all(r["text"].endswith("pain.") for r in parts)  # cut at paragraph ends
    assert "split 1 passage(s) longer than" in report["warnings"][0]


def test_from_records_splits_the_same_way() -> None:
    text = "word " * 10_000  # 50,000 characters, no sentence end
    retriever = BM25Retriever.from_records([{**GOUT, "text": text}])
    assert [r["id"] for r in retriever.records] == ["gout", "gout#2"]
    assert all(len(r["text"]) <= MAX_PASSAGE_CHARS for r in retriever.records)


@pytest.mark.parametrize(
    ("text", "cuts"),
    [
        ("a" * 25, ["a" * 10, "a" * 10, "a" * 5]),  # no boundary: cut at the limit
        ("aaaa bbbbbbbbb cc", ["aaaa bbbbb", "bbbb cc"]),  # never in the first half
        ("Aa. Bb cc. Dd ee", ["Aa. Bb cc.", "Dd ee"]),  # the last sentence end
        ("Aa bb cc dd. Ee ff gg", ["Aa bb cc", "dd. Ee ff", "gg"]),  # else the last space
        ("Aaaaa\n\nB. Cc dd", ["Aaaaa", "B. Cc dd"]),  # a paragraph beats a sentence
        ("short", ["short"]),
    ],
)
def test_split_text_boundaries(text: str, cuts: list[str]) -> None:
    assert split_text(text, 10) == cuts


def test_split_text_is_linear() -> None:
    text = ("x" * 9_000 + " ") * 1_000  # 9 MB, one space per 9,000 characters
    start = time.perf_counter()
    parts = split_text(text)
    assert time.perf_counter() - start < 2.0
    assert " ".join(parts).split() == text.split()
    assert max(map(len, parts)) <= MAX_PASSAGE_CHARS


def test_index_files_are_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    index = build(tmp_path, [GOUT])
    files = json.loads((live(index) / "manifest.json").read_text())["files"]
    # every file, the manifest, CURRENT, and the folders
    assert len(synced) >= len(files) + 2 + 3
