"""The notebooks run headless with nbclient against a small demo in a temporary WORKBENCH_HOME.

The kernel is this test's own Python (a kernel spec written into a temporary JUPYTER_PATH), so
a fresh clone's test command needs nothing installed by hand. The activation notebook starts
the demo sandbox itself; the test stops it at the end. Notebooks are stored without outputs.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from workbench import activations
from workbench.config import Settings
from workbench.demo_sandbox import DEMO_DESTINATION, stop_demo_sandbox
from workbench.destinations.sendgrid.sandbox import SandboxRemote
from workbench.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
KERNEL = "workbench-test-python"
CELL_TIMEOUT_S = 120


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_kernel_spec(jupyter_path: Path) -> None:
    """A kernel spec running ipykernel on this interpreter (the venv's Python)."""
    folder = jupyter_path / "kernels" / KERNEL
    folder.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "workbench test kernel",
        "language": "python",
    }
    (folder / "kernel.json").write_text(json.dumps(spec))


@pytest.fixture(scope="module")
def notebook_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An environment for the notebooks: a fresh home with a 2,000-customer demo built on first
    use, a free sandbox port, a kernel spec; any sandbox they start is stopped afterwards."""
    root = tmp_path_factory.mktemp("notebooks")
    write_kernel_spec(root / "jupyter")
    python_path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WORKBENCH_HOME", str(root / "home"))
        mp.setenv("WORKBENCH_DEMO_CUSTOMERS", "2000")
        mp.setenv("WORKBENCH_DEMO_SANDBOX_PORT", str(free_port()))
        mp.setenv("WORKBENCH_SYNC_POLL_S", "0.05")
        mp.setenv("JUPYTER_PATH", str(root / "jupyter"))
        mp.setenv("PYTHONPATH", python_path)
        for name in ("WORKBENCH_WAREHOUSE", "SENDGRID_API_KEY"):
            mp.delenv(name, raising=False)
        try:
            yield root
        finally:
            stop_demo_sandbox(Settings(home=root / "home"))


def execute(name: str, cwd: Path) -> nbformat.NotebookNode:
    """Run a notebook top to bottom in ``cwd``; returns it with its outputs."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        notebook, timeout=CELL_TIMEOUT_S, kernel_name=KERNEL, resources={"metadata": {"path": cwd}}
    )
    client.execute()
    return notebook


def text_of(cell: nbformat.NotebookNode) -> str:
    """Everything a cell printed or showed as plain text."""
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        parts.append(output.get("data", {}).get("text/plain", ""))
    return "".join(parts)


@pytest.mark.parametrize("name", ["01_explore.ipynb", "02_activate.ipynb"])
def test_notebooks_are_stored_without_outputs(name: str) -> None:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


def test_explore_notebook_counts_compares_and_charts_segments(notebook_home: Path) -> None:
    notebook = execute("01_explore.ipynb", notebook_home)
    cells = [c for c in notebook.cells if c.cell_type == "code"]
    assert "2,000 customers" in text_of(cells[2])
    assert "'customers', 'events', 'orders'" in text_of(cells[1])
    chart = cells[-2].outputs[0]["data"]
    assert "vega" in chart["text/html"] and "paying-recent by country" in chart["text/html"]
    summary = text_of(cells[-1])
    assert summary.startswith("paying-recent ") and "both " in summary and "top country" in summary


def test_activate_notebook_pushes_to_the_demo_sandbox(notebook_home: Path) -> None:
    notebook = execute("02_activate.ipynb", notebook_home)
    cells = [c for c in notebook.cells if c.cell_type == "code"]
    assert "connected" in text_of(cells[1])
    assert "skipped, not a SendGrid contact" in text_of(cells[4])
    assert "run 1 of notebook-swedes: succeeded" in text_of(cells[6])
    last = text_of(cells[-1])
    assert last.startswith("run 1 succeeded: ") and "added to 'notebook-swedes'" in last
    added = int(last.split(": ")[1].split(" ")[0].replace(",", ""))
    with Workspace(Settings()) as ws:  # the notebook's home: the sandbox it started still runs
        url = activations.get_destination(ws, DEMO_DESTINATION).host
        list_id = activations.get_activation(ws, "notebook-swedes").list_id
    assert added > 0 and list_id is not None
    assert len(SandboxRemote(url).list_members(list_id)) == added
