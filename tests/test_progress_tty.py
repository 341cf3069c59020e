"""The run progress display where users meet it: `flowpack run` in a real terminal (tmux), and in a log.

The long step waits for a file the test writes, so the test decides when it ends: nothing here depends on how fast
the machine is (the waits below are bounds, not timings under test).
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid

import pytest

from flowpack._view import ProgressBar
from helpers import until

TMUX = shutil.which("tmux")

WORKFLOW = '''
import os
import time

import flowpack as fp


@fp.op
def make(n: int) -> list:
    return list(range(n))


@fp.op
def square(x: int) -> int:
    return x * x


@fp.op
def hold(xs: list, release: str) -> int:
    deadline = time.time() + 120
    while not os.path.exists(release) and time.time() < deadline:
        time.sleep(0.05)
    return len(xs)


@fp.op
def never(t: int) -> int:
    return t


@fp.workflow
def pipeline(release: str, n: int = 12) -> int:
    t = hold(square.map(x=make(n)), release)
    never(t).when(t < 0)
    return t
'''
TOTAL = 15  # make + 12 squares + hold + never
_CLOCK = re.compile(r"\[\s*([0-9.]+)s\] pipeline")


@pytest.fixture
def workflow_file(tmp_path):
    (tmp_path / "wf.py").write_text(WORKFLOW)
    return tmp_path


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed: apt-get install -y tmux (ci/services.sh does)")
def test_flowpack_run_in_a_terminal_ticks_names_the_running_step_and_ends_cleanly(workflow_file):
    tmp = workflow_file
    release = tmp / "release"
    session = f"fp-{uuid.uuid4().hex[:8]}"
    command = (f"cd {tmp} && {sys.executable} -m flowpack run wf.py:pipeline -p release={release}; "
               "echo EXIT=$?; sleep 600")
    subprocess.run([TMUX, "new-session", "-d", "-s", session, "-x", "200", "-y", "40", command], check=True)

    def pane() -> str:
        return subprocess.run([TMUX, "capture-pane", "-p", "-t", session], capture_output=True, text=True,
                              check=True).stdout

    try:
        first = until(lambda: (lambda p: p if "running: hold" in p else "")(pane()), "the hold step running",
                       shows=pane)
        line = next(ln for ln in first.splitlines() if "running: hold" in ln)
        assert f"13/{TOTAL} steps" in line, line  # the map counted as its 12 items, known from make's output
        t1 = float(_CLOCK.search(line).group(1))
        # no step changes while hold waits: only the display's own timer can move the clock
        second = until(lambda: (lambda p: p if (m := _CLOCK.search(p)) and float(m.group(1)) > t1 + 1.0 else "")(
            pane()), "the clock moving on while hold runs", shows=pane)
        line2 = next(ln for ln in second.splitlines() if _CLOCK.search(ln))
        assert "running: hold" in line2 and f"13/{TOTAL} steps" in line2
        assert len([ln for ln in second.splitlines() if _CLOCK.search(ln)]) == 1  # one line, redrawn in place

        release.write_text("go")
        final = until(lambda: (lambda p: p if "EXIT=" in p else "")(pane()), "the command ending", shows=pane)
        assert "EXIT=0" in final
        progress_lines = [ln for ln in final.splitlines() if _CLOCK.search(ln)]
        assert len(progress_lines) == 1, final
        last = progress_lines[0]
        assert f"pipeline Succeeded: {TOTAL}/{TOTAL} steps" in last
        assert "running" not in last
        assert "skipped: never" in last and "(14 succeeded, 1 skipped)" in last
    finally:
        subprocess.run([TMUX, "kill-session", "-t", session], check=False)


def test_in_a_log_ended_steps_get_lines_and_a_long_step_gets_heartbeats(workflow_file, monkeypatch):
    import importlib.util

    monkeypatch.syspath_prepend(str(workflow_file))
    spec = importlib.util.spec_from_file_location("wf_progress_log", workflow_file / "wf.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    release = workflow_file / "release"
    out = io.StringIO()
    bar = ProgressBar(run_dir=workflow_file / "runs", stream=out, heartbeat=0.2)
    assert bar.mode == "lines"  # a StringIO is not a terminal
    run = mod.pipeline.run(run_dir=workflow_file / "runs", progress=bar, wait=False, release=str(release))
    try:
        until(lambda: len([ln for ln in out.getvalue().splitlines() if "running: hold" in ln]) >= 2,
               "two heartbeat lines while hold runs")
    finally:
        release.write_text("go")
    run.wait(progress=False)
    bar.close(run.phase, run.steps)
    lines = out.getvalue().splitlines()
    assert any(re.match(r"\[\s*[0-9.]+s\] make Succeeded in ", ln) for ln in lines)
    assert any("never Skipped" in ln for ln in lines)
    assert not any(re.search(r"\] square/\d+ Succeeded", ln) for ln in lines)  # map items are summed up, not listed
    beats = [ln for ln in lines if "running: hold" in ln]
    assert all(f"13/{TOTAL} steps" in ln for ln in beats)
    assert lines[-1].split("] ", 1)[1].startswith(f"pipeline Succeeded: {TOTAL}/{TOTAL} steps")


def test_the_final_line_never_says_running_after_the_end():
    out = io.StringIO()
    bar = ProgressBar(stream=out, mode="tty")
    bar({"node": "a", "phase": "Running", "startedAt": time.time()})
    bar({"node": "b", "phase": "Running", "startedAt": time.time()})
    bar.close("Stopped")  # ended with steps the events still called running (a Ctrl-C)
    last = out.getvalue().rsplit("\r\x1b[K", 1)[-1]
    assert last.endswith("\n") and "running" not in last.lower()
    assert "run Stopped: 2/2 steps (2 stopped)" in last


def test_the_timer_redraws_a_terminal_line_until_closed():
    shown: list[str] = []
    bar = ProgressBar(stream=io.StringIO(), mode="tty", tick=0.05)
    bar.stream = type("S", (io.StringIO,), {"write": lambda self, s: shown.append(s)})()
    bar({"node": "a", "phase": "Running", "startedAt": time.time()})
    until(lambda: len({s for s in shown if "running: a" in s}) >= 3, "the line redrawn by the timer")
    bar.close("Succeeded", {"a": {"phase": "Succeeded"}})
    frozen = len(shown)
    threading.Event().wait(0.2)
    assert len(shown) == frozen  # the timer stopped with the run


def test_allowed_failures_and_not_run_steps_are_named_apart():
    manifest = {"metadata": {"generateName": "w-"}, "spec": {"entrypoint": "main", "templates": [
        {"name": "main", "dag": {"tasks": [
            {"name": "a", "template": "t"},
            {"name": "flaky", "template": "t", "depends": "a", "continueOn": {"failed": True}},
            {"name": "risky", "template": "t", "depends": "a"},
            {"name": "after", "template": "t", "depends": "risky.Succeeded || risky.Failed"},
            {"name": "boom", "template": "t", "depends": "a"},
            {"name": "later", "template": "t", "depends": "boom"}]}},
        {"name": "t", "script": {"image": "python", "command": ["python"], "source": ""}}]}}
    out = io.StringIO()
    bar = ProgressBar(manifest=manifest, stream=out, mode="lines", heartbeat=3600)
    for node, phase in [("a", "Succeeded"), ("flaky", "Failed"), ("risky", "Error"), ("after", "Succeeded"),
                        ("boom", "Failed"), ("later", "Omitted")]:
        bar({"node": node, "phase": phase, "message": "exit code 1" if phase in ("Failed", "Error") else ""})
    bar.close("Failed")
    lines = out.getvalue().splitlines()
    assert "flaky Failed (allowed to fail): exit code 1" in lines[1] and "risky Error (allowed to fail)" in lines[2]
    assert lines[4].endswith("boom Failed: exit code 1")
    last = lines[-1]
    assert "w Failed: 6/6 steps (2 succeeded, 1 failed, 2 failed (allowed), 1 omitted)" in last
    assert "not run: later" in last and "failed: boom" in last and "failed (allowed): flaky, risky" in last
    assert "skipped" not in last
