"""The run directory: what a run did, written so a person can inspect a step or rerun it by hand.

Layout of `<run_dir>/<run-id>/`:
  manifest.json        the rendered manifest this run executed
  run.json             phase, timings, workflow outputs (written at start and at the end)
  steps/<node>/        one folder per step: step.json (inputs, outputs, phase, exit code, timings, command: a
                       StepFolderRecord), stdout, stderr, root/ (the step's filesystem root: declared paths live
                       under it), work/ (cwd)
  scripts/<template>   each template's script, written once per run
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import Iterator

from .._errors import RecordError
from .._records import StepFolderRecord


def now() -> float:
    return time.time()


def write_json(path: Path, data: dict, *, compact: bool = False) -> None:
    """Atomic JSON write: a reader sees the old file or the new one, never half of one.

    The temporary file has a name of its own (two writers of one path, even threads of one process, never share
    it) and is removed when the write fails; a failure is a RecordError saying why (a full disk, no permission).
    `compact`: one line, by json's C encoder (an indented text takes its Python encoder, 2-3 times slower: for the
    records written for every step)."""
    text = (json.dumps(data, ensure_ascii=False, default=str, separators=(",", ":")) if compact else
            json.dumps(data, indent=1, ensure_ascii=False, default=str))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _record_error(path, exc) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise _record_error(path, exc) from None


def overwrite_json(path: Path, data: dict) -> None:
    """Write over an existing file in place: no new file, so it can work on a full disk when the new text is no
    longer than the old (not atomic: for a last word when write_json failed). Raises RecordError."""
    raw = json.dumps(data, ensure_ascii=False, default=str).encode("utf-8")
    try:
        with open(path, "r+b") as f:
            f.write(raw)
            f.truncate()
    except OSError as exc:
        raise _record_error(path, exc) from None


def _record_error(path: Path, exc: OSError) -> RecordError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        why = "the disk is full (no space left on the device)"
    else:
        why = exc.strerror or str(exc)
    return RecordError(f"can't write the run record {path}: {why}. Free space (or fix the folder) and resume the run.")


def read_json(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def step_folders(run_path: Path) -> Iterator[Path]:
    """The step folders of a run folder (those holding a step.json or a stdout), sorted by node path at each level.

    A step folder's own subfolders (root/, work/, its inputs' views) hold what the step wrote, not steps: they are
    never looked into, so a file a step wrote named step.json is never taken for a record. No link is followed."""
    todo = [run_path / "steps"]
    while todo:
        folder = todo.pop()
        try:
            with os.scandir(folder) as found:
                entries = sorted(found, key=lambda e: e.name)
        except OSError:
            continue
        names = {e.name for e in entries}
        if folder != run_path / "steps" and ("step.json" in names or "stdout" in names):
            yield folder
            continue
        todo.extend(Path(e.path) for e in reversed(entries) if e.is_dir(follow_symlinks=False))


def read_step_record(folder: Path) -> StepFolderRecord | None:
    """A step folder's record (its step.json); None while it has none (the step is running) or when it can't be
    read as one."""
    try:
        return StepFolderRecord.read(folder / "step.json")
    except (OSError, ValueError):
        return None


def step_records(run_path: Path) -> Iterator[tuple[str, StepFolderRecord]]:
    """(node path, record) of each step folder of a run folder with a readable step.json."""
    for folder in step_folders(run_path):
        record = read_step_record(folder)
        if record is not None:
            yield folder.relative_to(run_path / "steps").as_posix(), record


def new_run_id(name: str) -> str:
    """Sortable and unique: <workflow>-<yyyymmdd-hhmmss>-<random>."""
    return f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def tail_text(path: Path, limit: int) -> str:
    """The last `limit` bytes of a log file as text ("" when it can't be read); never the whole file."""
    try:  # never through a link: a step may have planted one where a log would be
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - limit))
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
