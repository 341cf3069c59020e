"""Reading run folders (local and Docker engines) for display: run lists, live step phases, step details and logs.

run.json is written when a run starts and when it ends; while it runs, a step folder with no step.json yet is a
step that is running, and a step.json is a step that ended. Names from URLs are checked to stay inside run_dir.

Argo workflows submitted from here have a record in <run_dir>/../argo/<namespace>/<name>/submitted.json (written
by flowpack._argo.submit); their state comes live from the Argo Server, read into the same shapes as local runs.
"""

from __future__ import annotations

import json
import os
import re
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Callable

from .._argo import _status
from .._argo._client import ArgoClient, client_for
from .._argo._errors import ArgoConfigError, ArgoNotFoundError, ArgoUnreachableError
from .._argo._record import SubmitRecord, server_url
from .._argo._status import epoch
from .._engine._procs import settle_abandoned
from .._engine._record import read_step_record, step_folders, tail_text
from .._errors import FlowpackError
from .._phase import Phase
from .._records import RunRecord, StepFolderRecord, StepRecord
from ._graph import expected_steps

LOG_LIMIT = 256 * 1024  # bytes of a log shown: its tail
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_NODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._()/-]*$")


class NotFound(LookupError):
    """No such run or step (or a name that would leave the run folder)."""


def _read(path: Path) -> dict | None:
    """A JSON object from a file; None when it is missing, malformed or not an object."""
    try:  # never through a link: a step may have planted one
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def run_folder(run_dir: str | Path, run_id: str) -> Path:
    """The folder of one run, refusing ids that aren't plain folder names."""
    if not _RUN_ID.match(run_id or "") or ".." in run_id:
        raise NotFound(f"no run {run_id!r}")
    path = Path(run_dir) / run_id
    if not (path / "run.json").is_file():
        raise NotFound(f"no run {run_id!r} in {run_dir}")
    return path


def list_runs(run_dir: str | Path, limit: int = 200) -> list[dict]:
    """The newest runs first: {id, workflow, engine, phase, startedAt, finishedAt, steps, counts}.

    A run whose run.json can't be read is listed with phase "Unreadable" and why; a run left Running by an engine
    that is gone is marked Error (see flowpack._engine._procs)."""
    root = Path(run_dir)
    if not root.is_dir():
        return []
    out: list[dict] = []
    for path in root.iterdir():
        if not path.is_dir() or not _RUN_ID.match(path.name) or not (path / "run.json").exists():
            continue
        rec, problem = read_run_record(path)
        if rec is not None:
            rec = settle_abandoned(path, rec)
        else:
            out.append({"id": path.name, "workflow": None, "engine": None, "phase": "Unreadable",
                        "startedAt": _mtime(path / "run.json"), "finishedAt": None,
                        "message": f"run.json can't be read: {problem}", "counts": {}})
            continue
        counts: dict[str, int] = {}
        for s in rec.steps.values():
            counts[s.phase.value] = counts.get(s.phase.value, 0) + 1
        out.append({"id": path.name, "workflow": rec.workflow, "engine": rec.engine, "phase": rec.phase.value,
                    "message": rec.message, "startedAt": rec.started_at, "finishedAt": rec.finished_at,
                    "counts": counts})
    out.sort(key=lambda r: r.get("startedAt") or 0, reverse=True)
    return out[:limit]


def read_run_record(path: Path) -> tuple[RunRecord | None, str]:
    """(the record in a run folder's run.json, "") or (None, why it can't be used)."""
    try:
        with open(path / "run.json", encoding="utf-8") as f:
            return RunRecord.from_json(json.load(f), where="it"), ""
    except (OSError, ValueError) as exc:
        return None, str(exc)


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def live_steps(path: Path, record: RunRecord) -> dict[str, StepRecord]:
    """The record's steps, plus (while the run is going) what the step folders say about steps since started."""
    steps = dict(record.steps)
    if record.phase not in Phase.UNFINISHED:
        return steps
    base = path / "steps"
    for folder in step_folders(path):
        node = folder.relative_to(base).as_posix()
        if node in steps and steps[node].phase not in Phase.UNFINISHED:
            continue
        ended = read_step_record(folder)  # None: no step.json yet (or not one the engine wrote): running
        if ended is not None:  # its step.json as a step of the run (not its inputs, outputs, command)
            steps[node] = StepRecord(node, ended.phase, ended.template, ended.started_at, ended.finished_at,
                                     ended.exit_code, ended.message or "")
        elif node in steps:
            steps[node] = replace(steps[node], phase=Phase.RUNNING)
        else:
            steps[node] = StepRecord(node, Phase.RUNNING, started_at=_mtime(folder / "stdout"))
    return steps


def load_run(run_dir: str | Path, run_id: str) -> dict:
    """One run for display: its record with live step phases, its manifest, and how many steps it expects."""
    path = run_folder(run_dir, run_id)
    record, problem = read_run_record(path)
    manifest = _read(path / "manifest.json") or {}
    if record is None:
        return {"id": run_id, "path": str(path), "manifest": manifest, "phases": {},
                "record": {"id": run_id, "phase": "Unreadable", "message": f"run.json can't be read: {problem}",
                           "steps": {}}, "expected": expected_steps(manifest)}
    record = settle_abandoned(path, replace(record, steps=live_steps(path, record)))  # steps as the folders show
    return {"id": run_id, "path": str(path), "record": record.to_json(), "manifest": manifest,
            "phases": {k: s.phase.value for k, s in record.steps.items()}, "expected": expected_steps(manifest)}


def _tail(path: Path, limit: int = LOG_LIMIT) -> dict:
    try:
        size = path.lstat().st_size
    except OSError:
        return {"text": "", "size": 0, "truncated": False}
    return {"text": tail_text(path, limit), "size": size, "truncated": size > limit}


def step_folder(path: Path, node: str) -> Path:
    """A step's folder in the run folder `path`, refusing names that leave it and links a step planted."""
    if not _NODE.match(node or "") or ".." in node.split("/"):
        raise NotFound(f"no step {node!r}")
    folder = path / "steps"
    for part in node.split("/"):  # every folder on the way is a real one: no link a step planted is followed
        folder = folder / part
        if folder.is_symlink() or not folder.is_dir():
            raise NotFound(f"run {path.name} has no step {node!r}")
    return folder


def started_step(run_dir: str | Path, run_id: str, node: str) -> tuple[Path, StepFolderRecord]:
    """A started step's folder and record: its step.json, or a running step's while it has none (NotFound for a
    step with no folder)."""
    folder = step_folder(run_folder(run_dir, run_id), node)
    return folder, read_step_record(folder) or StepFolderRecord(node=node, phase=Phase.RUNNING)


def detail_json(folder: Path, node: str, record: StepFolderRecord) -> dict:
    """A started step as the viewer shows it: its record (inputs, outputs, command, exit code, timings; not the
    folder it ran in) and the tails of stdout and stderr."""
    return {"node": node, "step": replace(record, cwd=None).to_json(), "stdout": _tail(folder / "stdout"),
            "stderr": _tail(folder / "stderr")}


def step_detail(run_dir: str | Path, run_id: str, node: str) -> dict:
    """One step: its step.json (inputs, outputs, command, exit code, timings) and the tails of stdout and stderr."""
    folder, record = started_step(run_dir, run_id, node)
    return detail_json(folder, node, record)


def step_outputs(path: Path, node: str) -> dict:
    """A step's output parameters (text) from its step.json, {} when it has none yet."""
    rec = read_step_record(path / "steps" / node)
    return dict(rec.outputs.parameters) if rec is not None and rec.outputs is not None else {}


# -- Argo workflows submitted from here ----------------------------------------------------------------------------
ARGO_PREFIX = "argo:"  # run ids "argo:<namespace>:<name>" (Kubernetes names have no colon)
ARGO_TIMEOUT = 5.0  # seconds per request to the Argo Server: a slow server must not hang the page
_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_ITEM_KEY = re.compile(r"^([^()]*)\((\d+):")
_NO_LOGS = ("Pending", "Skipped", "Omitted")


def argo_root(run_dir: str | Path) -> Path:
    """Where submit records live for a run folder: next to it, <run_dir>/../argo."""
    return Path(run_dir).parent / "argo"


def argo_id(namespace: str, name: str) -> str:
    return f"{ARGO_PREFIX}{namespace}:{name}"


def is_argo_id(run_id: str) -> bool:
    return (run_id or "").startswith(ARGO_PREFIX)


def argo_records(run_dir: str | Path) -> list[SubmitRecord]:
    """The submit records under <run_dir>/../argo, newest first (files that don't match their folder are skipped)."""
    root = argo_root(run_dir)
    if not root.is_dir():
        return []
    out = []
    for path in root.glob("*/*/submitted.json"):
        rec = SubmitRecord.from_json(_read(path))
        if rec is not None and rec.name == path.parent.name and rec.namespace == path.parent.parent.name:
            out.append(rec)
    out.sort(key=lambda r: r.submitted_at, reverse=True)
    return out


def argo_record(run_dir: str | Path, run_id: str) -> SubmitRecord:
    """The submit record behind an "argo:<namespace>:<name>" id (NotFound for other names)."""
    ns, _, name = run_id[len(ARGO_PREFIX):].partition(":")
    if not (_K8S_NAME.match(ns) and _K8S_NAME.match(name)):
        raise NotFound(f"no run {run_id!r}")
    rec = SubmitRecord.from_json(_read(argo_root(run_dir) / ns / name / "submitted.json"))
    if rec is None:
        raise NotFound(f"no Argo workflow {ns}/{name} recorded in {argo_root(run_dir)}")
    return rec


def argo_connector(argo=None, *, timeout: float = ARGO_TIMEOUT) -> Callable[[str], ArgoClient]:
    """namespace -> a fresh ArgoClient with the CLI's settings (ARGO_* variables, config file), or with `argo`'s."""

    def connect(namespace: str) -> ArgoClient:
        return ArgoClient(client_for(argo, namespace=namespace).config, timeout=timeout)

    return connect


def _problem(exc: Exception, rec: SubmitRecord) -> str:
    """What the page says when a workflow's state can't be read."""
    if isinstance(exc, ArgoUnreachableError):
        return f"Argo server unreachable: {exc}"
    if getattr(exc, "other_server", False):
        return f"Argo server not the one submitted to: {exc}"
    if isinstance(exc, ArgoConfigError):
        return f"Argo server not configured: {exc}"
    if isinstance(exc, ArgoNotFoundError):
        return (f"workflow {rec.namespace}/{rec.name} is not on the Argo Server at {rec.server} "
                f"(deleted or garbage-collected?): {exc}")
    return f"Argo server error: {exc}"


def _other_server(rec: SubmitRecord, client) -> Exception | None:
    """An error when the record's workflow went to another server than the configured one (whose token must not be
    sent elsewhere: the record's URL is never dialled, only the configured server's, when it is the same)."""
    here = server_url(client)
    if rec.server and rec.server != here:
        wrong = ArgoConfigError(f"workflow {rec.namespace}/{rec.name} was submitted to {rec.server}, but the "
                                f"configured Argo Server is {here}: point ARGO_SERVER / ARGO_BASE_HREF (or the config "
                                f"file) at that server to see it")
        wrong.other_server = True
        return wrong
    return None


def _client_for(rec: SubmitRecord, connect: Callable[[str], ArgoClient]) -> ArgoClient:
    """A client for the record's namespace, from the configured settings, if they name the record's server."""
    client = connect(rec.namespace)
    wrong = _other_server(rec, client)
    if wrong is not None:
        raise wrong
    return client


def _workflow(rec: SubmitRecord, connect: Callable[[str], ArgoClient]) -> tuple[dict | None, str, ArgoClient | None]:
    """(workflow object, "", client) from the Argo Server, or (None, the problem in words, None)."""
    try:
        client = _client_for(rec, connect)
        return client.get(rec.name, namespace=rec.namespace), "", client
    except FlowpackError as exc:
        return None, _problem(exc, rec), None


def dag_key(step_key: str) -> str:
    """Argo's map item 'square(1:2)' (or 'inner/square(1:2)') as the DAG names items: 'square/1'."""
    depth, cut = 0, -1
    for i, ch in enumerate(step_key):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "/" and depth == 0:
            cut = i
    head, last = step_key[:cut + 1], step_key[cut + 1:]
    m = _ITEM_KEY.match(last)
    return f"{head}{m.group(1)}/{m.group(2)}" if m else step_key


def _where(artifact: dict) -> str:
    """An output artifact as its location (s3://bucket/key, or the key), never its secret references."""
    for kind in ("s3", "gcs", "oss", "azure", "artifactory", "http", "hdfs", "git", "raw"):
        loc = artifact.get(kind)
        if isinstance(loc, dict):
            key = loc.get("key") or loc.get("blob") or loc.get("url") or loc.get("path") or loc.get("repo") or ""
            bucket = loc.get("bucket") or loc.get("container") or ""
            return f"{kind}://{bucket}/{key}" if bucket else f"{kind}:{key}"
    return artifact.get("path") or ""


def _io(section: dict | None) -> dict:
    section = section or {}
    return {"parameters": {p.get("name"): p.get("value") for p in section.get("parameters") or []},
            "artifacts": {a.get("name"): _where(a) for a in section.get("artifacts") or []}}


def _spec_of(wf: dict) -> dict:
    """The workflow as a manifest to draw: its own spec, or the template spec Argo stored for a templateRef run."""
    spec = wf.get("spec") or {}
    if spec.get("templates"):
        return wf
    stored = (wf.get("status") or {}).get("storedWorkflowTemplateSpec")
    return {"metadata": wf.get("metadata") or {}, "spec": stored} if stored else wf


def _argo_summary(rec: SubmitRecord, wf: dict | None, problem: str) -> dict:
    """The record of an Argo workflow in the local runs' shape: phase, times, message, steps, parameters, outputs."""
    submitted = epoch(rec.submitted_at)
    base = {"id": argo_id(rec.namespace, rec.name), "workflow": rec.workflow or rec.name,
            "engine": "argo", "submittedAt": submitted,
            "argo": {"namespace": rec.namespace, "name": rec.name, "server": rec.server or None,
                     "link": f"{rec.server}/workflows/{rec.namespace}/{rec.name}" if rec.server else None}}
    if wf is None:
        return {**base, "phase": "Unknown", "startedAt": submitted, "finishedAt": None, "message": problem,
                "steps": {}, "parameters": {}, "outputs": {"parameters": {}, "artifacts": {}}}
    record = _status.run_record(wf)
    return {**base, "phase": record.phase.value, "startedAt": record.started_at or submitted,
            "finishedAt": record.finished_at, "message": record.message,
            "progress": (wf.get("status") or {}).get("progress"),
            "steps": {k: s.to_json() for k, s in record.steps.items()}, "parameters": record.parameters,
            "outputs": {"parameters": record.outputs.parameters,
                        "artifacts": {n: _where(a) for n, a in record.outputs.artifacts.items()}}}


def list_argo_runs(run_dir: str | Path, connect: Callable[[str], ArgoClient], limit: int = 200) -> list[dict]:
    """The recorded Argo workflows, newest first, with live phases: one list request per namespace."""
    records = argo_records(run_dir)[:limit]
    found: dict[str, dict] = {}
    failed: dict[str, Exception] = {}  # namespace -> why its workflows couldn't be read
    clients: dict[str, ArgoClient] = {}
    for ns in sorted({r.namespace for r in records}):
        try:
            clients[ns] = client = connect(ns)
            if any(_other_server(r, client) is None for r in records if r.namespace == ns):
                for w in client.list(namespace=ns, labels="flowpack.io/workflow"):
                    found[f"{ns}/{(w.get('metadata') or {}).get('name')}"] = w
        except FlowpackError as exc:
            failed[ns] = exc
    out = []
    for rec in records:
        ns = rec.namespace
        why = failed.get(ns) or (_other_server(rec, clients[ns]) if ns in clients else None)
        wf = None if why is not None else found.get(f"{ns}/{rec.name}")
        if wf is None and why is None:
            why = ArgoNotFoundError("not in the namespace's list of workflows")
        full = _argo_summary(rec, wf, _problem(why, rec) if why is not None else "")
        counts: dict[str, int] = {}
        for s in full["steps"].values():
            counts[s.get("phase", "?")] = counts.get(s.get("phase", "?"), 0) + 1
        out.append({k: full.get(k) for k in ("id", "workflow", "engine", "phase", "startedAt", "finishedAt",
                                             "message", "argo")} | {"counts": counts})
    return out


def load_argo_run(run_dir: str | Path, run_id: str, connect: Callable[[str], ArgoClient]) -> dict:
    """One Argo workflow for display, as load_run gives a local one; "Argo server unreachable: ..." when it is."""
    rec = argo_record(run_dir, run_id)
    wf, problem, _ = _workflow(rec, connect)
    record = _argo_summary(rec, wf, problem)
    manifest = _spec_of(wf) if wf is not None else {}
    return {"id": run_id, "path": None, "record": record, "manifest": manifest,
            "phases": {dag_key(k): s.get("phase") for k, s in record["steps"].items()},
            "expected": expected_steps(manifest) if manifest else None}


def argo_step_detail(run_dir: str | Path, run_id: str, node: str, connect: Callable[[str], ArgoClient]) -> dict:
    """One Argo step: phase, timings, inputs, outputs, command, and the tail of its log from Argo's log stream."""
    rec = argo_record(run_dir, run_id)
    wf, problem, client = _workflow(rec, connect)
    if wf is None or client is None:
        return {"node": node, "step": {"node": node, "phase": "Unknown", "message": problem},
                "stdout": _text(""), "stderr": _text("")}
    steps = _status.steps(wf)
    if node not in steps:
        raise NotFound(f"workflow {rec.namespace}/{rec.name} has no step {node!r}")
    s = steps[node]
    raw = ((wf.get("status") or {}).get("nodes") or {}).get(s.node_id) or {}
    templates = {t.get("name"): t for t in (_spec_of(wf).get("spec") or {}).get("templates") or []}
    body = templates.get(s.template) or {}
    run = body.get("script") or body.get("container") or {}
    step = {**s.to_json(), "node": node, "inputs": _io(raw.get("inputs")), "outputs": _io(raw.get("outputs")),
            "command": list(run.get("command") or []) + list(run.get("args") or [])}
    log = _text("")
    if s.pod and s.phase not in _NO_LOGS:
        try:
            log = _log_tail(client.log_stream(rec.name, namespace=rec.namespace, pod=s.pod))
        except FlowpackError as exc:
            log = _text(f"(logs unavailable: {_problem(exc, rec)})")
    return {"node": node, "step": step, "stdout": log,
            "stderr": _text("(the Argo Server streams stdout and stderr together: both are in the log above)")}


def _text(text: str) -> dict:
    return {"text": text, "size": len(text.encode("utf-8")), "truncated": False}


def _log_tail(entries, limit: int = LOG_LIMIT) -> dict:
    """The last `limit` bytes of a log stream's lines (Argo LogEntry dicts)."""
    lines: deque[str] = deque()
    kept = size = 0
    for entry in entries:
        line = (entry.get("content") or "") + "\n"
        n = len(line.encode("utf-8"))
        lines.append(line)
        kept += n
        size += n
        while kept > limit and lines:
            kept -= len(lines.popleft().encode("utf-8"))
    return {"text": "".join(lines), "size": size, "truncated": size > kept}
