"""Identity from authentication: who a run is for, and the auth module's rules (no server)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from langgraph.store.memory import InMemoryStore
from langgraph_sdk import Auth

from parallel_tiers import InvalidInputError, build_mode_graph
from parallel_tiers import auth as auth_module
from parallel_tiers.identity import (
    AUTH_USER_KEY,
    STUDIO_TENANT,
    apply_identity,
    caller_identity,
    identity_of,
)

ROOT = Path(__file__).resolve().parents[2]
ANN = {"identity": "A/ann", "tenant_id": "A", "user_id": "ann", "permissions": []}
STROKE = "What are the warning signs of a stroke?"


def config_of(user: Any) -> dict[str, Any]:
    """A run config as the LangGraph server builds it for an authenticated caller."""
    return {"configurable": {AUTH_USER_KEY: user, "thread_id": "t"}}


# --- caller_identity -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [None, {}, {"configurable": {}}, {"configurable": {AUTH_USER_KEY: None}}],
    ids=["none", "empty", "no-user", "user-none"],
)
def test_no_authenticated_user_means_no_identity(config: Any) -> None:
    assert caller_identity(config) is None


def test_identity_from_the_dict_an_auth_handler_returns() -> None:
    assert caller_identity(config_of(ANN)) == ("A", "ann")


class ProxyLike:
    """Like langgraph-api's `ProxyUser` (whose module needs a server config to import): the
    auth handler's dict behind attribute access, plus `get`."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getattr__(self, name: str) -> Any:
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(name) from None

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)


def test_identity_from_the_servers_user_objects() -> None:
    """What langgraph-api hands over: a proxy of the handler's dict, StudioUser, anonymous."""
    from langgraph_api.auth.noop import UnauthenticatedUser
    from langgraph_api.auth.studio_user import StudioUser

    assert caller_identity(config_of(ProxyLike(ANN))) == ("A", "ann")
    studio = StudioUser("langgraph-studio-user", is_authenticated=True)
    assert caller_identity(config_of(studio)) == (STUDIO_TENANT, "langgraph-studio-user")
    # serialized (encrypted config, cron runs): the Studio user keeps its kind
    assert identity_of(studio.dict()) == (STUDIO_TENANT, "langgraph-studio-user")
    assert caller_identity(config_of(UnauthenticatedUser())) is None


def test_a_user_with_only_an_identity_is_that_user_of_the_default_tenant() -> None:
    assert identity_of("someone") is None  # a bare string is no user object
    assert identity_of({"identity": "kim"}) == ("default", "kim")
    assert identity_of(SimpleNamespace(identity="kim")) == ("default", "kim")
    assert identity_of({"identity": ""}) is None
    # "not authenticated" is for the auth handlers to refuse; a run still runs as that user
    assert identity_of({"identity": "kim", "is_authenticated": False}) == ("default", "kim")


# --- apply_identity ------------------------------------------------------------------------


def test_without_auth_the_inputs_are_used_as_given() -> None:
    state = {"tenant_id": "A", "user_id": "ann"}
    assert apply_identity(state, {}) == {"tenant_id": "A", "user_id": "ann"}
    assert apply_identity({}, None) == {"tenant_id": None, "user_id": None}


@pytest.mark.parametrize("state", [{}, {"tenant_id": "A"}, {"user_id": "ann", "tenant_id": None}])
def test_missing_ids_are_filled_in_from_the_identity(state: dict[str, Any]) -> None:
    assert apply_identity(state, config_of(ANN)) == {"tenant_id": "A", "user_id": "ann"}


def test_matching_ids_are_accepted() -> None:
    state = {"tenant_id": "A", "user_id": "ann"}
    assert apply_identity(state, config_of(ANN)) == state


@pytest.mark.parametrize(
    ("state", "fields"),
    [
        ({"tenant_id": "B"}, ["tenant_id"]),
        ({"user_id": "bob"}, ["user_id"]),
        ({"tenant_id": "B", "user_id": "bob"}, ["tenant_id", "user_id"]),
        ({"tenant_id": "A", "user_id": 7}, ["user_id"]),
    ],
)
def test_an_id_naming_someone_else_is_refused_naming_the_field(
    state: dict[str, Any], fields: list[str]
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        apply_identity(state, config_of(ANN))
    assert [field for field, _ in caught.value.problems] == fields
    message = str(caught.value)
    for field in fields:
        assert f"{field}: " in message and "taken from your credentials" in message


# --- the graphs ----------------------------------------------------------------------------


async def test_mode_graph_refuses_impersonation_before_anything_runs() -> None:
    with pytest.raises(InvalidInputError, match="tenant_id: 'B' is not the authenticated"):
        await build_mode_graph(2).ainvoke({"query": STROKE, "tenant_id": "B"}, config_of(ANN))


async def test_mode_graph_runs_and_saves_memory_as_the_caller() -> None:
    store = InMemoryStore()
    graph = build_mode_graph(4, store=store)
    out = await graph.ainvoke({"query": STROKE}, config_of(ANN))
    assert (out["tenant_id"], out["user_id"]) == ("A", "ann")
    assert out["metadata"]["save_turn"]["status"] == "ok"
    assert len(await store.asearch(("memories", "A", "ann"))) == 1


async def test_mode_graph_without_auth_is_unchanged() -> None:
    out = await build_mode_graph(2).ainvoke({"query": STROKE, "tenant_id": "B", "user_id": "bob"})
    assert (out["tenant_id"], out["user_id"]) == ("B", "bob")


def load_exported_tier1() -> Any:
    spec = importlib.util.spec_from_file_location("tier1", ROOT / "graphs/tier1_retrieval.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.graph


async def test_exported_tier1_reads_the_callers_memory_only() -> None:
    from parallel_tiers import Context
    from parallel_tiers.services.memory import StoreMemory

    store = InMemoryStore()
    for tenant, user in (("A", "ann"), ("B", "bob")):
        await StoreMemory().asave_turn(
            store, tenant_id=tenant, user_id=user, query=STROKE, response=f"note of {user}"
        )
    graph = load_exported_tier1()
    ctx = Context(memory_store=store)
    out = await graph.ainvoke({"query": STROKE}, config_of(ANN), context=ctx)
    assert [m["response"] for m in out["memory"]] == ["note of ann"]
    with pytest.raises(InvalidInputError, match="user_id"):
        await graph.ainvoke({"query": STROKE, "user_id": "bob"}, config_of(ANN), context=ctx)
    # without auth, as before: the input names the user
    out = await graph.ainvoke({"query": STROKE, "tenant_id": "B", "user_id": "bob"}, context=ctx)
    assert [m["response"] for m in out["memory"]] == ["note of bob"]


def test_exported_tier1_still_shows_its_branches_and_fan_in() -> None:
    nodes = set(load_exported_tier1().get_graph(xray=True).nodes)
    for name in ("rag_retrieval", "tool_suggestion", "memory_retrieval", "fan_in"):
        assert f"parallel_tier1:{name}" in nodes


# --- the auth module -----------------------------------------------------------------------

TOKENS = {"tok-ann": {"tenant": "A", "user": "ann"}, "tok-bob": {"tenant": "B", "user": "bob"}}


@pytest.fixture
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(auth_module.TOKENS_ENV, json.dumps(TOKENS))


def ctx(user: Any, resource: str, action: str) -> Auth.types.AuthContext:
    return Auth.types.AuthContext(
        user=user,
        permissions=[],
        resource=resource,
        action=action,
    )


@pytest.mark.usefixtures("tokens")
async def test_authenticate_maps_tokens_to_tenant_and_user() -> None:
    user = await auth_module.authenticate("Bearer tok-ann")
    assert identity_of(user) == ("A", "ann") and user["identity"] == "A/ann"
    for header in (None, "", "Bearer ", "Basic tok-ann", "tok-ann"):
        with pytest.raises(Auth.exceptions.HTTPException) as caught:
            await auth_module.authenticate(header)
        assert caught.value.status_code == 401 and "Authorization: Bearer" in caught.value.detail
    with pytest.raises(Auth.exceptions.HTTPException) as caught:
        await auth_module.authenticate("Bearer tok-eve")
    assert caught.value.status_code == 401 and "Unknown token" in caught.value.detail


async def test_authenticate_without_tokens_refuses_and_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(auth_module.TOKENS_ENV, raising=False)
    with pytest.raises(Auth.exceptions.HTTPException) as caught:
        await auth_module.authenticate("Bearer tok-ann")
    assert caught.value.status_code == 401 and auth_module.TOKENS_ENV in caught.value.detail


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "non-empty JSON object"),
        ("{}", "non-empty JSON object"),
        ('{"secret-1": "A/ann"}', "entry 1: map the token to an object"),
        ('{"secret-1": {"tenant": "A"}}', 'entry 1: "user" must be a non-empty string'),
        ('{"secret-1": {"tenant": "A\\n", "user": "ann"}}', '"tenant" contains a control'),
        ('{" secret-1": {"tenant": "A", "user": "ann"}}', "surrounding spaces"),
    ],
)
def test_malformed_tokens_are_explained_without_the_token(raw: str, expected: str) -> None:
    with pytest.raises(ValueError, match=auth_module.TOKENS_ENV) as caught:
        auth_module.parse_tokens(raw)
    assert expected in str(caught.value)
    assert "secret" not in str(caught.value)


async def test_threads_are_stamped_on_create_and_filtered_after() -> None:
    value: dict[str, Any] = {"thread_id": "t", "metadata": {"owner_user_id": "bob", "x": 1}}
    owner = {"owner_tenant_id": "A", "owner_user_id": "ann"}
    assert await auth_module.create_thread(ctx(ANN, "threads", "create"), value) == owner
    assert value["metadata"] == {"x": 1, **owner}  # a forged owner is overwritten
    run: dict[str, Any] = {"thread_id": None, "metadata": {}}
    assert await auth_module.create_run(ctx(ANN, "threads", "create_run"), run) == owner
    assert run["metadata"] == owner  # a thread the run creates is the caller's
    for action in ("read", "search", "delete"):
        assert await auth_module.own_threads(ctx(ANN, "threads", action), {}) == owner
    patch: dict[str, Any] = {"thread_id": "t", "metadata": {"owner_tenant_id": "B"}}
    assert await auth_module.update_thread(ctx(ANN, "threads", "update"), patch) == owner
    assert patch["metadata"] == owner  # the owner cannot give the thread away


async def test_unhandled_resources_are_refused() -> None:
    assert await auth_module.deny_by_default(ctx(ANN, "threads", "read"), {}) is False
    handlers = auth_module.auth._handlers
    for resource in ("threads", "crons"):
        for action in ("create", "read", "update", "delete", "search"):
            assert (resource, action) in handlers, (resource, action)
    assert ("threads", "create_run") in handlers
    assert ("store", "*") in handlers


@pytest.mark.parametrize(
    ("action", "namespace", "narrowed"),
    [
        ("put", ("memories", "A", "ann"), None),
        ("get", ("memories", "A", "ann", "notes"), None),
        ("search", (), ("memories", "A", "ann")),
        ("search", ("memories",), ("memories", "A", "ann")),
        ("list_namespaces", None, ("memories", "A", "ann")),
    ],
)
async def test_store_reaches_only_the_callers_namespace(
    action: str, namespace: tuple[str, ...] | None, narrowed: tuple[str, ...] | None
) -> None:
    value: dict[str, Any] = {"namespace": namespace}
    assert await auth_module.own_memory(ctx(ANN, "store", action), value) is None
    assert value["namespace"] == (narrowed or namespace)


@pytest.mark.parametrize(
    ("action", "namespace"),
    [
        ("get", ("memories", "B", "bob")),
        ("put", ("memories", "A")),
        ("search", ("memories", "A", "bob")),
        ("delete", ()),
        ("list_namespaces", ("other",)),
    ],
)
async def test_store_refuses_other_namespaces(action: str, namespace: tuple[str, ...]) -> None:
    with pytest.raises(Auth.exceptions.HTTPException) as caught:
        await auth_module.own_memory(ctx(ANN, "store", action), {"namespace": namespace})
    assert caught.value.status_code == 403
    assert "['memories', 'A', 'ann']" in str(caught.value.detail)


async def test_unauthenticated_studio_user_is_refused_by_the_handlers() -> None:
    """`langgraph dev` lets `x-auth-scheme: langsmith` requests in as this user, unchecked."""
    from langgraph_api.auth.studio_user import StudioUser

    dev_studio = StudioUser("langgraph-studio-user")  # what `langgraph dev` makes: no credentials
    for handler, resource, action in (
        (auth_module.own_threads, "threads", "read"),
        (auth_module.create_run, "threads", "create_run"),
        (auth_module.own_memory, "store", "search"),
    ):
        with pytest.raises(Auth.exceptions.HTTPException) as caught:
            await handler(ctx(dev_studio, resource, action), {"namespace": ()})
        assert caught.value.status_code == 403
        assert "disable_studio_auth" in str(caught.value.detail)
    signed_in = StudioUser("dev@example.com", is_authenticated=True)
    owner = await auth_module.own_threads(ctx(signed_in, "threads", "read"), {})
    assert owner == {"owner_tenant_id": STUDIO_TENANT, "owner_user_id": "dev@example.com"}
