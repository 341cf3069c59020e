"""Reading run folders (local and Docker engines) for display: run lists, live step phases, step details and logs.

run.json is written when a run starts and when it ends; while it runs, a step folder with no step.json yet is a
step that is running, and a step.json is a step that ended. Names from URLs are checked to stay inside run_dir.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ._graph import expected_steps

LOG_LIMIT = 256 * 1024  # bytes of a log shown: its tail
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_NODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._()/-]*$")


class NotFound(LookupError):
    """No such run or step (or a name that would leave the run folder)."""


def _read(path: Path) -> dict | None:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def run_folder(run_dir: str | Path, run_id: str) -> Path:
    """The folder of one run, refusing ids that aren't plain folder names."""
    if not _RUN_ID.match(run_id or "") or ".." in run_id:
        raise NotFound(f"no run {run_id!r}")
    path = Path(run_dir) / run_id
    if not (path / "run.json").is_file():
        raise NotFound(f"no run {run_id!r} in {run_dir}")
    return path


def list_runs(run_dir: str | Path, limit: int = 200) -> list[dict]:
    """The newest runs first: {id, workflow, engine, phase, startedAt, finishedAt, steps, counts}."""
    root = Path(run_dir)
    if not root.is_dir():
        return []
    out = []
    for path in root.iterdir():
        rec = _read(path / "run.json") if path.is_dir() else None
        if rec is None:
            continue
        counts: dict[str, int] = {}
        for s in (rec.get("steps") or {}).values():
            counts[s.get("phase", "?")] = counts.get(s.get("phase", "?"), 0) + 1
        out.append({k: rec.get(k) for k in ("id", "workflow", "engine", "phase", "startedAt", "finishedAt",
                                            "message")} | {"id": path.name, "counts": counts})
    out.sort(key=lambda r: r.get("startedAt") or 0, reverse=True)
    return out[:limit]


def live_steps(path: Path, record: dict) -> dict[str, dict]:
    """The record's steps, plus (while the run is going) what the step folders say about steps since started."""
    steps = {k: dict(v) for k, v in (record.get("steps") or {}).items()}
    if record.get("phase") not in ("Running", "Pending"):
        return steps
    base = path / "steps"
    for folder in _step_folders(base):
        marker = folder / "stdout"
        node = folder.relative_to(base).as_posix()
        if node in steps and steps[node].get("phase") not in ("Running", "Pending"):
            continue
        rec = _read(folder / "step.json")
        if rec is not None:
            steps[node] = {"name": node, "template": rec.get("template"), "phase": rec.get("phase"),
                           "startedAt": rec.get("startedAt"), "finishedAt": rec.get("finishedAt"),
                           "exitCode": rec.get("exitCode"), "message": rec.get("message") or ""}
        else:
            steps.setdefault(node, {"name": node, "phase": "Running", "startedAt": marker.stat().st_mtime})
            steps[node]["phase"] = "Running"
    return steps


def _step_folders(base: Path):
    """Folders holding a step's stdout, not looking inside a step's own root/ and work/ trees."""
    todo = [base]
    while todo:
        folder = todo.pop()
        try:
            entries = list(folder.iterdir())
        except OSError:
            continue
        if folder != base and (folder / "stdout").exists():
            yield folder
        for e in entries:
            if e.is_dir() and not (folder != base and e.name in ("root", "work")):
                todo.append(e)


def load_run(run_dir: str | Path, run_id: str) -> dict:
    """One run for display: its record with live step phases, its manifest, and how many steps it expects."""
    path = run_folder(run_dir, run_id)
    record = _read(path / "run.json") or {}
    manifest = _read(path / "manifest.json") or {}
    steps = live_steps(path, record)
    return {"id": run_id, "path": str(path), "record": {**record, "steps": steps}, "manifest": manifest,
            "phases": {k: s.get("phase") for k, s in steps.items()}, "expected": expected_steps(manifest)}


def _tail(path: Path, limit: int = LOG_LIMIT) -> dict:
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            if size > limit:
                f.seek(size - limit)
            data = f.read()
    except OSError:
        return {"text": "", "size": 0, "truncated": False}
    return {"text": data.decode("utf-8", errors="replace"), "size": size, "truncated": size > limit}


def step_detail(run_dir: str | Path, run_id: str, node: str) -> dict:
    """One step: its step.json (inputs, outputs, command, exit code, timings) and the tails of stdout and stderr."""
    path = run_folder(run_dir, run_id)
    if not _NODE.match(node or "") or ".." in node.split("/"):
        raise NotFound(f"no step {node!r}")
    folder = (path / "steps" / node).resolve()
    if not folder.is_relative_to((path / "steps").resolve()) or not folder.is_dir():
        raise NotFound(f"run {run_id} has no step {node!r}")
    rec = _read(folder / "step.json") or {"node": node, "phase": "Running"}
    rec.pop("cwd", None)
    return {"node": node, "step": rec, "stdout": _tail(folder / "stdout"), "stderr": _tail(folder / "stderr")}


def step_outputs(path: Path, node: str) -> dict:
    """A step's output parameters (text) from its step.json, {} when it has none yet."""
    rec = _read(path / "steps" / node / "step.json") or {}
    return dict((rec.get("outputs") or {}).get("parameters") or {})
