"""What a client of a LangGraph server may set: the custom HTTP app of the deployment.

`langgraph.json` mounts `app` (`"http": {"app": "./src/parallel_tiers/server.py:app"}`). The
server applies its middleware to every route, its own API included, so each request that
carries run settings (a run, a cron, an assistant: their `context` and
`config.configurable`) is checked before anything runs:

- plain settings (`CLIENT_SETTINGS`, the `setting` fields of `Context`) are accepted; their
  values are checked by the graph's own validation like any run's;
- service slots, file paths and the model (`index_path`, `agents`, `model`, `retriever`, ...)
  are refused unless the deployment lists the key in `PARALLEL_TIERS_CLIENT_CONTEXT`
  (comma-separated), since they choose the server's files, corpora and paid models;
- any other key is refused with the list of the keys a client may set (a misspelt
  `enable_paralel_tier1` used to be dropped silently).

A refusal is a 422 whose `detail` reads like `InvalidInputError`: `Invalid input: context.model:
...`. Python callers are not affected: they pass a `Context` of their own.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware

from parallel_tiers.context import SETTINGS, SLOTS

ENV_CLIENT_CONTEXT = "PARALLEL_TIERS_CLIENT_CONTEXT"
CLIENT_SETTINGS = frozenset(SETTINGS)
"""The plain settings any client may set per run (`Context`'s `setting` fields)."""
GUARDED = frozenset(SLOTS)
"""Context keys a client may set only when the deployment opts in (files, models, services)."""
MAX_BODY_BYTES = 4_000_000
"""Largest run, cron or assistant request this check reads; a larger one is refused."""
#: Routes whose body carries run settings: runs, crons, assistants (create and update).
CHECKED_ROUTES = re.compile(
    r"^/(?:(?:threads/[^/]+/)?runs(?:/stream|/wait|/batch|/crons)?"
    r"|assistants(?:/(?!search$|count$)[^/]+)?)/?$"
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def client_settable() -> frozenset[str]:
    """The context keys clients may set: the plain settings plus the deployment's opt-ins."""
    raw = os.environ.get(ENV_CLIENT_CONTEXT, "")
    opted = {key.strip() for key in raw.split(",") if key.strip()}
    unknown = opted - GUARDED - CLIENT_SETTINGS
    if unknown:
        raise ValueError(
            f"{ENV_CLIENT_CONTEXT}: unknown key(s) {', '.join(sorted(unknown))}; "
            f"it may list {', '.join(sorted(GUARDED))}"
        )
    return CLIENT_SETTINGS | opted


def context_problems(payload: Any, allowed: frozenset[str]) -> list[tuple[str, str]]:
    """The refused keys of a request body's `context` and `config.configurable`."""
    if isinstance(payload, list):  # /runs/batch
        return [p for item in payload for p in context_problems(item, allowed)]
    if not isinstance(payload, dict):
        return []
    problems = []
    context = payload.get("context")
    if isinstance(context, dict):
        problems += _check(context, allowed, "context", refuse_unknown=True)
    config = payload.get("config")
    configurable = config.get("configurable") if isinstance(config, dict) else None
    if isinstance(configurable, dict):
        # Free-form by design (thread_id, checkpoint_id, ...), but mirrored into the run's
        # context when no context is given: a guarded key there is refused the same way.
        problems += _check(configurable, allowed, "config.configurable", refuse_unknown=False)
    return problems


def _check(
    values: dict[str, Any], allowed: frozenset[str], where: str, *, refuse_unknown: bool
) -> list[tuple[str, str]]:
    problems = []
    known = ", ".join(sorted(allowed))
    for key, value in values.items():
        if key in allowed or (key in GUARDED and value in (None, {}, [])):
            continue
        if key in GUARDED:
            problems.append(
                (
                    f"{where}.{key}",
                    f"may not be set by a client of this deployment (it chooses the server's "
                    f"files, models or services); the deployment can allow it with "
                    f"{ENV_CLIENT_CONTEXT}={key}",
                )
            )
        elif refuse_unknown:
            problems.append((f"{where}.{key}", f"unknown setting; known settings: {known}"))
    return problems


class ClientContextMiddleware:
    """ASGI middleware refusing run requests whose settings a client may not choose."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.allowed = client_settable()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the body of a run, cron or assistant request, then pass it on unchanged."""
        if (
            scope["type"] != "http"
            or scope["method"] not in ("POST", "PUT", "PATCH")
            or not CHECKED_ROUTES.match(scope.get("path", ""))
        ):
            await self.app(scope, receive, send)
            return
        body, more = await _read(receive)
        problems: list[tuple[str, str]] = []
        if more:
            problems = [("body", f"is larger than {MAX_BODY_BYTES:,} bytes")]
        elif body and _is_json(scope):
            try:
                problems = context_problems(json.loads(body), self.allowed)
            except ValueError:
                problems = []  # not JSON: the API answers that itself
        if problems:
            detail = "Invalid input: " + "; ".join(f"{f}: {m}" for f, m in problems)
            await _respond(send, 422, {"detail": detail})
            return
        await self.app(scope, _replay(body, receive), send)


def _is_json(scope: Scope) -> bool:
    headers = dict(scope.get("headers") or [])
    return b"json" in headers.get(b"content-type", b"application/json")


async def _read(receive: Receive) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return b"", True
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks), False


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _respond(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    headers: Iterable[tuple[bytes, bytes]] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": list(headers)})
    await send({"type": "http.response.body", "body": body})


app = Starlette(middleware=[Middleware(ClientContextMiddleware)])
"""The deployment's custom HTTP app: its middleware guards every route of the server."""
