"""Durable chat threads and tenant-scoped memory on in-memory, SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from parallel_tiers.services.memory import StoreMemory
from tests.integration.conftest import ROOT, unique
from tests.integration.persistence import chat_turn, persistence

pytestmark = [pytest.mark.integration, pytest.mark.enable_socket]


def turn_in_new_process(backend: str, location: str, **args: str) -> dict[str, Any]:
    """Run one chat turn in a fresh Python process; its result as JSON."""
    argv = [backend, location, args["thread"], args["tenant"], args["user"], args["question"]]
    done = subprocess.run(
        [sys.executable, "-m", "tests.integration.persistence", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


async def test_chat_thread_keeps_its_history(backend: tuple[str, str]) -> None:
    ids = {"thread": unique("t"), "tenant": unique("clinic"), "user": "ann"}
    async with persistence(*backend) as (saver, store):
        await chat_turn(saver, store, **ids, question="What is asthma?")
        result = await chat_turn(saver, store, **ids, question="How is asthma treated?")
    assert [m.type for m in result["messages"]] == ["human", "ai", "human", "ai"]
    assert [m["query"] for m in result["memory"]] == ["What is asthma?"]  # turn 1 was saved


async def test_thread_continues_in_a_new_process(durable_backend: tuple[str, str]) -> None:
    ids = {"thread": unique("t"), "tenant": unique("clinic"), "user": "ann"}
    first = turn_in_new_process(*durable_backend, **ids, question="What is asthma?")
    second = turn_in_new_process(*durable_backend, **ids, question="How is asthma treated?")
    assert [m["type"] for m in first["messages"]] == ["human", "ai"]
    assert [m["type"] for m in second["messages"]] == ["human", "ai", "human", "ai"]
    assert second["messages"][0]["content"] == "What is asthma?"
    assert [m["query"] for m in second["memory"]] == ["What is asthma?"]
    # And this (third) process reads both turns from the thread's checkpoints.
    async with persistence(*durable_backend) as (saver, _):
        checkpoint = await saver.aget_tuple({"configurable": {"thread_id": ids["thread"]}})
    questions = [m.content for m in checkpoint.checkpoint["channel_values"]["messages"]][::2]
    assert questions == ["What is asthma?", "How is asthma treated?"]


async def test_memory_never_crosses_tenants(backend: tuple[str, str]) -> None:
    tenant_a, tenant_b = unique("clinic-a"), unique("clinic-b")
    async with persistence(*backend) as (saver, store):
        await chat_turn(
            saver,
            store,
            thread=unique("t"),
            tenant=tenant_a,
            user="ann",
            question="Does warfarin interact with vitamin K?",
        )
        # Same user id, same words, other tenant: nothing recalled.
        other = await chat_turn(
            saver, store, thread=unique("t"), tenant=tenant_b, user="ann", question="warfarin?"
        )
        same = await chat_turn(
            saver, store, thread=unique("t"), tenant=tenant_a, user="ann", question="warfarin?"
        )
        memory = StoreMemory()
        found_b = await memory.asearch(store, tenant_id=tenant_b, user_id="ann", query="warfarin")
    assert other["memory"] == []
    assert [m["query"] for m in same["memory"]] == ["Does warfarin interact with vitamin K?"]
    assert [m["query"] for m in found_b] == ["warfarin?"]  # only tenant B's own turn


async def test_text_a_database_would_refuse_never_reaches_it(backend: tuple[str, str]) -> None:
    """NUL in an id or question is refused up front (PostgreSQL refused it mid-run), and a
    history carrying NUL and a megabyte is cleaned and cut before it is saved."""
    from langchain_core.messages import HumanMessage

    from parallel_tiers import InvalidInputError, build_mode_graph
    from parallel_tiers.state import MAX_MESSAGE_CHARS

    ids = {"thread": unique("t"), "tenant": unique("clinic")}
    config = {"configurable": {"thread_id": ids["thread"]}}
    async with persistence(*backend) as (saver, store):
        graph = build_mode_graph(4, checkpointer=saver, store=store)
        for bad in ({"user_id": "ann\x00"}, {"query": "What is\x00 asthma?"}):
            inputs = {"query": "What is asthma?", "tenant_id": ids["tenant"], **bad}
            with pytest.raises(InvalidInputError, match="control character"):
                await graph.ainvoke(inputs, config=config)
        history = [HumanMessage(content="first\x00 question " + "x" * 1_000_000)]
        out = await graph.ainvoke(
            {"query": "What is asthma?", "tenant_id": ids["tenant"], "user_id": "ann"}
            | {"messages": history},
            config=config,
        )
        assert out["metadata"]["save_turn"]["status"] == "ok"
        state = await graph.aget_state(config)
    saved = [str(m.content) for m in state.values["messages"]]
    assert all("\x00" not in text and len(text) <= MAX_MESSAGE_CHARS for text in saved)
    assert saved[0].startswith("first question")
