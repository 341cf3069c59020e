"""Assemble an Argo Workflow manifest from a built graph (rendered through templates/workflow.json.j2)."""

from __future__ import annotations

import json

from ._graph import Graph, Handle
from ._types import PARAM

OUTPUTS_ANNOTATION = "flowpack.io/outputs"  # how each workflow output decodes, for every engine and client


def task_rows(graph: Graph) -> list[dict]:
    rows = []
    for t in graph.tasks:
        deps = sorted(t.deps, key=lambda d: d.order)
        rows.append({
            "name": t.name,
            "template": t.step.name,
            "depends": " && ".join(d.name for d in deps),
            "parameters": t.parameters,
            "artifacts": t.artifacts,
            "extra": {},
        })
    return rows


def dag_outputs(outputs: dict[str, Handle]) -> dict:
    params, arts = [], []
    for name, h in outputs.items():
        if h.kind.how == PARAM:
            params.append({"name": name, "valueFrom": {"parameter": h.ref}})
        else:
            arts.append({"name": name, "from": h.ref})
    block = {}
    if params:
        block["parameters"] = params
    if arts:
        block["artifacts"] = arts
    return block


def build(graph: Graph, *, name: str, entrypoint: str, parameters: list[tuple[str, str]],
          artifacts: list[dict], outputs: dict[str, Handle], shape: dict, kind: str = "Workflow",
          spec_extra: dict | None = None) -> dict:
    """The manifest as a dict; the `shape` annotation records how run.result() rebuilds the return value."""
    from ._jinja import render_json

    templates = [step.template() for step in graph.steps.values()]
    annotations = {OUTPUTS_ANNOTATION: json.dumps(shape, separators=(",", ":"))}
    dag_inputs = {"artifacts": [{"name": a["name"]} for a in artifacts]} if artifacts else None
    return render_json(
        "workflow.json.j2",
        kind=kind,
        metadata={"generateName": name + "-", "labels": {"flowpack.io/workflow": name}, "annotations": annotations},
        entrypoint=entrypoint,
        arguments={"parameters": [{"name": n, "value": v} for n, v in parameters], "artifacts": artifacts},
        spec_extra=spec_extra or {},
        dag_inputs=dag_inputs,
        dag_outputs=dag_outputs(outputs) or None,
        tasks=task_rows(graph),
        op_templates=templates,
    )
