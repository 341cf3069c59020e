"""Stopping, resuming and caching local runs, and non-blocking runs: Ctrl-C/SIGTERM stop every step (no orphans)
and mark the run Stopped; a failed or stopped run resumes without rerunning what succeeded (API and CLI);
cache=True reuses results across runs and renders as Argo memoize; run(wait=False) returns at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import flowpack as fp
from helpers import alive, assert_argo_valid, render_checked, run_checked, template, until

DEADLINE = 60.0  # how long a test waits for something that should happen (a failure guard, not a measurement)


def log_lines(folder: Path) -> list[str]:
    """The executions the steps of a test appended to folder/log, one name a line."""
    path = folder / "log"
    return path.read_text().split() if path.exists() else []




def still_alive(pids: list[int]) -> list[int]:
    """The pids still alive after a moment: SIGKILL is delivered at once, but the kernel tears processes down
    asynchronously."""
    end = time.monotonic() + 5
    while any(alive(p) for p in pids) and time.monotonic() < end:
        time.sleep(0.02)
    return [p for p in pids if alive(p)]


def only_run(run_dir: Path) -> Path:
    (run,) = [p for p in run_dir.iterdir() if p.is_dir()]
    return run


# ---------------------------------------------------------------------------------------------------------------
# Ctrl-C and SIGTERM stop every step, leave no orphan, mark the run Stopped; the stopped run resumes
# ---------------------------------------------------------------------------------------------------------------

STOPPABLE = '''
import os
import subprocess
import sys
import time
from pathlib import Path
import flowpack as fp


def _log(folder, what):
    with open(os.path.join(folder, "log"), "a") as f:
        f.write(what + "\\n")


@fp.op
def first(n: int, folder: str) -> int:
    _log(folder, "first")
    return n + 1


@fp.op
def block(x: int, folder: str, tag: str) -> int:
    """Starts a grandchild, reports both pids, then waits for the gate the stop tests never open."""
    _log(folder, "block-" + tag)
    if not Path(folder, "open").exists():
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
        tmp = Path(folder, "pids-%s.tmp" % tag)
        tmp.write_text("%d %d" % (os.getpid(), child.pid))
        os.replace(tmp, Path(folder, "pids-" + tag))
        while not Path(folder, "open").exists():
            time.sleep(0.05)
    return x * 10


@fp.workflow
def stoppable(n: int, folder: str):
    a = first(n, folder)
    return block(a, folder, "a"), block(a, folder, "b")
'''

DRIVER = '''
import sys
sys.path.insert(0, sys.argv[1])
import stopmod
stopmod.stoppable.run(run_dir=sys.argv[2], workers=2, n=1, folder=sys.argv[3])
'''


def _start(how: str, tmp_path: Path, folder: Path, run_dir: Path) -> subprocess.Popen:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "stopmod.py").write_text(textwrap.dedent(STOPPABLE).lstrip(), encoding="utf-8")
    if how == "cli":
        argv = [sys.executable, "-m", "flowpack", "run", f"{src / 'stopmod.py'}:stoppable", "--run-dir", str(run_dir),
                "--workers", "2", "-p", "n=1", "-p", f"folder={folder}"]
    else:
        (tmp_path / "driver.py").write_text(DRIVER, encoding="utf-8")
        argv = [sys.executable, str(tmp_path / "driver.py"), str(src), str(run_dir), str(folder)]
    # Popen (not subprocess.run under a shell): the child keeps Python's SIGINT handler, as in a terminal.
    return subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _stop_and_check(proc: subprocess.Popen, sig: int, folder: Path, run_dir: Path) -> dict:
    pid_files = [folder / "pids-a", folder / "pids-b"]
    try:
        until(lambda: all(p.exists() for p in pid_files), "both steps to start their grandchildren", DEADLINE,
              proc=proc, every=0.02)
    except AssertionError:
        (folder / "open").write_text("")  # let any started step finish, then end the run
        proc.kill()
        proc.wait()
        raise
    pids = [int(x) for p in pid_files for x in p.read_text().split()]
    assert all(alive(p) for p in pids)
    proc.send_signal(sig)
    try:
        proc.wait(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("the run did not stop")
    finally:
        for pipe in (proc.stdout, proc.stderr):
            pipe.close()
    assert proc.returncode != 0
    try:
        record = json.loads((only_run(run_dir) / "run.json").read_text())
        assert record["phase"] == "Stopped"
        phases = {s["name"]: s["phase"] for s in record["steps"].values()}
        assert phases == {"first": "Succeeded", "block": "Stopped", "block-2": "Stopped"}
        orphans = still_alive(pids)
        assert not orphans, f"processes left running after the stop: {orphans}"
    finally:
        (folder / "open").write_text("")  # a surviving step would finish; grandchildren are killed
        for p in pids:  # never leave a test's processes behind, whatever failed
            if alive(p):
                os.kill(p, signal.SIGKILL)
    return record


@pytest.mark.parametrize("how, sig", [
    ("cli", signal.SIGINT),
    ("cli", signal.SIGTERM),
    ("api", signal.SIGINT),
    ("api", signal.SIGTERM),
])
def test_a_signal_stops_every_step_and_marks_the_run_stopped(tmp_path, how, sig):
    folder, run_dir = tmp_path / "side", tmp_path / "runs"
    folder.mkdir()
    proc = _start(how, tmp_path, folder, run_dir)
    _stop_and_check(proc, sig, folder, run_dir)


def test_a_stopped_run_resumes_from_the_command_line(tmp_path):
    folder, run_dir = tmp_path / "side", tmp_path / "runs"
    folder.mkdir()
    proc = _start("cli", tmp_path, folder, run_dir)
    record = _stop_and_check(proc, signal.SIGINT, folder, run_dir)
    assert sorted(log_lines(folder)) == ["block-a", "block-b", "first"]

    (folder / "open").write_text("")
    done = subprocess.run(
        [sys.executable, "-m", "flowpack", "run", f"{tmp_path / 'src' / 'stopmod.py'}:stoppable", "--run-dir",
         str(run_dir), "-p", "n=1", "-p", f"folder={folder}", "--resume", record["id"]],
        check=False, cwd=tmp_path, capture_output=True, text=True, timeout=DEADLINE)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [20, 20]
    assert sorted(log_lines(folder)) == ["block-a", "block-a", "block-b", "block-b", "first"]  # first: not rerun
    resumed = [p for p in run_dir.iterdir() if p.name != record["id"]]
    assert len(resumed) == 1
    new = json.loads((resumed[0] / "run.json").read_text())
    assert new["phase"] == "Succeeded" and new["resumedFrom"] == record["id"]
    first = next(s for s in new["steps"].values() if s["name"] == "first")
    assert "reused" in first["message"]


# ---------------------------------------------------------------------------------------------------------------
# Resume after a failure (API and CLI)
# ---------------------------------------------------------------------------------------------------------------

RESUMABLE = '''
import os
from pathlib import Path
import flowpack as fp


def _log(folder, what):
    with open(os.path.join(folder, "log"), "a") as f:
        f.write(what + "\\n")


@fp.op
def produce(n: int, folder: str) -> Path:
    _log(folder, "produce")
    Path("data.txt").write_text("v" * n)
    return Path("data.txt")


@fp.op
def measure(p: Path, folder: str) -> int:
    _log(folder, "measure")
    return len(p.read_text())


@fp.op
def bag(n: int, folder: str):
    _log(folder, "bag")
    return {n, n + 1}                         # a pickled output


@fp.op
def sq(x: int, folder: str) -> int:
    _log(folder, "sq%d" % x)
    return x * x


@fp.op
def finish(m: int, b, sqs: list, folder: str) -> dict:
    _log(folder, "finish")
    if Path(folder, "fail").exists():
        raise SystemExit("told to fail")
    return {"m": m, "b": sorted(b), "sqs": sqs}


@fp.workflow
def resumable(n: int, folder: str):
    p = produce(n, folder)
    return finish(measure(p, folder), bag(n, folder), sq.map(x=[1, 2, 3], folder=folder), folder), p
'''

FIRST_RUN = ["bag", "finish", "measure", "produce", "sq1", "sq2", "sq3"]


def test_a_failed_run_resumes_reusing_what_succeeded(user_module, tmp_path):
    m = user_module(RESUMABLE)
    folder = tmp_path / "side"
    folder.mkdir()
    (folder / "fail").write_text("")
    with pytest.raises(fp.StepFailed, match="told to fail") as info:
        run_checked(m.resumable, tmp_path, n=3, folder=str(folder))
    failed = info.value.run
    assert sorted(log_lines(folder)) == FIRST_RUN

    (folder / "fail").unlink()
    run = m.resumable.run(run_dir=tmp_path / "runs", resume=failed.id, n=3, folder=str(folder))
    assert run.id != failed.id and run.record["resumedFrom"] == failed.id
    summary, path = run.result()
    assert summary == {"m": 3, "b": [3, 4], "sqs": [1, 4, 9]}
    assert path.read_text() == "vvv"               # a reused artifact output is intact
    assert sorted(log_lines(folder)) == sorted(FIRST_RUN + ["finish"])
    reused = {s["name"] for s in run.steps.values() if "reused" in (s.get("message") or "")}
    assert reused == {"produce", "measure", "bag", "sq(0)", "sq(1)", "sq(2)"}

    # resuming a succeeded run reruns nothing; a changed parameter reruns exactly the steps it reaches
    again = m.resumable.run(run_dir=tmp_path / "runs", resume=run.id, n=3, folder=str(folder))
    assert again.result()[0] == summary
    assert sorted(log_lines(folder)) == sorted(FIRST_RUN + ["finish"])
    changed = m.resumable.run(run_dir=tmp_path / "runs", resume=run.id, n=4, folder=str(folder))
    assert changed.result()[0] == {"m": 4, "b": [4, 5], "sqs": [1, 4, 9]}
    assert sorted(log_lines(folder)) == sorted(FIRST_RUN + ["finish"] + ["produce", "measure", "bag", "finish"])


def test_resuming_an_unknown_run_is_a_clear_error(user_module, tmp_path):
    m = user_module(RESUMABLE)
    with pytest.raises(fp.FlowpackError, match="no-such-run"):
        m.resumable.run(run_dir=tmp_path / "runs", resume="no-such-run", n=1, folder=str(tmp_path))


def test_a_failed_run_resumes_from_the_command_line(tmp_path):
    folder, run_dir = tmp_path / "side", tmp_path / "runs"
    folder.mkdir()
    (folder / "fail").write_text("")
    module = tmp_path / "resmod.py"
    module.write_text(textwrap.dedent(RESUMABLE).lstrip(), encoding="utf-8")
    argv = [sys.executable, "-m", "flowpack", "run", f"{module}:resumable", "--run-dir", str(run_dir),
            "-p", "n=2", "-p", f"folder={folder}"]
    first = subprocess.run(argv, check=False, cwd=tmp_path, capture_output=True, text=True, timeout=DEADLINE)
    assert first.returncode != 0 and "told to fail" in first.stderr
    failed_id = only_run(run_dir).name
    (folder / "fail").unlink()
    second = subprocess.run(argv + ["--resume", failed_id], check=False, cwd=tmp_path, capture_output=True, text=True,
                            timeout=DEADLINE)
    assert second.returncode == 0, second.stderr
    summary, path = json.loads(second.stdout)
    assert summary == {"m": 2, "b": [2, 3], "sqs": [1, 4, 9]}
    assert Path(path).read_text() == "vv"
    assert sorted(log_lines(folder)) == sorted(FIRST_RUN + ["finish"])


# ---------------------------------------------------------------------------------------------------------------
# Opt-in caching across runs
# ---------------------------------------------------------------------------------------------------------------

CACHED = '''
import os
import flowpack as fp


def _log(folder, what):
    with open(os.path.join(folder, "log"), "a") as f:
        f.write(what + "\\n")


@fp.op(cache=True)
def square(x: int, folder: str) -> int:
    _log(folder, "square%d" % x)
    return x * x


@fp.op
def plain(x: int, folder: str) -> int:
    _log(folder, "plain")
    return x + 1


@fp.workflow
def cached(x: int, folder: str):
    return plain(square(x, folder), folder)
'''


def test_cached_steps_are_reused_across_runs_until_an_input_or_the_code_changes(user_module, tmp_path):
    m = user_module(CACHED)
    folder = tmp_path / "side"
    folder.mkdir()
    runs = tmp_path / "runs"
    assert m.cached.run(run_dir=runs, x=3, folder=str(folder)).result() == 10
    assert log_lines(folder) == ["square3", "plain"]
    second = m.cached.run(run_dir=runs, x=3, folder=str(folder))   # a new run, not a resume
    assert second.result() == 10
    assert log_lines(folder) == ["square3", "plain", "plain"]       # the cached op was reused, the plain one not
    square = next(s for s in second.steps.values() if s["name"] == "square")
    assert "cache" in square["message"]
    assert m.cached.run(run_dir=runs, x=4, folder=str(folder)).result() == 17
    assert log_lines(folder)[-2:] == ["square4", "plain"]           # a changed input reruns it

    changed = user_module(CACHED.replace("return x * x", "return x * x * 2"))  # same op name, other code
    assert changed.cached.run(run_dir=runs, x=3, folder=str(folder)).result() == 19
    assert log_lines(folder)[-2:] == ["square3", "plain"]


def test_cache_renders_as_argo_memoize_keyed_by_code_and_inputs(user_module):
    m = user_module(CACHED)
    manifest = m.cached.render(x=3, folder="/data")
    memo = template(manifest, "square")["memoize"]
    # input values are hashed in an Argo expression: sprig.sha256sum of each value's sha256, in argument order
    hashed = "sprig.sha256sum(inputs.parameters.x) + sprig.sha256sum(inputs.parameters.folder)"
    assert memo["key"].endswith("-{{=sprig.sha256sum(%s)}}" % hashed)
    assert memo["cache"]["configMap"]["name"]
    assert "memoize" not in template(manifest, "plain")
    other = user_module(CACHED.replace("return x * x", "return x * x * 2"))
    assert template(other.cached.render(x=3, folder="/data"), "square")["memoize"]["key"] != memo["key"]


def _argo_memo_key(key: str, values: dict[str, str]) -> str:
    """The key Argo computes: sprig.sha256sum is the hex sha256 of its string argument."""
    import hashlib
    import re

    def sha(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def expr(m: re.Match) -> str:
        names = re.findall(r"sprig\.sha256sum\(inputs\.parameters\.(\w+)\)", m.group(1))
        return sha("".join(sha(values[n]) for n in names))

    return re.sub(r"\{\{=sprig\.sha256sum\((.*)\)\}\}", expr, key)


def test_memo_keys_are_valid_configmap_keys_and_differ_when_inputs_differ(user_module):
    import re

    from hypothesis import given, settings
    from hypothesis import strategies as st

    key = template(user_module(CACHED).cached.render(x=3, folder="/data"), "square")["memoize"]["key"]
    # values joined by dashes made these two calls share one key
    assert _argo_memo_key(key, {"x": "a-b", "folder": "c"}) != _argo_memo_key(key, {"x": "a", "folder": "b-c"})

    @settings(max_examples=200, deadline=None)
    @given(st.text(), st.text(), st.text(), st.text())
    def check(a, b, c, d):
        one = _argo_memo_key(key, {"x": a, "folder": b})
        assert re.fullmatch(r"[-._a-zA-Z0-9]{1,253}", one)  # Kubernetes' rule for a ConfigMap key
        assert (one == _argo_memo_key(key, {"x": c, "folder": d})) == ((a, b) == (c, d))

    check()


def test_a_cached_op_renders_a_schema_valid_manifest(user_module):
    m = user_module(CACHED)
    render_checked(m.cached, x=3, folder="/data")


def test_a_cached_op_with_artifact_inputs_is_refused_at_decoration(user_module):
    """Argo's memoization key sees parameters only: caching an op with a pickled input would return stale results."""
    with pytest.raises(fp.OpDefinitionError, match=r"weigh.*'v'"):
        user_module('''
        import flowpack as fp


        @fp.op(cache=True)
        def weigh(v, k: int) -> int:
            return len(v) * k
        ''')



# ---------------------------------------------------------------------------------------------------------------
# run(wait=False)
# ---------------------------------------------------------------------------------------------------------------

GATED = '''
import time
from pathlib import Path
import flowpack as fp


@fp.op
def gate(folder: str) -> int:
    Path(folder, "entered").write_text("")
    while not Path(folder, "open").exists():
        time.sleep(0.02)
    return 7


@fp.op
def boom(x: int) -> int:
    raise SystemExit("boom")


@fp.op
def add(a: int, b: int) -> int:
    return a + b


@fp.workflow
def gated(folder: str):
    return add(gate(folder), 1)


@fp.workflow
def gated_failure(folder: str):
    return boom(gate(folder))
'''


def test_run_without_waiting_returns_at_once_and_fills_in_as_steps_go(user_module, tmp_path):
    m = user_module(GATED)
    folder = tmp_path / "side"
    folder.mkdir()
    run = m.gated.run(run_dir=tmp_path / "runs", wait=False, folder=str(folder))
    try:
        assert not run.done and run.phase == "Running"      # the only step waits for a gate nobody has opened
        until(lambda: any(s.get("phase") == "Running" for s in run.steps.values()), "the gate step to run", DEADLINE,
              every=0.02)
        until((folder / "entered").exists, "the gate step's process to start", DEADLINE, every=0.02)
        with pytest.raises(TimeoutError):
            run.wait(timeout=0.05, progress=False)
        assert "add" not in {s["name"] for s in run.steps.values()}
    finally:
        (folder / "open").write_text("")                     # never leave the step waiting, whatever failed
    assert run.wait(progress=False) is run
    assert run.done and run.phase == "Succeeded"
    assert run.result() == 8
    assert {s["name"]: s["phase"] for s in run.steps.values()} == {"gate": "Succeeded", "add": "Succeeded"}
    assert_argo_valid(run.manifest)


def test_wait_raises_the_failure_of_a_run_started_without_waiting(user_module, tmp_path):
    m = user_module(GATED)
    folder = tmp_path / "side"
    folder.mkdir()
    (folder / "open").write_text("")
    run = m.gated_failure.run(run_dir=tmp_path / "runs", wait=False, folder=str(folder))
    with pytest.raises(fp.StepFailed, match="boom"):
        run.wait(progress=False)
    assert run.phase == "Failed"


def test_wait_with_a_timeout_raises_the_same_error_with_or_without_progress(user_module, tmp_path):
    m = user_module(GATED)
    folder = tmp_path / "side"
    folder.mkdir()
    run = m.gated.run(run_dir=tmp_path / "runs", wait=False, folder=str(folder))
    try:
        with pytest.raises(TimeoutError):
            run.wait(timeout=0.05, progress=False)
        with pytest.raises(TimeoutError):
            run.wait(timeout=0.05)
    finally:
        (folder / "open").write_text("")
        run.wait(progress=False)
