"""LangGraph custom auth for a server shared by tenants: bearer tokens, owned threads and memory.

Turn it on in langgraph.json (copy this file to adapt it; it is opt-in):

    "auth": {"path": "./src/parallel_tiers/auth.py:auth"}

Tokens come from the environment variable `PARALLEL_TIERS_TOKENS` (meant for local use and
tests; put a real identity provider in `authenticate` for production), a JSON object mapping
each token to its tenant and user:

    PARALLEL_TIERS_TOKENS='{"token-of-ann": {"tenant": "A", "user": "ann"},
                            "token-of-bob": {"tenant": "B", "user": "bob"}}'

Every request must send `Authorization: Bearer <token>`; a missing, malformed or unknown token
gets 401. What the handlers enforce:

- threads (and the runs, state, history and streams on them), crons and assistants a caller
  creates are stamped with the caller's tenant and user (`owner_tenant_id`, `owner_user_id`
  metadata); reading, searching, updating, deleting, streaming, joining or resuming filters by
  them, so another caller gets 404 or finds nothing. Assistants can be read and used by all
  (the graphs' own assistants belong to no one), but changed only by their owner.
- the store API (`/store/...`) only reaches the caller's own memory namespace,
  `("memories", tenant, user)`, and below it; a search or listing over a broader prefix is
  narrowed to it, any other namespace gets 403.
- anything else is refused (403).

Inside the graphs, `parallel_tiers.identity` takes the tenant and user of every run from the
authenticated caller and refuses an input `tenant_id`/`user_id` naming anyone else.

LangGraph Studio: a Studio user LangGraph authenticated (through LangSmith, on a deployment) is
one more user, of tenant `langgraph-studio`, seeing only its own threads and memory. Under
`langgraph dev`, LangGraph lets any request with the header `x-auth-scheme: langsmith` in as an
*unauthenticated* Studio user without calling `authenticate`; these handlers refuse it (403).
To use Studio against such a server, set `"disable_studio_auth": true` next to `"path"` and
send a token from Studio like any client.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from langgraph_sdk import Auth

from parallel_tiers.identity import OWNER_TENANT_KEY, OWNER_USER_KEY, identity_of
from parallel_tiers.services.memory import namespace
from parallel_tiers.validation import MAX_ID_CHARS, bad_character

TOKENS_ENV = "PARALLEL_TIERS_TOKENS"
"""Environment variable holding the tokens, as JSON: `{"<token>": {"tenant": ..., "user": ...}}`."""
_EXAMPLE = '{"<token>": {"tenant": "<tenant_id>", "user": "<user_id>"}, ...}'

auth = Auth()
"""The auth object langgraph.json points at (`./src/parallel_tiers/auth.py:auth`)."""


def parse_tokens(raw: str) -> dict[str, tuple[str, str]]:
    """Read the `PARALLEL_TIERS_TOKENS` JSON into {sha256 of token: (tenant, user)}.

    Errors name the entry by position, never the token (it is a secret).

    Raises:
        ValueError: the text is not a JSON object of tokens to `{"tenant": ..., "user": ...}`.

    """
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{TOKENS_ENV} is not valid JSON ({exc.msg} at character {exc.pos}); "
            f"expected {_EXAMPLE}"
        ) from None
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{TOKENS_ENV} must be a non-empty JSON object: {_EXAMPLE}")
    tokens: dict[str, tuple[str, str]] = {}
    for number, (token, who) in enumerate(data.items(), start=1):
        where = f"{TOKENS_ENV}, entry {number}"
        if not token.strip() or token != token.strip() or bad_character(token) is not None:
            raise ValueError(
                f"{where}: the token must be non-empty, without surrounding spaces or "
                "control characters"
            )
        if not isinstance(who, dict):
            raise ValueError(f"{where}: map the token to an object, e.g. {_EXAMPLE}")
        ids: list[str] = []
        for key in ("tenant", "user"):
            value = who.get(key)
            problem = _id_problem(value)
            if problem:
                raise ValueError(f'{where}: "{key}" {problem}; expected {_EXAMPLE}')
            ids.append(str(value))
        tokens[_digest(token)] = (ids[0], ids[1])
    return tokens


def _id_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if len(value) > MAX_ID_CHARS:
        return f"is {len(value)} characters; the limit is {MAX_ID_CHARS}"
    return bad_character(value, allow_whitespace=False)


def _digest(token: str) -> str:
    """Tokens are looked up by hash: no token text is kept or compared character by character."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


_parsed: tuple[str, dict[str, tuple[str, str]]] | None = None


def _tokens() -> dict[str, tuple[str, str]]:
    """The configured tokens, parsed again only when the environment variable changed."""
    global _parsed
    raw = os.environ.get(TOKENS_ENV, "")
    if _parsed is None or _parsed[0] != raw:
        _parsed = (raw, parse_tokens(raw) if raw.strip() else {})
    return _parsed[1]


if os.environ.get(TOKENS_ENV, "").strip():
    _tokens()  # a malformed variable stops the server at start-up, with the reason


def _unauthorized(detail: str) -> Auth.exceptions.HTTPException:
    return Auth.exceptions.HTTPException(status_code=401, detail=detail)


@auth.authenticate
async def authenticate(authorization: str | None) -> dict[str, Any]:
    """Map `Authorization: Bearer <token>` to its tenant and user; 401 otherwise."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized(
            "Missing bearer token: send the header 'Authorization: Bearer <token>'."
        )
    tokens = _tokens()
    found = tokens.get(_digest(token))
    if found is None:
        hint = "" if tokens else f" (the server has no tokens: set {TOKENS_ENV})"
        raise _unauthorized(f"Unknown token: check the token you were given{hint}.")
    tenant, user = found
    return {
        "identity": f"{tenant}/{user}",
        "display_name": user,
        "tenant_id": tenant,
        "user_id": user,
        "permissions": ["authenticated"],
    }


def _caller(ctx: Auth.types.AuthContext) -> tuple[str, str]:
    """The caller's (tenant, user); 403 for a caller LangGraph let in unauthenticated.

    That is LangGraph Studio under `langgraph dev`, whose requests (header
    `x-auth-scheme: langsmith`) skip `authenticate` and carry no credentials at all.
    """
    found = identity_of(ctx.user)
    if found is None or getattr(ctx.user, "is_authenticated", True) is False:
        raise Auth.exceptions.HTTPException(
            status_code=403,
            detail=(
                "Not authenticated: send 'Authorization: Bearer <token>'. LangGraph Studio "
                'under `langgraph dev` is not authenticated: set "disable_studio_auth": true '
                'in the "auth" section of langgraph.json and send a token from Studio.'
            ),
        )
    return found


def _owner(ctx: Auth.types.AuthContext) -> dict[str, str]:
    """The owner metadata of the caller: `{owner_tenant_id: ..., owner_user_id: ...}`."""
    tenant, user = _caller(ctx)
    return {OWNER_TENANT_KEY: tenant, OWNER_USER_KEY: user}


def _stamp(ctx: Auth.types.AuthContext, value: Any) -> dict[str, str]:
    """Write the caller's owner metadata into `value["metadata"]` (in place); return it."""
    owner = _owner(ctx)
    metadata = value.get("metadata") if isinstance(value, dict) else None
    if isinstance(metadata, dict):
        metadata.update(owner)  # in place: the server keeps using this very dict
    elif isinstance(value, dict):
        value["metadata"] = dict(owner)
    return owner


@auth.on
async def deny_by_default(ctx: Auth.types.AuthContext, value: Any) -> bool:
    """Anything no handler below allows is refused (403)."""
    return False


@auth.on.threads.create
async def create_thread(ctx: Auth.types.AuthContext, value: Any) -> Auth.types.FilterType:
    """A new thread belongs to its creator (creating over another's thread id is refused)."""
    return _stamp(ctx, value)


@auth.on.threads.create_run
async def create_run(ctx: Auth.types.AuthContext, value: Any) -> Auth.types.FilterType:
    """Runs (new, resumed or joined by creation) only on the caller's threads.

    The run's metadata is stamped too: a run without a thread, or one that creates its
    thread, makes that thread the caller's.
    """
    return _stamp(ctx, value)


@auth.on.threads.update
async def update_thread(ctx: Auth.types.AuthContext, value: Any) -> Auth.types.FilterType:
    """Only the owner updates a thread (or cancels its runs), and cannot give it away."""
    return _stamp(ctx, value) if isinstance(value, dict) and "metadata" in value else _owner(ctx)


@auth.on.threads(actions=["read", "delete", "search"])
async def own_threads(ctx: Auth.types.AuthContext, value: Any) -> Auth.types.FilterType:
    """Read (state, history, runs, streams, joins), delete and search only the caller's threads."""
    return _owner(ctx)


@auth.on.crons.create
async def create_cron(ctx: Auth.types.AuthContext, value: Any) -> Auth.types.FilterType:
    """A new cron belongs to its creator (and runs only on the creator's threads)."""
    return _stamp(ctx, value)


@auth.on.crons.update
async def update_cron(ctx: Auth.types.AuthContext, value: Any) -> Auth.types.FilterType:
    """Only the owner changes a cron, and cannot give it away."""
    return _stamp(ctx, value) if isinstance(value, dict) and "metadata" in value else _owner(ctx)


@auth.on.crons(actions=["read", "delete", "search"])
async def own_crons(ctx: Auth.types.AuthContext, value: Any) -> Auth.types.FilterType:
    """Read, delete and search only the caller's crons."""
    return _owner(ctx)


@auth.on.assistants.create
async def create_assistant(ctx: Auth.types.AuthContext, value: Any) -> None:
    """A new assistant belongs to its creator."""
    _stamp(ctx, value)


@auth.on.assistants(actions=["read", "search"])
async def read_assistants(ctx: Auth.types.AuthContext, value: Any) -> None:
    """Assistants are configuration, not tenant data: everyone may list and use them."""
    return None


@auth.on.assistants(actions=["update", "delete"])
async def own_assistants(ctx: Auth.types.AuthContext, value: Any) -> Auth.types.FilterType:
    """Only the owner changes or deletes an assistant (the graphs' own ones: no one)."""
    if isinstance(value, dict) and isinstance(value.get("metadata"), dict):
        value["metadata"].update(_owner(ctx))
    return _owner(ctx)


@auth.on.store
async def own_memory(ctx: Auth.types.AuthContext, value: Any) -> None:
    """The store API reaches only `("memories", tenant, user)` of the caller, and below it.

    A search or a namespace listing over a broader prefix (e.g. none, or `("memories",)`) is
    narrowed to the caller's namespace; any other namespace is refused (403).
    """
    own = namespace(*_caller(ctx))
    asked = tuple(value.get("namespace") or ())
    if asked[: len(own)] == own:
        return None
    if ctx.action in ("search", "list_namespaces") and own[: len(asked)] == asked:
        value["namespace"] = own
        return None
    raise Auth.exceptions.HTTPException(
        status_code=403,
        detail=(
            f"Store namespace {list(asked)} is not yours: use {list(own)} or a namespace below it."
        ),
    )
