"""examples/quickstart.ipynb executed by a real Jupyter kernel (nbclient + ipykernel), and its outputs checked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from examples_support import displayed, notebook_cell

nbformat = pytest.importorskip("nbformat", reason="needs the [test] extra: pip install nbclient nbformat ipykernel")
nbclient = pytest.importorskip("nbclient", reason="needs the [test] extra: pip install nbclient nbformat ipykernel")
pytest.importorskip("ipykernel", reason="needs the [test] extra: pip install nbclient nbformat ipykernel")

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "quickstart.ipynb"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")

@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The notebook run top to bottom in a fresh kernel, in an empty folder (its runs go there)."""
    work = tmp_path_factory.mktemp("notebook")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=180, kernel_name="python3", allow_errors=True,
                                     resources={"metadata": {"path": str(work)}})
    client.execute()
    return nb, work


def test_cells_before_the_failing_one_run_cleanly(executed):
    nb, work = executed
    for cell in nb.cells:
        if cell.cell_type != "code" or "raises-exception" in cell.metadata.get("tags", []):
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, f"cell {cell.source[:40]!r} failed: {errors[0].get('evalue')}"
    assert list((work / ".flowpack" / "runs").iterdir()), "the runs go to the notebook's folder"


def test_result_value(executed):
    nb, _ = executed
    assert displayed(notebook_cell(nb, "run.result()"), "text/plain") == "20"  # (5 + 1) + (1 + 4 + 9)


def test_examples_use_only_the_public_api(executed):
    nb, _ = executed
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert "flowpack._" not in cell.source and "fp._" not in cell.source, cell.source


def test_manifest_printed(executed):
    nb, _ = executed
    text = "".join(o.get("text", "") for o in notebook_cell(nb, "print(pipeline.to_yaml").outputs)
    assert "kind: Workflow" in text


def test_workflow_display_is_the_dag_svg(executed):
    nb, _ = executed
    cell = notebook_cell(nb, "pipeline")
    shown = displayed(cell, "image/svg+xml") + displayed(cell, "text/html")
    assert "<svg" in shown and 'data-node="square"' in shown and 'data-node="add-2"' in shown


def test_run_display_is_a_step_table_with_coloured_dag(executed):
    nb, _ = executed
    html = displayed(notebook_cell(nb, "run = pipeline.run"), "text/html")
    assert "<table>" in html and "square/2" in html and 'data-phase="Succeeded"' in html
    assert "Succeeded" in html and "return=20" in html


def test_failure_shows_step_and_stderr_not_internals(executed):
    nb, _ = executed
    cell = notebook_cell(nb, "@fp.op\ndef divide")
    errors = [o for o in cell.outputs if o.output_type == "error"]
    assert len(errors) == 1 and errors[0]["ename"] == "StepFailed"
    shown = _ANSI.sub("", "\n".join(errors[0]["traceback"]))
    assert "step divide" in shown and "ZeroDivisionError: division by zero" in shown
    assert "Traceback (most recent call last)" not in shown
    assert "flowpack/_run.py" not in shown and "_fp_main" not in shown and "site-packages" not in shown


def _svg_nodes(html: str) -> dict[str, tuple[str, str]]:
    """{node: (phase, the box's stroke colour)} from a display's SVG."""
    import xml.etree.ElementTree as ET

    svg = html[html.index("<svg"):html.index("</svg>") + 6]
    ns = "{http://www.w3.org/2000/svg}"
    out = {}
    for g in ET.fromstring(svg).iter(ns + "g"):
        if g.get("class") == "node":
            rects = list(g.iter(ns + "rect"))
            out[g.get("data-node")] = (g.get("data-phase"), rects[-1].get("stroke"))
    return out


def test_a_failed_run_still_shows_its_dag_and_step_table(executed):
    nb, _ = executed
    failing = notebook_cell(nb, "@fp.op\ndef divide")
    html = displayed(failing, "text/html")  # shown with the error itself
    assert "<table>" in html and _svg_nodes(html)["divide"][0] == "Failed"
    kept = displayed(notebook_cell(nb, "try:\n    broken.run()"), "text/html")  # and from exc.run afterwards
    assert "<table>" in kept and _svg_nodes(kept)["divide"] == ("Failed", "#dc2626") and "Failed" in kept


def test_a_run_past_an_allowed_failure_is_not_drawn_red(executed):
    nb, _ = executed
    html = displayed(notebook_cell(nb, "@fp.op\ndef flaky"), "text/html")
    assert "fp-Succeeded" in html.split("<svg", 1)[0]  # the run's phase, in its header
    phase, stroke = _svg_nodes(html)["flaky"]
    assert phase == "Failed" and stroke != "#dc2626"  # not the red of a failed run
    assert "Failed (allowed)" in html and "fp-ph fp-Failed'" not in html  # the table's phase cell too


def test_a_hundred_step_dag_scrolls_instead_of_shrinking(executed):
    nb, _ = executed
    html = displayed(notebook_cell(nb, "@fp.workflow\ndef long_chain"), "text/html")
    assert len(_svg_nodes(html)) == 100
    frame = html[html.index("<div class='fp-dag'"):html.index("<svg")]
    assert "overflow:auto" in frame and "max-height" in frame
    svg_tag = html[html.index("<svg"):html.index(">", html.index("<svg"))]
    assert 'style="max-width:none"' in svg_tag  # a notebook's "svg {max-width: 100%}" can't shrink it
    height = float(svg_tag.split('height="', 1)[1].split('"', 1)[0])
    assert height > 100 * 40  # drawn at full size: 100 boxes one under the other


def test_waiting_shows_the_progress_display_and_its_final_state(executed):
    nb, _ = executed
    cell = notebook_cell(nb, "later = pipeline.run(n=2, wait=False)")
    shown = [o for o in cell.outputs if o.output_type in ("display_data", "update_display_data")]
    html = "".join(o.get("data", {}).get("text/html", "") for o in shown)
    assert "fp-progress" in html
    final = [o["data"]["text/html"] for o in shown if "Succeeded" in o.get("data", {}).get("text/html", "")]
    assert final and "pipeline Succeeded: 6/6 steps (6 succeeded)" in final[-1] and "running" not in final[-1]
    result = [o["data"]["text/plain"] for o in cell.outputs if o.output_type == "execute_result"]
    assert result == ["17"]  # (2 + 1) + (1 + 4 + 9)
