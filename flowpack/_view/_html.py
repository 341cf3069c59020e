"""Rich displays for notebooks: a run as a table of steps (with its DAG), a workflow as its DAG.

`run_html` takes anything run-like: a local `Run` (record + path + manifest), an `ArgoRun` (workflow object), a run
folder path, or a run record dict. Every value shown is HTML-escaped.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from html import escape
from pathlib import Path

from .._argo import _status
from .._argo._status import epoch
from .._errors import FlowpackError
from .._phase import Phase
from ._runs import live_steps, load_run, step_outputs
from ._svg import dag_svg
from ._tally import Plan

MAX_ROWS = 200  # steps listed in the table; a note counts the rest
_STYLE = ("<style>.fp-run table{border-collapse:collapse;font-size:12px}.fp-run td,.fp-run th{padding:2px 8px;"
          "border-bottom:1px solid #e5e7eb;text-align:left;vertical-align:top}.fp-ph{font-weight:600}"
          ".fp-Succeeded{color:#16a34a}.fp-Failed,.fp-Error{color:#dc2626}.fp-Running{color:#2563eb}"
          ".fp-Stopped{color:#d97706}.fp-Skipped,.fp-Omitted,.fp-Pending{color:#6b7280}.fp-allowed{color:#c2410c}"
          "</style>")
# a DAG keeps its size and scrolls inside its frame (a 100-step DAG must stay readable, not shrink to the cell)
SCROLL = 'style="overflow:auto;max-height:640px;max-width:100%;border:1px solid #e5e7eb"'


def duration(step: dict, now: float | None = None) -> str:
    """'1.2s', '3m04s' or '' : finished-started, or now-started for a running step."""
    start = epoch(step.get("startedAt"))
    if start is None:
        return ""
    end = epoch(step.get("finishedAt")) or (now or time.time())
    secs = max(0.0, end - start)
    if secs < 60:
        return f"{secs:.1f}s"
    m, s = divmod(int(secs), 60)
    return f"{m}m{s:02d}s" if m < 60 else f"{m // 60}h{m % 60:02d}m"


def snapshot(run_like) -> dict:
    """A common view of a run: {id, phase, engine, message, startedAt, finishedAt, steps, manifest, link, outputs}.

    steps: node -> {phase, template, startedAt, finishedAt, exitCode, message, outputs: {name: text}}.
    """
    if isinstance(run_like, (str, Path)):
        path = Path(run_like)
        data = load_run(path.parent, path.name)
        rec = data["record"]
        return _from_record(rec, data["manifest"], path, step_outputs)
    if hasattr(run_like, "run_record") and hasattr(run_like, "manifest"):  # a local Run
        folder = Path(run_like.path) if getattr(run_like, "path", None) else None
        record = run_like.run_record
        if folder is not None and record.phase in Phase.UNFINISHED:
            record = replace(record, steps=live_steps(folder, record))
        return _from_record(record.to_json(), run_like.manifest, folder, step_outputs)
    if hasattr(run_like, "client") and hasattr(run_like, "workflow"):  # an ArgoRun
        return _from_argo(run_like)
    if isinstance(run_like, dict) and "steps" in run_like:
        return _from_record(run_like, run_like.get("manifest") or {}, None, step_outputs)
    raise TypeError(
        f"run_html: expected a Run, an ArgoRun, a run folder or a run record, got {type(run_like).__name__}")


def _from_record(rec: dict, manifest: dict, path: Path | None, outputs_of) -> dict:
    steps: dict[str, dict] = {}
    for node, s in (rec.get("steps") or {}).items():
        entry = dict(s)
        if path is not None and len(steps) < MAX_ROWS:
            entry["outputs"] = outputs_of(path, node)
        steps[node] = entry
    return {"id": rec.get("id"), "phase": rec.get("phase"), "engine": rec.get("engine", "local"),
            "message": rec.get("message") or "", "startedAt": rec.get("startedAt"),
            "finishedAt": rec.get("finishedAt"), "steps": steps, "manifest": manifest, "link": None,
            "path": str(path) if path else None, "outputs": (rec.get("outputs") or {}).get("parameters") or {}}


def _from_argo(run) -> dict:
    wf = run.workflow
    record = _status.run_record(wf)
    nodes = (wf.get("status") or {}).get("nodes") or {}
    steps = {}
    for node, s in record.steps.items():
        outs = (nodes.get(s.node_id) or {}).get("outputs") or {}
        steps[node] = {**s.to_json(), "outputs": {p["name"]: p.get("value") for p in outs.get("parameters") or []}}
    try:
        link = f"{run.client.config.base_url}/workflows/{run.namespace}/{run.name}"
    except FlowpackError:  # no server configured: no link
        link = None
    return {"id": run.name, "phase": record.phase.value, "engine": "argo", "message": record.message,
            "startedAt": record.started_at, "finishedAt": record.finished_at, "steps": steps, "manifest": wf,
            "link": link, "path": None, "outputs": record.outputs.parameters}


def _short(value, n: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def run_html(run_like, *, with_dag: bool = True) -> str:
    """A run as HTML: a header (phase, duration, Argo link), its DAG coloured by phase, and a table of steps."""
    snap = snapshot(run_like)
    now = time.time()
    steps = snap["steps"]
    plan = Plan(snap["manifest"] or {})

    def shown(node: str, s: dict) -> str:  # an allowed failure is told apart from a failure of the run
        phase = str(s.get("phase") or "")
        return "Failed (allowed)" if phase in Phase.FAILED_LIKE and plan.allowed(node) else phase

    counts: dict[str, int] = {}
    for node, s in steps.items():
        counts[shown(node, s) or "?"] = counts.get(shown(node, s) or "?", 0) + 1
    head = [f'<div class="fp-run"><b>flowpack run {escape(str(snap["id"]))}</b> '
            f'<span class="fp-ph fp-{escape(str(snap["phase"]))}">{escape(str(snap["phase"]))}</span> '
            f'&middot; {escape(snap["engine"])} &middot; {len(steps)} steps '
            f'({escape(", ".join(f"{v} {k.lower()}" for k, v in sorted(counts.items())))}) '
            f'&middot; {escape(duration(snap, now))}']
    if snap["link"]:
        head.append(f' &middot; <a href="{escape(snap["link"], quote=True)}" target="_blank" rel="noopener">'
                    "open in Argo UI</a>")
    if snap["path"]:
        head.append(f'<br><small>{escape(snap["path"])}</small>')
    if snap["message"] and snap["phase"] != "Succeeded":
        head.append(f'<pre>{escape(snap["message"][-2000:])}</pre>')
    parts = [_STYLE, "".join(head)]
    if with_dag and snap["manifest"]:
        parts.append(f'<div class="fp-dag" {SCROLL}>'
                     f'{dag_svg(snap["manifest"], {k: s.get("phase") for k, s in steps.items()})}</div>')
    rows = ["<table><tr><th>step</th><th>phase</th><th>duration</th><th>outputs</th><th>message</th></tr>"]
    for node, s in list(steps.items())[:MAX_ROWS]:
        ph = shown(node, s)
        outs = ", ".join(f"{k}={_short(v, 40)}" for k, v in (s.get("outputs") or {}).items())
        msg = (s.get("message") or "").splitlines()
        cls = "fp-allowed" if ph == "Failed (allowed)" else f"fp-{ph}"
        rows.append(f"<tr><td>{escape(node)}</td><td class='fp-ph {escape(cls)}'>{escape(ph)}</td>"
                    f"<td>{escape(duration(s, now))}</td><td>{escape(_short(outs, 120))}</td>"
                    f"<td>{escape(_short(msg[0], 120) if msg else '')}</td></tr>")
    if len(steps) > MAX_ROWS:
        rows.append(f"<tr><td colspan='5'>\u2026 and {len(steps) - MAX_ROWS} more steps</td></tr>")
    rows.append("</table>")
    parts.append("".join(rows))
    if snap["outputs"] and snap["phase"] == "Succeeded":
        parts.append("<div><b>outputs</b>: " + escape(", ".join(f"{k}={_short(v)}" for k, v in snap["outputs"].items()))
                     + "</div>")
    parts.append("</div>")
    return "\n".join(parts)


def workflow_html(workflow, **params) -> str:
    """A workflow as HTML: its name, parameters and DAG (built with its defaults, or with `params`)."""
    try:
        manifest = workflow.render(**params)
    except FlowpackError as exc:  # a workflow whose parameters have no defaults can't be drawn without values
        return (f"<div class='fp-wf'><b>flowpack workflow {escape(workflow.name)}</b>: "
                f"{escape(type(exc).__name__)}: {escape(str(exc))}</div>")
    sig = escape(f"{workflow.name}{getattr(workflow, 'signature', '')}")
    return (f"<div class='fp-wf'><b>flowpack workflow</b> <code>{sig}</code><br>"
            f"<div class='fp-dag' {SCROLL}>{dag_svg(manifest)}</div></div>")


def workflow_svg(workflow, **params) -> str | None:
    """The workflow's DAG as SVG (for `_repr_svg_`), None when it can't be built without parameter values."""
    try:
        return dag_svg(workflow.render(**params))
    except FlowpackError:
        return None
