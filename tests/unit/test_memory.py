"""Memory in a LangGraph store: namespaced by tenant and user, ranked by relevance."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.store.base import PutOp
from langgraph.store.memory import InMemoryStore
from langgraph.store.sqlite.aio import AsyncSqliteStore

from parallel_tiers.services.memory import StoreMemory, namespace


async def test_tenants_and_users_never_see_each_other() -> None:
    store, memory = InMemoryStore(), StoreMemory()
    await memory.asave_turn(
        store, tenant_id="a", user_id="ann", query="stroke signs", response="Face drooping [1]."
    )
    await memory.asave_turn(
        store, tenant_id="b", user_id="ann", query="stroke signs", response="Other tenant."
    )
    found_a = await memory.asearch(store, tenant_id="a", user_id="ann", query="stroke")
    found_b = await memory.asearch(store, tenant_id="b", user_id="ann", query="stroke")
    other_user = await memory.asearch(store, tenant_id="a", user_id="bob", query="stroke")
    assert [m["response"] for m in found_a] == ["Face drooping [1]."]
    assert [m["response"] for m in found_b] == ["Other tenant."]
    assert other_user == []


async def test_search_ranks_by_overlap_and_drops_unrelated() -> None:
    store, memory = InMemoryStore(), StoreMemory()
    for q in ("asthma inhaler use", "stroke warning signs", "stroke rehabilitation"):
        await memory.asave_turn(store, tenant_id=None, user_id="u", query=q, response="...")
    found = await memory.asearch(store, tenant_id=None, user_id="u", query="signs of stroke")
    assert [m["query"] for m in found] == ["stroke warning signs", "stroke rehabilitation"]


def test_dots_in_ids_are_escaped_for_the_store() -> None:
    assert namespace("acme.org", "ann@x.com") == ("memories", "acme%2Eorg", "ann@x%2Ecom")


# --- search over all of a user's items -------------------------------------------------------

NEEDLE_QUERY = "What should my mother eat with type 2 diabetes?"
NEEDLE = ("My mother has type 2 diabetes", "Whole grains and vegetables suit type 2 diabetes.")


class NewestFirstStore(InMemoryStore):
    """An in-memory store that lists a namespace newest first, as SqliteStore and
    PostgresStore do (`ORDER BY updated_at DESC`); InMemoryStore lists oldest first."""

    async def asearch(self, namespace_prefix: tuple[str, ...], /, **kwargs: Any) -> Any:
        limit, offset = kwargs.pop("limit", 10), kwargs.pop("offset", 0)
        items = await super().asearch(namespace_prefix, limit=1_000_000, **kwargs)
        return list(reversed(items))[offset : offset + limit]


class _Recorder:
    """Collects the puts of `asave_turn`, to write them to a store in one batch."""

    index_config = None

    def __init__(self) -> None:
        self.ops: list[PutOp] = []

    async def aput(self, namespace: tuple[str, ...], key: str, value: dict[str, Any]) -> None:
        self.ops.append(PutOp(namespace, key, value))


async def _fill(store: Any, *, needle_at: int, total: int = 1_000) -> None:
    """`total` turns of one user; the needle is turn `needle_at` (0 oldest, -1 newest)."""
    memory, recorder = StoreMemory(), _Recorder()
    position = needle_at % total
    for i in range(total):
        if i == position:
            query, response = NEEDLE
        else:  # some share a word with the question: the needle must still rank first
            topic = "diabetes screening" if i % 7 == 0 else "asthma inhaler"
            query, response = f"Question {i} on {topic}", f"Answer {i} about {topic} [1]."
        await memory.asave_turn(
            recorder, tenant_id="t", user_id="ann", query=query, response=response, key=f"k{i:04d}"
        )
    await store.abatch(recorder.ops)


@pytest.fixture(params=["in_memory", "newest_first", "sqlite"])
async def big_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    if request.param == "in_memory":
        yield InMemoryStore()
    elif request.param == "newest_first":
        yield NewestFirstStore()
    else:
        async with AsyncSqliteStore.from_conn_string(str(tmp_path / "memory.sqlite")) as store:
            await store.setup()
            yield store


@pytest.mark.parametrize("needle_at", [0, -1], ids=["needle_oldest", "needle_newest"])
async def test_search_finds_the_needle_among_1000_items(big_store: Any, needle_at: int) -> None:
    await _fill(big_store, needle_at=needle_at)
    found = await StoreMemory().asearch(
        big_store, tenant_id="t", user_id="ann", query=NEEDLE_QUERY, limit=3
    )
    assert found[0]["query"] == NEEDLE[0]
    assert all("diabetes" in m["query"] for m in found)


async def test_equally_relevant_items_come_newest_first() -> None:
    store, memory = InMemoryStore(), StoreMemory()
    for i in range(5):
        await memory.asave_turn(
            store, tenant_id=None, user_id="u", query=f"stroke signs {i}", response="..."
        )
    found = await memory.asearch(store, tenant_id=None, user_id="u", query="stroke", limit=3)
    assert [m["query"] for m in found] == ["stroke signs 4", "stroke signs 3", "stroke signs 2"]


async def test_saving_a_turn_again_under_its_key_replaces_it() -> None:
    store, memory = InMemoryStore(), StoreMemory()
    for _ in range(2):
        await memory.asave_turn(
            store, tenant_id="t", user_id="u", query="stroke signs", response="F.A.S.T.", key="m1"
        )
    items = await store.asearch(namespace("t", "u"))
    assert [(i.key, i.value["query"]) for i in items] == [("m1", "stroke signs")]


def test_unsaved_turns_are_the_answered_ones_after_the_last_saved() -> None:
    from langchain_core.messages import AIMessage, HumanMessage

    from parallel_tiers.services.memory import unsaved_turns

    def turn(n: int, **meta: Any) -> list[Any]:
        return [
            HumanMessage(content=f"q{n}", id=f"h{n}"),
            AIMessage(content=f"a{n}", id=f"a{n}", response_metadata=meta),
        ]

    failed = turn(3, error_code="generation_failed")
    messages = [*turn(1), *turn(2), *failed, HumanMessage(content="lone", id="x"), *turn(4)]
    found = unsaved_turns(messages, saved_through="a1")
    assert [(q.content, a.content) for q, a in found] == [("q2", "a2"), ("q4", "a4")]
    assert [a.id for _, a in unsaved_turns(messages, saved_through="a4")] == []
    assert [a.id for _, a in unsaved_turns(messages, saved_through=None, limit=2)] == ["a2", "a4"]
