"""The README's examples run: every ```python block, in order, as a reader would paste them.

The blocks share one namespace (a later one uses what an earlier one defined) and may use
top-level `await`, like a notebook. The few names a reader brings themselves are supplied
here: `my_vectorstore` (any LangChain vector store), `uri` (a PostgreSQL URI, the session's
throwaway cluster) and the server at `http://127.0.0.1:8123` (the session's `langgraph dev`).
The command-line synopsis is checked against the real parser.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from typing import Any

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.vectorstores import InMemoryVectorStore

from tests.integration.conftest import ROOT, Server, free_port

pytestmark = [pytest.mark.integration, pytest.mark.enable_socket]

README = ROOT / "README.md"
README_SERVER = "http://127.0.0.1:8123"
README_METRICS_PORT = "9464"


def blocks(language: str) -> list[tuple[int, str]]:
    """(line, code) of each fenced block of `language` in the README."""
    found, lines = [], README.read_text().splitlines()
    start = None
    for n, line in enumerate(lines, 1):
        if start is None and line.strip() == f"```{language}":
            start = n
        elif start is not None and line.strip() == "```":
            found.append((start, "\n".join(lines[start : n - 1])))
            start = None
    return found


async def test_every_python_example_runs(server: Server, postgres_uri: str) -> None:
    namespace: dict[str, Any] = {
        "__name__": "readme",
        "my_vectorstore": InMemoryVectorStore(DeterministicFakeEmbedding(size=32)),
        "uri": postgres_uri,
    }
    examples = blocks("python")
    assert len(examples) >= 6
    for line, code in examples:
        code = code.replace(README_SERVER, server.url)
        code = code.replace(README_METRICS_PORT, str(free_port()))
        compiled = compile(code, f"README.md:{line}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        try:
            result = eval(compiled, namespace)  # the README's own code
            if result is not None:  # a block with top-level await gives a coroutine
                await result
        except Exception as exc:  # pragma: no cover - the message says which block failed
            pytest.fail(f"README.md line {line}: {type(exc).__name__}: {exc}")
    assert "[1]" in namespace["result"]["response"]


def test_the_command_line_synopsis_matches_the_parser() -> None:
    text = README.read_text()
    synopsis = text[text.index("## The command line") :]
    synopsis = synopsis[synopsis.index("```text") : synopsis.index("```", 10)]
    options = set(re.findall(r"(--[a-z][a-z-]*)", synopsis))
    for command in ("ask", "ingest", "eval retrieval", "bench"):
        done = subprocess.run(
            [sys.executable, "-m", "parallel_tiers.cli", *command.split(), "--help"],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        options -= set(re.findall(r"(--[a-z][a-z-]*)", done.stdout))
    assert not options, f"the README's synopsis names options the CLI lacks: {sorted(options)}"
