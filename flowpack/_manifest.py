"""Assemble an Argo Workflow manifest from a built graph (rendered through templates/workflow.json.j2)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

from ._arguments import ParameterArgument
from ._batch import is_batched
from ._capture_facts import IMAGES_ANNOTATION, images_annotation
from ._engine._batch import flatten_expression
from ._engine._expr import fallback_expression
from ._graph import Graph
from ._handle import Fallback, Finish, Handle, Returned, Task
from ._hooks import hooks_field
from ._jinja import render_json
from ._status_deps import failure_handled, may_not_run, task_clauses
from ._subworkflow import SubWorkflow
from ._tolerate import check_row, suspend_template
from ._types import PARAM

OUTPUTS_ANNOTATION = "flowpack.io/outputs"  # how each workflow output decodes, for every engine and client


@dataclass(frozen=True)
class DagOutput:
    """One output of a DAG template: a parameter read from a task (`ref`) or an expression, or an artifact."""

    name: str
    artifact: bool = False
    ref: str | None = None  # valueFrom.parameter, or an artifact's `from`
    expression: str | None = None  # valueFrom.expression (fp.one_of)
    default: str | None = None  # stands in when the parameter can't be resolved


@dataclass
class DagTemplate:
    """A DAG template as templates/workflow.json.j2 writes it: task rows (see `task_rows`), inputs by name."""

    name: str
    tasks: list[dict]
    parameters: list[str] = field(default_factory=list)
    artifacts: list[str] = field(default_factory=list)
    outputs: list[DagOutput] = field(default_factory=list)
    parallelism: int | None = None


FINISH = "finish"  # the closing task of a DAG whose tasks may end in an allowed failure (see `_finish_row`)


def task_rows(graph: Graph, finish: Finish | None = None) -> tuple[list[dict], list["DagTemplate"]]:
    """DAG task rows, plus the extra DAG templates a map runs in when it is bounded, conditional or may be empty.

    `finish` names the closing task and its template, rendered when some task's `depends` accepts the
    failure or absence of another (see `needs_finish`)."""
    rows, wrappers = [], []
    skippable, fallbacks = _skippable(graph)
    wrapped = {t for t in graph.tasks if _in_own_dag(t)}
    for t in graph.tasks:
        deps = sorted(t.deps, key=lambda d: d.order)
        fallback = fallbacks[t]
        data = {d for d in deps if _uses(t, d)}
        clauses, covered = task_clauses(t, wrapped, data - fallback)
        depends = " && ".join([_depends_clause(d, d in skippable, d in fallback, d in data) for d in deps
                               if d not in covered] + clauses)
        parameters = t.parameters
        if fallback:
            parameters = [ParameterArgument(p.name, _fallback_value(p.value, t.fallbacks[p.name]))
                          if p.name in t.fallbacks and t.fallbacks[p.name].source in fallback else p
                          for p in parameters]
        extra = dict(t.extra)
        if t.when is not None:
            extra["when"] = t.when
        hooks = hooks_field(t)
        if hooks is not None:
            extra["hooks"] = hooks
        row = {"name": t.name, "template": graph.template_of[id(t.step)], "depends": depends, "parameters": parameters,
               "artifacts": t.artifacts, "extra": extra}
        if t.item_when is not None:  # fp.item: the loop's own condition, inside the map's DAG (_item)
            row["item_when"] = t.item_when
        if t in wrapped:
            assert t.loop_template is not None  # named when the map was added (Graph.add_map)
            row, wrapper = _map_in_dag(row, t.parallelism, t.loop_template)
            wrappers.append(wrapper)
        rows.append(row)
    if finish is not None:
        rows.append(_finish_row(graph, finish))
    return rows, wrappers


def _in_own_dag(t) -> bool:
    """A map that runs inside a one-task DAG of its own (see `_map_in_dag`)."""
    return t.is_map and (t.parallelism is not None or "withParam" in t.extra or t.when is not None
                         or t.tolerance is not None or t.item_when is not None or is_batched(t.step)
                         or _sequence_may_be_empty(t.extra.get("withSequence")))


def _sequence_may_be_empty(spec: dict | None) -> bool:
    """A withSequence over a run-time bound, or of count 0: it may run no item (Argo then gives no outputs)."""
    return spec is not None and ("{{" in json.dumps(spec) or spec.get("count") == "0")


def _skippable(graph: Graph) -> tuple[set, dict]:
    """The tasks that may end without outputs (conditional, allowed to fail, or below one), and for each task the
    steps it can do without: those it reads only through inputs with a default, which falls back to the default."""
    skippable: set = set()
    fallbacks: dict = {}
    for t in graph.tasks:
        fallbacks[t] = {f.source for f in t.fallbacks.values()
                        if f.source in skippable and _only_fallbacks(t, f.source)}
        if t.when is not None or t.allowed_failure or may_not_run(t) or \
                any(d in skippable and d not in fallbacks[t] for d in t.deps):
            skippable.add(t)
    return skippable, fallbacks


def needs_finish(graph: Graph) -> bool:
    """A closing task is needed when a failure could otherwise be hidden or could fail the workflow wrongly:
    some task is allowed to fail, or some input falls back to its default when its step did not succeed."""
    return any(t.allowed_failure for t in graph.tasks) or any(_skippable(graph)[1].values())


def _finish_row(graph: Graph, finish: Finish) -> dict:
    """Argo decides a DAG's phase from the branches leading to its last tasks (dag.go `assessDAGPhase`): a failed
    task fails the DAG unless every path from it reaches a task that completed. So the DAG ends with one task that
    waits for every other and runs only when none failed, except those allowed to: it completes (the DAG
    succeeds past allowed failures), or it is omitted and the failure decides the DAG's phase."""
    ok = " || ".join
    clauses = []
    for t in graph.tasks:
        handled = t.allowed_failure or failure_handled(t, graph.tasks)
        ends = ["Succeeded", "Skipped", "Omitted"] + (["Failed", "Errored"] if handled else [])
        clauses.append("(" + ok(f"{t.name}.{e}" for e in ends) + ")")
    return {"name": finish.task, "template": finish.template, "depends": " && ".join(clauses), "parameters": [],
            "artifacts": [], "extra": {}}


def finish_template(name: str) -> dict:
    """The closing task's template: a suspend of no duration, which Argo completes at once without a pod."""
    return {"name": name, "suspend": {"duration": "0"}}


def _uses(task: Task, dep: Task) -> bool:
    """`task` reads data of `dep` (an argument, its condition or its loop), rather than only running after it."""
    needles = ("{{tasks.%s." % dep.name, "tasks['%s']" % dep.name)  # a reference, or a path in an expression
    texts = [p.value for p in task.parameters] + [json.dumps(a) for a in task.artifacts]
    texts += [task.when or "", str(task.extra.get("withParam", "")), json.dumps(task.extra.get("withSequence", ""))]
    return any(needle in text for text in texts for needle in needles)


def _only_fallbacks(task: Task, src: Task) -> bool:
    """Every use `task` makes of `src` is a parameter input with a default (so it can do without `src`)."""
    used = [p.name for p in task.parameters if ("{{tasks.%s." % src.name) in p.value]
    used += [a["name"] for a in task.artifacts if ("{{tasks.%s." % src.name) in str(a)]
    return bool(used) and all(n in task.fallbacks and task.fallbacks[n].source is src for n in used)


def _depends_clause(dep, skippable: bool, fallback: bool, data: bool) -> str:
    """When `dep` lets the task run. A bare name means Succeeded, Skipped or Daemoned (Argo's rule)."""
    failed = " || %s.Failed || %s.Errored" % (dep.name, dep.name) if dep.allowed_failure else ""
    if fallback:  # any end will do: the value falls back to the input's default
        return "(%s.Succeeded || %s.Skipped || %s.Omitted%s)" % (dep.name, dep.name, dep.name, failed)
    if dep.allowed_failure and not data:  # only ordered after it: runs whether it failed or not
        return "(%s.Succeeded%s)" % (dep.name, failed)
    return dep.name + (".Succeeded" if skippable else "")


def _fallback_value(wired: str, fallback: Fallback) -> str:
    """An Argo expression: the step's output if it succeeded, else the default (as an expr string literal, which
    the graph tagged and protected for a Python step), after the codec tag the wire has before its reference.
    Braces in the literal are written as escapes, so no `}}` ends the expression early."""
    tag = wired[:wired.index("{{")]
    literal = json.dumps(fallback.default, ensure_ascii=False).replace("{", "\\u007b").replace("}", "\\u007d")
    return tag + fallback_expression(fallback.source.name, fallback.output, literal)


def _map_in_dag(row: dict, parallelism: int | None, loop_name: str) -> tuple[dict, DagTemplate]:
    """A map that runs inside a one-task DAG of its own: Argo bounds parallelism per template; the map's
    condition and failure policy apply to it as a whole (outside); and the DAG's outputs default to an empty
    list, so a map that ran no item (an empty list at run time) gathers `[]` on every Argo version."""
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

    inner_params = [ParameterArgument(p.name, lift(p.value)) for p in row["parameters"]]
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
    outer_extra = {k: v for k, v in row["extra"].items() if k in ("when", "hooks")}
    extra: dict[str, Any] = {k: (lift(v) if isinstance(v, str) else v) for k, v in row["extra"].items()
                             if k not in outer_extra}
    if row.get("item_when"):  # a condition per item: on the loop itself (it reads only the item)
        extra["when"] = row["item_when"]
    if "withSequence" in extra:  # its run-time bounds come in as the wrapper's inputs too
        extra["withSequence"] = {k: lift(v) if isinstance(v, str) else v for k, v in extra["withSequence"].items()}
    inner = {"name": row["name"], "template": row["template"], "depends": "", "parameters": inner_params,
             "artifacts": inner_arts, "extra": extra}
    outer_params = [ParameterArgument(name, expr) for expr, name in inputs.items()]
    wrapper = DagTemplate(loop_name, [inner], parameters=[p.name for p in outer_params],
                          artifacts=[a["name"] for a in art_inputs], parallelism=parallelism)
    outer = {"name": row["name"], "template": loop_name, "depends": row["depends"], "parameters": outer_params,
             "artifacts": art_inputs, "extra": outer_extra}
    return outer, wrapper


def _gathered_outputs(task: str, parameters: list[str]) -> list[DagOutput]:
    """A map's DAG passes on its task's gathered output parameters, each `[]` when no item ran."""
    return [DagOutput(p, ref="{{tasks.%s.outputs.parameters.%s}}" % (task, p), default="[]") for p in parameters]


def dag_outputs(outputs: dict[str, Handle]) -> list[DagOutput]:
    """A DAG template's outputs: each returned handle's parameter (fp.one_of: an expression) or artifact."""
    found = []
    for name, h in outputs.items():
        ref = h.ref or ""  # a returned handle has a reference and a kind (checked by the workflow)
        if h.kind is None or h.kind.how != PARAM:
            found.append(DagOutput(name, artifact=True, ref=ref))
        else:
            found.append(DagOutput(name, expression=ref[3:-2]) if h.branches else DagOutput(name, ref=ref))
    return found


def dag_templates(graph: Graph, dag: DagTemplate, finish: Finish | None,
                  parameters: dict[str, list[str]]) -> list[DagTemplate | dict]:
    """The DAG template of `graph`'s tasks (its name, inputs and outputs given in `dag`), followed by the DAGs its
    bounded, conditional or run-time maps run in. `parameters`: each template's output parameters."""
    rows, wrappers = task_rows(graph, finish)
    checks = []
    for w in wrappers:
        w.outputs = _gathered_outputs(w.tasks[0]["name"], parameters[w.tasks[0]["template"]])
        if is_batched(graph.steps.get(w.tasks[0]["template"])):  # the flat list of its items' outputs (_batch)
            w.outputs = [DagOutput(o.name, expression=flatten_expression(w.tasks[0]["name"], o.name),
                                   default=o.default) for o in w.outputs]
        tolerance = next(t.tolerance for t in graph.tasks if t.name == w.tasks[0]["name"])
        if tolerance is not None:  # op.map(..., tolerate=N): the check after the loop decides the map (_tolerate)
            w.tasks.append(check_row(w.tasks[0], tolerance, f"map {w.tasks[0]['name']!r}"))
            checks.append(suspend_template(tolerance.template))
    dag.tasks = rows
    return [dag, *wrappers, *checks]


def build(graph: Graph, *, name: str, entrypoint: str, parameters: list[ParameterArgument],
          artifacts: list[dict], outputs: dict[str, Handle], shape: Returned, kind: str = "Workflow",
          spec_extra: dict | None = None, extra_templates: Sequence[dict] = (),
          finish: Finish | None = None, own_entry: bool = False) -> dict:
    """The manifest as a dict; the `shape` annotation records how run.result() rebuilds the return value.
    `finish` is the closing task when `needs_finish(graph)`. `own_entry`: the entrypoint is
    the DAG template of the workflow as a sub-workflow of itself (its body calls it), so `graph` adds none."""
    ops = {tpl: step.template() if step.name == tpl else {**step.template(), "name": tpl}
           for tpl, step in graph.steps.items() if not isinstance(step, SubWorkflow)}
    parameters_of = {tpl: [p["name"] for p in (t.get("outputs") or {}).get("parameters") or []]
                     for tpl, t in ops.items()}
    parameters_of.update({tpl: [n for n, k in step.interface.outputs.items() if k.how == PARAM]
                          for tpl, step in graph.steps.items() if isinstance(step, SubWorkflow)})
    entry = DagTemplate(entrypoint, [], artifacts=[a["name"] for a in artifacts], outputs=dag_outputs(outputs))
    dags = dag_templates(graph, entry, finish, parameters_of)
    templates: list[dict | DagTemplate] = [] if own_entry else [dags[0]]
    nested: list[dict | DagTemplate] = []  # the DAGs of sub-workflows' maps, and their closing tasks' templates
    for tpl, step in graph.steps.items():
        if not isinstance(step, SubWorkflow):
            templates.append(ops[tpl])
            continue
        inputs = step.interface.inputs.values()
        head = DagTemplate(tpl, [], parameters=[i.name for i in inputs if i.kind.how == PARAM],
                           artifacts=[i.name for i in inputs if i.kind.how != PARAM],
                           outputs=dag_outputs(step.outputs), parallelism=step.parallelism)
        sub = dag_templates(step.graph, head, step.finish, parameters_of)
        templates.append(sub[0])
        nested += sub[1:] + ([finish_template(step.finish.template)] if step.finish is not None else [])
    templates += extra_templates
    if finish is not None:
        templates.append(finish_template(finish.template))
    templates += ([] if own_entry else dags[1:]) + nested
    if own_entry:  # the entrypoint first, as in the workflow's own DAG
        templates.sort(key=lambda t: (t.get("name") if isinstance(t, dict) else t.name) != entrypoint)
    annotations = {OUTPUTS_ANNOTATION: json.dumps(shape.to_json(), separators=(",", ":")),
                   IMAGES_ANNOTATION: images_annotation({n: step.image_facts() for n, step in graph.steps.items()})}
    return render_json(
        "workflow.json.j2",
        kind=kind,
        metadata={"generateName": name + "-", "labels": {"flowpack.io/workflow": name}, "annotations": annotations},
        entrypoint=entrypoint,
        arguments={"parameters": parameters, "artifacts": artifacts},
        spec_extra=spec_extra or {},
        templates=templates,
    )
