"""A checkpointer and a store per backend, and one chat turn runnable in a process of its own.

    python -m tests.integration.persistence BACKEND LOCATION THREAD TENANT USER QUESTION [TURNS]

runs one mode 4 turn on the thread (or TURNS turns, asking "QUESTION #i") and prints the last
result as JSON (used by the persistence tests to continue a thread in a new process, and by
the concurrency tests to run writers and kill them). LOCATION is a folder for SQLite, a
connection URI for PostgreSQL. For those tests the process also obeys three variables:

- `READY_ENV`: a path it creates once set up, right before its first turn;
- `GO_ENV`: a path it waits for before its first turn (two writers start together);
- `PAUSE_PUT_ENV`: "before": each memory put creates `<READY_ENV>.put` and then stalls before
  the put itself, so a test can kill the process inside `save_turn`; "kill_after": the
  process kills itself (SIGKILL) the moment the memory put of one of its own turns (not a
  caught-up one) has landed.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from parallel_tiers import build_mode_graph

BACKENDS = ("memory", "sqlite", "postgres")
READY_ENV = "PARALLEL_TIERS_TEST_READY"
GO_ENV = "PARALLEL_TIERS_TEST_GO"
PAUSE_PUT_ENV = "PARALLEL_TIERS_TEST_PAUSE_PUT"


@asynccontextmanager
async def persistence(backend: str, location: str = "") -> AsyncIterator[tuple[Any, Any]]:
    """(checkpointer, store) of a backend, set up and ready."""
    if backend == "memory":
        from langgraph.checkpoint.memory import InMemorySaver
        from langgraph.store.memory import InMemoryStore

        yield InMemorySaver(), InMemoryStore()
    elif backend == "sqlite":
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
        from langgraph.store.sqlite.aio import AsyncSqliteStore

        folder = Path(location)
        async with (
            AsyncSqliteSaver.from_conn_string(str(folder / "checkpoints.sqlite")) as saver,
            AsyncSqliteStore.from_conn_string(str(folder / "memory.sqlite")) as store,
        ):
            await saver.setup()
            await store.setup()
            yield saver, store
    elif backend == "postgres":
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        from langgraph.store.postgres.aio import AsyncPostgresStore

        async with (
            AsyncPostgresSaver.from_conn_string(location) as saver,
            AsyncPostgresStore.from_conn_string(location) as store,
        ):
            await saver.setup()
            await store.setup()
            yield saver, store
    else:
        raise ValueError(f"unknown backend {backend!r}; expected one of {BACKENDS}")


async def chat_turn(
    saver: Any, store: Any, *, thread: str, tenant: str, user: str, question: str
) -> dict[str, Any]:
    """One mode 4 turn on `thread`."""
    graph = build_mode_graph(4, checkpointer=saver, store=store)
    return await graph.ainvoke(
        {"query": question, "tenant_id": tenant, "user_id": user},
        config={"configurable": {"thread_id": thread}},
    )


async def history(saver: Any, thread: str) -> list[Any]:
    """The messages of `thread` as its latest checkpoint holds them."""
    found = await saver.aget_tuple({"configurable": {"thread_id": thread}})
    return list(found.checkpoint["channel_values"].get("messages") or []) if found else []


async def memories(store: Any, tenant: str, user: str) -> dict[str, dict[str, Any]]:
    """Every memory item of a user: key -> value."""
    from parallel_tiers.services.memory import namespace

    items = await store.asearch(namespace(tenant, user), limit=100_000)
    return {item.key: item.value for item in items}


class PausingStore:
    """A store whose puts stall or kill the process (see `PAUSE_PUT_ENV`)."""

    def __init__(self, store: Any, marker: str, when: str, question: str) -> None:
        self._store, self.marker, self.when, self.question = store, marker, when, question
        self.index_config = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def aput(self, *args: Any, **kwargs: Any) -> None:
        _touch(self.marker)
        if self.when == "before":
            await asyncio.sleep(60)
        await self._store.aput(*args, **kwargs)
        value = args[2] if len(args) > 2 else kwargs.get("value") or {}
        if self.when == "kill_after" and value.get("query", "").startswith(self.question):
            os.kill(os.getpid(), signal.SIGKILL)


def _touch(path: str) -> None:
    Path(path).touch()


def _wait_for(path: str) -> None:
    """Before the first turn: nothing else runs on the loop, blocking is fine."""
    while not Path(path).exists():
        time.sleep(0.001)


async def _main(
    backend: str, location: str, thread: str, tenant: str, user: str, q: str, turns: str = "1"
) -> None:
    count = int(turns)
    async with persistence(backend, location) as (saver, store):
        ready, go, pause = (os.environ.get(k) for k in (READY_ENV, GO_ENV, PAUSE_PUT_ENV))
        if ready and pause:
            store = PausingStore(store, f"{ready}.put", pause, q)
        if ready:
            _touch(ready)
        if go:
            _wait_for(go)
        for i in range(count):
            question = q if count == 1 else f"{q} #{i}"
            result = await chat_turn(
                saver, store, thread=thread, tenant=tenant, user=user, question=question
            )
    messages = [{"type": m.type, "content": m.content} for m in result["messages"]]
    print(json.dumps({"messages": messages, "memory": result["memory"]}))


if __name__ == "__main__":
    asyncio.run(_main(*sys.argv[1:8]))
