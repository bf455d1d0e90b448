"""Memory: earlier turns of a user, kept in a LangGraph `BaseStore`.

Items live under the namespace `("memories", tenant_id, user_id)`, so one tenant's search can
never reach another's items. A store with a semantic index is searched by meaning; any other
store is searched by shared stemmed words, most overlapping first, newest first on ties.
"""

from __future__ import annotations

import time
import uuid
from functools import lru_cache
from typing import Any

from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore

from parallel_tiers.services.text import tokenize

DEFAULT_TENANT = "default"
SCAN_LIMIT = 200
"""How many recent items a lexical search looks at."""


def namespace(tenant_id: str | None, user_id: str) -> tuple[str, ...]:
    """The store namespace of one tenant's user (dots escaped: the store forbids them)."""
    return ("memories", _label(tenant_id or DEFAULT_TENANT), _label(user_id))


def _label(value: str) -> str:
    return value.replace("%", "%25").replace(".", "%2E")


class StoreMemory:
    """Reads and saves conversation memories in a `BaseStore`."""

    async def asearch(
        self, store: BaseStore, *, tenant_id: str | None, user_id: str, query: str, limit: int = 3
    ) -> list[dict[str, Any]]:
        """The user's memories most relevant to `query` (at most `limit`)."""
        ns = namespace(tenant_id, user_id)
        if getattr(store, "index_config", None):
            items = await store.asearch(ns, query=query, limit=limit)
            return [_entry(i.value, i.key, i.score) for i in items]
        items = await store.asearch(ns, limit=SCAN_LIMIT)
        wanted = set(tokenize(query))
        scored = []
        for item in items:
            words = set(tokenize(f"{item.value.get('query', '')} {item.value.get('response', '')}"))
            overlap = len(wanted & words) / len(wanted) if wanted else 0.0
            if overlap > 0:
                scored.append((overlap, item.value.get("saved_at", 0.0), item))
        scored.sort(key=lambda s: (s[0], s[1]), reverse=True)
        return [_entry(i.value, i.key, round(o, 4)) for o, _, i in scored[:limit]]

    async def asave_turn(
        self,
        store: BaseStore,
        *,
        tenant_id: str | None,
        user_id: str,
        query: str,
        response: str,
        agent_id: str | None = None,
        session_id: str | None = None,
    ) -> str:
        """Save one question and answer; returns the item key."""
        key = uuid.uuid4().hex
        value = {
            "query": query,
            "response": response,
            "agent_id": agent_id,
            "session_id": session_id,
            "saved_at": time.time(),
        }
        await store.aput(namespace(tenant_id, user_id), key, value)
        return key


def _entry(value: dict[str, Any], key: str, score: float | None) -> dict[str, Any]:
    return {
        "key": key,
        "query": value.get("query", ""),
        "response": value.get("response", ""),
        "agent_id": value.get("agent_id"),
        "score": score,
    }


@lru_cache(maxsize=1)
def fallback_store() -> BaseStore:
    """The in-process store used when neither the graph nor the context provides one."""
    return InMemoryStore()
