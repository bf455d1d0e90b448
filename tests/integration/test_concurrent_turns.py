"""No lost turns: concurrent turns on one thread take turns, and a kill leaves whole turns.

Two writers on one thread (in one process, in two processes, two CLI commands, two server
runs) must end with every turn on the thread as a whole question/answer pair, and memory
holding exactly those turns. A process killed at random moments while it runs turns must
leave only whole turns behind, and after one more turn memory must agree with the thread.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from parallel_tiers import build_mode_graph
from parallel_tiers.services.memory import StoreMemory
from parallel_tiers.threads import ThreadBusyError, athread_lock
from tests.integration.conftest import ROOT, Server, unique
from tests.integration.persistence import (
    GO_ENV,
    PAUSE_PUT_ENV,
    READY_ENV,
    chat_turn,
    history,
    memories,
    persistence,
)

pytestmark = [pytest.mark.integration, pytest.mark.enable_socket]

TURNS_EACH = 4
"""Turns each of two writers runs on the shared thread."""
CLI_ROUNDS = 5
"""Times two `parallel-tiers ask` start together on one thread (the bug lost 3 in 10)."""
KILLS = 10
"""Processes killed at random moments per backend (plus two killed inside `save_turn`)."""
TURNS_PER_VICTIM = 3
"""Turns each process to be killed runs."""


def assert_whole_turns(messages: list[Any], asked: set[str] | None = None) -> None:
    """Every question is followed by its answer, and (if given) every question asked is there."""
    kinds = [m.type for m in messages]
    assert kinds == ["human", "ai"] * (len(kinds) // 2), kinds
    if asked is not None:
        questions = [str(m.content) for m in messages[::2]]
        assert sorted(questions) == sorted(asked), "turns lost or doubled"


def assert_memory_matches(messages: list[Any], items: dict[str, dict[str, Any]]) -> None:
    """Memory holds exactly the thread's turns: one item per answer, keyed by its id."""
    pairs = list(zip(messages[::2], messages[1::2], strict=True))
    in_history = sorted((str(q.content), str(a.content)) for q, a in pairs)
    in_memory = sorted((value["query"], value["response"]) for value in items.values())
    assert in_memory == in_history
    assert set(items) == {a.id for _, a in pairs}


# --- two writers ------------------------------------------------------------------------------


async def _writer(saver: Any, store: Any, ids: dict[str, str], name: str) -> None:
    for i in range(TURNS_EACH):
        await chat_turn(saver, store, **ids, question=f"{name}: what is asthma? #{i}")


async def test_two_writers_sharing_one_saver(backend: tuple[str, str]) -> None:
    ids = {"thread": unique("t"), "tenant": unique("clinic"), "user": "ann"}
    async with persistence(*backend) as (saver, store):
        await asyncio.gather(*(_writer(saver, store, ids, f"w{w}") for w in range(2)))
        messages = await history(saver, ids["thread"])
        items = await memories(store, ids["tenant"], ids["user"])
    asked = {f"w{w}: what is asthma? #{i}" for w in range(2) for i in range(TURNS_EACH)}
    assert_whole_turns(messages, asked)
    assert_memory_matches(messages, items)


async def test_two_writers_each_with_a_connection_of_its_own(
    durable_backend: tuple[str, str],
) -> None:
    ids = {"thread": unique("t"), "tenant": unique("clinic"), "user": "ann"}
    async with (
        persistence(*durable_backend) as (saver, store),
        persistence(*durable_backend) as (saver_b, store_b),
    ):
        await asyncio.gather(_writer(saver, store, ids, "w0"), _writer(saver_b, store_b, ids, "w1"))
        messages = await history(saver, ids["thread"])
        items = await memories(store, ids["tenant"], ids["user"])
    asked = {f"w{w}: what is asthma? #{i}" for w in range(2) for i in range(TURNS_EACH)}
    assert_whole_turns(messages, asked)
    assert_memory_matches(messages, items)


def _start(
    backend: str, location: str, ids: dict[str, str], question: str, turns: int, **env: str
) -> subprocess.Popen[bytes]:
    argv = [backend, location, ids["thread"], ids["tenant"], ids["user"], question, str(turns)]
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.persistence", *argv],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait_for(path: Path, proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    end = time.monotonic() + timeout_s
    while not path.exists():
        assert proc.poll() is None, f"the process ended early: {proc.stderr and proc.stderr.read()}"
        assert time.monotonic() < end, f"no {path.name} within {timeout_s} s"
        time.sleep(0.002)


def test_two_writers_in_two_processes(durable_backend: tuple[str, str], tmp_path: Path) -> None:
    ids = {"thread": unique("t"), "tenant": unique("clinic"), "user": "ann"}
    go = tmp_path / "go"
    procs = [
        _start(
            *durable_backend,
            ids,
            f"p{w}: what is asthma?",
            TURNS_EACH,
            **{READY_ENV: str(tmp_path / f"ready{w}"), GO_ENV: str(go)},
        )
        for w in range(2)
    ]
    for w, proc in enumerate(procs):
        _wait_for(tmp_path / f"ready{w}", proc)
    go.touch()  # both start their first turn now
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()[-2000:]

    async def check() -> None:
        async with persistence(*durable_backend) as (saver, store):
            messages = await history(saver, ids["thread"])
            items = await memories(store, ids["tenant"], ids["user"])
        asked = {f"p{w}: what is asthma? #{i}" for w in range(2) for i in range(TURNS_EACH)}
        assert_whole_turns(messages, asked)
        assert_memory_matches(messages, items)

    asyncio.run(check())


def test_the_cli_twice_at_once_on_one_thread(tmp_path: Path) -> None:
    env = {**os.environ, "PARALLEL_TIERS_HOME": str(tmp_path)}
    asked = set()
    for r in range(CLI_ROUNDS):
        procs = []
        for w in range(2):
            question = f"round {r}, writer {w}: what is asthma?"
            asked.add(question)
            command = ["ask", question, "--mode", "4", "--thread", "c1", "--user", "ann", "--json"]
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "parallel_tiers.cli", *command],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
            )
        for proc in procs:
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err.decode()[-2000:]

    async def check() -> None:
        async with persistence("sqlite", str(tmp_path)) as (saver, store):
            messages = await history(saver, "c1")
            items = await memories(store, "default", "ann")
        assert_whole_turns(messages, asked)
        assert_memory_matches(messages, items)

    asyncio.run(check())


# --- a busy thread: the later turn waits, then is refused -------------------------------------


async def test_a_turn_waits_for_the_thread_then_is_refused(backend: tuple[str, str]) -> None:
    ids = {"thread": unique("t"), "tenant": unique("clinic"), "user": "ann"}
    inputs = {"query": "What is asthma?", "tenant_id": ids["tenant"], "user_id": "ann"}
    config = {"configurable": {"thread_id": ids["thread"]}}
    async with persistence(*backend) as (saver, store):
        graph = build_mode_graph(4, checkpointer=saver, store=store, thread_wait_ms=200)
        # Another holder of the thread: for a database, another connection (another session).
        async with persistence(*backend) as (other, _):
            holder = saver if backend[0] == "memory" else other
            async with athread_lock(holder, ids["thread"]):
                start = time.perf_counter()
                with pytest.raises(ThreadBusyError, match=ids["thread"]) as refused:
                    await graph.ainvoke(inputs, config=config)
                waited = time.perf_counter() - start
                assert 0.2 <= waited < 2.0
                assert "busy" in str(refused.value)
            assert await history(saver, ids["thread"]) == []  # nothing of it was saved

            # A turn that finds the thread busy for less than its bound waits and goes on.
            async def hold() -> None:
                async with athread_lock(holder, ids["thread"]):
                    await asyncio.sleep(0.1)

            holding = asyncio.create_task(hold())
            await asyncio.sleep(0.02)
            out = await graph.ainvoke(inputs, config=config)
            await holding
    assert [m.type for m in out["messages"]] == ["human", "ai"]


async def test_the_cli_refuses_a_turn_on_a_thread_busy_for_too_long(tmp_path: Path) -> None:
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    env = {**os.environ, "PARALLEL_TIERS_HOME": str(tmp_path)}
    command = ["ask", "What is asthma?", "--mode", "4", "--thread", "c1", "--wait-ms", "300"]
    database = str(tmp_path / "checkpoints.sqlite")
    async with (
        AsyncSqliteSaver.from_conn_string(database) as saver,
        athread_lock(saver, "c1"),  # held by this process: the CLI's process must wait
    ):
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "parallel_tiers.cli", *command],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 1
    assert done.stderr.startswith("error: thread 'c1' is busy"), done.stderr


# --- a turn stopped between its answer and its memory --------------------------------------


async def test_a_turn_stopped_before_save_turn_is_saved_by_the_next(
    backend: tuple[str, str],
) -> None:
    ids = {"thread": unique("t"), "tenant": unique("clinic"), "user": "ann"}
    config = {"configurable": {"thread_id": ids["thread"]}}

    def inputs(question: str) -> dict[str, Any]:
        return {"query": question, "tenant_id": ids["tenant"], "user_id": "ann"}

    async with persistence(*backend) as (saver, store):
        graph = build_mode_graph(4, checkpointer=saver, store=store)
        # As a run killed after `generate`: its turn is on the thread, not in memory.
        await graph.ainvoke(inputs("What is asthma?"), config, interrupt_before=["save_turn"])
        assert await memories(store, ids["tenant"], "ann") == {}
        out = await graph.ainvoke(inputs("How is asthma treated?"), config)
        assert out["metadata"]["save_turn"] | {"duration_ms": 0} == {
            "status": "ok",
            "error": None,
            "duration_ms": 0,
            "turn": out["messages"][-1].id,
            "caught_up": 1,
        }
        # As a run killed after its memory put: saving the turn again replaces it.
        await graph.ainvoke(inputs("What is a stroke?"), config, interrupt_before=["save_turn"])
        state = await graph.aget_state(config)
        question, answer = state.values["messages"][-2:]
        await StoreMemory().asave_turn(
            store,
            tenant_id=ids["tenant"],
            user_id="ann",
            query=str(question.content),
            response=str(answer.content),
            key=answer.id,
        )
        await graph.ainvoke(inputs("What are its signs?"), config)
        messages = await history(saver, ids["thread"])
        items = await memories(store, ids["tenant"], "ann")
    assert len(messages) == 8
    assert_whole_turns(messages)
    assert_memory_matches(messages, items)


# --- kill at random ---------------------------------------------------------------------------


def _run_whole(backend: tuple[str, str], ids: dict[str, str], folder: Path) -> float:
    """Run a process's turns to the end; seconds from its being ready to its exit."""
    ready = folder / "ready-whole"
    proc = _start(
        *backend, ids, "whole: what is asthma?", TURNS_PER_VICTIM, **{READY_ENV: str(ready)}
    )
    _wait_for(ready, proc)
    start = time.perf_counter()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()[-2000:]
    return time.perf_counter() - start


def _run_and_kill(
    backend: tuple[str, str], ids: dict[str, str], folder: Path, n: int, delay_s: float | None
) -> bool:
    """Start a process running turns; SIGKILL it `delay_s` after it is ready (None: inside
    `save_turn`, before its memory put lands or the moment it has). True if it was killed,
    False if it had ended first."""
    ready = folder / f"ready{n}"
    env = {READY_ENV: str(ready)}
    if delay_s is None:
        env[PAUSE_PUT_ENV] = "before" if n % 2 else "kill_after"
    proc = _start(*backend, ids, f"victim {n}: what is asthma?", TURNS_PER_VICTIM, **env)
    try:
        _wait_for(ready, proc)
        if env.get(PAUSE_PUT_ENV) == "kill_after":
            proc.wait(timeout=60)  # it kills itself
        elif delay_s is None:
            _wait_for(folder / f"ready{n}.put", proc)
        else:
            time.sleep(delay_s)
        killed = proc.poll() is None or proc.returncode == -signal.SIGKILL
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        _, err = proc.communicate(timeout=60)
    assert killed or proc.returncode == 0, err.decode()[-2000:]
    return killed


def test_kill_at_random_leaves_whole_turns_and_memory_agreeing(
    durable_backend: tuple[str, str], tmp_path: Path
) -> None:
    ids = {"thread": unique("t"), "tenant": unique("clinic"), "user": "ann"}
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    span_s = _run_whole(durable_backend, ids, tmp_path)  # the span kills fall in
    kills = attempts = 0
    while kills < KILLS and attempts < 3 * KILLS:
        attempts += 1
        delay_s = rng.uniform(0, span_s)
        kills += _run_and_kill(durable_backend, ids, tmp_path, attempts, delay_s)
    assert kills == KILLS, f"only {kills} of {attempts} runs were killed (seed {seed})"
    # And two kills inside `save_turn`: before its memory put lands, and the moment it has.
    for n in (3 * KILLS + 1, 3 * KILLS + 2):
        assert _run_and_kill(durable_backend, ids, tmp_path, n, delay_s=None)

    async def check() -> dict[str, Any]:
        async with persistence(*durable_backend) as (saver, store):
            assert_whole_turns(await history(saver, ids["thread"]))
            out = await chat_turn(saver, store, **ids, question="One more: what is asthma?")
            messages = await history(saver, ids["thread"])
            items = await memories(store, ids["tenant"], ids["user"])
        assert_whole_turns(messages)
        assert_memory_matches(messages, items)
        return out

    out = asyncio.run(check())
    assert out["metadata"]["save_turn"]["caught_up"] >= 1, f"seed {seed}"


# --- over the server --------------------------------------------------------------------------


@pytest.fixture
def client(server: Server) -> LangGraphClient:
    return get_client(url=server.url)


async def test_server_queues_concurrent_runs_on_a_thread(client: LangGraphClient) -> None:
    """The server's default `multitask_strategy` is "enqueue": a run on a busy thread waits
    for the running one, and both turns are saved."""
    thread = (await client.threads.create())["thread_id"]
    asked = set()
    for r in range(3):
        runs = []
        for w in range(2):
            question = f"round {r}, run {w}: what is asthma?"
            asked.add(question)
            runs.append(
                client.runs.create(
                    thread, "mode4_chat_automatic", input={"query": question, "user_id": "ann"}
                )
            )
        created = await asyncio.gather(*runs)
        for run in created:
            await client.runs.join(thread, run["run_id"])
            assert (await client.runs.get(thread, run["run_id"]))["status"] == "success"
    state = await client.threads.get_state(thread)
    messages = state["values"]["messages"]
    assert [m["type"] for m in messages] == ["human", "ai"] * len(asked)
    assert {m["content"] for m in messages[::2]} == asked


async def test_server_refuses_a_run_on_a_busy_thread_when_asked_to(
    client: LangGraphClient,
) -> None:
    """With `multitask_strategy="reject"`, a run on a busy thread is refused (HTTP 409)."""
    thread = (await client.threads.create())["thread_id"]
    slow = await client.runs.create(
        thread, "hung_retriever", input={"query": "stroke"}, context={"parallel_timeout_ms": 1500}
    )
    with pytest.raises(httpx.HTTPStatusError) as refused:
        await client.runs.create(
            thread,
            "mode4_chat_automatic",
            input={"query": "What is asthma?", "user_id": "ann"},
            multitask_strategy="reject",
        )
    assert refused.value.response.status_code == 409
    assert "already running a task" in refused.value.response.text
    await client.runs.join(thread, slow["run_id"])
    state = await client.threads.get_state(thread)
    assert not state["values"].get("messages"), "the refused turn left nothing on the thread"
