"""The local engine under stress (issue 12, items 10, 13, 14, 15): concurrent cached runs, cache max age, processes a
step leaves behind, an engine killed with SIGKILL, a full disk, and a malformed run record. Real processes, a real
tmpfs, real waiting."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from flowpack._errors import FlowpackError
from flowpack._view._runs import list_runs, load_run
from helpers import alive

CACHED = '''
import flowpack as fp

@fp.op(cache=True)
def slow_square(x: int) -> int:
    return x * x

@fp.op(cache="1s")
def brief(x: int) -> int:
    return x + 1

@fp.op(cache="1h")
def lasting(x: int) -> int:
    return x + 2

@fp.workflow
def squares(x: int = 3) -> int:
    return slow_square(x)

@fp.workflow
def aged(x: int = 3) -> tuple:
    return brief(x), lasting(x)
'''


def test_concurrent_cached_runs_in_one_process_writing_the_same_key_all_succeed(user_module, tmp_path):
    m = user_module(CACHED)
    with ThreadPoolExecutor(8) as pool:
        runs = list(pool.map(lambda i: m.squares.run(run_dir=tmp_path / "runs", x=7), range(8)))
    assert [r.result() for r in runs] == [49] * 8
    assert all(r.phase == "Succeeded" for r in runs)
    cache = tmp_path / "cache"
    assert len(list(cache.glob("*.json"))) == 1 and not [p for p in cache.iterdir() if p.suffix != ".json"]


def test_record_writes_from_many_threads_to_one_path_never_collide(tmp_path):
    """What cache entries, step records and run records rely on: each writer's temporary file is its own."""
    from flowpack._engine._record import read_json, write_json

    target = tmp_path / "entry.json"

    def write(i: int) -> None:
        for j in range(40):
            write_json(target, {"writer": i, "round": j, "pad": "x" * 2000})

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(write, range(16)))  # re-raises any writer's error
    assert read_json(target)["round"] == 39
    assert [p.name for p in tmp_path.iterdir()] == ["entry.json"]


def test_the_cache_max_age_is_honoured(user_module, tmp_path):
    m = user_module(CACHED)

    def messages() -> dict:
        run = m.aged.run(run_dir=tmp_path / "runs", x=1)
        assert run.result() == (2, 3)
        return {s["name"]: s.get("message") or "" for s in run.steps.values()}

    assert not any("reused" in v for v in messages().values())  # the first run computes
    assert all("reused from the cache" in v for v in messages().values())  # at once: both entries are fresh
    time.sleep(3)  # older than brief's 1s, younger than lasting's 1h
    third = messages()
    assert "reused" not in third["brief"] and "reused from the cache" in third["lasting"]


LEFTOVERS = '''
import subprocess, time
from pathlib import Path
import flowpack as fp

@fp.op
def spawn(record: str, linger: int = 0) -> int:
    own = subprocess.Popen(["sleep", "300"])
    detached = subprocess.Popen(["sleep", "300"], start_new_session=True)
    Path(record).write_text(f"{own.pid} {detached.pid}")
    time.sleep(linger)
    return 1

shell_spawn = fp.shell('setsid sleep 300 & echo $! > "$record"; sleep 300 & echo $! >> "$record"',
                       name="shell-spawn", inputs={"record": str})

@fp.workflow
def leaves(a: str, b: str) -> int:
    shell_spawn(record=b)
    return spawn(a)

@fp.op
def quick(x: int) -> int:
    return x * 2

@fp.workflow
def lingers(record: str, linger: int = 300) -> tuple:
    return quick(4), spawn(record, linger)
'''


def _pids(path: Path, timeout: float = 60) -> list[int]:
    for _ in range(int(timeout * 10)):
        text = path.read_text() if path.exists() else ""
        if len(text.split()) >= 2:
            return [int(p) for p in text.split()]
        time.sleep(0.1)
    raise AssertionError(f"{path} never got the pids")


def _all_gone(pids: list[int]) -> bool:
    """Wait (bounded) for SIGKILLed processes to disappear: True when none is left."""
    for _ in range(100):
        if not any(alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


def test_children_of_a_finished_step_do_not_outlive_it(user_module, tmp_path):
    m = user_module(LEFTOVERS)
    run = m.leaves.run(run_dir=tmp_path / "runs", a=str(tmp_path / "a.pids"), b=str(tmp_path / "b.pids"))
    assert run.result() == 1
    pids = _pids(tmp_path / "a.pids") + _pids(tmp_path / "b.pids")
    assert len(pids) == 4
    assert _all_gone(pids), [p for p in pids if alive(p)]  # setsid ones included


NAMESAKES = '''
import time
import flowpack as fp

@fp.op
def pause(seconds: float) -> float:
    time.sleep(seconds)
    return seconds

@fp.workflow
def namesakes() -> tuple:
    return pause(0.0), pause(3.0)  # tasks "pause" and "pause-2": the first ends while the second runs
'''


def test_the_end_of_one_step_never_stops_another_whose_name_it_prefixes(user_module, tmp_path):
    m = user_module(NAMESAKES)
    run = m.namesakes.run(run_dir=tmp_path / "runs", workers=2)
    assert run.result() == (0.0, 3.0)
    steps = run.steps
    assert steps["pause"]["finishedAt"] < steps["pause-2"]["finishedAt"]  # they did overlap


def _flowpack_run(folder: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "flowpack", "run", "flows.py:lingers", *args, "--run-dir", "runs"],
                            cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_ctrl_c_stops_every_descendant_of_the_running_steps(tmp_path):
    (tmp_path / "flows.py").write_text(textwrap.dedent(LEFTOVERS))
    proc = _flowpack_run(tmp_path, "-p", f"record={tmp_path / 'c.pids'}")
    try:
        pids = _pids(tmp_path / "c.pids")
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert _all_gone(pids), [p for p in pids if alive(p)]


def test_a_run_whose_engine_was_killed_is_marked_and_its_steps_stopped(tmp_path):
    (tmp_path / "flows.py").write_text(textwrap.dedent(LEFTOVERS))
    proc = _flowpack_run(tmp_path, "-p", f"record={tmp_path / 'k.pids'}")
    try:
        pids = _pids(tmp_path / "k.pids")
        (run_path,) = list((tmp_path / "runs").iterdir())
        step_pids = [int(line.split()[0]) for line in (run_path / "pids").read_text().splitlines()]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert json.loads((run_path / "run.json").read_text())["phase"] == "Running"  # what the dead engine left
    assert any(alive(p) for p in pids + step_pids)  # ... and its steps still run
    (listed,) = list_runs(tmp_path / "runs")
    assert listed["phase"] == "Error" and "engine stopped" in listed["message"]
    assert _all_gone(pids + step_pids), [p for p in pids + step_pids if alive(p)]
    record = json.loads((run_path / "run.json").read_text())
    assert record["phase"] == "Error" and "engine stopped" in record["message"]
    shown = load_run(tmp_path / "runs", run_path.name)
    assert shown["record"]["phase"] == "Error"
    assert all(p not in ("Running", "Pending") for p in shown["phases"].values())

    (tmp_path / "flows.py").write_text(textwrap.dedent(LEFTOVERS).replace("time.sleep(linger)", "pass"))
    done = subprocess.run([sys.executable, "-m", "flowpack", "run", "flows.py:lingers", "-p",
                           f"record={tmp_path / 'k2.pids'}", "--run-dir", "runs", "--resume", run_path.name],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [8, 1]


def test_a_run_marked_by_resume_when_its_engine_is_gone(tmp_path, user_module):
    """`resume` settles the run it resumes from, as the viewer does."""
    m = user_module(CACHED)
    run = m.squares.run(run_dir=tmp_path / "runs", x=2)
    record = json.loads((run.path / "run.json").read_text())
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    from flowpack._engine._procs import owner

    record.update(phase="Running", owner={**owner(), "pid": dead.pid, "start": 1})
    (run.path / "run.json").write_text(json.dumps(record))
    assert m.squares.run(run_dir=tmp_path / "runs", x=2, resume=run.id).result() == 4
    settled = json.loads((run.path / "run.json").read_text())
    assert settled["phase"] == "Error" and "engine stopped" in settled["message"]


FILLS = '''
import flowpack as fp

@fp.op
def fill(n: int) -> int:
    try:
        with open("big", "wb") as f:
            while True:
                f.write(b"\\0" * 65536)
                f.flush()
    except OSError:
        pass
    return n

@fp.workflow
def fills(n: int = 1) -> int:
    return fill(n)
'''


@pytest.fixture
def tiny_disk(tmp_path):
    """A 2 MiB tmpfs, mounted for the test (the tests run as root)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def test_a_full_disk_while_writing_the_run_record_is_a_clear_error(user_module, tiny_disk):
    m = user_module(FILLS)
    with pytest.raises(FlowpackError) as caught:
        m.fills.run(run_dir=tiny_disk / "runs", n=3)
    assert "disk is full" in str(caught.value) or "no space" in str(caught.value).lower()
    (run_path,) = list((tiny_disk / "runs").iterdir())
    record = json.loads((run_path / "run.json").read_text())
    assert record["phase"] not in ("Running", "Pending", "Succeeded")
    assert "disk is full" in record["message"]
    assert not [p for p in run_path.rglob("*.tmp") if "root" not in p.parts and "work" not in p.parts]


def test_a_malformed_run_record_does_not_hide_the_other_runs(user_module, tmp_path):
    m = user_module(CACHED)
    good = m.squares.run(run_dir=tmp_path / "runs", x=5)
    for name, text in (("broken-1", '{"phase": "Runn'), ("broken-2", "[1, 2]"), ("broken-3", '{"steps": [1]}'),
                       ("broken-4", '{"phase": "Succeeded", "startedAt": "yesterday", "steps": {"a": 3}}')):
        (tmp_path / "runs" / name).mkdir()
        (tmp_path / "runs" / name / "run.json").write_text(text)
    runs = {r["id"]: r for r in list_runs(tmp_path / "runs")}
    assert runs[good.id]["phase"] == "Succeeded"
    assert {runs[f"broken-{i}"]["phase"] for i in (1, 2, 3)} == {"Unreadable"}
    assert "can't be read" in runs["broken-1"]["message"]
    assert runs["broken-4"]["phase"] == "Succeeded"

    from flowpack._ui import make_server, url

    server = make_server(tmp_path / "runs", 0)
    import threading

    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with urllib.request.urlopen(url(server) + "api/runs", timeout=30) as resp:
            listed = json.loads(resp.read())
        ids = {r["id"] for r in (listed["runs"] if isinstance(listed, dict) else listed)}
        assert {good.id, "broken-1", "broken-2", "broken-3", "broken-4"} <= ids
        with urllib.request.urlopen(url(server) + "api/runs/broken-1", timeout=30) as resp:
            assert json.loads(resp.read())["record"]["phase"] == "Unreadable"
    finally:
        server.shutdown()
        server.server_close()
