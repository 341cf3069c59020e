"""The command line checks what it is given before anything runs, and says what it did (issue 17.5, 12.18).

Every command here runs as a user runs it: `python -m flowpack ...` in a subprocess, from a folder of its own.
"""

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

ROOT = Path(__file__).resolve().parents[1]

WORKFLOWS = """
from typing import Optional
import time
from pathlib import Path
import flowpack as fp


@fp.op
def add(a: int, b: int = 1) -> int:
    return a + b


@fp.op
def describe(n_rows: int, tags: list, note: Optional[str], ratio: float) -> dict:
    return {"n_rows": n_rows, "tags": tags, "note": note, "ratio": ratio}


@fp.workflow
def pipeline(n_rows: int = 3, tags: list = [], note: Optional[str] = None, ratio: float = 0.5) -> dict:
    return describe(add(n_rows), tags, note, ratio)


@fp.op
def slow(flag: str) -> str:
    Path(flag).write_text("started")
    time.sleep(120)
    return "late"


@fp.op
def quick(x: int) -> int:
    return x * 2


@fp.workflow
def waits(flag: str, x: int = 4) -> tuple:
    return quick(x), slow(flag)
"""


def flowpack(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flowpack", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


@pytest.fixture
def folder(tmp_path) -> Path:
    (tmp_path / "flows.py").write_text(textwrap.dedent(WORKFLOWS))
    return tmp_path


def _no_traceback(done: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in done.stderr, done.stderr


@pytest.mark.parametrize("command", ["run", "render", "submit", "lint", "register"])
def test_an_op_given_as_a_workflow_is_named_as_an_op(folder, command):
    done = flowpack(command, "flows.py:add", cwd=folder)
    assert done.returncode == 2, done.stderr
    _no_traceback(done)
    assert "flows.py:add is an op, not a workflow" in done.stderr
    assert "Workflows in flows.py: pipeline, waits" in done.stderr
    assert not (folder / ".flowpack").exists()  # nothing ran


def test_typos_get_a_suggestion(folder):
    done = flowpack("run", "flows.py:pipelin", cwd=folder)
    assert done.returncode == 2 and "defines no 'pipelin'. Did you mean 'pipeline'?" in done.stderr
    done = flowpack("render", "flows.py:pipeline", "-p", "n_row=3", cwd=folder)
    assert done.returncode == 2 and "no parameter 'n_row'. Did you mean 'n_rows'?" in done.stderr
    done = flowpack("script", "flows.py:ad", cwd=folder)
    assert done.returncode == 2 and "Did you mean 'add'?" in done.stderr
    done = flowpack("script", "flows.py:pipeline", cwd=folder)
    assert done.returncode == 2 and "is a workflow, not an op" in done.stderr and "Ops in flows.py: add" in done.stderr
    for done in (flowpack("run", "flows.py", cwd=folder), flowpack("run", "nowhere.py:x", cwd=folder)):
        assert done.returncode == 2 and ("expected FILE.py:NAME" in done.stderr or "no such file" in done.stderr)
        _no_traceback(done)


@pytest.mark.parametrize("param, message", [
    ("n_rows=abc", "n_rows: expected int, got 'abc'"),
    ("n_rows=1.5", "n_rows: expected int, got '1.5'"),
    ("n_rows=true", "n_rows: expected int, got 'true'"),
    ("tags=[1,2", "tags: expected list, got '[1,2' (not valid JSON"),
    ("tags={\"a\": 1}", "tags: expected list"),
    ("ratio=NaN", "ratio: expected float, got 'NaN' (NaN and Infinity are not JSON numbers)"),
    ("ratio=Infinity", "ratio: expected float, got 'Infinity'"),
    ("ratio=-Infinity", "ratio: expected float"),
    ("ratio=1e999", "ratio: inf is not a JSON number"),
    ("n_rows", "-p expects KEY=VALUE"),
])
def test_parameters_are_checked_against_the_annotations_before_anything_runs(folder, param, message):
    for command in ("run", "render"):
        done = flowpack(command, "flows.py:pipeline", "-p", param, cwd=folder)
        assert done.returncode == 2, done.stderr
        assert message in done.stderr
        _no_traceback(done)
    assert not (folder / ".flowpack").exists()


def test_repeated_parameters_are_an_error(folder):
    done = flowpack("run", "flows.py:pipeline", "-p", "n_rows=1", "-p", "n_rows=2", cwd=folder)
    assert done.returncode == 2 and "-p n_rows is given twice" in done.stderr


def test_parameters_that_fit_are_typed_by_their_annotation(folder):
    done = flowpack("run", "flows.py:pipeline", "-p", "n_rows=4", "-p", 'tags=["a", 2]', "-p", "note=123",
                    "-p", "ratio=2", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"n_rows": 5, "tags": ["a", 2], "note": "123", "ratio": 2}
    done = flowpack("run", "flows.py:pipeline", "-p", "note=null", cwd=folder)
    assert json.loads(done.stdout)["note"] is None


def test_version_and_help_for_every_command_and_option():
    from flowpack import __version__
    from flowpack._cli import build_parser

    done = subprocess.run([sys.executable, "-m", "flowpack", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == f"flowpack {__version__}"
    parser = build_parser()
    subs = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    helps = {c.dest: c.help for c in subs._choices_actions}
    assert set(helps) == set(subs.choices) and all(helps.values()), helps
    for name, sub in subs.choices.items():
        for action in sub._actions:
            assert action.help, f"flowpack {name} {action.option_strings or action.dest} has no help text"
        done = subprocess.run([sys.executable, "-m", "flowpack", name, "--help"], capture_output=True, text=True)
        assert done.returncode == 0 and "usage: flowpack " + name in done.stdout


def test_render_output_reports_what_it_wrote_and_a_bad_path_is_clear(folder):
    done = flowpack("render", "flows.py:pipeline", "-o", "wf.yaml", cwd=folder)
    assert done.returncode == 0, done.stderr
    size = (folder / "wf.yaml").stat().st_size
    assert f"wrote wf.yaml ({size} bytes): the Argo Workflow manifest as YAML of workflow 'pipeline'" in done.stderr
    done = flowpack("render", "flows.py:pipeline", "--format", "svg", "-o", "dag.svg", cwd=folder)
    assert "an SVG picture of the DAG" in done.stderr and (folder / "dag.svg").read_text().startswith("<svg")
    done = flowpack("render", "flows.py:pipeline", "-o", "/nonexistent/x", cwd=folder)
    assert done.returncode == 2 and "can't write /nonexistent/x: No such file or directory" in done.stderr
    _no_traceback(done)


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_ui_port_out_of_range_is_a_usage_error(folder, port):
    done = flowpack("ui", "--port", port, cwd=folder)
    assert done.returncode == 2 and "--port" in done.stderr
    _no_traceback(done)


def _ui_first_lines(folder: Path, *args: str) -> str:
    proc = subprocess.Popen([sys.executable, "-m", "flowpack", "ui", "--port", "0", *args], cwd=folder,
                            stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        while True:
            line = proc.stderr.readline()
            lines.append(line)
            if not line or "Ctrl-C stops it" in line:
                return "".join(lines)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


def test_ui_warns_about_a_missing_or_empty_run_folder(folder):
    assert "does not exist" in _ui_first_lines(folder, "--run-dir", "nowhere")
    (folder / "empty").mkdir()
    assert "holds no runs yet" in _ui_first_lines(folder, "--run-dir", "empty")
    assert flowpack("run", "flows.py:pipeline", "--run-dir", "runs", cwd=folder).returncode == 0
    assert "warning" not in _ui_first_lines(folder, "--run-dir", "runs")


def test_ctrl_c_prints_the_run_id_and_the_resume_command_which_works(folder):
    flag = folder / "started"
    proc = subprocess.Popen([sys.executable, "-m", "flowpack", "run", "flows.py:waits", "-p", f"flag={flag}",
                             "--run-dir", "runs"], cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        for _ in range(600):
            if flag.exists():
                break
            time.sleep(0.1)
        assert flag.exists()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    _no_traceback(subprocess.CompletedProcess([], 130, out, err))
    (run_id,) = [p.name for p in (folder / "runs").iterdir()]
    assert f"stopped run {run_id}" in err
    command = err.split("to go on from where it stopped: flowpack ", 1)[1].splitlines()[0]
    assert command == f"run flows.py:waits -p flag={flag} --run-dir runs --resume {run_id}"
    assert json.loads((folder / "runs" / run_id / "run.json").read_text())["phase"] == "Stopped"
    (folder / "flows.py").write_text(textwrap.dedent(WORKFLOWS).replace("time.sleep(120)", "pass"))
    done = flowpack(*command.split(" "), cwd=folder)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [8, "late"]
    new = next(json.loads((p / "run.json").read_text()) for p in (folder / "runs").iterdir() if p.name != run_id)
    assert new["resumedFrom"] == run_id and "reused" in new["steps"]["quick"]["message"]
