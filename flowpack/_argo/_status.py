"""Reading an Argo Workflow object: phases, per-step nodes, pod names, and the workflow's outputs.

This is the adapter from Argo's workflow status to flowpack's run and step records (flowpack._records): ArgoRun,
the viewer and the CLI read a workflow through it.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from .._phase import Phase
from .._records import RunOutputs, RunRecord, StepRecord

GROUP_TYPES = ("DAG", "Steps", "StepGroup", "TaskGroup", "Retry")
POD_NAME_FORMAT = "workflows.argoproj.io/pod-name-format"
MAX_PREFIX = 253 - 10 - 1  # Kubernetes name budget minus the hash and its dash


def phase(wf: dict) -> str:
    return (wf.get("status") or {}).get("phase") or "Pending"


def is_done(wf: dict) -> bool:
    """Terminal: Succeeded, Failed or Error (stopped and terminated workflows end as Failed), or marked finished."""
    status = wf.get("status") or {}
    if status.get("phase") in Phase.COMPLETED:
        return True
    labels = (wf.get("metadata") or {}).get("labels") or {}
    return bool(status.get("finishedAt")) and labels.get("workflows.argoproj.io/completed") == "true"


def was_stopped(wf: dict) -> str | None:
    """'Stop' or 'Terminate' when the workflow was shut down by request, else None."""
    shutdown = (wf.get("spec") or {}).get("shutdown")
    if shutdown:
        return shutdown
    msg = (wf.get("status") or {}).get("message") or ""
    for strategy in ("Stop", "Terminate"):
        if f"strategy '{strategy}'" in msg or f'strategy "{strategy}"' in msg:
            return strategy
    return None


def fnv32a(text: str) -> int:
    h = 0x811C9DC5
    for byte in text.encode("utf-8"):
        h ^= byte
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def pod_name(wf: dict, node: dict) -> str:
    """The pod of a node, as Argo names it (v2: <workflow>-<template>-<fnv32a(node name)>; v1: the node ID)."""
    meta = wf.get("metadata") or {}
    wf_name = meta.get("name", "")
    version = (meta.get("annotations") or {}).get(POD_NAME_FORMAT, "v2")
    template = node.get("templateName") or (node.get("templateRef") or {}).get("template") or ""
    if version == "v1" or not template:
        return node.get("id", "")
    if node.get("name") == wf_name:
        return wf_name
    prefix = f"{wf_name}-{template}"
    if len(prefix) > MAX_PREFIX:
        prefix = prefix[:MAX_PREFIX]
    return f"{prefix}-{fnv32a(node.get('name', ''))}"


def step_key(wf: dict, node: dict) -> str:
    """A node's path below the workflow, as the local engine names steps: 'add', 'inner/add'."""
    name = node.get("name", "")
    wf_name = (wf.get("metadata") or {}).get("name", "")
    if name.startswith(wf_name + "."):
        name = name[len(wf_name) + 1:]
    out, depth = [], 0
    for ch in name:  # dots inside "(index:item)" belong to the item
        depth += ch == "("
        depth -= ch == ")"
        out.append("/" if ch == "." and depth == 0 else ch)
    return "".join(out)


# A failed main container as Argo's controller words it (operator.go inferFailedReason): "main: <reason> (exit code
# <n>): <the container's termination message>" (v3.6 leaves out "main: "). A flowpack step leaves its exception's
# last line there.
_MAIN_FAILED = re.compile(r"(?:main: )?[^:]+ \(exit code -?\d+\): (?P<said>.+)", re.DOTALL)


def step_message(node: dict) -> str:
    """A node's message; for a pod whose main container failed with a termination message, that message (a flowpack
    step's exception line, e.g. "ValueError: n must be positive"); the exit code is the node's exitCode."""
    message = node.get("message") or ""
    found = _MAIN_FAILED.fullmatch(message) if node.get("type") == "Pod" else None
    return found.group("said") if found else message


def epoch(value: object) -> float | None:
    """Epoch seconds from Argo's RFC 3339 time text (or from seconds already); None when there is none."""
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def rfc3339(seconds: float | None) -> str | None:
    """Epoch seconds as Argo writes a time ("2026-11-30T15:06:32Z")."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def step_record(wf: dict, node: dict) -> StepRecord:
    """One leaf node as a step record (times as epoch seconds; an exit code Argo gives as other text kept as it is)."""
    pod = node.get("type") == "Pod"
    code = (node.get("outputs") or {}).get("exitCode") if pod else None
    numeric = code not in (None, "") and str(code).lstrip("-").isdigit()
    return StepRecord(
        name=node.get("displayName") or node.get("name") or "", template=node.get("templateName"),
        phase=Phase(node.get("phase") or "Pending"), type=node.get("type"),
        started_at=epoch(node.get("startedAt")), finished_at=epoch(node.get("finishedAt")),
        message=step_message(node), node_id=node.get("id"), pod=pod_name(wf, node) if pod else None,
        exit_code=int(str(code)) if numeric else None,
        extra={"exitCode": code} if code not in (None, "") and not numeric else {})


def steps(wf: dict) -> dict[str, StepRecord]:
    """Leaf nodes (pods, skipped and omitted tasks) by step path, in start order."""
    nodes = (wf.get("status") or {}).get("nodes") or {}
    return {step_key(wf, node): step_record(wf, node)
            for node in sorted(nodes.values(), key=lambda n: (n.get("startedAt") or "~", n.get("name", "")))
            if node.get("type") not in GROUP_TYPES}


def step_json(step: StepRecord) -> dict:
    """A step as `ArgoRun.steps` and `status()` show it: its record's JSON with Argo's time text."""
    return {**step.to_json(), "startedAt": rfc3339(step.started_at), "finishedAt": rfc3339(step.finished_at)}


def run_record(wf: dict) -> RunRecord:
    """A workflow as a run record: phase, times, message, parameters, steps and the entrypoint's outputs."""
    meta = wf.get("metadata") or {}
    status = wf.get("status") or {}
    args = (wf.get("spec") or {}).get("arguments") or {}
    outs = root_outputs(wf)
    return RunRecord(
        id=meta.get("name") or "", phase=Phase(phase(wf)), workflow=(meta.get("labels") or {}).get(
            "flowpack.io/workflow"), engine="argo", started_at=epoch(status.get("startedAt")),
        finished_at=epoch(status.get("finishedAt")), message=status.get("message") or "",
        parameters={p.get("name"): p.get("value") for p in args.get("parameters") or []}, steps=steps(wf),
        outputs=RunOutputs(outs["parameters"], outs["artifacts"]))


def root_outputs(wf: dict) -> dict:
    """The entrypoint node's outputs ({parameters: {name: text}, artifacts: {name: artifact}})."""
    status = wf.get("status") or {}
    name = (wf.get("metadata") or {}).get("name", "")
    nodes = status.get("nodes") or {}
    root = nodes.get(name) or next((n for n in nodes.values() if n.get("name") == name), None) or {}
    outs = root.get("outputs") or status.get("outputs") or {}
    return {
        "parameters": {p["name"]: p.get("value") for p in outs.get("parameters") or []},
        "artifacts": {a["name"]: a for a in outs.get("artifacts") or []},
    }


def summary(wf: dict) -> dict:
    """What `status()` returns: name, namespace, phase, message, times, progress and per-step phases."""
    meta = wf.get("metadata") or {}
    status = wf.get("status") or {}
    return {
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
        "phase": phase(wf),
        "message": status.get("message") or "",
        "startedAt": status.get("startedAt"),
        "finishedAt": status.get("finishedAt"),
        "progress": status.get("progress"),
        "stopped": was_stopped(wf),
        "steps": {key: step_json(step) for key, step in steps(wf).items()},
    }
