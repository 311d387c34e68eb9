"""Every notebook under notebooks/ runs top to bottom at a small size (JAXPHYS_NOTEBOOK_QUICK=1).

A notebook that breaks fails the suite (those in DEFAULT; the rest with -m slow); the notebooks also
assert their own exact checks.
"""

import pathlib

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((pathlib.Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))
# The suite's 15-minute budget on 2 cores holds a few notebooks; the others (their checks are also unit
# tests) run with -m slow. Every notebook is executed at full size before it is committed.
DEFAULT = {"perceptron_learning.ipynb"}
CASES = [pytest.param(p, id=p.name, marks=() if p.name in DEFAULT else pytest.mark.slow) for p in NOTEBOOKS]


@pytest.mark.parametrize("path", CASES)
def test_notebook_runs(path, monkeypatch):
    monkeypatch.setenv("JAXPHYS_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    client.execute()
