"""The notebooks run top to bottom against a demo store, with no edits, in a kernel on this venv's
Python, and are committed without outputs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell

from recorder.cli.main import cli

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ("latency_analysis", "audit")


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder where `recorder demo` ran: ./recorder.db, as a newcomer would have it."""
    folder = tmp_path_factory.mktemp("notebooks")
    here = os.getcwd()
    saved = os.environ.pop("RECORDER_DATABASE_URL", None)
    os.chdir(folder)
    try:
        result = CliRunner().invoke(cli, ["demo", "--executions", "20", "--speed", "200", "--json"])
        assert result.exit_code == 0, result.output
    finally:
        os.chdir(here)
        if saved is not None:
            os.environ["RECORDER_DATABASE_URL"] = saved
    assert (folder / "recorder.db").exists()
    return folder


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_committed_without_outputs(name: str) -> None:
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_top_to_bottom_against_the_demo_store(name: str, demo_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECORDER_DATABASE_URL", raising=False)  # the notebook's default: ./recorder.db
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    notebook.cells.append(new_code_cell("import sys; print(sys.executable)"))
    # The kernelspec's argv[0] is "python", which jupyter_client replaces with sys.executable:
    # the kernel runs on this venv, whatever `python` is on PATH.
    client = NotebookClient(notebook, kernel_name="python3", timeout=120,
                            resources={"metadata": {"path": str(demo_folder)}})
    client.execute()
    printed = notebook.cells[-1].outputs[0]["text"].strip()
    assert Path(printed).resolve() == Path(sys.executable).resolve()
    shown = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in shown if o.get("output_type") == "error"]
    charts = [o for o in shown if "application/vnd.vegalite.v6+json" in o.get("data", {}) or "text/html" in o.get("data", {})]
    assert charts, "the charts were not displayed inline"
