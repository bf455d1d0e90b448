"""Identity from authentication over a real `langgraph dev` with `parallel_tiers.auth` on.

Two callers with their own tokens: ann of tenant A and bob of tenant B. ann has a chat thread
and a memory; bob, trying every door a client has, never reads, streams, resumes, searches
or changes it, never reads ann's memory (store API or graphs), cannot run as ann through
input keys, and ann's thread is intact afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from tests.integration.conftest import AuthServer

pytestmark = [pytest.mark.integration, pytest.mark.enable_socket]

SECRET = "What does a positive HIV test result mean for my treatment?"
"""ann's question: what she would not want anyone else to recall."""
MEMORY_OF_ANN = ("memories", "A", "ann")


def client_of(server: AuthServer, name: str | None = None, **headers: str) -> LangGraphClient:
    if name is not None:
        headers["Authorization"] = f"Bearer {server.tokens[name]}"
    return get_client(url=server.url, headers=headers)


@pytest.fixture(scope="module")
def ann_thread(auth_server: AuthServer) -> dict[str, Any]:
    """ann's mode 4 chat turn on her thread: its ids, state and the run."""

    async def setup() -> dict[str, Any]:
        ann = client_of(auth_server, "ann")
        thread = await ann.threads.create(metadata={"topic": "results"})
        run = await ann.runs.create(
            thread["thread_id"], "mode4_chat_automatic", input={"query": SECRET}
        )
        result = await ann.runs.join(thread["thread_id"], run["run_id"])
        state = await ann.threads.get_state(thread["thread_id"])
        return {"thread": thread, "run": run, "result": result, "state": state}

    return asyncio.run(setup())


@pytest.fixture
def ann(auth_server: AuthServer) -> LangGraphClient:
    return client_of(auth_server, "ann")


@pytest.fixture
def bob(auth_server: AuthServer) -> LangGraphClient:
    return client_of(auth_server, "bob")


async def refused(call: Awaitable[Any], *codes: int) -> None:
    """Assert a call fails with 403 or 404 (or one of `codes`), never succeeds."""
    with pytest.raises(httpx.HTTPStatusError) as caught:
        await call
    status = caught.value.response.status_code
    assert status in (403, 404, *codes), (status, caught.value.response.text)


async def _first_part(stream: AsyncIterator[Any]) -> Any:
    async with asyncio.timeout(10):  # a thread's stream stays open while it is allowed
        return await anext(stream)


def test_ann_ran_as_herself(ann_thread: dict[str, Any]) -> None:
    result = ann_thread["result"]
    assert (result["tenant_id"], result["user_id"]) == ("A", "ann")
    assert result["metadata"]["save_turn"]["status"] == "ok"
    meta = ann_thread["thread"]["metadata"]
    assert (meta["owner_tenant_id"], meta["owner_user_id"]) == ("A", "ann")


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-token"}])
async def test_no_or_wrong_token_gets_401(
    auth_server: AuthServer, ann_thread: dict[str, Any], headers: dict[str, str]
) -> None:
    client = client_of(auth_server, **headers)
    thread_id = ann_thread["thread"]["thread_id"]
    for call in (
        client.threads.search(),
        client.threads.get(thread_id),
        client.runs.wait(None, "mode2_automatic", input={"query": SECRET}),
        client.store.search_items(MEMORY_OF_ANN),
    ):
        with pytest.raises(httpx.HTTPStatusError) as caught:
            await call
        assert caught.value.response.status_code == 401
        assert "token" in caught.value.response.text.lower()


async def test_bob_cannot_read_anns_thread_or_its_runs(
    bob: LangGraphClient, ann_thread: dict[str, Any]
) -> None:
    thread_id, run_id = ann_thread["thread"]["thread_id"], ann_thread["run"]["run_id"]
    await refused(bob.threads.get(thread_id))
    await refused(bob.threads.get_state(thread_id))
    await refused(bob.threads.get_history(thread_id))
    await refused(bob.runs.get(thread_id, run_id))
    await refused(bob.runs.join(thread_id, run_id))
    await refused(bob.threads.copy(thread_id), 409)  # the server's "not found" for a copy
    await refused(bob.runs.list(thread_id))


async def test_bob_cannot_find_anns_thread(
    bob: LangGraphClient, ann_thread: dict[str, Any]
) -> None:
    thread_id = ann_thread["thread"]["thread_id"]
    assert thread_id not in {t["thread_id"] for t in await bob.threads.search(limit=100)}
    for metadata in ({"owner_user_id": "ann"}, {"owner_tenant_id": "A"}, {"topic": "results"}):
        assert await bob.threads.search(metadata=metadata) == []
    assert await bob.threads.count() == len(await bob.threads.search(limit=100))


async def test_bob_cannot_stream_join_or_resume_on_anns_thread(
    bob: LangGraphClient, ann_thread: dict[str, Any]
) -> None:
    thread_id, run_id = ann_thread["thread"]["thread_id"], ann_thread["run"]["run_id"]

    # joining the run's or the thread's stream: it holds nothing but "not found"
    parts = [part async for part in bob.runs.join_stream(thread_id, run_id)]
    assert [(p.event, p.data["message"]) for p in parts] == [("error", "404: Thread not found")]
    first = await _first_part(await bob.threads.join_stream(thread_id))
    assert (first.event, first.data["message"]) == ("error", "404: Thread not found")
    await refused(
        _first_part(bob.runs.stream(thread_id, "mode4_chat_automatic", input={"query": "Hi?"}))
    )
    await refused(bob.runs.wait(thread_id, "mode4_chat_automatic", command={"resume": []}))
    await refused(bob.runs.create(thread_id, "mode4_chat_automatic", input={"query": "Hi?"}))
    await refused(
        bob.runs.create(
            thread_id, "mode4_chat_automatic", input={"query": "Hi?"}, if_not_exists="create"
        )
    )
    await refused(bob.runs.cancel(thread_id, run_id))


async def test_bob_cannot_change_or_delete_anns_thread(
    bob: LangGraphClient, ann_thread: dict[str, Any]
) -> None:
    thread_id = ann_thread["thread"]["thread_id"]
    await refused(bob.threads.update(thread_id, metadata={"owner_user_id": "bob"}))
    await refused(bob.threads.update_state(thread_id, {"query": "planted"}))
    await refused(bob.threads.delete(thread_id))
    # taking over its id: "already exists", not ann's thread
    await refused(bob.threads.create(thread_id=thread_id, if_exists="do_nothing"), 409)


async def test_crons_are_owned_too(
    ann: LangGraphClient, bob: LangGraphClient, ann_thread: dict[str, Any]
) -> None:
    thread_id = ann_thread["thread"]["thread_id"]
    yearly = "0 0 1 1 *"  # never due during the test
    cron = await ann.crons.create_for_thread(
        thread_id, "mode4_chat_automatic", schedule=yearly, input={"query": SECRET}
    )
    try:
        assert cron["cron_id"] in {c["cron_id"] for c in await ann.crons.search()}
        assert await bob.crons.search() == []
        assert await bob.crons.search(thread_id=thread_id) == []
        await refused(bob.crons.delete(cron["cron_id"]))
        await refused(bob.crons.update(cron["cron_id"], schedule="* * * * *"))
        await refused(
            bob.crons.create_for_thread(
                thread_id, "mode4_chat_automatic", schedule=yearly, input={"query": "Hi?"}
            )
        )
        assert [c["schedule"] for c in await ann.crons.search()] == [yearly]
    finally:
        await ann.crons.delete(cron["cron_id"])


async def test_bob_cannot_read_or_plant_anns_memory_through_the_store(
    ann: LangGraphClient, bob: LangGraphClient, ann_thread: dict[str, Any]
) -> None:
    saved = (await ann.store.search_items(MEMORY_OF_ANN))["items"]
    assert [item["value"]["query"] for item in saved] == [SECRET]
    key = saved[0]["key"]
    await refused(bob.store.get_item(MEMORY_OF_ANN, key))
    await refused(bob.store.search_items(MEMORY_OF_ANN))
    await refused(bob.store.search_items(("memories", "A")))
    await refused(bob.store.put_item(MEMORY_OF_ANN, "planted", {"query": SECRET}))
    await refused(bob.store.delete_item(MEMORY_OF_ANN, key))
    # broader searches and listings are narrowed to bob's own memory
    for prefix in ((), ("memories",)):
        items = (await bob.store.search_items(prefix, query="HIV"))["items"]
        assert all(tuple(item["namespace"]) == ("memories", "B", "bob") for item in items)
    for namespace in (await bob.store.list_namespaces())["namespaces"]:
        assert tuple(namespace[:3]) == ("memories", "B", "bob")
    assert (await ann.store.get_item(MEMORY_OF_ANN, key))["value"]["query"] == SECRET


@pytest.mark.parametrize(
    ("graph_id", "inputs", "fields"),
    [
        ("mode2_automatic", {"tenant_id": "A", "user_id": "ann"}, ("tenant_id", "user_id")),
        ("mode4_chat_automatic", {"tenant_id": "A"}, ("tenant_id",)),
        ("mode4_chat_automatic", {"user_id": "ann"}, ("user_id",)),
        ("tier1_retrieval", {"tenant_id": "A", "user_id": "ann"}, ("tenant_id", "user_id")),
    ],
)
async def test_bob_cannot_run_as_ann_through_input_keys(
    bob: LangGraphClient,
    ann_thread: dict[str, Any],
    graph_id: str,
    inputs: dict[str, str],
    fields: tuple[str, ...],
) -> None:
    thread_id = (await bob.threads.create())["thread_id"]
    with pytest.raises(Exception, match="InvalidInputError") as caught:
        await bob.runs.wait(thread_id, graph_id, input={"query": SECRET, **inputs})
    message = str(caught.value)
    for field in fields:
        assert f"{field}: " in message and "taken from your credentials" in message
    # refused before anything ran: nothing saved under ann, bob's thread holds no answer
    state = await bob.threads.get_state(thread_id)
    assert not (state["values"] or {}).get("response")


async def test_refusal_reaches_a_streaming_client(
    bob: LangGraphClient, ann_thread: dict[str, Any]
) -> None:
    parts = [
        part
        async for part in bob.runs.stream(
            None, "mode2_automatic", input={"query": SECRET, "user_id": "ann"}
        )
    ]
    (error,) = [part.data for part in parts if part.event == "error"]
    assert error["error"] == "InvalidInputError" and "user_id: " in error["message"]


async def test_bobs_own_runs_never_recall_anns_memory(
    ann: LangGraphClient, bob: LangGraphClient, ann_thread: dict[str, Any]
) -> None:
    thread_id = (await bob.threads.create())["thread_id"]
    mine = await bob.runs.wait(thread_id, "mode4_chat_automatic", input={"query": SECRET})
    assert isinstance(mine, dict)
    assert (mine["tenant_id"], mine["user_id"]) == ("B", "bob")
    assert mine["memory"] == []  # bob has no earlier turn, and ann's is not his
    for graph_id in ("mode2_automatic", "tier1_retrieval"):
        again = await bob.runs.wait(None, graph_id, input={"query": SECRET})
        assert isinstance(again, dict)
        recalled = [m["response"] for m in again["memory"]]
        assert recalled == [mine["response"]], graph_id  # his own turn only
    # the same question recalls ann's memory for ann: the memory is there to be found
    hers = await ann.runs.wait(None, "mode2_automatic", input={"query": SECRET})
    assert isinstance(hers, dict)
    assert [m["query"] for m in hers["memory"]] == [SECRET]
    assert ann_thread["result"]["response"] in [m["response"] for m in hers["memory"]]


async def test_unauthenticated_studio_user_is_refused(
    auth_server: AuthServer, ann_thread: dict[str, Any]
) -> None:
    """Under `langgraph dev`, `x-auth-scheme: langsmith` lets any caller in as Studio's user
    without a token (LangGraph skips `authenticate`): the handlers must refuse it."""
    studio = client_of(auth_server, **{"x-auth-scheme": "langsmith"})
    thread_id = ann_thread["thread"]["thread_id"]
    for call in (
        studio.threads.get(thread_id),
        studio.threads.search(),
        studio.threads.create(),
        studio.store.search_items(MEMORY_OF_ANN),
        studio.runs.wait(None, "mode2_automatic", input={"query": SECRET, "tenant_id": "A"}),
    ):
        with pytest.raises(httpx.HTTPStatusError) as caught:
            await call
        assert caught.value.response.status_code == 403
        assert "disable_studio_auth" in caught.value.response.text


async def test_anns_thread_is_intact_afterwards(
    ann: LangGraphClient, ann_thread: dict[str, Any]
) -> None:
    thread_id = ann_thread["thread"]["thread_id"]
    before = ann_thread["state"]
    thread = await ann.threads.get(thread_id)
    assert thread["metadata"]["owner_user_id"] == "ann" and thread["status"] == "idle"
    state = await ann.threads.get_state(thread_id)
    assert state["checkpoint"] == before["checkpoint"]
    messages = [(m["type"], m["content"]) for m in state["values"]["messages"]]
    assert messages == [(m["type"], m["content"]) for m in before["values"]["messages"]]
    assert messages[0] == ("human", SECRET) and len(messages) == 2
    assert [r["run_id"] for r in await ann.runs.list(thread_id)] == [ann_thread["run"]["run_id"]]
