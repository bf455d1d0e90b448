"""notebooks/benchmarks.ipynb runs the quick bench and shows its tables and charts (offline)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.integration.conftest import ROOT

# The kernel talks to nbclient over loopback ZeroMQ sockets; the notebook uses no network.
pytestmark = [pytest.mark.integration, pytest.mark.enable_socket]

NOTEBOOK = ROOT / "notebooks" / "benchmarks.ipynb"


def test_bench_notebook_is_committed_without_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, "strip the outputs"


def test_bench_notebook_runs_the_quick_bench(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PARALLEL_TIERS_BENCH", raising=False)  # run the quick bench itself
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=240,  # the quick bench takes about 20 s; generous for a loaded machine
        resources={"metadata": {"path": str(tmp_path)}},  # run it outside the repo
    )
    client.execute()  # raises CellExecutionError, naming the cell, on the first error
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    for expected in (
        "quick run of",
        "speedup",  # table a
        "over bare LG",  # tables b, c
        "LangGraph floor",  # table d
        "p99 ms",  # table e
        "timed_out",  # table f
        "pending asyncio tasks",  # g
        "target",
    ):
        assert expected in text
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # tiers, overhead, concurrency (and more)
