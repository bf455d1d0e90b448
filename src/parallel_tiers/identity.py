"""Who is asking: the tenant and user of a run, from LangGraph authentication when it is on.

Behind a LangGraph server with custom auth (`"auth": {"path": ...}` in langgraph.json), the
server puts the authenticated user of every run in `config["configurable"]["langgraph_auth_user"]`
(clients cannot set that key: the server strips it from requests). A run then uses that
user's tenant and user, never ones taken from its input: an input `tenant_id` or `user_id` that
disagrees is refused. Without auth (in-process calls, a server without an auth handler) there is
no such user, and the input `tenant_id` and `user_id` are used as given: they are then trusted,
so anyone who can start a run can name any tenant and user.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph_sdk.auth.types import StudioUser

from parallel_tiers.services.memory import DEFAULT_TENANT
from parallel_tiers.validation import InvalidInputError

AUTH_USER_KEY = "langgraph_auth_user"
"""The `configurable` key under which the LangGraph server passes the authenticated user."""
STUDIO_TENANT = "langgraph-studio"
"""Tenant of LangGraph Studio's own user (`StudioUser`), which carries no tenant of its own."""
OWNER_TENANT_KEY = "owner_tenant_id"
"""Metadata key naming the tenant that owns a thread, run, cron or assistant."""
OWNER_USER_KEY = "owner_user_id"
"""Metadata key naming the user that owns a thread, run, cron or assistant."""


def identity_of(user: Any) -> tuple[str, str] | None:
    """The (tenant_id, user_id) of the server's user, or None for no or an anonymous user.

    Accepts what the server hands over: a `BaseUser` (the server's `ProxyUser` around the dict
    an auth handler returned, `StudioUser`, ...), the same user serialized to a dict, or any
    object with an `identity`. `tenant_id` and `user_id` are the user's fields of those names;
    a user without them (e.g. from another auth handler) is user `identity` of the default
    tenant. LangGraph Studio's user is user `identity` of tenant `STUDIO_TENANT`. A user with
    an identity has that identity even if it says it is not authenticated: whether such a
    caller may act at all is for the auth handlers to decide (`parallel_tiers.auth` refuses it).
    """
    if user is None:
        return None
    identity = _field(user, "identity")
    if not isinstance(identity, str) or not identity:
        return None
    if isinstance(user, StudioUser) or _field(user, "kind") == "StudioUser":
        return STUDIO_TENANT, identity
    tenant, user_id = _field(user, "tenant_id"), _field(user, "user_id")
    return (
        tenant if isinstance(tenant, str) and tenant else DEFAULT_TENANT,
        user_id if isinstance(user_id, str) and user_id else identity,
    )


def caller_identity(config: Mapping[str, Any] | None) -> tuple[str, str] | None:
    """The (tenant_id, user_id) of the run's authenticated caller, or None without auth.

    Args:
        config: the run's `RunnableConfig` (e.g. a node's `config` argument, or
            `langgraph.config.get_config()`).

    Returns:
        The tenant and user of `config["configurable"]["langgraph_auth_user"]`, or None when
        the run has no authenticated user.

    """
    configurable = (config or {}).get("configurable") or {}
    return identity_of(configurable.get(AUTH_USER_KEY))


def apply_identity(state: Mapping[str, Any], config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The `tenant_id` and `user_id` the run must use.

    With an authenticated caller, they are the caller's: a missing or empty input one is
    filled in, one that names another tenant or user is refused. Without auth, they are the
    input's, as given.

    Args:
        state: the run's input (or state), read for `tenant_id` and `user_id`.
        config: the run's `RunnableConfig`.

    Returns:
        `{"tenant_id": ..., "user_id": ...}`, to write into the run's state.

    Raises:
        InvalidInputError: an input `tenant_id` or `user_id` disagrees with the authenticated
            caller; the error names each such field.

    """
    identity = caller_identity(config)
    if identity is None:
        return {"tenant_id": state.get("tenant_id"), "user_id": state.get("user_id")}
    problems = []
    for field, own in zip(("tenant_id", "user_id"), identity, strict=True):
        given = state.get(field)
        if given not in (None, "", own):
            problems.append(
                (
                    field,
                    f"{given!r} is not the authenticated caller's ({own!r}); leave {field} out, "
                    "it is taken from your credentials, or sign in as that user",
                )
            )
    if problems:
        raise InvalidInputError(problems)
    tenant_id, user_id = identity
    return {"tenant_id": tenant_id, "user_id": user_id}


def _field(user: Any, name: str) -> Any:
    """`user[name]` for a mapping-like user, else `user.name`; None when it has neither."""
    if isinstance(user, Mapping) or callable(getattr(user, "get", None)):
        try:
            value = user.get(name)
        except Exception:
            value = None
        if value is not None:
            return value
    try:
        return getattr(user, name, None)
    except Exception:  # a user object whose property raises (e.g. NotImplementedError)
        return None


async def resolve_identity(state: Any, config: RunnableConfig) -> dict[str, Any]:
    """Graph node: `apply_identity` as a state update (first node of a standalone tier graph)."""
    return apply_identity(state, config)


def with_identity(
    tier: CompiledStateGraph[Any, Any, Any, Any],
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """`tier` behind a `resolve_identity` node, so it runs as the authenticated caller.

    For a tier served on its own (e.g. `tier1_retrieval`): the tier subgraph, unchanged (Studio
    still shows its branches and fan-in with xray), runs after the identity node and reads
    the tenant and user that node wrote. The parent has the tier's input, output and context.
    """
    builder: StateGraph[Any, Any, Any, Any] = StateGraph(
        tier.builder.state_schema,
        context_schema=tier.builder.context_schema,
        input_schema=tier.builder.input_schema,
        output_schema=tier.builder.output_schema,
    )
    builder.add_node("resolve_identity", resolve_identity)
    builder.add_node(tier.name, tier)
    builder.add_edge(START, "resolve_identity")
    builder.add_edge("resolve_identity", tier.name)
    builder.add_edge(tier.name, END)
    return builder.compile(name=tier.name)
