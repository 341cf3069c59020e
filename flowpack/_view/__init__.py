"""Seeing workflows and runs: DAG pictures (SVG, mermaid), notebook displays, progress bars, run folders.

    dag_svg(manifest, phases=None) -> str        dag_mermaid(manifest, phases=None) -> str
    run_html(run_like) -> str                    workflow_html(workflow) -> str
    ProgressBar(...)(event) / .close(phase)      render_traceback(exc) -> list[str]
    Plan(manifest).rows(steps) / .tally(steps)   every planned step in DAG order; done/total for progress
"""

from __future__ import annotations

from .._traceback import in_kernel, render_traceback
from ._graph import expected_steps
from ._html import run_html, snapshot, workflow_html, workflow_svg
from ._progress import ProgressBar
from ._runs import NotFound, list_runs, load_run, step_detail
from ._svg import dag_mermaid, dag_svg
from ._tally import Plan, Row, Tally


def render_dag(manifest: dict, fmt: str, phases: dict | None = None) -> str:
    """`flowpack render --format svg|mermaid`: the DAG picture as text."""
    if fmt == "svg":
        return dag_svg(manifest, phases) + "\n"
    if fmt == "mermaid":
        return dag_mermaid(manifest, phases)
    raise ValueError(f"render_dag: format {fmt!r} is not 'svg' or 'mermaid'")


def run_phases(run_dir, run_id: str) -> dict:
    """{node: phase} of a run in run_dir, to colour a picture (`flowpack render --run ID`)."""
    return load_run(run_dir, run_id)["phases"]


__all__ = [
    "dag_svg", "dag_mermaid", "render_dag", "run_html", "workflow_html", "workflow_svg", "snapshot",
    "ProgressBar", "in_kernel", "render_traceback", "list_runs", "load_run", "step_detail",
    "run_phases", "expected_steps", "NotFound", "Plan", "Row", "Tally",
]
