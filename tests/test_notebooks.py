"""The notebooks in notebooks/ run top to bottom (small sizes via MCMCADAPT_NOTEBOOK_SMALL=1)
and are stored with their outputs stripped. Skipped, with the reason, when no Jupyter kernel
can be started here."""

import pathlib

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat not installed (the notebooks extra)")
nbclient = pytest.importorskip("nbclient", reason="nbclient not installed (the notebooks extra)")

NOTEBOOK_DIR = pathlib.Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
EXPECTED = {"quickstart.ipynb", "estimator_comparison.ipynb", "bnn_posterior.ipynb"}


def test_expected_notebooks_exist():
    assert EXPECTED <= {p.name for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_outputs_are_stripped(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{path.name}: strip outputs before committing")


@pytest.fixture(scope="module")
def kernel_ok():
    """Start and stop one kernel; skip (with the reason) if that is impossible here."""
    from jupyter_client.manager import start_new_kernel

    try:
        km, kc = start_new_kernel(kernel_name="python3", startup_timeout=60)
    except Exception as exc:  # any failure to start means: cannot test notebooks here
        reason = f"no Jupyter kernel could be started: {type(exc).__name__}: {exc}"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    kc.stop_channels()
    km.shutdown_kernel(now=True)
    return True


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path, monkeypatch, kernel_ok):
    monkeypatch.setenv("MCMCADAPT_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()            # raises CellExecutionError, with the traceback, on any error
    # every code cell ran, and the last one printed something
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code)
    assert code[-1].outputs
