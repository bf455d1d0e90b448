"""A checkpointer and a store per backend, and one chat turn runnable in a process of its own.

    python -m tests.integration.persistence BACKEND LOCATION THREAD TENANT USER QUESTION

runs one mode 4 turn on the thread and prints the result as JSON (used by the persistence
tests to continue a thread in a new process). LOCATION is a folder for SQLite, a connection
URI for PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import structlog

from parallel_tiers import build_mode_graph

BACKENDS = ("memory", "sqlite", "postgres")


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


async def _main(backend: str, location: str, thread: str, tenant: str, user: str, q: str) -> None:
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))  # stdout: JSON
    async with persistence(backend, location) as (saver, store):
        result = await chat_turn(saver, store, thread=thread, tenant=tenant, user=user, question=q)
    messages = [{"type": m.type, "content": m.content} for m in result["messages"]]
    print(json.dumps({"messages": messages, "memory": result["memory"]}))


if __name__ == "__main__":
    asyncio.run(_main(*sys.argv[1:7]))
