"""Memory in a LangGraph store: namespaced by tenant and user, ranked by relevance."""

from __future__ import annotations

from langgraph.store.memory import InMemoryStore

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
