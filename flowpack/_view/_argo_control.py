"""Argo workflows in the viewer: stop and resume from the page (`flowpack ui`'s POSTs on "argo:..." ids), and a step's
log from a byte offset, so the page follows it as it follows a local step's.

Stop is Argo's stop: the running steps are stopped, exit handlers still run, the workflow ends Failed. Resume is Argo's
retry of a failed, errored or stopped workflow in place: its failed steps run again, the succeeded ones are kept, which
is how Argo goes on from where a workflow stopped. Both go to the server the workflow was submitted to, with the
viewer's connection settings (never to another server: see _runs._workflow).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, cast

from .._argo import _status
from .._argo._client import ArgoClient
from .._argo._record import SubmitRecord
from .._errors import FlowpackError
from .._phase import Phase
from ._control import Refused
from ._runs import NotFound, _problem, _workflow, argo_record
from ._steps import CHUNK


def _live(run_dir: str | Path, run_id: str,
          connect: Callable[[str], ArgoClient]) -> tuple[SubmitRecord, dict, ArgoClient]:
    """(submit record, workflow, client), or Refused saying why the workflow can't be reached."""
    rec = argo_record(run_dir, run_id)
    wf, problem, client = _workflow(rec, connect)
    if wf is None:
        raise Refused(problem)
    return rec, wf, cast(ArgoClient, client)


def stop_argo_run(run_dir: str | Path, run_id: str, connect: Callable[[str], ArgoClient]) -> str:
    """Ask the Argo Server to stop the workflow; returns what was done (Refused when it can't be)."""
    rec, wf, client = _live(run_dir, run_id, connect)
    if _status.is_done(wf):
        raise Refused(f"workflow {rec.namespace}/{rec.name} has already ended ({_status.phase(wf)})")
    try:
        client.action(rec.name, "stop", namespace=rec.namespace)
    except FlowpackError as exc:
        raise Refused(_problem(exc, rec)) from None
    return f"asked the Argo Server to stop workflow {rec.namespace}/{rec.name}"


def resume_argo_run(run_dir: str | Path, run_id: str, connect: Callable[[str], ArgoClient]) -> str:
    """Retry a failed, errored or stopped workflow in place (Argo's retry); returns what was done."""
    rec, wf, client = _live(run_dir, run_id, connect)
    phase = _status.phase(wf)
    if phase not in Phase.FAILED_LIKE:
        raise Refused(f"workflow {rec.namespace}/{rec.name} is {phase}: only a failed, errored or stopped "
                      f"workflow is resumed")
    try:
        client.action(rec.name, "retry", namespace=rec.namespace)
    except FlowpackError as exc:
        raise Refused(_problem(exc, rec)) from None
    return (f"retrying workflow {rec.namespace}/{rec.name} on the Argo Server: its failed steps run again, "
            f"the succeeded ones are kept")


def argo_log_lines(run_dir: str | Path, run_id: str, node: str,
                   connect: Callable[[str], ArgoClient]) -> list[tuple[str, float | None]]:
    """A step's whole log from the Argo Server's log stream (its executor's own lines left out), each line with the
    time Kubernetes received it (None without one); no lines before it runs."""
    rec = argo_record(run_dir, run_id)
    wf, _, client = _workflow(rec, connect)
    if wf is None:
        return []
    step = _status.steps(wf).get(node)
    if step is None:
        raise NotFound(f"workflow {rec.namespace}/{rec.name} has no step {node!r}")
    if not step.pod or step.phase in ("Pending", "Skipped", "Omitted"):
        return []
    try:
        stream = cast(ArgoClient, client).log_stream(rec.name, namespace=rec.namespace, pod=step.pod)
        return [(e.get("content") or "", e.get("time")) for e in stream]
    except FlowpackError as exc:
        return [(f"(logs unavailable: {_problem(exc, rec)})", None)]


def argo_log_text(run_dir: str | Path, run_id: str, node: str, connect: Callable[[str], ArgoClient]) -> str:
    """A step's whole log as text, "" before it runs."""
    return "".join(text + "\n" for text, _ in argo_log_lines(run_dir, run_id, node, connect))


def argo_log_chunk(run_dir: str | Path, run_id: str, node: str, name: str, start: int | None,
                   connect: Callable[[str], ArgoClient]) -> dict:
    """A step's log from byte `start` (the tail when None), as _steps.log_chunk gives a local one. The Argo Server
    streams stdout and stderr together: "stdout" is that log, "stderr" is empty. `times`: for each newline in the
    text, the time Kubernetes received that line."""
    if name not in ("stdout", "stderr"):
        raise NotFound(f"no log {name!r}")
    lines = argo_log_lines(run_dir, run_id, node, connect) if name == "stdout" else []
    data = "".join(text + "\n" for text, _ in lines).encode("utf-8")
    size = len(data)
    reset = start is not None and start > size
    if start is None or reset:
        start = max(0, size - CHUNK)
    piece = data[start:start + CHUNK]
    while piece:  # an unfinished multi-byte character waits for the next request
        try:
            decoded = piece.decode("utf-8")
            break
        except UnicodeDecodeError:
            piece = piece[:-1]
    else:
        decoded = ""
    times: list[float | None] = []
    end = 0
    for text, when in lines:  # the lines whose newline is in the piece
        end += len(text.encode("utf-8")) + 1
        if start < end <= start + len(piece):
            times.append(when)
    return {"start": start, "end": start + len(piece), "size": size, "text": decoded, "reset": reset, "mtime": None,
            "times": times}
