"""The run directory: what a run did, written so a person can inspect a step or rerun it by hand.

Layout of `<run_dir>/<run-id>/`:
  manifest.json        the rendered manifest this run executed
  run.json             phase, timings, workflow outputs (written at start and at the end)
  steps/<node>/        one folder per step: step.json (inputs, outputs, phase, exit code, timings, command),
                       stdout, stderr, root/ (the step's filesystem root: declared paths live under it), work/ (cwd)
  scripts/<template>   each template's script, written once per run
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path


def now() -> float:
    return time.time()


def write_json(path: Path, data: dict) -> None:
    """Atomic JSON write: a reader sees the old file or the new one, never half of one."""
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, ensure_ascii=False, default=str)
    os.replace(tmp, path)


def read_json(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def new_run_id(name: str) -> str:
    """Sortable and unique: <workflow>-<yyyymmdd-hhmmss>-<random>."""
    import secrets

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
