"""The notebooks in notebooks/ run from top to bottom, and their graphs display inline.

Each notebook is kept as a jupytext percent-format script (readable diffs); here it is read
into a notebook and executed cell by cell in a fresh Jupyter kernel, as a reader would.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))


def test_there_are_notebooks():
    assert {p.name for p in NOTEBOOKS} >= {"tutorial.py", "mnist.py"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    nb = jupytext.read(path)
    # the kernel imports the package from this checkout, as the tests do
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    svgs = [o for o in outputs if "image/svg+xml" in o.get("data", {})]
    assert svgs, f"{path.name}: no graph drawn inline"
    assert all("<svg" in "".join(o["data"]["image/svg+xml"]) for o in svgs)
