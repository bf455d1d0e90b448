"""The notebooks run top to bottom, offline, on a fresh kernel (outputs are not committed)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from tests.integration.conftest import ROOT

# No network at all: the kernel talks to nbclient over Unix (IPC) sockets in a temp dir.
pytestmark = pytest.mark.integration

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
#: Text a notebook's outputs must show, so a notebook that silently does nothing fails.
EXPECTED = {
    "quickstart": [
        "graph TD",  # the Mermaid drawing
        "fan_in",
        "rag_retrieval",  # streamed progress and the metadata table
        "parallel_tier1: parallel",
        "sequential sequential",
        "ran: [('calculator', '53')]",  # the approved tool ran after the interrupt
    ],
}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, "strip the outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_without_errors(path: Path, tmp_path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    # "python3" is the kernel of the interpreter running the tests (the venv's).
    kernel = KernelManager(kernel_name="python3", transport="ipc", ip=str(tmp_path / "kernel"))
    client = NotebookClient(
        notebook,
        km=kernel,
        timeout=120,
        resources={"metadata": {"path": str(tmp_path)}},  # run it outside the repo
    )
    client.execute()  # raises CellExecutionError, naming the cell, on the first error
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert not errors
    text = "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )
    for expected in EXPECTED.get(path.stem, []):
        assert expected in text
