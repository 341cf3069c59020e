"""The fork server: a forked local step sees what a spawned one sees, nothing of the server leaks into it, exit
codes and tracebacks read as a spawned interpreter's, FLOWPACK_FORKSERVER=0 and other interpreters spawn, and a
server that dies fails only the steps it was running."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import flowpack as fp
from flowpack._engine import _forkclient, _forkserver
from helpers import alive, run_checked

PROBE = '''
import os
import re
import signal
import sys
import threading
from pathlib import Path

import flowpack as fp


def _view(flowpack_dir: str) -> dict:
    """What a step's process sees, with the run's folder and id written as <run>, <run-id>: two runs compare equal."""
    root = Path(os.environ["FLOWPACK_ROOT"])
    run = str(root.parents[2])

    def rel(text):
        if not isinstance(text, str):
            return text
        return text.replace(run, "<run>").replace(os.path.basename(run), "<run-id>")

    fds = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            fds[fd] = rel(os.readlink("/proc/self/fd/" + fd))
        except OSError:  # the listing's own descriptor, closed by now
            pass
    handlers = {}
    for sig in sorted(signal.valid_signals()):
        try:
            h = signal.getsignal(sig)
        except (OSError, ValueError):
            continue
        handlers[int(sig)] = {signal.SIG_DFL: "default", signal.SIG_IGN: "ignore",
                              signal.default_int_handler: "KeyboardInterrupt"}.get(h, repr(h))
    main = sys.modules["__main__"]
    import _imp
    import logging
    logging_lock_free = logging._lock.acquire(blocking=False)
    if logging_lock_free:
        logging._lock.release()
    import random
    return {
        "argv": [rel(a) for a in sys.argv],
        "orig_argv": [rel(a) for a in sys.orig_argv],
        "executable": sys.executable,
        "cwd": rel(os.getcwd()),
        "environ": {k: rel(v) for k, v in os.environ.items()},
        "path0": rel(sys.path[0]),
        "path": sys.path[1:],
        "flags": list(sys.flags),
        "main": {"__name__": main.__name__, "__file__": rel(main.__file__), "__spec__": repr(main.__spec__),
                 "__package__": main.__package__, "__cached__": getattr(main, "__cached__", "absent"),
                 "__loader__": type(main.__loader__).__name__,
                 "__builtins__": type(main.__dict__["__builtins__"]).__name__},
        "function_module": _view.__module__,
        "flowpack_modules": sorted(n for n, m in sys.modules.items()
                                   if (getattr(m, "__file__", None) or "").startswith(flowpack_dir)),
        "handlers": handlers,
        "blocked_signals": sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])),
        "fds": fds,
        "threads": threading.active_count(),
        "os_threads": len(os.listdir("/proc/self/task")),
        "stdin": os.readlink("/proc/self/fd/0"),
        "stdin_read": sys.stdin.read(),
        "own_group": os.getpgid(0) == os.getpid(),
        "own_session": os.getsid(0) == os.getpid(),
        "import_lock_held": _imp.lock_held(),
        "logging_lock_free": logging_lock_free,
        "stdout_line_buffering": sys.stdout.line_buffering,
        "stderr_line_buffering": sys.stderr.line_buffering,
        "encodings": [sys.stdout.encoding, sys.stderr.encoding, sys.getfilesystemencoding()],
        "umask": os.umask(0o022),
        "random": random.random(),
        "ppid": os.getppid(),
        "started_as": os.path.basename(Path("/proc/self/cmdline").read_bytes().split(b"\\0")[1].decode()),
    }


@fp.op
def probe(flowpack_dir: str) -> dict:
    return _view(flowpack_dir)


@fp.op
def fail(how: str) -> int:
    if how == "raise":
        raise ValueError("the step's own error")
    if how == "exit3":
        sys.exit(3)
    if how == "exit-text":
        sys.exit("a message for stderr")
    if how == "signal":
        os.kill(os.getpid(), signal.SIGTERM)
    return 0


@fp.op
def pid_then_sleep(folder: str) -> int:
    Path(folder, "step.pid.part").write_text(str(os.getpid()))
    os.replace(Path(folder, "step.pid.part"), Path(folder, "step.pid"))  # whole: the test reads it once it exists
    import time
    time.sleep(60)
    return 0


@fp.workflow
def look(flowpack_dir: str):
    return probe(flowpack_dir)


@fp.op
def draw(i: int) -> int:
    """A random 64-bit number, with 1 in the digit above it when the step was forked (its process runs the server's
    command line)."""
    import random
    forked = b"_forkserver.py" in Path("/proc/self/cmdline").read_bytes()
    return int(forked) * 10 ** 20 + random.getrandbits(64)


@fp.workflow
def draw_twice():
    return draw.map(i=[1, 2])


@fp.workflow
def look_twice(flowpack_dirs: list):
    return probe.map(flowpack_dir=flowpack_dirs)


@fp.workflow
def failing(how: str):
    return fail(how)


@fp.workflow
def sleeper(folder: str):
    return pid_then_sleep(folder)
'''

FLOWPACK_DIR = str(Path(fp.__file__).parent)


@pytest.fixture
def m(user_module):
    return user_module(PROBE)


def _view(m, tmp_path: Path, forkserver: str, **run) -> dict:
    os.environ["FLOWPACK_FORKSERVER"] = forkserver
    try:
        return run_checked(m.look, tmp_path / forkserver, flowpack_dir=FLOWPACK_DIR, **run).result()
    finally:
        del os.environ["FLOWPACK_FORKSERVER"]


def test_a_forked_step_sees_exactly_what_a_spawned_step_sees(m, tmp_path):
    spawned = _view(m, tmp_path, "0")
    forked = _view(m, tmp_path, "1")
    # which way each step started: both are the server's children (it stops what they leave behind); a spawned
    # step exec'd a fresh interpreter, a forked one still runs the server's command line
    server = _forkclient.fork_server(sys.executable).proc.pid
    assert spawned.pop("ppid") == forked.pop("ppid") == server
    assert spawned.pop("started_as") == "probe.py" and forked.pop("started_as") == "_forkserver.py"
    spawned.pop("random"), forked.pop("random")
    assert spawned["environ"].pop("FLOWPACK_FORKSERVER") == "0" and forked["environ"].pop("FLOWPACK_FORKSERVER") == "1"
    assert forked == spawned
    # and what both see is what a step should see
    assert forked["argv"][0].startswith("<run>/scripts/") and forked["cwd"].startswith("<run>/steps/")
    assert forked["main"]["__name__"] == "__main__" and forked["function_module"] == "__main__"
    assert forked["flowpack_modules"] == []
    assert forked["handlers"][str(int(signal.SIGINT))] == "KeyboardInterrupt"
    assert forked["handlers"][str(int(signal.SIGTERM))] == "default" and forked["blocked_signals"] == []
    assert forked["stdin"] == "/dev/null" and forked["stdin_read"] == ""
    assert forked["own_group"] and forked["own_session"]
    assert forked["threads"] == 1 and forked["os_threads"] == 1
    assert not forked["import_lock_held"] and forked["logging_lock_free"]


def _own_folder_as_step(view: dict) -> dict:
    """A map item's view with its own folder written as <step> and its index in its step id as <i>: two items'
    views compare equal."""
    view = json.loads(json.dumps(view).replace(view["cwd"][:-len("/work")], "<step>"))
    tag = view["environ"]["FLOWPACK_STEP_ID"]
    view["environ"]["FLOWPACK_STEP_ID"] = tag[:tag.rindex("/") + 1] + "<i>"
    return view


def test_a_step_forked_ahead_of_its_request_sees_what_a_step_forked_for_it_sees(m, tmp_path):
    # the first step of a script the server has not compiled yet is forked for its request; the server forks the
    # next child ahead of the next request (a spare), which is handed the second step
    first, second = run_checked(m.look_twice, tmp_path, workers=1, flowpack_dirs=[FLOWPACK_DIR] * 2).result()
    assert first["started_as"] == second["started_as"] == "_forkserver.py"
    first.pop("random"), second.pop("random")
    assert _own_folder_as_step(first) == _own_folder_as_step(second)
    assert second["own_group"] and second["own_session"] and second["threads"] == 1 and second["os_threads"] == 1
    assert len(second["fds"]) <= 4 and second["fds"]["0"] == "/dev/null", second["fds"]


def test_the_server_hands_a_request_to_the_child_it_forked_ahead(tmp_path):
    script = tmp_path / "step.py"
    script.write_text("import os\nprint(os.getpid(), os.getppid(), os.getsid(0) == os.getpid())\n")
    server = _forkclient.fork_server(sys.executable)

    def start() -> list[str]:
        with open(tmp_path / "out", "wb") as out, open(tmp_path / "err", "wb") as err:
            proc = _forkclient.start_step_process([sys.executable, str(script)], cwd=tmp_path, env=dict(os.environ),
                                                  stdout=out, stderr=err, python_script=True)
            assert proc.wait() == 0, (tmp_path / "err").read_text()
        return (tmp_path / "out").read_text().split()

    start()  # compiled by the server now: the spare forked after it has its code
    end = time.monotonic() + 10
    while len(_children(server.proc.pid)) != 1 and time.monotonic() < end:
        time.sleep(0.01)
    (spare,) = _children(server.proc.pid)  # between two steps, the spare is the server's only child
    pid, ppid, own_session = start()
    assert int(pid) == spare and int(ppid) == server.proc.pid and own_session == "True"


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_no_open_file_of_the_server_reaches_a_step(m, tmp_path):
    forked = _view(m, tmp_path, "1")
    targets = set(forked["fds"].values())
    assert all(not t.startswith(("socket:", "anon_inode:")) for t in targets), forked["fds"]
    # stdin, stdout and stderr, the step script's copy of its result descriptor, and the listing's own descriptor
    assert len(forked["fds"]) <= 4, forked["fds"]
    assert forked["fds"]["0"] == "/dev/null"


def test_two_forked_steps_draw_different_random_numbers(m, tmp_path):
    first, second = map(int, run_checked(m.draw_twice, tmp_path).result())
    assert first // 10 ** 20 == second // 10 ** 20 == 1  # both forked
    assert first % 10 ** 20 != second % 10 ** 20


@pytest.mark.parametrize("how, code, text", [
    ("raise", 1, "ValueError: the step's own error"),
    ("exit3", 3, None),
    ("exit-text", 1, "a message for stderr"),
    ("signal", -signal.SIGTERM, None),
])
def test_a_forked_step_fails_as_a_spawned_one(m, tmp_path, how, code, text):
    steps = {}
    for forkserver in ("0", "1"):
        os.environ["FLOWPACK_FORKSERVER"] = forkserver
        try:
            with pytest.raises(fp.StepFailed) as info:
                run_checked(m.failing, tmp_path / forkserver, how=how)
        finally:
            del os.environ["FLOWPACK_FORKSERVER"]
        (step,) = [s for s in info.value.run.steps.values() if s.get("template") == "fail"]
        steps[forkserver] = step
    assert steps["1"]["exitCode"] == steps["0"]["exitCode"] == code
    assert steps["1"]["message"] == steps["0"]["message"]
    tails = {k: re.sub(r"\S*/scripts/", "<run>/scripts/", step["stderrTail"]) for k, step in steps.items()}
    assert tails["1"] == tails["0"]
    if text:
        assert text in steps["1"]["stderrTail"]
    assert "_forkserver" not in steps["1"]["stderrTail"]


def test_another_interpreter_spawns(m, tmp_path):
    wrapper = tmp_path / "python-wrapper"
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} \"$@\"\n")
    wrapper.chmod(0o755)
    view = run_checked(m.look, tmp_path, python=str(wrapper), flowpack_dir=FLOWPACK_DIR).result()
    assert view["started_as"] == "probe.py"  # exec'd, not forked
    assert view["ppid"] == _forkclient.fork_server(sys.executable).proc.pid  # by the server that contains it


def test_interpreter_startup_variables_decide_between_fork_and_spawn():
    argv = [sys.executable, "/nowhere/step.py"]
    env = dict(os.environ)
    assert _forkclient.forkable(argv, env)
    other_seed = "123" if env.get("PYTHONHASHSEED") != "123" else "7"
    assert not _forkclient.forkable(argv, {**env, "PYTHONHASHSEED": other_seed})
    assert not _forkclient.forkable(argv, {**env, "PYTHONPATH": "relative/folder"})
    assert not _forkclient.forkable([sys.executable, "-u", "/nowhere/step.py"], env)
    assert not _forkclient.forkable(["/usr/bin/env", "/nowhere/step.py"], env)


def still_alive(pids: list[int]) -> list[int]:
    """The pids still alive after a moment (SIGKILL is delivered at once, the teardown is asynchronous)."""
    end = time.monotonic() + 5
    while any(alive(p) for p in pids) and time.monotonic() < end:
        time.sleep(0.02)
    return [p for p in pids if alive(p)]


def test_a_server_that_dies_fails_its_running_step_and_the_next_run_forks_again(m, tmp_path):
    server = _forkclient.fork_server(sys.executable)
    folder = tmp_path / "pids"
    folder.mkdir()
    run = m.sleeper.run(run_dir=tmp_path / "runs", wait=False, folder=str(folder))
    pid_file = folder / "step.pid"
    end = time.monotonic() + 60
    while not pid_file.exists() and time.monotonic() < end:
        time.sleep(0.02)
    step_pid = int(pid_file.read_text())
    os.kill(server.proc.pid, signal.SIGKILL)
    with pytest.raises(fp.StepFailed) as info:
        run.wait()
    assert "fork server" in str(info.value)
    assert not still_alive([step_pid])  # the step the server ran was stopped with it, not left behind
    view = run_checked(m.look, tmp_path / "again", flowpack_dir=FLOWPACK_DIR).result()
    assert view["ppid"] != os.getpid() and view["ppid"] != server.proc.pid


def test_a_request_too_large_for_the_server_spawns_the_step(tmp_path):
    script = tmp_path / "step.py"
    script.write_text("import os\nprint(os.getppid(), sum(len(v) for k, v in os.environ.items() if k[:3] == 'BIG'))\n")
    big = {f"BIG{i}": "x" * 100_000 for i in range(3)}  # each under exec's limit of one variable, together over ours
    assert sum(map(len, big.values())) > _forkserver.MAX_MESSAGE

    def start(extra: dict) -> list[str]:
        with open(tmp_path / "out", "wb") as out, open(tmp_path / "err", "wb") as err:
            proc = _forkclient.start_step_process([sys.executable, str(script)], cwd=tmp_path,
                                                  env={**os.environ, **extra}, stdout=out, stderr=err,
                                                  python_script=True)
            assert proc.wait() == 0
        return (tmp_path / "out").read_text().split()

    assert start(big) == [str(os.getpid()), "300000"]  # spawned: the engine's child
    ppid, size = start({"BIG": "x"})
    assert ppid != str(os.getpid()) and size == "1"  # forked


def test_the_server_keeps_the_code_of_the_latest_scripts_only(tmp_path):
    cache: dict = {}
    scripts = []
    for i in range(_forkserver.COMPILED_KEPT + 5):
        path = tmp_path / f"s{i}.py"
        path.write_text(f"VALUE = {i}\n")
        scripts.append(str(path))
        namespace: dict = {}
        exec(_forkserver._compiled(cache, str(path)), namespace)
        assert namespace["VALUE"] == i
    assert list(cache) == scripts[-_forkserver.COMPILED_KEPT:]
    Path(scripts[-1]).write_text("VALUE = 'changed'\n")  # a new version of a kept script is compiled again
    namespace = {}
    exec(_forkserver._compiled(cache, scripts[-1]), namespace)
    assert namespace["VALUE"] == "changed"


@pytest.mark.parametrize("argv, cwd", [
    (["/nonexistent/program"], "."),  # no such program
    (["no-such-program-on-any-path"], "."),  # searched on the step's PATH
    (["true"], "/nonexistent/folder"),  # no such working folder
])
def test_a_program_the_server_cannot_start_fails_as_with_subprocess(tmp_path, argv, cwd):
    cwd = str(tmp_path) if cwd == "." else cwd
    with open(tmp_path / "out", "wb") as out, open(tmp_path / "err", "wb") as err:
        with pytest.raises(OSError) as spawned:
            subprocess.Popen(argv, cwd=cwd, env=dict(os.environ), stdout=out, stderr=err,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        with pytest.raises(OSError) as served:
            _forkclient.start_step_process(argv, cwd=cwd, env=dict(os.environ), stdout=out, stderr=err,
                                           python_script=False)
    assert type(served.value) is type(spawned.value) and str(served.value) == str(spawned.value)
    assert _forkclient.fork_server(sys.executable).alive  # the server goes on
