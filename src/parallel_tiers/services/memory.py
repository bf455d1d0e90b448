"""Memory: earlier turns of a user, kept in a LangGraph `BaseStore`.

Items live under the namespace `("memories", tenant_id, user_id)`, so one tenant's search can
never reach another's items. A store with a semantic index is searched by meaning; any other
store is searched by shared stemmed words over all of the user's items (read `PAGE_SIZE` at a
time, their words stemmed once, when saved), most overlapping first, newest first on ties.

A chat turn is saved under a key of its own (its answer's message id), so saving it again
(a turn caught up after a run was killed, see `modes.nodes.save_turn`) replaces the item.
"""

from __future__ import annotations

import heapq
import time
import uuid
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore

from parallel_tiers.services.text import tokenize

DEFAULT_TENANT = "default"
PAGE_SIZE = 1000
"""Items a lexical search reads per store call; it reads them all, page after page."""
CATCH_UP_TURNS = 4
"""Most earlier turns of a thread a chat turn saves besides its own (see `unsaved_turns`)."""


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
        """The user's memories most relevant to `query` (at most `limit`).

        Without a semantic index every item of the user is scored: the share of the query's
        stemmed words it holds, then how recently it was saved. Linear in the user's items.
        """
        ns = namespace(tenant_id, user_id)
        if getattr(store, "index_config", None):
            items = await store.asearch(ns, query=query, limit=limit)
            return [_entry(i.value, i.key, i.score) for i in items]
        wanted = set(tokenize(query))
        if not wanted or limit <= 0:
            return []
        best: list[tuple[float, float, str, Any]] = []  # a min-heap of the `limit` best
        seen: set[str] = set()
        offset = 0
        while True:
            page = await store.asearch(ns, limit=PAGE_SIZE, offset=offset)
            for item in page:
                if item.key in seen:  # an item saved during the scan shifts the pages
                    continue
                seen.add(item.key)
                overlap = len(wanted & _terms(item.value)) / len(wanted)
                if overlap > 0:
                    ranked = (overlap, float(item.value.get("saved_at") or 0.0), item.key, item)
                    if len(best) < limit:
                        heapq.heappush(best, ranked)
                    elif ranked[:3] > best[0][:3]:
                        heapq.heapreplace(best, ranked)
            if len(page) < PAGE_SIZE:
                break
            offset += len(page)
        best.sort(key=lambda r: r[:3], reverse=True)
        return [_entry(i.value, i.key, round(o, 4)) for o, _, _, i in best]

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
        key: str | None = None,
    ) -> str:
        """Save one question and answer together, as one item; returns the item key.

        Args:
            store: where the user's memories live.
            tenant_id: the tenant (None: `DEFAULT_TENANT`).
            user_id: the user.
            query: the question.
            response: the answer.
            agent_id: the expert that answered.
            session_id: the caller's session id.
            key: the turn's own key: saving the same turn again replaces its item. None: a
                new random key.

        """
        key = key or uuid.uuid4().hex
        value: dict[str, Any] = {
            "query": query,
            "response": response,
            "agent_id": agent_id,
            "session_id": session_id,
            "saved_at": time.time(),
        }
        if not getattr(store, "index_config", None):  # an index embeds the value: no noise
            value["terms"] = sorted(set(tokenize(f"{query} {response}")))
        await store.aput(namespace(tenant_id, user_id), key, value)
        return key


def unsaved_turns(
    messages: Sequence[BaseMessage], *, saved_through: str | None, limit: int = CATCH_UP_TURNS
) -> list[tuple[BaseMessage, AIMessage]]:
    """The answered turns of a thread after the one named `saved_through`, oldest first.

    A turn is a question directly followed by its answer (`generate` writes both at once); an
    answer whose generation failed (`response_metadata["error_code"]`) is no turn to keep.
    The search walks back from the newest message and stops at `saved_through` or after
    `limit` turns, so a thread's length never matters.

    Args:
        messages: the thread's messages, oldest first.
        saved_through: the answer id of the latest turn memory holds (None: unknown).
        limit: most turns returned (the newest ones).

    """
    found: list[tuple[BaseMessage, AIMessage]] = []
    i = len(messages) - 1
    while i > 0 and len(found) < limit:
        answer = messages[i]
        if saved_through is not None and answer.id == saved_through:
            break
        question = messages[i - 1]
        if isinstance(answer, AIMessage) and isinstance(question, HumanMessage):
            if not answer.response_metadata.get("error_code"):
                found.append((question, answer))
            i -= 2
        else:
            i -= 1
    return found[::-1]


def _terms(value: dict[str, Any]) -> set[str]:
    """The stemmed words of an item: saved with it, or (an older item) computed now."""
    terms = value.get("terms")
    if isinstance(terms, list):
        return set(terms)
    return set(tokenize(f"{value.get('query', '')} {value.get('response', '')}"))


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
