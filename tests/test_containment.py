"""Nothing a local step starts outlives it (issue 12 item 13): processes that left the step's process group and its
environment behind — forked without exec then `setsid`, double-forked, `setsid` + exec with a cleared environment —
are stopped when the step ends, when its timeout kills it, and when the engine is stopped (SIGTERM, Ctrl-C); forked
by the fork server and spawned (FLOWPACK_FORKSERVER=0) alike. And a stop that lands the instant a step starts
never leaves the engine waiting for it. Real processes throughout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import flowpack as fp
from helpers import alive, until

DEADLINE = 60.0  # how long a test waits for something that should happen (a failure guard, not a measurement)
WAYS = ("fork-setsid", "double-fork", "setsid-exec")

ESCAPES = '''
import os
import subprocess
import sys
import time
from pathlib import Path

import flowpack as fp


def _note(folder, name, pid):
    Path(folder, name + ".part").write_text(str(pid))
    os.replace(Path(folder, name + ".part"), Path(folder, name))  # whole: the test reads it once it exists


def _leave(folder, how):
    """Start one process that has left this step's process group, and wait until it noted its pid."""
    Path(folder, "cmdline").write_bytes(Path("/proc/self/cmdline").read_bytes())
    if how == "fork-setsid":  # forked without exec: in /proc it still shows the environment it was forked with
        if os.fork() == 0:
            os.setsid()
            _note(folder, how, os.getpid())
            time.sleep(300)
            os._exit(0)
    elif how == "double-fork":  # its parent ends at once: an orphan, in a session of its own
        if os.fork() == 0:
            if os.fork() == 0:
                os.setsid()
                _note(folder, how, os.getpid())
                time.sleep(300)
            os._exit(0)
    else:  # setsid + exec, with an empty environment: no variable of the step's is left on it
        child = subprocess.Popen(["sleep", "300"], start_new_session=True, env={"PATH": os.environ["PATH"]})
        _note(folder, how, child.pid)
    while not Path(folder, how).exists():
        time.sleep(0.01)


@fp.op
def escape(folder: str, how: str, linger: float) -> int:
    _leave(folder, how)
    _note(folder, "step", os.getpid())
    time.sleep(linger)
    return 1


@fp.op(timeout=3)
def escape_then_hang(folder: str, how: str) -> int:
    _leave(folder, how)
    _note(folder, "step", os.getpid())
    time.sleep(300)
    return 1


@fp.workflow
def ends(folder: str, how: str):
    return escape(folder, how, 0.0)


@fp.workflow
def hangs(folder: str, how: str):
    return escape_then_hang(folder, how)


@fp.workflow
def lingers(folder: str, how: str):
    return escape(folder, how, 300.0)
'''

# Runs `lingers` in an engine of its own, to be stopped by a signal. argv: module folder, run_dir, folder, how.
STOPPED_DRIVER = '''
import sys
sys.path.insert(0, sys.argv[1])
import escapes
escapes.lingers.run(run_dir=sys.argv[2], folder=sys.argv[3], how=sys.argv[4])
'''

# Runs `lingers` and stops its own engine (SIGTERM) from the progress callback the moment the step turns Running,
# while the worker thread goes on to start the step's process. argv: module folder, run_dir, folder.
STOP_AT_START_DRIVER = '''
import os
import signal
import sys
sys.path.insert(0, sys.argv[1])
import escapes

sent = []


def progress(event):
    if event.get("phase") == "Running" and not sent:
        sent.append(1)
        os.kill(os.getpid(), signal.SIGTERM)


escapes.lingers.run(run_dir=sys.argv[2], folder=sys.argv[3], how="setsid-exec", progress=progress)
'''


@pytest.fixture(params=["1", "0"], ids=["forked", "spawned"])
def forkserver(request, monkeypatch) -> str:
    """Each test runs with the fork server's fork (FLOWPACK_FORKSERVER=1) and spawning (0)."""
    monkeypatch.setenv("FLOWPACK_FORKSERVER", request.param)
    return request.param


def _pid(path: Path, proc: subprocess.Popen | None = None) -> int:
    until(path.exists, f"{path} written", DEADLINE, proc=proc, every=0.02)
    return int(path.read_text())


def _left_running(pids: list[int]) -> list[int]:
    """The pids still alive after a moment (SIGKILL is delivered at once, the teardown is asynchronous); any such
    process is then killed, so a failing test leaves nothing behind."""
    end = time.monotonic() + 5
    while any(alive(p) for p in pids) and time.monotonic() < end:
        time.sleep(0.02)
    left = [p for p in pids if alive(p)]
    for p in left:
        os.kill(p, signal.SIGKILL)
    return left


def _started_as_told(folder: Path, forkserver: str) -> bool:
    """The step really started the way the test says: forked steps run the fork server's command line."""
    return (b"_forkserver.py" in (folder / "cmdline").read_bytes()) == (forkserver == "1")


@pytest.mark.parametrize("how", WAYS)
def test_what_a_step_left_running_is_stopped_when_it_ends(user_module, tmp_path, forkserver, how):
    m = user_module(ESCAPES)
    folder = tmp_path / "side"
    folder.mkdir()
    run = m.ends.run(run_dir=tmp_path / "runs", folder=str(folder), how=how)
    assert run.result() == 1
    (step,) = [s for s in run.steps.values() if s.get("template") == "escape"]
    left = _pid(folder / how)
    assert not _left_running([left]), f"{how}: process {left} outlived its step"
    assert step["phase"] == "Succeeded" and _started_as_told(folder, forkserver)


@pytest.mark.parametrize("how", WAYS)
def test_what_a_step_left_running_is_stopped_when_its_timeout_kills_it(user_module, tmp_path, forkserver, how):
    m = user_module(ESCAPES)
    folder = tmp_path / "side"
    folder.mkdir()
    with pytest.raises(fp.StepFailed) as info:
        m.hangs.run(run_dir=tmp_path / "runs", folder=str(folder), how=how)
    assert "timed out" in str(info.value)
    pids = [_pid(folder / "step"), _pid(folder / how)]
    assert not _left_running(pids), f"{how}: left running after the timeout"
    assert _started_as_told(folder, forkserver)


@pytest.mark.parametrize("how", WAYS)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_what_a_step_left_running_is_stopped_when_the_engine_is_stopped(tmp_path, forkserver, how, sig):
    src, folder, run_dir = tmp_path / "src", tmp_path / "side", tmp_path / "runs"
    src.mkdir()
    folder.mkdir()
    (src / "escapes.py").write_text(ESCAPES)
    (tmp_path / "driver.py").write_text(STOPPED_DRIVER)
    proc = subprocess.Popen([sys.executable, str(tmp_path / "driver.py"), str(src), str(run_dir), str(folder), how],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "FLOWPACK_FORKSERVER": forkserver})
    try:
        pids = [_pid(folder / "step", proc), _pid(folder / how, proc)]
        proc.send_signal(sig)
        proc.communicate(timeout=DEADLINE)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode != 0
    (record_path,) = run_dir.glob("*/run.json")
    assert json.loads(record_path.read_text())["phase"] == "Stopped"
    assert not _left_running(pids), f"{how}: left running after the engine was stopped"
    assert _started_as_told(folder, forkserver)


@pytest.mark.parametrize("attempt", range(6))
def test_a_stop_the_instant_a_step_starts_stops_it(tmp_path, forkserver, attempt):
    src, folder, run_dir = tmp_path / "src", tmp_path / "side", tmp_path / "runs"
    src.mkdir()
    folder.mkdir()
    (src / "escapes.py").write_text(ESCAPES)
    (tmp_path / "driver.py").write_text(STOP_AT_START_DRIVER)
    proc = subprocess.Popen([sys.executable, str(tmp_path / "driver.py"), str(src), str(run_dir), str(folder)],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "FLOWPACK_FORKSERVER": forkserver, "PYTHONFAULTHANDLER": "1"})
    try:
        _, err = proc.communicate(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)  # the faulthandler prints where each of its threads waits
        _, err = proc.communicate()
        raise AssertionError(f"the engine kept waiting for a step it was told to stop as it started:\n"
                             f"{err.decode(errors='replace')[-6000:]}") from None
    assert proc.returncode != 0, err.decode()
    (record_path,) = run_dir.glob("*/run.json")
    record = json.loads(record_path.read_text())
    assert record["phase"] == "Stopped"
    assert all(s["phase"] in ("Stopped", "Failed") for s in record["steps"].values()), record["steps"]
    started = [_pid(folder / name) for name in ("step", "setsid-exec") if (folder / name).exists()]
    assert not _left_running(started)
