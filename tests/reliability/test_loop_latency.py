"""No request can hold the event loop (issue 9): a heartbeat coroutine stays on time while
hostile inputs go through a real mode-2 graph.

The heartbeat sleeps `HEARTBEAT_S` in a loop and records how late it wakes; a run that holds the
loop (CPU work on it, or a computation that keeps the GIL) makes it late by as long. Each case's
worst delay is printed (`pytest -s`) and recorded as the test's `worst_heartbeat_delay_ms`
property. The inputs are built, and the process warmed up (imports, the bundled index, price
tables: loading genai-prices' table alone takes 40 ms on the loop), before the heartbeat starts,
so only the run itself is measured.

Measured on a shared 2-core machine: 1-20 ms in every case. Before the change, the 300 KB
passage held the loop for 46 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from importlib import resources
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.retrievers import BaseRetriever

from parallel_tiers import Context, build_mode_graph

HEARTBEAT_S = 0.01
MAX_DELAY_S = 0.25
"""The issue's bound on the heartbeat's worst delay."""
MAX_RUN_S = 30.0
"""A generous bound on each hostile run (measured: well under 2 s)."""


PROSE = " ".join(
    json.loads(line)["text"]
    for line in resources.files("parallel_tiers.profiles.medical")
    .joinpath("knowledge_base.jsonl")
    .read_text(encoding="utf-8")
    .splitlines()
)


def prose(size: int, offset: int) -> str:
    """`size` characters of the bundled passages from `offset` on (new text for each case)."""
    text = PROSE[offset:] + " " + PROSE[:offset]
    return (text * (size // len(text) + 1))[:size]


class Passages(BaseRetriever):
    """A retriever that returns the same documents for any query."""

    docs: list[Document] = []

    def _get_relevant_documents(self, query: str, *, run_manager: Any) -> list[Document]:
        return list(self.docs)


class FixedAnswer(BaseChatModel):
    """A chat model that answers one fixed text and reports token usage, like a real one."""

    text: str = ""

    @property
    def _llm_type(self) -> str:
        return "fixed-answer"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        usage = UsageMetadata(input_tokens=1_000, output_tokens=1_000, total_tokens=2_000)
        message = AIMessage(content=self.text, usage_metadata=usage)
        return ChatResult(generations=[ChatGeneration(message=message)])


def passage(size: int, offset: int, i: int = 1) -> Document:
    """A `size`-character passage on glaucoma (bundled prose, from `offset`)."""
    meta = {"id": f"big-{i}", "title": "Glaucoma", "source": "test", "score": 1.0}
    return Document(page_content=prose(size, offset), metadata=meta)


def huge_answer() -> str:
    sentence = "Glaucoma damages the optic nerve and slowly narrows the field of vision [1][2]. "
    return sentence * (1_000_000 // len(sentence))


class Heartbeat:
    """Sleeps `HEARTBEAT_S` again and again and records how late it wakes at worst."""

    def __init__(self) -> None:
        self.worst = 0.0

    async def beat(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(HEARTBEAT_S)
            self.worst = max(self.worst, time.perf_counter() - start - HEARTBEAT_S)


@contextlib.asynccontextmanager
async def heartbeat() -> AsyncIterator[Heartbeat]:
    """Run a `Heartbeat` for the duration of the block."""
    probe = Heartbeat()
    task = asyncio.create_task(probe.beat())
    await asyncio.sleep(2 * HEARTBEAT_S)
    try:
        yield probe
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


CASES = [
    pytest.param(
        "What are the symptoms of glaucoma?",
        lambda: Context(retriever=Passages(docs=[passage(300_000, 11)])),
        id="300KB-passage",
    ),
    pytest.param(
        "What are the symptoms of glaucoma?",
        lambda: Context(retriever=Passages(docs=[passage(50_000_000, 23)])),
        id="50MB-corpus-line",
    ),
    pytest.param(
        "What is round(1, -10**8) mg of warfarin?",
        Context,
        id="calculator-round-1e8-digits",
    ),
    pytest.param(
        "What are the symptoms of glaucoma?",
        lambda: Context(
            retriever=Passages(docs=[passage(300_000, 31 + i, i) for i in range(1, 6)]),
            model=FixedAnswer(text=huge_answer()),
        ),
        id="1MB-answer-5x300KB-passages",
    ),
]


@pytest.mark.usefixtures("quiet_logs")
@pytest.mark.parametrize(("query", "make_context"), CASES)
async def test_a_hostile_input_never_holds_the_event_loop(
    query: str, make_context: Callable[[], Context], record_property: Any, request: Any
) -> None:
    graph = build_mode_graph(2)
    warm_ups = [  # the offline model, the calculator, and a priced model (loads price tables)
        ("What is asthma?", Context()),
        ("What is 2 + 2 mg of aspirin?", Context()),
        ("What is asthma?", Context(model=FixedAnswer(text="Asthma narrows the airways [1]."))),
    ]
    for warm_up, warm_context in warm_ups:
        await graph.ainvoke({"query": warm_up}, context=warm_context)
    context = make_context()

    async with heartbeat() as probe:
        start = time.perf_counter()
        out = await asyncio.wait_for(graph.ainvoke({"query": query}, context=context), MAX_RUN_S)
        elapsed = time.perf_counter() - start

    worst_ms = round(probe.worst * 1000, 1)
    record_property("worst_heartbeat_delay_ms", worst_ms)
    print(f"\n{request.node.callspec.id}: worst heartbeat delay {worst_ms} ms, run {elapsed:.2f} s")
    assert probe.worst < MAX_DELAY_S, f"the event loop was held for {worst_ms} ms"
    assert elapsed < MAX_RUN_S
    assert out["response"]
    metrics = out.get("quality_metrics") or {}
    if "passage" in request.node.callspec.id:
        assert metrics.get("passages_truncated")  # read up to MAX_SOURCE_CHARS, and said so
    if "answer" in request.node.callspec.id:
        assert metrics.get("answer_truncated")  # scored up to MAX_ANSWER_CHARS, and said so


@pytest.mark.usefixtures("quiet_logs")
async def test_a_50_mb_corpus_line_through_ingest_and_ask(tmp_path: Any, request: Any) -> None:
    """The line that made `ask` run for 10+ minutes at 3.8 GB: ingest splits it into passages
    of at most `MAX_PASSAGE_CHARS` (in a child process, as the CLI runs), and a question
    answered from the index never holds the loop."""
    import subprocess
    import sys

    from parallel_tiers.services.corpus import MAX_PASSAGE_CHARS

    corpus = tmp_path / "corpus.jsonl"
    with corpus.open("w") as out:
        out.write(json.dumps({"id": "huge", "title": "Glaucoma", "text": prose(50_000_000, 7)}))
        out.write("\n" + json.dumps({"id": "small", "title": "Asthma", "text": prose(900, 3)}))
    index = tmp_path / "index"
    start = time.perf_counter()
    command = [sys.executable, "-m", "parallel_tiers.cli", "ingest", str(corpus)]
    done = await asyncio.to_thread(
        subprocess.run,
        [*command, "--index", str(index)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    ingest_s = time.perf_counter() - start
    passages = int(done.stdout.split()[1].replace(",", ""))
    assert passages >= 50_000_000 // MAX_PASSAGE_CHARS  # split, never indexed whole
    graph = build_mode_graph(2)
    context = Context(index_path=str(index))
    await graph.ainvoke({"query": "What is asthma?"}, context=context)  # load the index
    async with heartbeat() as probe:
        out = await asyncio.wait_for(
            graph.ainvoke({"query": "What are the symptoms of glaucoma?"}, context=context),
            MAX_RUN_S,
        )
    worst_ms = round(probe.worst * 1000, 1)
    print(f"\n50MB line via ingest ({ingest_s:.1f} s, {passages:,} passages): worst {worst_ms} ms")
    assert probe.worst < MAX_DELAY_S
    assert "[1]" in out["response"]
