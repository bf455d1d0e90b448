"""The README's examples run: every ```python block, in order, as a reader would paste them.

The blocks share one namespace (a later one uses what an earlier one defined) and may use
top-level `await`, like a notebook. The few names a reader brings themselves are supplied
here: `my_vectorstore` (any LangChain vector store), `uri` (a PostgreSQL URI, the session's
throwaway cluster) and the server at `http://127.0.0.1:8123` (the session's `langgraph dev`).

Every ```bash block runs too, each as one `set -e` script (its variables carry over from line
to line) in a temp folder, with the project's `.venv/bin` first on PATH and the repository on
PYTHONPATH (as from the repository root, so `python -m evals.medquad` runs); only the blocks
listed in `BASH_SKIPPED` are not run, each with its reason, so a new block runs by default.
What a reader brings is supplied: `my_corpus.jsonl` and `./docs`, and for the MedQuAD block a
sample of `../shared/data/medquad` (the block is skipped without the data), with
`/tmp/medquad-index` moved into the temp folder and `--limit 20` on each evaluation
(`parallel-tiers eval` or `python -m evals.medquad`).

The command-line synopsis is checked against the real parser.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path
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
        # As pasted: without this module's `from __future__ import annotations` (a TypedDict's
        # annotations would be strings that LangGraph cannot resolve).
        compiled = compile(
            code,
            f"README.md:{line}",
            "exec",
            flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
            dont_inherit=True,
        )
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
    for command in ("ask", "ingest", "eval retrieval"):
        done = subprocess.run(
            [sys.executable, "-m", "parallel_tiers.cli", *command.split(), "--help"],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        options -= set(re.findall(r"(--[a-z][a-z-]*)", done.stdout))
    assert not options, f"the README's synopsis names options the CLI lacks: {sorted(options)}"


# --- ```bash blocks ------------------------------------------------------------------------

BASH_SKIPPED = {
    "make demo": "`make` creates .venv and installs it; `make test` is the suite this runs in",
    "langgraph dev --port": "starts a server that runs until stopped (the python examples above "
    "run against the session's `langgraph dev`)",
    "langgraph build": "builds and runs a Docker image (needs Docker and a licence key)",
}
"""Blocks not run, by a string only that block holds: the reason."""

MEDQUAD = ROOT.parent / "shared" / "data" / "medquad"
README_MEDQUAD = "../shared/data/medquad"
README_MEDQUAD_INDEX = "/tmp/medquad-index"
EVAL_LIMIT = 20
SAMPLE_QUERIES = 60
SAMPLE_CONVERSATIONS = EVAL_LIMIT
SAMPLE_FILLER = 300
"""Passages of the sample corpus besides the ones the sample's questions need."""

MY_CORPUS = [
    {
        "id": "gout-treatment",
        "title": "Gout (treatment)",
        "source": "example",
        "url": "https://example.org/gout",
        "text": "Gout is treated with medicines that ease the pain and swelling of a flare, such "
        "as NSAIDs, colchicine or corticosteroids. Allopurinol lowers the uric acid level to "
        "prevent new flares.",
    },
    {
        "id": "asthma",
        "title": "Asthma",
        "source": "example",
        "url": "https://example.org/asthma",
        "text": "Asthma is a chronic disease that inflames and narrows the airways of the lungs.",
    },
]
MY_DOCS = {
    "gout.md": "# Gout\n\nGout is a painful form of arthritis. Gout is treated with "
    "anti-inflammatory medicines during a flare and with allopurinol, which lowers uric acid, "
    "to prevent the next one.\n",
    "notes.txt": "Kidney stones form when urine holds more minerals than it can dissolve.\n",
}

BASH_BLOCKS = blocks("bash")


def _skipped_by(code: str) -> str | None:
    return next((why for key, why in BASH_SKIPPED.items() if key in code), None)


def test_every_bash_skip_names_one_block() -> None:
    for key in BASH_SKIPPED:
        holding = [line for line, code in BASH_BLOCKS if key in code]
        assert len(holding) == 1, f"BASH_SKIPPED[{key!r}] matches blocks at lines {holding}"


def _write_jsonl(path: Path, rows: list[Any]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def _jsonl(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                rows.append(json.loads(line))
            if limit is not None and len(rows) >= limit:
                break
    return rows


@pytest.fixture(scope="module")
def medquad_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small MedQuAD: the first questions and conversations, and the passages they need.

    Plus the first `SAMPLE_FILLER` passages (so retrieval has something to rank against) and
    the passages whose title names a condition of a README `ask` question ("Marfan").
    """
    if not (MEDQUAD / "corpus.jsonl").is_file():
        pytest.skip(f"MedQuAD data not found at {MEDQUAD}")
    folder = tmp_path_factory.mktemp("medquad-sample")
    conversations = _jsonl(MEDQUAD / "dev_conversations.jsonl", SAMPLE_CONVERSATIONS)
    turns = [turn for c in conversations for turn in c["turns"]]

    # The first questions, then the turns' questions naming their condition (the baseline).
    def key(row: dict[str, Any]) -> tuple[str, str, tuple[str, ...]]:
        focus = str(row.get("focus") or "").strip().lower()
        return focus, str(row.get("qtype") or ""), tuple(sorted(map(str, row["relevant"])))

    named = {key(turn) for turn in turns}
    queries = [
        row
        for n, row in enumerate(_jsonl(MEDQUAD / "dev_queries.jsonl"))
        if n < SAMPLE_QUERIES or key(row) in named
    ]
    wanted = {str(r) for row in [*queries, *turns] for r in row["relevant"]}
    bash = "\n".join(code for _, code in BASH_BLOCKS)
    asked = re.findall(r'parallel-tiers ask\b[^"\n]*"([^"\n]+)"', bash)
    names = {w.lower() for q in asked for w in re.findall(r"(?<=\s)[A-Z][a-z]{3,}", q)}
    corpus = [
        row
        for n, row in enumerate(_jsonl(MEDQUAD / "corpus.jsonl"))
        if n < SAMPLE_FILLER
        or str(row["id"]) in wanted
        or names & set(str(row.get("title") or "").lower().split())
    ]
    _write_jsonl(folder / "corpus.jsonl", corpus)
    _write_jsonl(folder / "dev_queries.jsonl", queries)
    _write_jsonl(folder / "dev_conversations.jsonl", conversations)
    return folder


EVALUATION = r"(?:parallel-tiers eval|python -m evals\.medquad) "
"""How an evaluation command starts: the package's generic one, or the MedQuAD study."""


def _with_limit(line: str) -> str:
    """An evaluation command line with `--limit` before any trailing comment."""
    if not re.match(rf"\s*{EVALUATION}", line):
        return line
    command, hash_, comment = line.partition(" #")
    limited = f"{command.rstrip()} --limit {EVAL_LIMIT}"
    return f"{limited}  #{comment}" if hash_ else limited


@pytest.mark.parametrize(
    ("line", "code"), BASH_BLOCKS, ids=[f"README.md:{line}" for line, _ in BASH_BLOCKS]
)
def test_every_bash_example_runs(
    line: int, code: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    reason = _skipped_by(code)
    if reason:
        pytest.skip(f"README.md line {line}: {reason}")
    if README_MEDQUAD in code:
        sample: Path = request.getfixturevalue("medquad_sample")
        code = code.replace(README_MEDQUAD, str(sample))
    code = code.replace(README_MEDQUAD_INDEX, str(tmp_path / "medquad-index"))
    code = "\n".join(_with_limit(text) for text in code.splitlines())
    _write_jsonl(tmp_path / "my_corpus.jsonl", MY_CORPUS)
    (tmp_path / "docs").mkdir()
    for name, text in MY_DOCS.items():
        (tmp_path / "docs" / name).write_text(text, encoding="utf-8")

    # After the block, each variable it assigns at the start of a line, NUL-separated.
    names = sorted(set(re.findall(r"^([A-Za-z_][A-Za-z0-9_]*)=", code, flags=re.M)))
    variables = tmp_path / "variables"
    dump = "".join(f"printf '%s\\0%s\\0' {n} \"${{{n}-}}\" >> {variables}\n" for n in names)
    script = f"set -e\n{code}\n: > {variables}\n{dump}"

    venv_bin = ROOT / ".venv" / "bin"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARALLEL_TIERS_")}
    env["PATH"] = os.pathsep.join([str(venv_bin), str(Path(sys.executable).parent), env["PATH"]])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PARALLEL_TIERS_HOME"] = str(tmp_path / "home")
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    where = f"README.md line {line}"
    assert done.returncode == 0, f"{where}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"

    out = done.stdout
    if "parallel-tiers ingest" in code:
        assert re.search(r"indexed \d+ passages", out), (where, out)
    if "parallel-tiers ask" in code:
        assert "[1]" in out, f"{where}: an answer without a citation\n{out}"
    for command, figure in (
        ("retrieval", "MRR@10"),
        ("answers", "citation_precision"),
        ("routing", "accuracy"),
        ("conversations", "turn_1"),
    ):
        if re.search(rf"{EVALUATION}{command}\b", code):
            assert figure in out, (where, command, out)
    parts = variables.read_text().split("\0")
    assigned = dict(zip(parts[0:-1:2], parts[1:-1:2], strict=True))
    if "D" in assigned:
        assert Path(assigned["D"]).is_dir(), (where, assigned["D"])
    if "PARALLEL_TIERS_TOKENS" in assigned:
        from parallel_tiers.auth import parse_tokens

        assert len(parse_tokens(assigned["PARALLEL_TIERS_TOKENS"])) == 2, where
