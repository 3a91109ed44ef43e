"""The worked-example notebooks: generated from ``notebooks/make_notebooks.py`` with their
outputs stripped, and they execute without error on the embedded default, printing real
footprint numbers.

Executed with nbclient on the ``python3`` kernel of this interpreter (its kernel spec is
installed into ``sys.prefix`` when missing). The executed copies are written to
``artifacts/notebooks/`` for inspection.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
ARTIFACTS = REPO / "artifacts" / "notebooks"
NUMBER = r"(-?[\d,]+(?:\.\d+)?)"


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _generator():
    sys.path.insert(0, str(NOTEBOOKS))
    try:
        import make_notebooks
    finally:
        sys.path.remove(str(NOTEBOOKS))
    return make_notebooks


def test_notebooks_match_their_generator_and_carry_no_outputs():
    nbformat = pytest.importorskip("nbformat")
    generator = _generator()
    for name in generator.NOTEBOOKS:
        path = NOTEBOOKS / name
        assert path.read_text(encoding="utf-8") == generator.render(name), (
            f"{name} is out of date: run .venv/bin/python notebooks/make_notebooks.py")
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, name


def _ensure_python3_kernel() -> None:
    """A ``python3`` kernel spec that runs this interpreter (installed if missing)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec("python3")
        argv0 = spec.argv[0]
        # jupyter_client launches a bare "python" argv[0] with its own interpreter
        ours = Path(argv0).resolve() == Path(sys.executable).resolve()
        if argv0 in ("python", "python3") or ours:
            return
    except NoSuchKernel:
        pass
    subprocess.run([sys.executable, "-m", "ipykernel", "install", "--sys-prefix",
                    "--name", "python3"], check=True, capture_output=True, timeout=120)


def _execute(name: str):
    from footprint.io.coverage import KP_FILE, RIVER_FILES
    from footprint.settings import get_settings

    data_dir = get_settings().data_dir
    needed = [KP_FILE, RIVER_FILES["west_africa"], "dem/srtm3/N06W001.hgt"]
    missing = [rel for rel in needed if not (data_dir / rel).is_file()]
    if missing:  # the notebooks work on the real Birim, Tortiya and KP data
        pytest.skip(f"data directory {data_dir} lacks {', '.join(missing)}")
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    _ensure_python3_kernel()
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    try:
        client.execute()  # raises CellExecutionError on the first failing cell
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, ARTIFACTS / name)
    return notebook


def _text(notebook) -> str:
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                parts.append(output.text)
            elif "data" in output:
                parts.append(output.data.get("text/plain", ""))
    return "\n".join(parts)


def _n_images(notebook) -> int:
    return sum("image/png" in output.get("data", {})
               for cell in notebook.cells for output in cell.get("outputs", []))


def _no_errors(notebook) -> None:
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors


@pytest.mark.slow
def test_explore_footprint_notebook():
    notebook = _execute("01_explore_footprint.ipynb")
    _no_errors(notebook)
    text = _text(notebook)
    built = re.search(rf"footprint version (\d+): {NUMBER} deposit polygons", text)
    assert built and int(built.group(1)) == 1 and _number(built.group(2)) > 0
    quantiles = re.search(
        rf"capacity from [\d,]+ draws: P5 {NUMBER}  P50 {NUMBER}  P95 {NUMBER} ct/yr", text)
    assert quantiles, text[-2000:]
    p5, p50, p95 = (_number(x) for x in quantiles.groups())
    assert 0 <= p5 <= p50 <= p95 and p50 > 0
    assert _n_images(notebook) >= 2  # the deposits map and the capacity histogram


@pytest.mark.slow
def test_upload_and_compare_notebook():
    notebook = _execute("02_upload_and_compare.ipynb")
    _no_errors(notebook)
    text = _text(notebook)
    assert re.search(r"the service now serves [1-9]\d* mined-area features", text)
    match = re.search(rf"resource P50: version 1 {NUMBER} ct -> version 2 {NUMBER} ct", text)
    assert match, text[-2000:]
    before, after = _number(match.group(1)), _number(match.group(2))
    assert before > 0
    assert after < before  # mined ground on the deposits is no longer a resource
    assert _n_images(notebook) >= 1


@pytest.mark.slow
def test_anomaly_report_notebook():
    notebook = _execute("03_anomaly_report.ipynb")
    _no_errors(notebook)
    text = _text(notebook)
    verdict = re.search(r"overall verdict: (\w+)", text)
    assert verdict and verdict.group(1) in ("consistent", "watch", "anomalous")
    n_tests = re.search(r"tests run: (\d+)", text)
    assert n_tests and int(n_tests.group(1)) > 0
    html = re.search(r"HTML: (\S+\.html) \(([\d,]+) kB\)", text)
    assert html and _number(html.group(2)) > 0
    assert _n_images(notebook) >= 1
