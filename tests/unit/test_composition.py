"""A good citizen inside someone else's app (issue 12, item 9).

A mode graph as a node of a user's own graph writes only what its run produced; a chat thread
still shows only the current turn's results; a synchronous run is refused at once, naming
`ainvoke`; the package's log events are standard `logging` records, silent until the app
configures logging; and a tool passed in `Context(tools=[...])` is suggested and run.
"""

from __future__ import annotations

import ast
import io
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import pytest
import structlog
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.tools import tool
from langchain_core.vectorstores import InMemoryVectorStore
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from parallel_tiers import Context, build_mode_graph
from parallel_tiers.logs import LOGGER_NAME, LogEvent
from parallel_tiers.resilience import Resilience
from parallel_tiers.services.agents import load_registry
from parallel_tiers.services.tools import allowed_tools
from parallel_tiers.state import merge_dicts
from parallel_tiers.threads import AsyncOnlyError
from tests.conftest import reserving_registry
from tests.fakes import Behaviour, FakeRetriever

STROKE = "What are the warning signs of a stroke?"
README = Path(__file__).resolve().parents[2] / "README.md"
FAILING = Context(model="nonexistent-provider:some-model", resilience=Resilience())
"""A run whose generation fails (the provider cannot be created: no call, no retry)."""


# --- a mode graph as a node of the user's own graph -----------------------------------------


class Parent(TypedDict, total=False):
    """A user's graph state sharing key names with the mode graphs."""

    query: str
    error: str | None
    error_code: str | None
    memory: list[dict[str, Any]]
    tool_results: list[dict[str, Any]]
    suggested_tools: list[dict[str, Any]]
    response: str
    metadata: Annotated[dict[str, Any], merge_dicts]


PARENT_VALUES: dict[str, Any] = {
    "error": "the parent's own error",
    "error_code": "parent_code",
    "memory": [{"key": "the parent's memory"}],
    "tool_results": [{"name": "the parent's tool"}],
    "suggested_tools": [{"name": "the parent's suggestion"}],
    "metadata": {"parent": "kept"},
}


def parent_graph(mode: int) -> Any:
    builder = StateGraph(Parent)
    builder.add_node("seed", lambda state: PARENT_VALUES)
    builder.add_node("expert", build_mode_graph(mode))
    builder.add_edge(START, "seed")
    builder.add_edge("seed", "expert")
    builder.add_edge("expert", END)
    return builder.compile(checkpointer=InMemorySaver())


@pytest.mark.parametrize("mode", [2, 4])
async def test_a_parent_graph_keeps_its_own_keys_the_run_did_not_produce(mode: int) -> None:
    # No user_id (memory skipped), no tool suggested (none runs), an answer without error.
    out = await parent_graph(mode).ainvoke(
        {"query": STROKE}, {"configurable": {"thread_id": f"parent-{mode}"}}
    )
    for key in ("error", "error_code", "memory", "tool_results"):
        assert out[key] == PARENT_VALUES[key], key
    assert "[1]" in out["response"]  # what the run produced is written
    assert out["metadata"]["parent"] == "kept"  # merged by the parent's own reducer
    assert out["metadata"]["mode_number"] == mode


async def test_a_parent_graph_gets_what_the_run_produced() -> None:
    out = await parent_graph(2).ainvoke(
        {"query": STROKE}, {"configurable": {"thread_id": "produced"}}, context=FAILING
    )
    assert out["error_code"] == "generation_failed"  # a failed generation sets both
    assert out["error"] and out["error"] != PARENT_VALUES["error"]
    assert out["suggested_tools"] == []  # the branch ran and found none: its result


async def test_a_chat_thread_shows_only_the_current_turns_results() -> None:
    chat = build_mode_graph(4, checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "turns"}}
    first = await chat.ainvoke(
        {"query": "What is 12.5 * 4 for asthma?", "user_id": "ann"}, config, context=FAILING
    )
    assert first["error_code"] == "generation_failed"
    assert first["rag_results"] and first["tool_results"] and first["suggested_tools"]
    assert first["metadata"]["retrieval"]
    second = await chat.ainvoke(
        {"query": "How is it treated?", "enable_rag": False, "enable_tools": False}, config
    )
    assert (second["error"], second["error_code"]) == (None, None)
    assert second["rag_results"] == second["tool_results"] == second["suggested_tools"] == []
    assert second["metadata"]["retrieval"] == {}  # no topic resolved for the earlier turn
    assert second["metadata"]["generation"]["status"] == "ok"
    assert len(second["messages"]) == 4  # the history is the thread's, not the turn's


async def test_a_turn_paused_for_approval_shows_none_of_the_last_turns_results() -> None:
    chat = build_mode_graph(3, checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "paused"}}
    base = {"query": "What is 12.5 * 4 mg of warfarin?", "agent_id": "medicines_supplements"}
    await chat.ainvoke({**base, "confirmed_tools": ["calculator"]}, config)
    paused = await chat.ainvoke(base, config)
    assert "__interrupt__" in paused
    assert paused["response"] == "" and paused["tool_results"] == [] and paused["citations"] == []
    assert paused["metadata"]["generation"] == {} and paused["metadata"]["parallel_tier2"] == {}


# --- synchronous runs ---------------------------------------------------------------------


async def test_a_synchronous_run_is_refused_at_once_naming_ainvoke() -> None:
    saver = InMemorySaver()
    retriever = FakeRetriever(behaviour=Behaviour())
    graph = build_mode_graph(4, checkpointer=saver)
    config = {"configurable": {"thread_id": "sync"}}
    ctx = Context(retriever=retriever, resilience=Resilience())
    for run in (graph.invoke, graph.stream, graph.batch):
        with pytest.raises(AsyncOnlyError, match=r"ainvoke"):
            run([{"query": STROKE}] if run == graph.batch else {"query": STROKE}, config)
    with pytest.raises(AsyncOnlyError, match=r"mode2_automatic\.invoke\(\).*ainvoke"):
        graph_with_node = StateGraph(Parent)
        graph_with_node.add_node("expert", build_mode_graph(2))
        graph_with_node.add_edge(START, "expert")
        graph_with_node.compile().invoke({"query": STROKE}, context=ctx)
    assert retriever.behaviour.calls == 0  # nothing ran
    assert list(saver.list(None)) == []  # nothing was saved
    await graph.ainvoke({"query": STROKE}, config, context=ctx)  # the way that runs
    assert retriever.behaviour.calls == 1 and list(saver.list(None))


# --- logging --------------------------------------------------------------------------------


@contextmanager
def bare_logging() -> Iterator[logging.Logger]:
    """Within: the root logger of an application that configured no logging (pytest's call-phase
    capture handlers set aside); as before after."""
    root = logging.getLogger()
    saved = (root.level, root.handlers[:])
    root.handlers.clear()
    root.setLevel(logging.WARNING)
    try:
        yield root
    finally:
        root.handlers[:] = saved[1]
        root.setLevel(saved[0])


def failing_branch() -> Context:
    """A run whose retrieval fails: an info and a warning event."""
    return Context(retriever=FakeRetriever(behaviour=Behaviour("raise")), resilience=Resilience())


async def test_a_run_with_no_logging_configured_writes_nothing(
    capfd: pytest.CaptureFixture[str],
) -> None:
    structlog.configure(logger_factory=structlog.PrintLoggerFactory())  # a structlog app's own
    with bare_logging():
        out = await build_mode_graph(2).ainvoke({"query": STROKE}, context=failing_branch())
    assert out["metadata"]["parallel_tier1"]["tasks"]["rag_retrieval"]["status"] == "failed"
    assert capfd.readouterr() == ("", "")


class Records(logging.Handler):
    """Keeps the package's records: (record, its event) each."""

    def __init__(self) -> None:
        super().__init__()
        self.kept: list[tuple[logging.LogRecord, LogEvent]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == LOGGER_NAME and isinstance(record.msg, LogEvent):
            self.kept.append((record, record.msg))


async def test_with_logging_configured_the_events_are_log_records(
    capfd: pytest.CaptureFixture[str],
) -> None:
    records = Records()
    with bare_logging() as root:
        logging.basicConfig(level=logging.INFO)
        root.addHandler(records)
        await build_mode_graph(2).ainvoke({"query": STROKE}, context=failing_branch())
    shown = capfd.readouterr().err.splitlines()
    events = {event["event"]: (record, event) for record, event in records.kept}
    assert set(events) >= {
        "parallel_branch_failed",
        "parallel_retrieval_completed",
        "parallel_post_generation_completed",
    }
    record, failed = events["parallel_branch_failed"]
    assert record.levelno == logging.WARNING
    assert (failed["branch"], failed["status"]) == ("rag_retrieval", "failed")
    assert record.module == "branch"  # the package's call site, not structlog's
    record, done = events["parallel_retrieval_completed"]
    assert record.levelno == logging.INFO and done["failed_tasks"] == 1
    assert any(
        line.startswith("INFO:parallel_tiers:parallel_retrieval_completed ")
        and "failed_tasks=1" in line
        and "execution=parallel" in line
        for line in shown
    ), shown


async def test_a_structlog_app_renders_the_events_with_its_processor_formatter() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(),
            ]
        )
    )
    with bare_logging() as root:
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        await build_mode_graph(2).ainvoke({"query": STROKE})
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    done = next(e for e in lines if e["event"] == "parallel_retrieval_completed")
    assert done["level"] == "info" and done["timestamp"] and done["total_tasks"] == 3


# --- the caller's own tools -----------------------------------------------------------------


@tool
def drug_interactions(drugs: str) -> str:
    """Look up known interactions between the named drugs."""
    return "warfarin + aspirin: a higher risk of bleeding"


async def test_a_callers_tool_is_suggested_and_run_in_mode_2() -> None:
    out = await build_mode_graph(2).ainvoke(
        {"query": "Do warfarin and aspirin have interactions?"},
        context=Context(tools=[drug_interactions], resilience=Resilience()),
    )
    assert "drug_interactions" in out["selected_agent"]["allowed_tools"]
    assert [s["name"] for s in out["suggested_tools"]] == ["drug_interactions"]
    (ran,) = out["tool_results"]
    assert (ran["name"], ran["status"]) == ("drug_interactions", "ok")
    assert ran["output"] == "warfarin + aspirin: a higher risk of bleeding"


async def test_a_callers_tool_may_be_confirmed_for_any_expert_in_a_manual_mode() -> None:
    out = await build_mode_graph(1).ainvoke(
        {
            "query": "Do warfarin and aspirin have interactions?",
            "agent_id": "neurology",
            "confirmed_tools": ["drug_interactions"],
        },
        context=Context(tools=[drug_interactions], resilience=Resilience()),
    )
    assert [t["name"] for t in out["tool_results"]] == ["drug_interactions"]


def test_a_tool_the_registry_names_stays_with_the_experts_naming_it() -> None:
    medical = load_registry()
    registry = reserving_registry("drug_interactions", "pharmacist", "Medicines.")
    neurology = registry.get("neurology").allowed_tools
    assert "drug_interactions" not in allowed_tools(neurology, registry, [drug_interactions])
    assert allowed_tools(neurology, medical, [drug_interactions])[-1] == "drug_interactions"
    assert allowed_tools(neurology, medical, None) == list(neurology)  # the defaults: the registry


async def test_the_readmes_own_tools_example_runs() -> None:
    text = README.read_text(encoding="utf-8")
    (code,) = [
        block
        for block in re.findall(r"```python\n(.*?)```", text, flags=re.S)
        if "def drug_interactions" in block
    ]
    namespace: dict[str, Any] = {
        "my_vectorstore": InMemoryVectorStore(DeterministicFakeEmbedding(size=32)),
        "Context": Context,
        "build_mode_graph": build_mode_graph,
    }
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    compiled = compile(code, "README.md", "exec", flags=flags, dont_inherit=True)  # as pasted
    coroutine = eval(compiled, namespace)  # the README's own code
    if coroutine is not None:
        await coroutine
    (ran,) = namespace["answer"]["tool_results"]
    assert ran["name"] == "drug_interactions" and ran["status"] == "ok"
