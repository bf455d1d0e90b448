"""One turn at a time on a chat thread: per-thread locks, and the graph whose runs hold them.

Two turns run at once on one thread would both load the same checkpoint and both append to
it: the checkpoint written last wins and the other turn is lost. A run of a graph from
`build_mode_graph(..., checkpointer=...)` on a `thread_id` therefore holds the thread's lock
from its first step to its last checkpoint. A second run on the thread waits for it, at most
`thread_wait_ms` (default `THREAD_WAIT_MS`), then is refused with `ThreadBusyError` before it
has read or written anything.

The lock follows the checkpointer, so it reaches every writer of the thread's checkpoints:

- SQLite (`AsyncSqliteSaver`): a byte-range lock (`fcntl.lockf`) at an offset hashed from
  the thread id, in `<database>.threads.lock` beside the database. It covers every process
  on the machine and is released by the kernel when a process dies.
- PostgreSQL (`AsyncPostgresSaver`): a session advisory lock
  (`pg_try_advisory_lock(ADVISORY_CLASS, hashtext(thread_id))`), on the saver's connection,
  or on a connection of its own when the saver has a pool. It covers every process using
  the database and is released by the server when the session ends.
- Any other checkpointer (`InMemorySaver`, a LangGraph server's): a lock within the process.

Every kind also takes a lock within the process first (a byte-range or advisory lock is held
per process or per session, so it cannot tell two runs of one process apart). Waiting polls
(1 ms, doubling to `MAX_POLL_S`), so it is not first come, first served.

A run with a checkpointer that passes no `durability` gets the graph's: the single-turn modes
"exit" (`DURABILITY`: the run's checkpoint is written once, when it ends, answered, failed or
paused for tool approval; a process killed mid-run loses that run only), the chat modes
"async" (LangGraph's default, a checkpoint per step: the turn's messages are saved before
`save_turn` writes the turn to memory, so a kill never leaves memory holding a turn the thread
lost). Pass `durability=` per run to choose otherwise.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, get_args

from langchain_core.runnables import RunnableConfig
from langgraph._internal._config import ensure_config  # as `astream` merges configs
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.constants import CONFIG_KEY_CHECKPOINTER
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Durability

from parallel_tiers.logs import get_logger

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: locks within the process only
    fcntl = None  # type: ignore[assignment]

log = get_logger()

THREAD_WAIT_MS = 60_000
"""How long a run waits for another run on its thread to end before `ThreadBusyError`."""
MAX_POLL_S = 0.02
"""Longest pause between two tries of a held lock."""
ADVISORY_CLASS = 0x5054
"""First key of this package's PostgreSQL advisory locks (the second is the thread's hash)."""
LOCK_SUFFIX = ".threads.lock"
"""The SQLite lock file is the database's path plus this suffix."""
_OFFSETS = 2**40
DURABILITY: Durability = "exit"
"""When a single-turn run's checkpoint is written, unless the run passes `durability=` (see
the module doc; chat modes use "async").

A single-turn run's intermediate checkpoints are never resumed (the next run on the thread
brings new input, or resumes a tool-approval pause, which "exit" saves). Measured
(`python -m benchmarks`, mode 2): InMemorySaver adds 1.2 ms a run with "async" and about
nothing with "exit"; AsyncSqliteSaver 15.4 ms with "async", 1.6 ms with "exit"."""
_TASK_ID = "__pregel_task_id"
"""LangGraph's `CONFIG_KEY_TASK_ID` (internal): set when a graph runs as a node of another
graph, whose run holds the lock."""


def checkpointer_of(config: RunnableConfig | None) -> Any:
    """The checkpointer a run's config carries (None: the run has none).

    LangGraph 1.2's `Runtime` offers the store but not the checkpointer, so this reads the
    config key `langgraph.constants` still exports (the LangGraph server hands its checkpointer
    over this way). The package's one access to it.
    """
    return ((config or {}).get("configurable") or {}).get(CONFIG_KEY_CHECKPOINTER)


class ThreadBusyError(RuntimeError):
    """A turn refused because another turn held its thread for longer than the wait bound."""

    def __init__(self, thread_id: str, wait_ms: int) -> None:
        self.thread_id = thread_id
        self.wait_ms = wait_ms
        super().__init__(
            f"thread {thread_id!r} is busy: another turn on it did not end within "
            f"{wait_ms} ms (thread_wait_ms); nothing of this turn was saved, try it again"
        )


class _Slot:
    """A lock within the process; weakly registered, so idle threads cost nothing."""

    __slots__ = ("__weakref__", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()


_SLOTS: weakref.WeakValueDictionary[tuple[Any, ...], _Slot] = weakref.WeakValueDictionary()
_SLOTS_GUARD = threading.Lock()
_LOCK_FILES: dict[str, int] = {}
"""Open descriptors of the SQLite lock files. Never closed: closing any descriptor of a file
drops every `lockf` lock the process holds on it."""
_DB_PATHS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def _slot(key: tuple[Any, ...]) -> _Slot:
    with _SLOTS_GUARD:
        slot = _SLOTS.get(key)
        if slot is None:
            slot = _SLOTS[key] = _Slot()
        return slot


def _thread_hash(thread_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(thread_id.encode(), digest_size=8).digest(), "big")


def _kind(checkpointer: Any) -> str:
    module = type(checkpointer).__module__
    if module.startswith("langgraph.checkpoint.sqlite"):
        return "sqlite"
    if module.startswith("langgraph.checkpoint.postgres"):
        return "postgres"
    return "process"


# --- SQLite: a byte-range lock in a file beside the database -----------------------------


def _lock_fd(database: str) -> int | None:
    if fcntl is None or not database:
        return None
    path = database + LOCK_SUFFIX
    with _SLOTS_GUARD:
        fd = _LOCK_FILES.get(path)
        if fd is None:
            fd = _LOCK_FILES[path] = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        return fd


def _try_lockf(fd: int, offset: int) -> bool:
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset, os.SEEK_SET)
    except OSError:  # EAGAIN / EACCES: another process holds it
        return False
    return True


def _unlockf(fd: int, offset: int) -> None:
    fcntl.lockf(fd, fcntl.LOCK_UN, 1, offset, os.SEEK_SET)


async def _asqlite_path(saver: Any) -> str:
    if saver in _DB_PATHS:
        return _DB_PATHS[saver]
    async with saver.lock, saver.conn.execute("PRAGMA database_list") as cursor:
        rows = await cursor.fetchall()
    path = _DB_PATHS[saver] = next((str(r[2] or "") for r in rows if r[1] == "main"), "")
    return path


# --- waiting -------------------------------------------------------------------------------


class _Deadline:
    def __init__(self, thread_id: str, wait_ms: int) -> None:
        self.thread_id, self.wait_ms = thread_id, wait_ms
        self.end = time.monotonic() + wait_ms / 1000
        self.pause = 0.001

    def next_pause(self) -> float:
        """Seconds to sleep before the next try; `ThreadBusyError` once the bound is reached."""
        left = self.end - time.monotonic()
        if left <= 0:
            raise ThreadBusyError(self.thread_id, self.wait_ms)
        pause, self.pause = min(self.pause, left), min(self.pause * 2, MAX_POLL_S)
        return pause


async def _apoll(attempt: Callable[[], bool | Awaitable[bool]], deadline: _Deadline) -> None:
    """Call `attempt` until it returns True, pausing in between; `ThreadBusyError` at the bound.

    Polling: neither a lock in another process nor one in another thread can wake a waiter.
    """
    while True:
        done = attempt()
        if not isinstance(done, bool):
            done = await done
        if done:
            return
        await asyncio.sleep(deadline.next_pause())


# --- PostgreSQL: a session advisory lock -----------------------------------------------------

_TRY = "SELECT pg_try_advisory_lock(%s, hashtext(%s)) AS locked"
_UNLOCK = "SELECT pg_advisory_unlock(%s, hashtext(%s))"


def _locked(row: Any) -> bool:
    return bool(row["locked"] if isinstance(row, dict) else row[0])


@asynccontextmanager
async def _apg_connection(saver: Any) -> AsyncIterator[tuple[Any, Any]]:
    """(connection, guard): the saver's own connection and lock, or a new connection."""
    from psycopg import AsyncConnection

    if isinstance(saver.conn, AsyncConnection):
        yield saver.conn, saver.lock
        return
    # A pool: a connection of its own, so a run never holds one the checkpoints need.
    pool = saver.conn
    kwargs = {**(pool.kwargs or {}), "autocommit": True}
    async with await AsyncConnection.connect(pool.conninfo, **kwargs) as conn:
        yield conn, asyncio.Lock()


async def _apg_execute(conn: Any, guard: Any, query: str, thread_id: str) -> Any:
    async with guard, conn.cursor() as cur:
        await cur.execute(query, (ADVISORY_CLASS, thread_id))
        return await cur.fetchone()


@asynccontextmanager
async def _apg_lock(saver: Any, thread_id: str, deadline: _Deadline) -> AsyncIterator[None]:
    async with _apg_connection(saver) as (conn, guard):

        async def attempt() -> bool:
            return _locked(await _apg_execute(conn, guard, _TRY, thread_id))

        await _apoll(attempt, deadline)
        try:
            yield
        finally:
            try:
                await _apg_execute(conn, guard, _UNLOCK, thread_id)
            except Exception as exc:  # the session is gone: so is its lock
                log.warning("thread_unlock_failed", thread_id=thread_id, error=type(exc).__name__)


# --- the locks -------------------------------------------------------------------------------


@asynccontextmanager
async def athread_lock(
    checkpointer: Any, thread_id: str, *, wait_ms: int = THREAD_WAIT_MS
) -> AsyncIterator[None]:
    """Hold `thread_id`'s lock for the checkpointer's kind (see the module doc).

    Args:
        checkpointer: the saver the thread's checkpoints are written with.
        thread_id: the thread.
        wait_ms: how long to wait for a holder to let go.

    Raises:
        ThreadBusyError: the lock was still held after `wait_ms`.

    """
    deadline = _Deadline(thread_id, wait_ms)
    kind = _kind(checkpointer)
    database = await _asqlite_path(checkpointer) if kind == "sqlite" else ""
    place = database or id(getattr(checkpointer, "conn", checkpointer))
    slot = _slot((kind, place, thread_id))
    await _apoll(lambda: slot.lock.acquire(blocking=False), deadline)
    try:
        if kind == "postgres":
            async with _apg_lock(checkpointer, thread_id, deadline):
                yield
            return
        fd = _lock_fd(database)
        if fd is None:
            yield
            return
        offset = _thread_hash(thread_id) % _OFFSETS
        await _apoll(lambda: _try_lockf(fd, offset), deadline)
        try:
            yield
        finally:
            _unlockf(fd, offset)
    finally:
        slot.lock.release()


# --- the graph -------------------------------------------------------------------------------


class AsyncOnlyError(TypeError):
    """A mode graph run synchronously (`invoke`, `stream`): its nodes are async only.

    Raised before anything runs: no node has run and no checkpoint was written.
    """

    def __init__(self, graph: str, method: str) -> None:
        super().__init__(
            f"{graph}.{method}(): the mode graphs run asynchronously (their nodes are async); "
            "use `await graph.ainvoke(...)` or `graph.astream(...)`, from synchronous code "
            "`asyncio.run(graph.ainvoke(...))`, and run a graph that has one as a node with "
            "`ainvoke` / `astream` too. Nothing ran and nothing was saved."
        )


class ThreadLockedGraph(CompiledStateGraph[Any, Any, Any, Any]):
    """A compiled graph whose runs on a checkpointer thread hold the thread's lock.

    `ainvoke`, `astream` and `astream_events` all run through `astream`, which takes the lock
    before the first step. A run without a checkpointer or a `thread_id`, or run as a node of
    another graph (whose run holds the lock), takes none. The nodes are async only, so a
    synchronous run (`invoke`, `stream`, `stream_events`, `batch`; also as a node of a graph
    run so) raises `AsyncOnlyError` at once, before its first step.
    """

    def __init__(
        self,
        *,
        thread_wait_ms: int = THREAD_WAIT_MS,
        durability: Durability = DURABILITY,
        **kwargs: Any,
    ) -> None:
        if durability not in get_args(Durability):
            raise ValueError(
                f"durability: expected one of {', '.join(get_args(Durability))}, got {durability!r}"
            )
        super().__init__(**kwargs)
        self.thread_wait_ms = thread_wait_ms
        self.durability: Durability = durability

    @classmethod
    def of(
        cls,
        graph: CompiledStateGraph[Any, Any, Any, Any],
        *,
        thread_wait_ms: int = THREAD_WAIT_MS,
        durability: Durability = DURABILITY,
    ) -> ThreadLockedGraph:
        """`graph` as a `ThreadLockedGraph` (as `graph.copy()` does, with this class).

        `durability` is the default of its checkpointed runs that pass none (see `DURABILITY`).
        """
        attrs = {k: v for k, v in graph.__dict__.items() if k != "__orig_class__"}
        return cls(**{**attrs, "thread_wait_ms": thread_wait_ms, "durability": durability})

    def _default_durability(self, config: RunnableConfig | None) -> Durability | None:
        """The graph's `durability` for a top-level run with a checkpointer, else None.

        A run as a node of another graph inherits its parent's; a run without a checkpointer
        takes none (LangGraph warns that it has no effect).
        """
        if self.checkpointer is False:
            return None
        merged = ensure_config(self.config, config)
        configurable = merged.get("configurable") or {}
        if configurable.get(_TASK_ID):
            return None
        saver = checkpointer_of(merged) or self.checkpointer
        return self.durability if isinstance(saver, BaseCheckpointSaver) else None

    def _lock_target(self, config: RunnableConfig | None) -> tuple[Any, str] | None:
        """(checkpointer, thread_id) of a run that must hold a thread lock, else None."""
        if self.checkpointer is False:
            return None
        merged = ensure_config(self.config, config)
        configurable = merged.get("configurable") or {}
        thread_id = configurable.get("thread_id")
        if thread_id is None or configurable.get(_TASK_ID):
            return None
        saver = checkpointer_of(merged) or self.checkpointer
        if not isinstance(saver, BaseCheckpointSaver):
            return None
        return saver, str(thread_id)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Refused at once: `AsyncOnlyError` (use `ainvoke`)."""
        raise AsyncOnlyError(self.name, "invoke")

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Refused at once: `AsyncOnlyError` (use `astream`)."""
        raise AsyncOnlyError(self.name, "stream")

    def stream_events(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Refused at once: `AsyncOnlyError` (use `astream_events`)."""
        raise AsyncOnlyError(self.name, "stream_events")

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        """`CompiledStateGraph.astream`, holding the thread's lock (see the class doc).

        A checkpointed run that passes no `durability` runs with the graph's (`DURABILITY`).
        """
        if kwargs.get("durability") is None and kwargs.get("checkpoint_during") is None:
            default = self._default_durability(config)
            if default is not None:
                kwargs["durability"] = default
        target = self._lock_target(config)
        if target is None:
            async for part in super().astream(input, config, **kwargs):
                yield part
            return
        async with athread_lock(*target, wait_ms=self.thread_wait_ms):
            async for part in super().astream(input, config, **kwargs):
                yield part


__all__ = [
    "DURABILITY",
    "THREAD_WAIT_MS",
    "AsyncOnlyError",
    "ThreadBusyError",
    "ThreadLockedGraph",
    "athread_lock",
    "checkpointer_of",
]
