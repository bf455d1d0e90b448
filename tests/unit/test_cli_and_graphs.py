"""The command line and the exported graphs load and run offline."""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path

import pytest

from parallel_tiers.cli import ask, main, parser

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", sorted((ROOT / "graphs").glob("*.py")), ids=lambda p: p.stem)
def test_every_exported_graph_loads(path: Path) -> None:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.graph.get_graph(xray=True).nodes


def test_langgraph_json_points_at_the_graphs() -> None:
    config = json.loads((ROOT / "langgraph.json").read_text())
    for name, entry in config["graphs"].items():
        file, _, attr = entry["path"].partition(":")
        assert (ROOT / file).is_file(), name
        assert attr == "graph" and entry["description"]


async def test_ask_prints_a_cited_answer_and_the_timing_table() -> None:
    out, err = io.StringIO(), io.StringIO()
    args = parser().parse_args(["ask", "What are the warning signs of a stroke?"])
    assert await ask(args, out, err) == 0
    text = out.getvalue()
    assert "[1]" in text and "Citations:" in text and "supported" in text
    for branch in (
        "rag_retrieval",
        "tool_suggestion",
        "memory_retrieval",
        "quality_scoring",
        "citation_extraction",
        "cost_tracking",
    ):
        assert branch in text and branch in err.getvalue()  # table and live progress
    assert "tier wall time" in text and "speedup" in text


async def test_ask_json_sequential_with_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARALLEL_TIERS_HOME", str(tmp_path))
    for question in ("What is asthma?", "How is it treated?"):
        out = io.StringIO()
        args = parser().parse_args(
            ["ask", question, "--mode", "4", "--thread", "t1", "--sequential", "--json"]
        )
        assert await ask(args, out, io.StringIO()) == 0
    result = json.loads(out.getvalue())
    assert result["metadata"]["parallel_tier1"]["execution"] == "sequential"
    assert [m["type"] for m in result["messages"]] == ["human", "ai", "human", "ai"]
    assert (tmp_path / "checkpoints.sqlite").is_file()


CLI_ERRORS = [
    (["ask", "hi", "--mode", "1", "--agent", "nobody"], "agent_id: unknown agent 'nobody'"),
    (["ask", "hi", "--index", "/no/such/index"], "/no/such/index is not an index"),
    (["ask", "hi", "--log-level", "bogus"], "invalid choice: 'bogus'"),
    (["ask", "a\x00b"], "query: contains a control character (U+0000)"),
    (["ingest", "/no/such/corpus.jsonl", "--index", "/tmp/x"], "/no/such/corpus.jsonl"),
    (["eval", "retrieval", "--queries", "/no/such.jsonl", "--index", "/no/idx"], "/no/such"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
]


@pytest.mark.parametrize(("argv", "message"), CLI_ERRORS, ids=lambda a: " ".join(a)[:30])
def test_every_cli_error_is_one_line_on_stderr(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own usage errors
        code = int(exit_.code or 0)
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert message in err
    assert "Traceback" not in err


def test_debug_shows_the_traceback_instead() -> None:
    with pytest.raises(FileNotFoundError):
        main(["ingest", "/no/such/corpus.jsonl", "--index", "/tmp/x", "--debug"])
    with pytest.raises(FileNotFoundError):
        main(["--debug", "ingest", "/no/such/corpus.jsonl", "--index", "/tmp/x"])


def test_ingest_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"id": "a", "title": "Gout", "text": "Gout hurts."}) + "\n")
    assert main(["ingest", str(corpus), "--index", str(tmp_path / "idx")]) == 0
    assert "indexed 1 passages" in capsys.readouterr().out


async def test_ask_lists_each_cited_passage_once_with_its_claims() -> None:
    # Issue 12: the same passage was listed once per marker (four rows for one passage).
    out, err = io.StringIO(), io.StringIO()
    args = parser().parse_args(["ask", "How is Marfan syndrome treated?"])
    assert await ask(args, out, err) == 0
    text = out.getvalue()
    block = text[text.index("Citations:") : text.index("Quality:")]
    assert block.count("gen-008") == 1, block
    assert block.count("- supported: ") >= 2, block
    assert "missing:" not in text.split("Quality:")[1].split("Cost:")[0], "treatment addressed"
