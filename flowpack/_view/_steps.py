"""What the viewer shows of one local run's steps: rows in DAG order, a page for every step (pending and skipped
ones too), logs read incrementally from a byte offset, and the steps' artifacts with previews.

Artifacts are served only from a local store, only under the key a step.json records, and only when the file's
sha256 matches the recorded one: a file a step planted or swapped is never served.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import tempfile
from dataclasses import replace
from pathlib import Path

from .._engine._record import read_step_record
from .._engine._stamps import read_stamps
from .._errors import StoreError
from .._records import NamedValues, RunRecord, StepFolderRecord
from .._store import S3, ArtifactRef, LocalStore, Store, recorded_store
from .._types import JSON, MARKER, PARAM, TAGS, Kind, decode, unmarked
from ._control import SOURCE
from ._graph import build
from ._runs import (
    NotFound,
    _read,
    dag_key,
    detail_json,
    load_run,
    read_run_record,
    run_folder,
    started_step,
    step_folder,
)
from ._tally import Plan

CHUNK = 256 * 1024  # bytes of log per request (the first request gets the tail)
PREVIEW = 64 * 1024  # bytes of an artifact previewed
PREVIEW_ROWS = 200  # rows of a CSV shown as a table
VERIFY_LIMIT = 512 * 1024 * 1024  # artifacts bigger than this are listed, not hashed and served by the viewer
LOGS = ("stdout", "stderr")
IMAGES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg", b"GIF87a": "image/gif",
          b"GIF89a": "image/gif"}
MAX_ITEMS = 100  # a map's items listed under it in the step table


_FACTS: dict[str, tuple[float, float, dict]] = {}  # run folder -> (run.json mtime, manifest mtime, facts)


def run_facts(run_dir: str | Path, run_id: str) -> dict:
    """{parameters, source} of a local run for the run list (re-read only when its files change)."""
    try:
        path = run_folder(run_dir, run_id)
        stamps = ((path / "run.json").stat().st_mtime, (path / "manifest.json").stat().st_mtime)
    except (NotFound, OSError):
        return {"parameters": {}, "source": None}
    cached = _FACTS.get(str(path))
    if cached and cached[:2] == stamps:
        return cached[2]
    record, _ = read_run_record(path)
    manifest = _read(path / "manifest.json") or {}
    params = record.parameters if record is not None else {}
    facts = {"parameters": params,
             "source": ((manifest.get("metadata") or {}).get("annotations") or {}).get(SOURCE)}
    _FACTS[str(path)] = (*stamps, facts)
    return facts


def natural_key(step: str) -> list[tuple[int, int, str]]:
    """Sorts step names as people read them: 'square/2' before 'square/10' (Argo's 'square(2:..)' too)."""
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in dag_key(step).split("/")]


def _row_json(row) -> dict:
    step = row.step or {}
    return {"node": row.node, "label": row.label, "phase": row.phase, "map": row.loop, "done": row.done,
            "total": row.total, "seen": row.seen, "detail": row.detail, "when": row.when, "allowed": row.allowed,
            "startedAt": step.get("startedAt") if not row.loop else row.started,
            "finishedAt": step.get("finishedAt") if not row.loop else row.finished,
            "exitCode": step.get("exitCode"), "message": step.get("message") or ""}


def run_rows(data: dict) -> list[dict]:
    """Every planned step of a loaded run (load_run) in DAG order, pending ones too; each map followed by its items."""
    path = Path(data["path"]) if data.get("path") else None
    plan = Plan(data["manifest"])
    steps = data["record"].get("steps") or {}

    def read_step(node: str) -> StepFolderRecord | None:
        try:
            return read_step_record(step_folder(path, node)) if path is not None else None
        except NotFound:
            return None

    out = []
    for row in plan.rows(steps, read_step):
        out.append(_row_json(row))
        if row.loop:
            items = sorted((k for k in steps if plan.node_of(k) == row.node and k != row.node), key=natural_key)
            for key in items[:MAX_ITEMS]:
                s = steps[key]
                out.append({"node": key, "label": key, "phase": s.get("phase"), "item": True, "map": False,
                            "startedAt": s.get("startedAt"), "finishedAt": s.get("finishedAt"),
                            "exitCode": s.get("exitCode"), "message": s.get("message") or ""})
            if len(items) > MAX_ITEMS:
                out.append({"node": row.node, "label": f"\u2026 {len(items) - MAX_ITEMS} more items", "more": True,
                            "phase": "", "message": ""})
    return out


def step_page(run_dir: str | Path, run_id: str, node: str) -> dict:
    """One step's page: a started step's folder (step.json, log tails, artifacts), or for a step that has no folder
    (pending, skipped, not run) what the run's record and the plan say about it."""
    try:
        folder, rec = started_step(run_dir, run_id, node)
    except NotFound:
        pass
    else:  # parameters as the step reads them, not in their wire form
        readable = replace(rec, inputs=_shown(rec.inputs), outputs=_shown(rec.outputs))
        return {**detail_json(folder, node, readable), "artifacts": artifacts(rec), "started": True}
    data = load_run(run_dir, run_id)
    plan = Plan(data["manifest"])
    planned = plan.node_of(node)
    known = (data["record"].get("steps") or {}).get(node)
    if known is None and planned != node:
        raise NotFound(f"run {run_id} has no step {node!r}")
    n = plan.by_id.get(node)
    step = {"node": node, "phase": "Pending", "message": "not started yet", **(known or {})}
    if n is not None:
        step.update(template=n.template, when=n.when, allowed=n.allowed, map=bool(n.loop))
        waits = [a for a, b in _edges(plan) if b == node]
        if step["phase"] == "Pending" and waits:
            step["message"] = "not started yet: waits for " + ", ".join(waits)
    empty = {"text": "", "size": 0, "truncated": False}
    return {"node": node, "step": step, "stdout": empty, "stderr": empty, "artifacts": [], "started": False}


def _shown(values: NamedValues | None) -> NamedValues | None:
    if values is None:
        return None
    return replace(values, parameters={n: shown(v) if isinstance(v, str) else v for n, v in values.parameters.items()})


def _edges(plan: Plan) -> list[tuple[str, str]]:
    return build(plan.manifest).edges


def log_chunk(run_dir: str | Path, run_id: str, node: str, name: str, start: int | None) -> dict:
    """Log bytes from `start` (the tail when None) as text: {start, end, size, text, reset, mtime, times}. `end` never
    splits a UTF-8 character: the next request starts there. `reset` when the log is now shorter than `start`
    (rewritten). `times`: for each newline in the text, the Unix time the step wrote that line (None: not stamped)."""
    if name not in LOGS:
        raise NotFound(f"no log {name!r}")
    folder = step_folder(run_folder(run_dir, run_id), node)
    try:
        fd = os.open(folder / name, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return {"start": 0, "end": 0, "size": 0, "text": "", "reset": False, "mtime": None, "times": []}
    with os.fdopen(fd, "rb") as f:
        stat = os.fstat(f.fileno())
        size = stat.st_size
        reset = start is not None and start > size
        if start is None or reset:
            start = max(0, size - CHUNK)
        f.seek(start)
        data = f.read(min(CHUNK, size - start))
    cut = len(data)
    for back in range(1, min(4, len(data)) + 1):  # an unfinished multi-byte character waits for the next request
        lead = data[-back]
        if lead & 0xC0 != 0x80:
            need = 2 if lead >> 5 == 0b110 else 3 if lead >> 4 == 0b1110 else 4 if lead >> 3 == 0b11110 else 1
            if need > back:
                cut = len(data) - back
            break
    stamps = read_stamps(folder, name)  # when the step wrote each line (the local engine stamps them)
    times = []
    at = data.find(b"\n", 0, cut)
    while at >= 0:
        times.append(stamps.get(start + at + 1))
        at = data.find(b"\n", at + 1, cut)
    return {"start": start, "end": start + cut, "size": size, "text": data[:cut].decode("utf-8", errors="replace"),
            "reset": reset, "mtime": stat.st_mtime, "times": times}


def log_file(run_dir: str | Path, run_id: str, node: str, name: str):
    """An open binary file of a whole log, for download (never through a link)."""
    if name not in LOGS:
        raise NotFound(f"no log {name!r}")
    folder = step_folder(run_folder(run_dir, run_id), node)
    try:
        return os.fdopen(os.open(folder / name, os.O_RDONLY | os.O_NOFOLLOW), "rb")
    except OSError:
        raise NotFound(f"step {node!r} has no {name}") from None


# -- artifacts ---------------------------------------------------------------------------------------------------
def artifacts(step: StepFolderRecord) -> list[dict]:
    """A step's input and output artifacts as listed on its page: side, name, size, kind, key."""
    out = []
    for side, values in (("in", step.inputs), ("out", step.outputs)):
        for name, ref in sorted((values.artifacts if values is not None else {}).items()):
            if isinstance(ref, dict) and ref.get("key"):
                out.append({"side": side, "name": name, "size": ref.get("size"), "kind": ref.get("kind"),
                            "key": ref.get("key")})
    return out


def _ref(run_dir: str | Path, run_id: str, node: str, side: str, name: str) -> tuple[dict, RunRecord | None]:
    path = run_folder(run_dir, run_id)
    rec = read_step_record(step_folder(path, node))
    values = {"in": rec.inputs, "out": rec.outputs}.get(side) if rec is not None else None
    ref = values.artifacts.get(name) if values is not None else None
    if not isinstance(ref, dict) or not ref.get("key") or not ref.get("sha256"):
        raise NotFound(f"step {node!r} has no {side}put artifact {name!r}")
    return ref, read_run_record(path)[0]


def _store(record: RunRecord | None, name: str) -> Store:
    """The store a run's record names (an S3 store with this process's AWS_* or MINIO_* credentials)."""
    try:
        return recorded_store(record.store if record is not None else None)
    except StoreError as exc:
        raise NotFound(f"artifact {name!r}: {exc}") from None


def artifact_path(run_dir: str | Path, run_id: str, node: str, side: str, name: str) -> tuple[Path, dict]:
    """(the artifact's file: in the run's local store, or fetched from its S3 store into the viewer's own folder,
    its ref), after checking its sha256 against the record."""
    ref, record = _ref(run_dir, run_id, node, side, name)
    store = _store(record, name)
    if isinstance(store, S3):
        return _fetched(store, ref, name), ref
    assert isinstance(store, LocalStore)
    try:
        file = store.path(ref["key"])
    except Exception as exc:  # noqa: BLE001 - a key the store refuses is not served
        raise NotFound(f"artifact {name!r}: {exc}") from None
    if file.is_dir() and not file.is_symlink():  # a step's folder output, moved into the store as a folder
        raise NotFound(f"artifact {name!r} is a folder: it is at {file}")
    if file.is_symlink() or not file.is_file():
        raise NotFound(f"artifact {name!r} is not in the store any more")
    if file.stat().st_size > VERIFY_LIMIT:
        raise NotFound(f"artifact {name!r} is {file.stat().st_size} bytes: too big for the viewer; it is at {file}")
    digest = hashlib.sha256()
    with os.fdopen(os.open(file, os.O_RDONLY | os.O_NOFOLLOW), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != ref["sha256"]:
        raise NotFound(f"artifact {name!r} does not match its recorded sha256: not shown")
    return file, ref


_FETCHED: list[Path] = []  # the viewer's own folder for objects fetched from S3 stores (made when first needed)


def _fetched(store: S3, ref: dict, name: str) -> Path:
    """An S3 object downloaded through the store (which checks its sha256) into the viewer's private folder."""
    if ref.get("kind") != "file":
        raise NotFound(f"artifact {name!r} is a folder, stored in S3 as a tar.gz under {ref.get('key')!r}")
    if (ref.get("size") or 0) > VERIFY_LIMIT:
        raise NotFound(f"artifact {name!r} is {ref.get('size')} bytes: too big for the viewer")
    if not _FETCHED:
        _FETCHED.append(Path(tempfile.mkdtemp(prefix="flowpack-viewer-")))  # 0700: this user's alone
    file = _FETCHED[0] / str(ref["sha256"])
    if not file.is_file():
        try:
            store.get(ArtifactRef.from_dict(ref), file)
        except StoreError as exc:
            raise NotFound(f"artifact {name!r}: {exc}") from None
    return file


def _head(run_dir: str | Path, run_id: str, node: str, side: str, name: str) -> tuple[bytes, int, dict]:
    """(the first PREVIEW bytes of an artifact, its size, its ref): from a local store's file, or from an S3 store
    as a bounded read of the object's start (a whole object when small, checked against its sha256)."""
    ref, record = _ref(run_dir, run_id, node, side, name)
    store = _store(record, name)
    if isinstance(store, S3):
        try:
            head = store.read_head(ArtifactRef.from_dict(ref), PREVIEW)
        except StoreError as exc:
            raise NotFound(f"artifact {name!r}: {exc}") from None
        return head, int(ref.get("size") or len(head)), ref
    file, ref = artifact_path(run_dir, run_id, node, side, name)
    with open(file, "rb") as f:
        return f.read(PREVIEW), file.stat().st_size, ref


def preview(run_dir: str | Path, run_id: str, node: str, side: str, name: str) -> dict:
    """{type: text|markdown|json|csv|image|binary|archive|pickle, text?, rows?, mime?, size, truncated}."""
    head, size, ref = _head(run_dir, run_id, node, side, name)
    out = {"size": size, "truncated": size > len(head)}
    mime = next((m for magic, m in IMAGES.items() if head.startswith(magic)), None)
    if ref.get("kind") == "dir" or head.startswith(b"\x1f\x8b"):
        return {**out, "type": "archive", "text": "a folder, stored as tar.gz: download it to open it"}
    if mime:
        return {**out, "type": "image", "mime": mime}
    if head[:1] == b"\x80":  # pickle protocol 2 and later
        return {**out, "type": "pickle", "text": "a pickled Python value: load it with run.outputs / run.result()"}
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut by the preview's end
            return {**out, "type": "binary", "text": f"binary data ({size} bytes)"}
        text = head[:exc.start].decode("utf-8")
    if not out["truncated"]:
        try:
            return {**out, "type": "json", "text": json.dumps(json.loads(text), indent=2, ensure_ascii=False)}
        except ValueError:
            pass
    markdown = text.lstrip().startswith("#") or "\n## " in text or "\n- " in text and "\n#" in text
    if markdown or _MD_TABLE.search(text):  # a markdown table's pipes would pass for a CSV's delimiters
        return {**out, "type": "markdown", "text": text}
    rows = _csv_rows(text)
    if rows is not None:
        return {**out, "type": "csv", "rows": rows}
    return {**out, "type": "text", "text": text}


_MD_TABLE = re.compile(r"^[ \t]*\|?[ \t]*:?-+:?[ \t]*(\|[ \t]*:?-+:?[ \t]*)+\|?[ \t]*$", re.M)  # |---|:--:|


def shown(text: str) -> str:
    """A parameter's text as a person reads it: flowpack's codec tags (such as the one before a map's gathered list)
    and base64 protection undone, as the step reads it; lists and objects as JSON."""
    codec, each = JSON, False
    while text.startswith(tuple(TAGS)):
        tag = next(t for t in TAGS if text.startswith(t))
        (codec, each), text = TAGS[tag], text[len(tag):]
    try:
        if each:
            items = json.loads(text)
            value: object = [decode(v, Kind(PARAM, codec)) if isinstance(v, str) else unmarked(v) for v in items]
        elif text.startswith(MARKER):
            return str(decode(text, Kind(PARAM, codec)))
        elif codec == JSON and MARKER in text:
            value = unmarked(json.loads(text))
        else:
            return text
    except (ValueError, TypeError):  # not what flowpack writes: shown as it is
        return text
    return json.dumps(value, ensure_ascii=False)


def _csv_rows(text: str) -> list[list[str]] | None:
    """Rows when the text reads as a table (a delimiter, at least two columns, every full row the same width)."""
    lines = text.splitlines()
    if len(lines) < 2:
        return None
    try:
        dialect = csv.Sniffer().sniff("\n".join(lines[:20]), delimiters=",;\t|")
    except csv.Error:
        return None
    rows = list(csv.reader(io.StringIO("\n".join(lines[:PREVIEW_ROWS + 1])), dialect))
    widths = {len(r) for r in rows[:-1] if r} or {0}
    if len(widths) != 1 or widths.pop() < 2:
        return None
    return rows[:PREVIEW_ROWS]
