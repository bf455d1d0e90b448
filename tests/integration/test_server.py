"""The graphs served by a real `langgraph dev`, driven by `langgraph-sdk` as a user would."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from tests.integration.conftest import Server

pytestmark = [pytest.mark.integration, pytest.mark.enable_socket]

GRAPHS = (
    "mode1_manual",
    "mode2_automatic",
    "mode3_chat_manual",
    "mode4_chat_automatic",
    "tier1_retrieval",
    "tier2_post_generation",
)
STROKE = "What are the warning signs of a stroke, and what should I do?"
WARFARIN = "What is 12.5 * 4 + 3 milligrams in total for my warfarin dose?"


@pytest.fixture
def client(server: Server) -> LangGraphClient:
    return get_client(url=server.url)


async def test_serves_every_graph_with_its_schemas(client: LangGraphClient) -> None:
    assistants = {a["graph_id"]: a for a in await client.assistants.search(limit=50)}
    for graph_id in GRAPHS:
        assert assistants[graph_id]["description"], graph_id
    # What Studio shows: the input form and the run settings.
    schemas = await client.assistants.get_schemas(assistants["mode1_manual"]["assistant_id"])
    assert {"query", "agent_id", "confirmed_tools"} <= set(schemas["input_schema"]["properties"])
    context = schemas["context_schema"]["properties"]
    assert context["parallel_timeout_ms"]["default"] == 5000
    assert {"enable_parallel_tier1", "enable_parallel_tier2", "model", "index_path"} <= set(context)


@pytest.mark.parametrize(
    ("graph_id", "inputs"),
    [
        ("mode1_manual", {"agent_id": "neurology"}),
        ("mode2_automatic", {}),
        ("mode3_chat_manual", {"agent_id": "neurology"}),
        ("mode4_chat_automatic", {}),
    ],
)
async def test_each_mode_answers(
    client: LangGraphClient, graph_id: str, inputs: dict[str, Any]
) -> None:
    thread = await client.threads.create()
    result = await client.runs.wait(
        thread["thread_id"], graph_id, input={"query": STROKE, "user_id": "ann", **inputs}
    )
    assert isinstance(result, dict)
    assert "[1]" in result["response"] and result["citations"]
    assert result["selected_agent"]["id"] == "neurology"
    assert result["cost_data"]["total_tokens"] > 0
    assert result["metadata"]["parallel_tier1"]["execution"] == "parallel"
    assert result["metadata"]["parallel_tier2"]["successful_tasks"] == 3


async def test_stream_shows_branch_progress_before_the_final_state(
    client: LangGraphClient,
) -> None:
    events: list[tuple[str, Any]] = []
    async for part in client.runs.stream(
        None,
        "mode2_automatic",
        input={"query": STROKE},
        stream_mode=["updates", "custom"],
        stream_subgraphs=True,
    ):
        events.append((part.event, part.data))
    progress = [
        (i, data)
        for i, (kind, data) in enumerate(events)
        if kind.startswith("custom") and isinstance(data, dict)
    ]
    finished = {(d["tier"], d["branch"]) for _, d in progress if d["event"] == "branch_finished"}
    started = {(d["tier"], d["branch"]) for _, d in progress if d["event"] == "branch_started"}
    assert len(finished) == 6 and started == finished
    # The tiers fill in before the answer's last update (tier 2's own fan-in).
    final = max(i for i, (kind, data) in enumerate(events) if kind == "updates" and "tier2" in data)
    assert all(i < final for i, _ in progress)


async def test_manual_mode_interrupts_for_tool_approval_and_resumes(
    client: LangGraphClient,
) -> None:
    thread_id = (await client.threads.create())["thread_id"]
    inputs = {"query": WARFARIN, "agent_id": "medicines_supplements"}
    await client.runs.wait(thread_id, "mode1_manual", input=inputs)
    state = await client.threads.get_state(thread_id)
    assert state["next"] == ["generate"]
    (pause,) = state["interrupts"]
    assert pause["value"]["type"] == "tool_approval"
    assert "calculator" in [s["name"] for s in pause["value"]["suggested_tools"]]

    result = await client.runs.wait(thread_id, "mode1_manual", command={"resume": ["calculator"]})
    assert isinstance(result, dict)
    (tool,) = result["tool_results"]
    assert (tool["name"], tool["status"], tool["output"]) == ("calculator", "ok", "53")
    assert "53" in result["response"]


async def test_chat_thread_takes_two_turns(client: LangGraphClient) -> None:
    thread_id = (await client.threads.create())["thread_id"]
    for question in ("What is asthma?", "How is it treated?"):
        result = await client.runs.wait(
            thread_id, "mode4_chat_automatic", input={"query": question, "user_id": "bo"}
        )
    assert isinstance(result, dict)
    messages = result["messages"]
    assert [m["type"] for m in messages] == ["human", "ai", "human", "ai"]
    assert messages[2]["content"] == "How is it treated?"
    assert result["rag_results"][0]["title"] == "Asthma"  # the follow-up kept the topic
    state = await client.threads.get_state(thread_id)
    assert len(state["values"]["messages"]) == 4


async def test_context_switches_tier1_to_sequential(client: LangGraphClient) -> None:
    result = await client.runs.wait(
        None,
        "mode2_automatic",
        input={"query": STROKE},
        context={"enable_parallel_tier1": False, "parallel_timeout_ms": 4000},
    )
    assert isinstance(result, dict)
    meta = result["metadata"]
    assert meta["parallel_tier1"]["execution"] == "sequential"
    assert meta["parallel_tier2"]["execution"] == "parallel"
    assert meta["settings"]["enable_parallel_tier1"] is False
    assert meta["settings"]["parallel_timeout_ms"] == 4000


async def test_hung_service_with_a_short_timeout_still_answers(client: LangGraphClient) -> None:
    started = time.perf_counter()
    result = await client.runs.wait(
        None, "hung_retriever", input={"query": STROKE}, context={"parallel_timeout_ms": 300}
    )
    elapsed = time.perf_counter() - started
    assert isinstance(result, dict)
    rag = result["metadata"]["parallel_tier1"]["tasks"]["rag_retrieval"]
    assert rag["status"] == "timed_out"
    assert result["rag_results"] == [] and result["response"]  # degraded, not failed
    assert result["metadata"]["parallel_tier1"]["timed_out_tasks"] == 1
    assert elapsed < 5


def _ok_latency_s(url: str) -> float:
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(f"{url}/ok", timeout=30) as response:
            response.read()
    except OSError:  # includes the 30 s timeout of a frozen server
        return float("inf")
    return time.perf_counter() - started


async def test_ok_keeps_answering_while_hostile_runs_go_through(
    server: Server, client: LangGraphClient
) -> None:
    """Before the bounds, one `round(1, -10**8)` question froze the server for 40+ s and a
    300 KB passage held it for a minute; `/ok` must stay prompt while such runs go on."""
    worst = 0.0
    polls = 0
    done = asyncio.Event()

    async def poll() -> None:
        nonlocal worst, polls
        while not done.is_set():
            worst = max(worst, await asyncio.to_thread(_ok_latency_s, server.url))
            polls += 1
            await asyncio.sleep(0.05)

    poller = asyncio.create_task(poll())
    try:
        runs = await asyncio.gather(
            client.runs.wait(
                None, "mode2_automatic", input={"query": "What is round(1, -10**8) mg of warfarin?"}
            ),
            client.runs.wait(None, "big_passage", input={"query": STROKE}),
        )
    finally:
        done.set()
        await poller
    round_run, big_run = runs
    assert isinstance(round_run, dict) and isinstance(big_run, dict)
    (calc,) = [t for t in round_run["tool_results"] if t["name"] == "calculator"]
    assert calc["status"] == "failed"
    assert "[1]" in big_run["response"]
    assert polls >= 3
    print(f"/ok: {polls} polls, worst {worst * 1000:.0f} ms")
    assert worst < 1.0, f"/ok took {worst:.2f} s at worst"


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"index_path": "/etc"}, "context.index_path: may not be set by a client"),
        ({"agents": "/etc/passwd"}, "context.agents: may not be set by a client"),
        ({"model": "openai:gpt-4o"}, "context.model: may not be set by a client"),
        ({"retriever": "nope"}, "context.retriever: may not be set by a client"),
        ({"enable_paralel_tier1": False}, "context.enable_paralel_tier1: unknown setting"),
    ],
)
async def test_a_client_cannot_steer_the_server(
    client: LangGraphClient, context: dict[str, Any], message: str
) -> None:
    thread_id = (await client.threads.create())["thread_id"]
    with pytest.raises(httpx.HTTPStatusError) as err:
        await client.runs.wait(
            thread_id, "mode2_automatic", input={"query": STROKE}, context=context
        )
    assert err.value.response.status_code == 422
    assert message in err.value.response.text
    # Refused before anything ran: the thread has no state and no run.
    assert (await client.threads.get_state(thread_id))["values"] == {}
    assert await client.runs.list(thread_id) == []


async def test_a_bad_setting_reaches_the_client_by_name(client: LangGraphClient) -> None:
    with pytest.raises(Exception, match=r"context\.parallel_timeout_ms: input should be greater"):
        await client.runs.wait(
            None, "mode2_automatic", input={"query": STROKE}, context={"parallel_timeout_ms": -5}
        )


async def test_a_run_config_cannot_smuggle_a_guarded_key(client: LangGraphClient) -> None:
    with pytest.raises(httpx.HTTPStatusError, match="422"):
        await client.runs.wait(
            None,
            "mode2_automatic",
            input={"query": STROKE},
            config={"configurable": {"index_path": "/etc"}},
        )
