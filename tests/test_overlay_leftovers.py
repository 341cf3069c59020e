"""An engine killed mid-step (SIGKILL) leaves its running step's input views (overlayfs mounts) in the mount namespace
it shared; they are detached when the run is found abandoned, so the run's folder can be deleted, and nothing stored
is touched."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from flowpack._engine import _overlay
from flowpack._view import _runs
from helpers import until

DEADLINE = 60.0  # a failure guard, not a measurement

MODULE = textwrap.dedent('''
    import os
    import time
    from pathlib import Path

    import flowpack as fp


    @fp.op
    def produce() -> Path:
        out = Path("made")
        out.mkdir()
        (out / "data.txt").write_text("stored bytes")
        return out


    @fp.op
    def hold(folder: Path) -> str:
        gate = Path(os.environ["GATE"])
        (gate / "started").write_text(str(os.getpid()))
        end = time.monotonic() + 120
        while not (gate / "open").exists() and time.monotonic() < end:
            time.sleep(0.02)
        return (folder / "data.txt").read_text()


    @fp.workflow
    def flow():
        return hold(produce())
''')


def test_a_killed_engines_views_are_detached_when_its_run_is_found_abandoned(tmp_path):
    assert _overlay.available()  # the tests run as root on Linux with overlayfs: views are what this exercises
    (tmp_path / "leftmod.py").write_text(MODULE)
    gate, run_dir = tmp_path / "gate", tmp_path / "runs"
    gate.mkdir()
    env = {**os.environ, "GATE": str(gate), "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    proc = subprocess.Popen([sys.executable, "-c", f"import leftmod; leftmod.flow.run(run_dir={str(run_dir)!r})"],
                            env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    try:
        until(lambda: (gate / "started").exists(), "the consumer to start", DEADLINE, proc=proc, every=0.02)
        views = _overlay.mounted_under(run_dir)
        assert views, "the consumer's input is not a view: nothing left to detach"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=DEADLINE)
    finally:
        (gate / "open").write_text("")  # a step still running finishes
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
    assert _overlay.mounted_under(run_dir) == views  # the engine is gone, its step's views are not
    (run,) = [p for p in run_dir.iterdir() if p.is_dir()]
    stored = sorted((p, p.read_bytes()) for p in run_dir.rglob("data.txt") if p.is_file() and "steps" not in p.parts)

    listed = {r["id"]: r for r in _runs.list_runs(run_dir)}  # what the viewer does: the run is found abandoned
    assert listed[run.name]["phase"] == "Error" and "engine stopped" in listed[run.name]["message"]
    assert _overlay.mounted_under(run_dir) == []
    assert [(p, p.read_bytes()) for p, _ in stored] == stored  # the stored objects are as they were
    shutil.rmtree(run_dir)  # a mount point left would refuse this (EBUSY)
    assert not run_dir.exists()


def test_mount_points_are_read_with_the_kernels_escapes(tmp_path):
    folder = tmp_path / "a b\\c"
    (folder / "in").mkdir(parents=True)
    lower = tmp_path / "lower"
    lower.mkdir()
    (lower / "f").write_text("x")
    views = _overlay.Views(tmp_path / "layers")
    views.add(lower, folder / "in" / "v")
    assert views.mount() == []
    try:
        assert _overlay.mounted_under(folder) == [folder / "in" / "v"]
        assert _overlay.mounted_under(tmp_path / "a b") == []  # a sibling whose name is a prefix is not below it
        assert _overlay.detach_under(folder) == 1
        assert _overlay.mounted_under(folder) == []
    finally:
        views.close()
