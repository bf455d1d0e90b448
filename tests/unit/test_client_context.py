"""What a client of the server may set in a run's context (issue 10, in-process)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from parallel_tiers import Context, InvalidInputError, build_mode_graph
from parallel_tiers.server import (
    CLIENT_SETTINGS,
    ENV_CLIENT_CONTEXT,
    ClientContextMiddleware,
    client_settable,
    context_problems,
)


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"got": json.loads(await request.body() or b"null")})


def client(monkeypatch: pytest.MonkeyPatch, opt_in: str = "") -> httpx.AsyncClient:
    monkeypatch.setenv(ENV_CLIENT_CONTEXT, opt_in)
    routes = [
        Route(path, echo, methods=["POST", "PATCH"])
        for path in ("/runs/wait", "/threads/{t}/runs", "/assistants/{a}", "/store/items")
    ]
    app = ClientContextMiddleware(Starlette(routes=routes))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


REFUSED = [
    ({"context": {"index_path": "/srv/other-corpus"}}, "context.index_path: may not be set"),
    ({"context": {"agents": "/etc/passwd"}}, "context.agents: may not be set"),
    ({"context": {"model": "openai:gpt-4o"}}, "context.model: may not be set"),
    ({"context": {"retriever": "nope"}}, "context.retriever: may not be set"),
    ({"context": {"enable_paralel_tier1": False}}, "context.enable_paralel_tier1: unknown"),
    (
        {"config": {"configurable": {"index_path": "/srv/x", "thread_id": "t"}}},
        "config.configurable.index_path: may not be set",
    ),
    ([{"context": {"model": "x:y"}}], "context.model"),  # /runs/batch
]


@pytest.mark.parametrize(("body", "message"), REFUSED)
async def test_a_client_cannot_choose_files_models_services_or_unknown_keys(
    monkeypatch: pytest.MonkeyPatch, body: Any, message: str
) -> None:
    async with client(monkeypatch) as http:
        response = await http.post("/runs/wait", json=body)
    assert response.status_code == 422
    assert response.json()["detail"].startswith("Invalid input: ")
    assert message in response.json()["detail"]


async def test_unknown_keys_are_refused_with_the_known_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with client(monkeypatch) as http:
        response = await http.post("/threads/t1/runs", json={"context": {"speed": 1}})
    detail = response.json()["detail"]
    assert "enable_parallel_tier1" in detail and "parallel_timeout_ms" in detail


async def test_plain_settings_and_nulls_pass_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    body = {
        "input": {"query": "x"},
        "context": {"parallel_timeout_ms": 4000, "enable_parallel_tier1": False, "model": None},
        "config": {"configurable": {"thread_id": "t", "my_own_key": 1}},
    }
    async with client(monkeypatch) as http:
        response = await http.post("/runs/wait", json=body)
        store = await http.post("/store/items", json={"context": {"model": "x"}})  # not a run
    assert response.status_code == 200 and response.json()["got"] == body
    assert store.status_code == 200


async def test_the_deployment_opts_keys_in(monkeypatch: pytest.MonkeyPatch) -> None:
    async with client(monkeypatch, opt_in="model, index_path") as http:
        response = await http.patch("/assistants/a1", json={"context": {"model": "x:y"}})
    assert response.status_code == 200
    monkeypatch.setenv(ENV_CLIENT_CONTEXT, "modle")
    with pytest.raises(ValueError, match="PARALLEL_TIERS_CLIENT_CONTEXT: unknown key"):
        client_settable()


def test_every_plain_setting_is_a_context_field() -> None:
    assert set(Context.__dataclass_fields__) >= CLIENT_SETTINGS
    assert not context_problems({"context": dict.fromkeys(CLIENT_SETTINGS, 1)}, CLIENT_SETTINGS)


@pytest.mark.parametrize(
    ("slot", "value", "expected"),
    [
        ("retriever", "bm25", "expected a LangChain BaseRetriever, got str"),
        ("tools", ["calculator"], "expected a list of LangChain BaseTools"),
        ("memory_store", {}, "expected a LangGraph BaseStore, got dict"),
        ("quality", object(), "expected an object with `ascore`"),
        ("model", 42, "expected a BaseChatModel or a model string"),
        ("agents", "/no/such/agents.json", "no agent registry file at '/no/such/agents.json'"),
    ],
)
async def test_a_service_slot_of_the_wrong_kind_is_refused_by_name(
    slot: str, value: Any, expected: str
) -> None:
    with pytest.raises(InvalidInputError) as err:
        await build_mode_graph(2).ainvoke({"query": "ok?"}, context=Context(**{slot: value}))
    assert f"context.{slot}: {expected}" in str(err.value)
