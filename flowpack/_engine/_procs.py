"""Processes a run leaves behind: step descendants that outlive their step, and runs whose engine was killed.

Local steps start through the fork server (_forkserver), which stops whatever a step left running when it ends:
every step and the server are child subreapers, so nothing a step starts can leave its tree, whatever it does
(`setsid`, a double fork, a fork without exec, a cleared environment). The engine kills a step's process group on
a timeout or a stop; the server then kills the rest. Only a step the engine had to spawn itself (no fork server:
not Linux, or a request too large for one) is cleaned up the older way: by its process group, and by the
FLOWPACK_STEP_ID=<run id>:<node> every step's environment carries (`kill_tagged`, which reads /proc/*/environ;
a process that clears its environment is not found so). Each step process is also noted in <run>/pids, so a run
whose engine was killed can still have its steps stopped.

run.json records which process runs it (`owner`: pid, start time in clock ticks since boot, host). A run still
marked Running whose owner is gone was stopped by force (`kill -9`, a crash): `settle_abandoned` marks it Error,
with its unfinished steps, kills what its steps left running (their process groups; the fork server, which
outlives its engine until its last step ended, stops the rest) and detaches its steps' input views (_overlay).
"""

from __future__ import annotations

import os
import signal
import socket
from dataclasses import replace
from pathlib import Path

from .._phase import Phase
from .._records import RunRecord
from ._overlay import detach_under
from ._record import now, write_json

STEP_ID = "FLOWPACK_STEP_ID"
PIDS = "pids"


def step_id(run_id: str, node: str) -> str:
    return f"{run_id}:{node}"


def kill_group(proc) -> None:
    """Kill a step's whole process group (the step and what it started in its group). A step process still on
    its way to its own group (forked, not yet past its setsid) is killed alone: it has started nothing yet."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except PermissionError:
        pass
    except ProcessLookupError:
        if proc.returncode is None:  # not yet reaped: the pid is still this process's
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def kill_tagged(value: str, *, prefix: bool = False) -> int:
    """SIGKILL every process of this user whose environment holds FLOWPACK_STEP_ID=<value> (with prefix=True, any
    value starting with it: a whole run); returns how many."""
    needle = f"\0{STEP_ID}={value}".encode() + (b"" if prefix else b"\0")
    me, killed = os.getpid(), 0
    try:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:  # no /proc (not Linux): process groups are all that is stopped
        return 0
    for pid in pids:
        if pid == me:
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = b"\0" + f.read()
        except OSError:  # gone already, or another user's
            continue
        if needle in env:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
    return killed


def remember(run_path: Path, pid: int) -> None:
    """Note a started step process in <run>/pids ("pid start-ticks" lines), so its group can be stopped even when
    the engine is gone."""
    with open(run_path / PIDS, "a", encoding="ascii") as f:
        f.write(f"{pid} {_start_ticks(pid)}\n")


def kill_remembered(run_path: Path) -> int:
    """Kill the process groups of the run's step processes that still run (checked by start time: a pid reused by
    another process is left alone); returns how many."""
    try:
        lines = (run_path / PIDS).read_text(encoding="ascii").split("\n")
    except OSError:
        return 0
    killed = 0
    for line in lines:
        pid, _, start = line.partition(" ")
        if not pid.isdigit() or _start_ticks(int(pid)) is None or str(_start_ticks(int(pid))) != start:
            continue
        try:
            os.killpg(int(pid), signal.SIGKILL)
            killed += 1
        except (ProcessLookupError, PermissionError):
            pass
    return killed


def _start_ticks(pid: int) -> int | None:
    """A process's start time (clock ticks after boot): with the pid, it names one process for good."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def owner() -> dict:
    """This process, as run.json records the engine running it."""
    return {"pid": os.getpid(), "start": _start_ticks(os.getpid()), "host": socket.gethostname()}


def owner_alive(info: dict | None) -> bool:
    """Whether the recorded engine process still runs (True when that can't be known: another host, no record)."""
    if not isinstance(info, dict) or info.get("host") != socket.gethostname() or not info.get("pid"):
        return True
    pid = int(info["pid"])
    if info.get("start") is None:  # recorded without /proc: whether the pid exists is all that can be known
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return _start_ticks(pid) == info["start"]


def settle_abandoned(run_path: Path, record: RunRecord) -> RunRecord:
    """A run marked Running whose engine is gone: mark it (and its unfinished steps) Error, kill its leftovers.

    Returns the record as it now stands (unchanged when the run ended or its engine still runs)."""
    if record.phase not in Phase.UNFINISHED or owner_alive(record.owner):
        return record
    pid = (record.owner or {}).get("pid")
    message = (f"engine stopped: the process that ran this run (pid {pid}) ended without finishing it "
               f"(killed or crashed); resume it with resume={record.id!r}")
    t = now()
    steps = {node: replace(s, phase=Phase.ERROR, finished_at=t, message="engine stopped")
             if s.phase in Phase.UNFINISHED else s for node, s in record.steps.items()}
    record = replace(record, phase=Phase.ERROR, finished_at=t, message=message, steps=steps)
    kill_remembered(run_path)
    kill_tagged(step_id(record.id or run_path.name, ""), prefix=True)
    detach_under(run_path)  # its steps' input views, which would keep the run's folder from being deleted
    try:
        write_json(run_path / "run.json", record.to_json())
    except OSError:
        pass  # a read-only run folder: the caller still sees the settled record
    return record
