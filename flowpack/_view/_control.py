"""Stopping and resuming a local run from the viewer (`flowpack ui`'s POST requests).

Stop: the engine running the run (run.json's `owner`: pid, start time, host) is asked to stop with SIGTERM, which it
turns into a stop (every step killed, the run marked Stopped) while it runs a run on its main thread. A process that
doesn't catch SIGTERM (e.g. a notebook running a run in the background) is never signalled: the answer says so.

Resume: `flowpack run FILE.py:WF --resume RUN_ID --params-from RUN_ID` (the run's parameters read back from its
record, big values and input files from its store: _cli_target), started in the background, when the run records the
file its workflow came from (the `flowpack.io/source` annotation of its manifest.json). A resume keeps the store the
run recorded (_cli_store.resumed_store; an S3 store's credentials from this process's environment, which the command
inherits), where the steps it reuses keep their outputs.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from .._engine._procs import _start_ticks
from .._phase import Phase
from ._runs import _read, read_run_record, run_folder

SOURCE = "flowpack.io/source"  # manifest annotation: "/abs/path/file.py:workflow" of a run started from a file


class Refused(Exception):
    """A stop or resume that can't be done; the message says why and what to do instead."""


def _catches_sigterm(pid: int) -> bool:
    """Whether the process has a SIGTERM handler (/proc/<pid>/status SigCgt), i.e. takes it as a stop request."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) >> (signal.SIGTERM - 1) & 1)
    except (OSError, ValueError):
        pass
    return False


def stop_run(run_dir: str | Path, run_id: str) -> str:
    """Ask the engine running `run_id` to stop it; returns what was done (raises Refused when it can't be)."""
    path = run_folder(run_dir, run_id)
    record, problem = read_run_record(path)
    if record is None:
        raise Refused(f"run {run_id}: run.json can't be read: {problem}")
    if record.done:
        raise Refused(f"run {run_id} has already ended ({record.phase})")
    owner = record.owner
    if not isinstance(owner, dict) or not isinstance(owner.get("pid"), int):
        raise Refused(f"run {run_id} does not record which process runs it: stop it where it runs (Ctrl-C)")
    pid = owner["pid"]
    if owner.get("host") != socket.gethostname():
        raise Refused(f"run {run_id} runs on {owner.get('host')}, not on this machine")
    if _start_ticks(pid) is None or (owner.get("start") is not None and _start_ticks(pid) != owner["start"]):
        raise Refused(f"the process that ran {run_id} (pid {pid}) is gone")
    if not _catches_sigterm(pid):
        raise Refused(f"the process running {run_id} (pid {pid}) doesn't take stop requests (a run started with "
                      "wait=False, or from a notebook's background): stop it there")
    os.kill(pid, signal.SIGTERM)
    return f"asked the engine (pid {pid}) to stop run {run_id}"


def resume_run(run_dir: str | Path, run_id: str) -> str:
    """Start `flowpack run FILE.py:WF --resume RUN_ID --params-from RUN_ID` in the background; returns what was
    started."""
    path = run_folder(run_dir, run_id)
    record, problem = read_run_record(path)
    manifest = _read(path / "manifest.json") or {}
    if record is None:
        raise Refused(f"run {run_id}: run.json can't be read: {problem}")
    if record.phase not in Phase.RESUMABLE:
        raise Refused(f"run {run_id} is {record.phase}: only a failed, errored or stopped run is resumed")
    source = ((manifest.get("metadata") or {}).get("annotations") or {}).get(SOURCE)
    file = source.rpartition(":")[0] if isinstance(source, str) else ""
    if not isinstance(source, str) or not file or not Path(file).is_file():
        raise Refused(f"run {run_id} doesn't record a workflow file to run again (started from a notebook or "
                      f"python -c?): resume it where it was started, with pipeline.run(resume={run_id!r})")
    command = [sys.executable, "-m", "flowpack", "run", source, "--resume", run_id, "--params-from", run_id,
               "--run-dir", str(Path(run_dir).absolute()), "--engine", record.engine or "local"]
    where = Path(run_dir).absolute()
    cwd = where.parent.parent if where.parent.name == ".flowpack" else Path(file).parent
    log = path / f"resume-{time.strftime('%Y%m%d-%H%M%S')}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    threading.Thread(target=proc.wait, daemon=True, name=f"flowpack-resume-{proc.pid}").start()  # no zombie
    return f"resuming run {run_id} (pid {proc.pid}); the new run appears in the list; output in {log}"
