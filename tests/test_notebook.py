"""examples/tutorial.ipynb runs from top to bottom in a fresh kernel (needs the test extras)."""
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "tutorial.ipynb"


def outputs(cell):
    text = []
    for output in cell.get("outputs", []):
        text.append(output.get("text", ""))
        text.append(output.get("data", {}).get("text/plain", ""))
    return "".join(text)


def test_tutorial_runs(tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert not any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), \
        "commit the notebook without outputs"
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()            # raises CellExecutionError, with the cell and traceback, on failure
    text = "\n".join(outputs(cell) for cell in notebook.cells if cell.cell_type == "code")
    assert "arbor_pycat mechanism 'custom_hh' (kind 'density')" in text       # help(HH)
    assert "custom_hh (density, class HH): numba backend" in text              # the build report
    assert "The runs agree" in text                                            # compare
    assert "as expected: cannot add mechanism 'custom_hh'" in text             # edit and rebuild
    figures = [o for cell in notebook.cells for o in cell.get("outputs", [])
               if "image/png" in o.get("data", {})]
    assert len(figures) >= 2
