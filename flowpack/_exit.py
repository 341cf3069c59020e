"""The workflow's exit op (`@fp.workflow(on_exit=op)`): what it may receive, and how each engine gives it.

Argo's variables at exit (operator.go `setGlobalRuntimeParameters` and the exit handler's run): `workflow.status`
(Succeeded, Failed or Error), `workflow.name`, `workflow.uid`, `workflow.duration` (seconds, Go's `%f`) and
`workflow.failures`: a JSON list of every failed node, each `{displayName, message, templateName, phase, podName,
finishedAt}` (the workflow's own DAG, a failed map and the DAG it runs in included; in no particular order), given
as a quoted JSON string (`strconv.Quote`), "null" when nothing failed. The exit op gets it decoded, `[]` for none.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from ._errors import OpDefinitionError
from ._phase import Phase
from ._records import StepRecord

# `workflow.failures` as a JSON list: Argo quotes it, sprig.fromJson unquotes it; "null" (no failure) becomes [].
FAILURES = "=sprig.fromJson(workflow.failures) == 'null' ? '[]' : sprig.fromJson(workflow.failures)"
EXIT_INPUTS = {
    "status": "{{workflow.status}}",
    "name": "{{workflow.name}}",
    "uid": "{{workflow.uid}}",
    "duration": "{{workflow.duration}}",
    "failures": "{{" + FAILURES + "}}",
}


def check_exit_op(op, workflow: str) -> None:
    """The exit op must be an op whose every input without a default is one of the exit variables."""
    if not getattr(op, "__flowpack_op__", False):
        raise OpDefinitionError(f"workflow {workflow!r}: on_exit must be an op, got {op!r}.")
    required = [n for n, i in op.interface.inputs.items() if n not in EXIT_INPUTS and not i.has_default]
    if required:
        raise OpDefinitionError(
            f"workflow {workflow!r}: the exit op {op.name!r} can receive only {sorted(EXIT_INPUTS)} (the workflow's "
            f"status, name, uid, duration in seconds and failed nodes); give {required} defaults.")


def exit_handler(step, template: str, name: str) -> dict:
    """A one-task DAG that calls the exit op, handing it the exit variables its inputs are named after."""
    task: dict = {"name": "exit-handler", "template": template}
    params = [{"name": n, "value": v} for n, v in EXIT_INPUTS.items() if n in step.interface.inputs]
    if params:
        task["arguments"] = {"parameters": params}
    return {"name": name, "dag": {"tasks": [task]}}


def local_failures(steps: dict[str, StepRecord], manifest: dict, name: str, phase: str) -> list[dict]:
    """`workflow.failures` of a local run, node for node as Argo lists them: the workflow's DAG when it failed, each
    failed step, and above a failed step the map (and the DAG a bounded or run-time map runs in) it belongs to."""
    spec = manifest.get("spec") or {}
    templates = {t["name"]: t for t in spec.get("templates") or []}
    entry = spec.get("entrypoint", "")
    out: list[dict] = []
    if phase in Phase.FAILED_LIKE:
        out.append(_failure(name, entry, phase, "", name, None))
    seen: set[str] = set()
    for node, step in steps.items():
        if not step.failed or node.startswith("onexit"):
            continue
        parts = node.split("/")
        tpl = templates.get(entry) or {}
        for i, segment in enumerate(parts[:-1]):
            task = next((t for t in (tpl.get("dag") or {}).get("tasks") or [] if t["name"] == segment), None)
            if task is None:
                break
            path = "/".join(parts[: i + 1])
            if path not in seen:
                seen.add(path)
                out.append(_failure(segment, task["template"], step.phase, "", path, step.finished_at))
            tpl = templates.get(task["template"]) or {}
        out.append(_failure(step.name or node, step.template or "", step.phase, step.message or "", node,
                            step.finished_at))
    return out


def _failure(display: str, template: str, phase: str, message: str, pod: str, finished: float | None) -> dict:
    stamp = None if finished is None else datetime.fromtimestamp(finished, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"displayName": display, "message": message, "templateName": template, "phase": phase, "podName": pod,
            "finishedAt": stamp}


def failures_text(failures: list[dict]) -> str:
    """What the exit op's `failures` argument carries: the list as JSON text."""
    return json.dumps(failures, separators=(",", ":"), ensure_ascii=False)


def local_exit_values(steps: dict[str, StepRecord], manifest: dict, name: str, phase: str, started: float,
                      ended: float) -> dict:
    """The exit variables of a local run as `{{...}}` names the local engine substitutes: Argo's (the failures
    quoted, as Argo holds them) and the one expression the exit handler reads the failures with."""
    failures = local_failures(steps, manifest, name, phase)
    return {"workflow.status": phase, "workflow.duration": "%f" % max(0.0, ended - started),
            "workflow.failures": json.dumps(failures_text(failures) if failures else "null"),
            FAILURES: failures_text(failures)}
