"""Issue 12: the package's module import graph is acyclic, with no import hidden in a function.

A profile is built from the generic services (`services.question_types`, `services.text`, the
environment variables' names in `services`), and the services that need the default profile
import `parallel_tiers.profiles` at module level, so the graph is a DAG::

    services.text <- services.question_types <- profiles.base <- profiles.medical <- profiles
      <- services.{questions, corpus, agents, retrieval, generation, quality, ...}
      <- services.wiring <- context
"""

from __future__ import annotations

import ast
import graphlib
import subprocess
import sys
from pathlib import Path

import pytest

import parallel_tiers

PACKAGE = Path(parallel_tiers.__file__).parent
ROOT = "parallel_tiers"


def _modules() -> dict[str, Path]:
    """Every module of the package, by dotted name (a package by its own name)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()
LOWER = sorted(m for m in MODULES if m.startswith((f"{ROOT}.services", f"{ROOT}.profiles")))


def _is_type_checking(test: ast.expr) -> bool:
    return ast.unparse(test) in {"TYPE_CHECKING", "typing.TYPE_CHECKING"}


def _imported(name: str, node: ast.Import | ast.ImportFrom) -> set[str]:
    """The modules (or packages) an import statement of module `name` names."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    module = node.module or ""
    if node.level:
        base = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
        for _ in range(node.level - 1):
            base = base.rpartition(".")[0]
        module = f"{base}.{module}" if module else base
    out = set()
    for alias in node.names:
        sub = f"{module}.{alias.name}"
        out.add(sub if sub in MODULES else module)
    return out


def _statements(name: str) -> list[tuple[ast.Import | ast.ImportFrom, bool]]:
    """The run-time import statements of `name` (not under `if TYPE_CHECKING:`), each with
    whether it is inside a function."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    found: list[tuple[ast.Import | ast.ImportFrom, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.orelse:
                    visit(stmt, in_function)
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.append((child, in_function))
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            visit(child, inner)

    visit(tree, False)
    return found


def _ours(module: str) -> bool:
    return module == ROOT or module.startswith(f"{ROOT}.")


def _edges(name: str) -> set[str]:
    """The package modules importing `name` runs: what it imports, and their packages.

    Importing `a.b.c` first runs `a` and `a.b`; a package that is `name`'s own (already being
    imported when `name` runs) is no edge then, unless `name` imports from it by name.
    """
    edges = set()
    for node, _ in _statements(name):
        for target in filter(_ours, _imported(name, node)):
            edges.add(target)
            parts = target.split(".")
            for i in range(1, len(parts)):
                package = ".".join(parts[:i])
                if not (name == package or name.startswith(f"{package}.")):
                    edges.add(package)
    edges.discard(name)
    return {e for e in edges if e in MODULES}


def test_the_module_import_graph_is_acyclic() -> None:
    graph = {name: _edges(name) for name in MODULES}
    try:
        order = list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")
    # the profiles come before the services that build their defaults with them
    for later in ("questions", "agents", "corpus", "retrieval", "wiring"):
        assert order.index(f"{ROOT}.profiles") < order.index(f"{ROOT}.services.{later}")
    assert graph[f"{ROOT}.services"] == set()  # the names of the environment variables only


def test_services_and_profiles_import_the_package_at_module_level() -> None:
    hidden = [
        f"{name}: line {node.lineno} imports {', '.join(sorted(_imported(name, node)))}"
        for name in LOWER
        for node, in_function in _statements(name)
        if in_function and any(map(_ours, _imported(name, node)))
    ]
    assert not hidden


def test_each_module_imports_first_in_a_fresh_interpreter() -> None:
    # Each module first, with nothing of the package loaded: the package's __init__ (which
    # imports everything) is skipped, and the package's modules are forgotten between modules
    # (one interpreter for all: its third-party imports are the slow part, and stay loaded).
    code = (
        "import importlib, sys, traceback, types\n"
        f"failed = []\n"
        f"for module in {LOWER!r}:\n"
        "    for name in [m for m in sys.modules if m == 'parallel_tiers' or "
        "m.startswith('parallel_tiers.')]:\n"
        "        del sys.modules[name]\n"
        "    package = types.ModuleType('parallel_tiers')\n"
        f"    package.__path__ = [{str(PACKAGE)!r}]\n"
        "    sys.modules['parallel_tiers'] = package\n"
        "    try:\n"
        "        importlib.import_module(module)\n"
        "    except Exception:\n"
        "        failed.append(module + ': ' + traceback.format_exc(limit=-3))\n"
        "assert not failed, '\\n'.join(failed)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize(
    "module", [f"{ROOT}.profiles", f"{ROOT}.services.questions", f"{ROOT}.services.wiring"]
)
def test_the_package_imports_from_any_module(module: str) -> None:
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True, timeout=120)
