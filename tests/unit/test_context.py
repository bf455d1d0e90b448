"""`Context`: one declaration of each setting and slot drives validation, metadata and schema."""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from langgraph.store.memory import InMemoryStore
from pydantic import TypeAdapter

import parallel_tiers
from parallel_tiers import Context, InvalidInputError, build_mode_graph
from parallel_tiers.context import SETTINGS, SLOTS, SettingsModel
from parallel_tiers.server import CLIENT_SETTINGS, GUARDED
from parallel_tiers.services import protocols
from parallel_tiers.services.cost import CostLedger
from parallel_tiers.validation import slot_problems

PACKAGE = Path(parallel_tiers.__file__).parent
JSON_SLOTS = {"model", "index_path", "profile", "agents"}


def test_every_field_is_a_setting_or_a_slot_and_each_list_derives_from_them() -> None:
    assert set(SETTINGS) | set(SLOTS) == {f.name for f in fields(Context)}
    assert not set(SETTINGS) & set(SLOTS)
    assert tuple(SettingsModel.model_fields) == SETTINGS
    assert set(SETTINGS) == CLIENT_SETTINGS and set(SLOTS) == GUARDED


def test_every_declared_setting_is_in_the_metadata_settings() -> None:
    shown = Context(retrieval_k=7).settings()
    for name in SETTINGS:
        assert shown[name] == getattr(Context(retrieval_k=7), name)
    # the resolved values the metadata always had
    assert {"max_concurrency", "model", "profile", "index_path"} <= set(shown)


@pytest.mark.parametrize("name", SETTINGS)
async def test_every_declared_setting_is_validated(name: str) -> None:
    bad: dict[str, Any] = {name: "x"}
    with pytest.raises(InvalidInputError) as err:
        await build_mode_graph(2).ainvoke({"query": "ok?"}, context=Context(**bad))
    assert [p[0] for p in err.value.problems] == [f"context.{name}"]


def test_limits_come_from_the_declaration() -> None:
    schema = SettingsModel.model_json_schema()["properties"]
    assert schema["parallel_timeout_ms"]["exclusiveMinimum"] == 0
    assert schema["retrieval_k"]["minimum"] == 1 and schema["retrieval_k"]["maximum"] == 100


def test_the_json_schema_holds_the_settings_with_descriptions_not_the_service_slots() -> None:
    schema = build_mode_graph(1).get_context_jsonschema()
    assert schema is not None
    props = schema["properties"]
    assert set(props) == set(SETTINGS) | JSON_SLOTS
    for name in SETTINGS:
        assert props[name]["description"], name
        assert props[name]["default"] == getattr(Context(), name), name
    assert props["parallel_timeout_ms"]["maximum"] == 600_000
    assert "retriever" not in props and "quality" not in props


def test_pydantic_coerces_json_context_into_a_context() -> None:
    ctx = TypeAdapter(Context).validate_python({"retrieval_k": 3, "model": "local:extractive"})
    assert isinstance(ctx, Context) and ctx.retrieval_k == 3 and ctx.model == "local:extractive"


def test_the_defaults_satisfy_the_slot_protocols() -> None:
    services = Context().services
    assert isinstance(services.tool_suggester, protocols.ToolSuggesterService)
    assert isinstance(services.quality, protocols.QualityService)
    assert isinstance(services.citations, protocols.CitationService)
    assert isinstance(services.cost, protocols.CostService)
    assert isinstance(CostLedger(), protocols.CostLedgerLike)
    assert isinstance(InMemoryStore(), protocols.MemoryStoreLike)
    given = Context(
        tool_suggester=services.tool_suggester,
        quality=services.quality,
        citations=services.citations,
        cost=services.cost,
        cost_ledger=CostLedger(),
        memory_store=InMemoryStore(),
        retriever=services.retriever,
        tools=list(services.tools.values()),
        agents=services.agents,
        profile=services.profile,
    )
    assert slot_problems(given) == []


def test_each_slot_names_what_it_takes() -> None:
    bad: dict[str, Any] = {name: 42 for name in SLOTS}
    problems = dict(slot_problems(Context(**bad)))
    assert set(problems) == {f"context.{name}" for name in SLOTS}
    assert "ascore" in problems["context.quality"]
    assert "BaseTools" in problems["context.tools"]


def _runtime_imports(path: Path) -> set[str]:
    """Modules `path` imports at run time: everywhere but under `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text())
    skipped = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING"
        for stmt in block.body
        for node in ast.walk(stmt)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_no_import_cycle_between_context_and_services() -> None:
    lower = [*(PACKAGE / "services").rglob("*.py"), *(PACKAGE / "profiles").rglob("*.py")]
    for path in lower:
        assert "parallel_tiers.context" not in _runtime_imports(path), path
    # and context imports everything at module level (no import hidden in a function)
    tree = ast.parse((PACKAGE / "context.py").read_text())
    for func in ast.walk(tree):
        if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            assert not any(isinstance(n, ast.Import | ast.ImportFrom) for n in ast.walk(func))


@pytest.mark.parametrize("first", ["parallel_tiers.services", "parallel_tiers.profiles"])
def test_the_lower_layers_import_without_context(first: str) -> None:
    # A fresh interpreter; the package's __init__ (which imports everything) is skipped.
    code = (
        "import sys, types\n"
        "package = types.ModuleType('parallel_tiers')\n"
        f"package.__path__ = [{str(PACKAGE)!r}]\n"
        "sys.modules['parallel_tiers'] = package\n"
        f"import {first}\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('parallel_tiers.'))\n"
        "assert 'parallel_tiers.context' not in loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
