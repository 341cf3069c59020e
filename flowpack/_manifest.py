"""Assemble an Argo Workflow manifest from a built graph (rendered through templates/workflow.json.j2)."""

from __future__ import annotations

import json

from ._graph import Graph, Handle
from ._types import PARAM

OUTPUTS_ANNOTATION = "flowpack.io/outputs"  # how each workflow output decodes, for every engine and client


def task_rows(graph: Graph) -> tuple[list[dict], list[dict]]:
    """DAG task rows, plus the extra DAG templates that bound a map's parallelism."""
    rows, wrappers = [], []
    skippable: set = set()  # tasks that may not produce outputs: conditional, allowed to fail, or below one
    for t in graph.tasks:
        deps = sorted(t.deps, key=lambda d: d.order)
        # An input with a default takes the default when the step it reads from did not produce a value.
        fallback = {src for src, _, _ in t.fallbacks.values() if src in skippable and _only_fallbacks(t, src)}
        if t.when is not None or "continueOn" in t.extra or any(d in skippable and d not in fallback for d in deps):
            skippable.add(t)
        # A bare name also accepts a skipped task; data from a task that may not have run needs it to succeed.
        depends = " && ".join(_depends_clause(d, d in skippable, d in fallback) for d in deps)
        parameters = t.parameters
        if fallback:
            parameters = [(n, _fallback_value(*t.fallbacks[n]) if n in t.fallbacks and t.fallbacks[n][0] in fallback
                           else v) for n, v in parameters]
        extra = dict(t.extra)
        if t.when is not None:
            extra["when"] = t.when
        row = {"name": t.name, "template": graph.template_of[id(t.step)], "depends": depends, "parameters": parameters,
               "artifacts": t.artifacts, "extra": extra}
        if t.parallelism is not None:
            row, wrapper = _bounded_map(row, t.parallelism, t.loop_template)
            wrappers.append(wrapper)
        rows.append(row)
    return rows, wrappers


def _only_fallbacks(task, src) -> bool:
    """Every use `task` makes of `src` is a parameter input with a default (so it can do without `src`)."""
    used = [n for n, v in task.parameters if ("{{tasks.%s." % src.name) in v]
    used += [a["name"] for a in task.artifacts if ("{{tasks.%s." % src.name) in str(a)]
    return bool(used) and all(n in task.fallbacks and task.fallbacks[n][0] is src for n in used)


def _depends_clause(dep, skippable: bool, fallback: bool) -> str:
    if fallback:  # any end will do: the value falls back to the input's default
        return "(%s.Succeeded || %s.Skipped || %s.Omitted || %s.Failed)" % ((dep.name,) * 4)
    return dep.name + (".Succeeded" if skippable else "")


def _fallback_value(src, output: str, default: str) -> str:
    """An Argo expression: the step's output if it succeeded, else the default (as an expr string literal)."""
    import json

    text = _protect_braces(default) if ("{{" in default or "}}" in default) else default
    return "{{=tasks['%s'].status == 'Succeeded' ? tasks['%s'].outputs.parameters['%s'] : %s}}" % (
        src.name, src.name, output, json.dumps(text))


def _protect_braces(text: str) -> str:
    """Braces can't appear inside an Argo expression: such a default travels base64-encoded (see _op.protect)."""
    import base64

    from ._op import PROTECTED

    return PROTECTED + base64.b64encode(text.encode("utf-8")).decode("ascii")


def _bounded_map(row: dict, parallelism: int, loop_name: str) -> tuple[dict, dict]:
    """Argo bounds parallelism per template, so a bounded map runs inside a one-task DAG of its own."""
    import re

    inputs: dict[str, str] = {}  # outer expression -> wrapper input parameter name
    art_inputs: list[dict] = []

    def lift(text: str) -> str:
        def repl(m: re.Match) -> str:
            expr = m.group(0)
            inner = m.group(1).strip()
            if inner == "item" or inner.startswith("item.") or inner.startswith("workflow."):
                return expr
            name = inputs.setdefault(expr, f"p{len(inputs)}")
            return "{{inputs.parameters.%s}}" % name
        return re.sub(r"\{\{([^{}]*)\}\}", repl, text)

    inner_params = [(n, lift(v)) for n, v in row["parameters"]]
    inner_arts = []
    for a in row["artifacts"]:
        a = dict(a)
        if "from" in a:
            art_inputs.append({"name": a["name"], "from": a["from"]})
            a["from"] = "{{inputs.artifacts.%s}}" % a["name"]
        elif "raw" in a:
            a["raw"] = {"data": lift(a["raw"]["data"])}
        inner_arts.append(a)
    # The loop runs inside the wrapper; a condition or a failure policy applies to the map as a whole (outside).
    outer_extra = {k: v for k, v in row["extra"].items() if k in ("when", "continueOn")}
    extra = {k: (lift(v) if isinstance(v, str) else v) for k, v in row["extra"].items() if k not in outer_extra}
    wrapper = {"name": loop_name, "parallelism": parallelism, "dag": {"tasks": [{
        "name": row["name"], "template": row["template"], **_arguments(inner_params, inner_arts), **extra}]}}
    outer_params = [(name, expr) for expr, name in inputs.items()]
    if outer_params or art_inputs:
        wrapper["inputs"] = {}
        if outer_params:
            wrapper["inputs"]["parameters"] = [{"name": n} for n, _ in outer_params]
        if art_inputs:
            wrapper["inputs"]["artifacts"] = [{"name": a["name"]} for a in art_inputs]
    wrapper["_outputs_of"] = row["name"]  # filled in by build() once the op's outputs are known
    outer = {"name": row["name"], "template": loop_name, "depends": row["depends"], "parameters": outer_params,
             "artifacts": art_inputs, "extra": outer_extra}
    return outer, wrapper


def _arguments(params: list, arts: list) -> dict:
    args: dict = {}
    if params:
        args["parameters"] = [{"name": n, "value": v} for n, v in params]
    if arts:
        args["artifacts"] = arts
    return {"arguments": args} if args else {}


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


def exit_handler(step, template: str, name: str) -> dict:
    """A one-task DAG that calls the exit op, handing it the workflow's status when it has a `status` input."""
    task: dict = {"name": "exit-handler", "template": template}
    if "status" in step.interface.inputs:
        task["arguments"] = {"parameters": [{"name": "status", "value": "{{workflow.status}}"}]}
    return {"name": name, "dag": {"tasks": [task]}}


def build(graph: Graph, *, name: str, entrypoint: str, parameters: list[tuple[str, str]],
          artifacts: list[dict], outputs: dict[str, Handle], shape: dict, kind: str = "Workflow",
          spec_extra: dict | None = None, extra_templates: list[dict] = ()) -> dict:
    """The manifest as a dict; the `shape` annotation records how run.result() rebuilds the return value."""
    from ._jinja import render_json

    templates = [step.template() if step.name == name else {**step.template(), "name": name}
                 for name, step in graph.steps.items()] + list(extra_templates)
    rows, wrappers = task_rows(graph)
    by_name = {t["name"]: t for t in templates}
    for w in wrappers:  # a bounded map's DAG passes on its task's (gathered) output parameters
        task = w.pop("_outputs_of")
        inner = by_name[w["dag"]["tasks"][0]["template"]]
        params = [{"name": p["name"], "valueFrom": {"parameter": "{{tasks.%s.outputs.parameters.%s}}" % (task, p["name"])}}
                  for p in (inner.get("outputs") or {}).get("parameters") or []]
        if params:
            w["outputs"] = {"parameters": params}
    templates += wrappers
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
        tasks=rows,
        op_templates=templates,
    )
