"""The `flowpack` command and the examples, run as a user runs them: in a subprocess, from a folder of their own."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from fixtures_docker import docker_client  # noqa: F401  (a fixture: starts the real services if needed)
from helpers import assert_argo_valid

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def flowpack(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "flowpack", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def only_run(run_dir: Path) -> dict:
    runs = list(run_dir.iterdir())
    assert len(runs) == 1, runs
    return json.loads((runs[0] / "run.json").read_text())


def test_hello_shell_example_runs_and_renders(tmp_path):
    done = flowpack("run", f"{EXAMPLES / 'hello_shell.py'}:hello_world", "-p", "msg=Hello, world", "-p",
                    "number=42", "--run-dir", "runs", cwd=tmp_path)
    out = json.loads(done.stdout)
    assert out["out_param"] == 42
    assert Path(out["out_art"]).read_text() == "Hello, world\n"
    assert "hello" in done.stderr and "Succeeded" in done.stderr  # the live status names the step

    rendered = flowpack("render", f"{EXAMPLES / 'hello_shell.py'}:hello_world", "-p", "msg=hi", "-o", "wf.yaml",
                        cwd=tmp_path)
    assert "wf.yaml" in rendered.stderr
    manifest = yaml.safe_load((tmp_path / "wf.yaml").read_text())
    assert_argo_valid(manifest)
    tpl = next(t for t in manifest["spec"]["templates"] if t["name"] == "hello")
    assert tpl["script"]["command"] == ["bash"]
    assert "$msg" in tpl["script"]["source"] and "hi" not in tpl["script"]["source"]  # values never in the text
    assert {"name": "msg", "value": "{{inputs.parameters.msg}}"} in tpl["script"]["env"]
    assert [p["valueFrom"]["path"] for p in tpl["outputs"]["parameters"]] == ["/tmp/results.txt"]
    assert [a["path"] for a in tpl["outputs"]["artifacts"]] == ["/tmp/msg.txt"]


def test_two_shell_steps_writing_the_same_absolute_path_at_once_keep_their_own(tmp_path):
    done = flowpack("run", f"{EXAMPLES / 'hello_shell.py'}:two_at_once", "-p", "first=$(touch PWNED) one",
                    "-p", "second=two", "--run-dir", "runs", "--workers", "2", cwd=tmp_path)
    out = json.loads(done.stdout)
    assert Path(out["a"]).read_text() == "$(touch PWNED) one\n"
    assert Path(out["b"]).read_text() == "two\n"
    assert (out["a_num"], out["b_num"]) == (1, 2)
    assert not list(tmp_path.rglob("PWNED"))  # a value is data: nothing it says was executed
    steps = only_run(tmp_path / "runs")["steps"]
    a, b = steps["hello"], steps["hello-2"]
    assert a["startedAt"] < b["finishedAt"] and b["startedAt"] < a["finishedAt"]  # they did run at the same time


def test_quickstart_run_render_svg_mermaid_and_script(tmp_path):
    done = flowpack("run", f"{EXAMPLES / 'quickstart.py'}:pipeline", "-p", "n=5", "--run-dir", "runs",
                    cwd=tmp_path)
    assert json.loads(done.stdout) == {"count": 12, "mean": sum(i * i for i in range(12)) / 12, "offset": 6}

    svg = flowpack("render", f"{EXAMPLES / 'quickstart.py'}:pipeline", "--format", "svg", cwd=tmp_path).stdout
    assert svg.lstrip().startswith("<svg") and "summarise" in svg
    mermaid = flowpack("render", f"{EXAMPLES / 'quickstart.py'}:pipeline", "--format", "mermaid",
                       cwd=tmp_path).stdout
    assert "summarise" in mermaid and "-->" in mermaid
    as_json = flowpack("render", f"{EXAMPLES / 'quickstart.py'}:pipeline", "--format", "json", "-p", "n=2",
                       cwd=tmp_path).stdout
    manifest = json.loads(as_json)
    assert_argo_valid(manifest)
    assert manifest["spec"]["arguments"]["parameters"] == [{"name": "n", "value": "2"}]

    script = flowpack("script", f"{EXAMPLES / 'quickstart.py'}:summarise", cwd=tmp_path).stdout
    compile(script, "summarise.py", "exec")
    assert "def summarise(" in script and "class Summary(NamedTuple)" in script
    assert "import flowpack" not in script and "@fp.op" not in script


FAILING = """
import flowpack as fp


@fp.op
def fine(x: int) -> int:
    return x + 1


@fp.op
def divide(x: int) -> float:
    print("about to divide", x)
    return x / 0


@fp.op
def after(x: float) -> float:
    return x


@fp.workflow
def broken(x: int = 1):
    return after(divide(fine(x)))
"""


def test_a_failing_run_exits_non_zero_naming_the_step_and_resumes(tmp_path):
    (tmp_path / "broken.py").write_text(textwrap.dedent(FAILING))
    done = flowpack("run", "broken.py:broken", "--run-dir", "runs", cwd=tmp_path, check=False)
    assert done.returncode == 1
    assert "step divide" in done.stderr and "exit code 1" in done.stderr
    assert "ZeroDivisionError" in done.stderr  # the step's stderr tail
    record = only_run(tmp_path / "runs")
    assert record["phase"] == "Failed"
    assert record["steps"]["after"]["phase"] == "Omitted"  # dependents did not run

    (tmp_path / "broken.py").write_text(textwrap.dedent(FAILING).replace("x / 0", "x / 2"))
    done = flowpack("run", "broken.py:broken", "--run-dir", "runs", "--resume", record["id"], cwd=tmp_path)
    assert json.loads(done.stdout) == 1.0
    new = next(json.loads((p / "run.json").read_text()) for p in (tmp_path / "runs").iterdir()
               if p.name != record["id"])
    assert "reused" in new["steps"]["fine"]["message"]  # the step that had succeeded was not rerun


def test_bad_targets_and_parameters_are_clear_errors(tmp_path):
    (tmp_path / "broken.py").write_text(textwrap.dedent(FAILING))
    done = flowpack("run", "broken.py:nothing", cwd=tmp_path, check=False)
    assert done.returncode != 0 and "defines no 'nothing'" in done.stderr
    done = flowpack("run", "broken.py:broken", "-p", "y=3", cwd=tmp_path, check=False)
    assert done.returncode != 0 and "no parameter 'y'" in done.stderr
    done = flowpack("run", "missing.py:broken", cwd=tmp_path, check=False)
    assert done.returncode != 0 and "no such file" in done.stderr


def test_run_examples_is_the_main_job(tmp_path):
    done = subprocess.run([sys.executable, str(EXAMPLES / "run_examples.py")], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    import runpy

    jobs = runpy.run_path(str(EXAMPLES / "run_examples.py"))["JOBS"]  # what the main job lists, not run again
    assert len(jobs) >= 3 and f"{len(jobs)} of {len(jobs)} example workflows succeeded" in done.stdout
    assert done.stdout.count("== flowpack run examples/") == len(jobs)


BY_VALUE = """
import sys
sys.version_info = (3, 99, 0, "final", 0)
exec(compile(open(sys.argv[1]).read(), sys.argv[1], "exec"))
"""


def test_a_pickled_function_refuses_another_python_minor_version(tmp_path):
    """A function shipped by value names the Python it was pickled with and the image to use instead."""
    import flowpack as fp

    namespace: dict = {}
    exec(compile("def triple(x: int) -> int:\n    return 3 * x\n", "<typed in>", "exec"), namespace)
    op = fp.op(namespace["triple"])
    script = tmp_path / "step.py"
    script.write_text(op.script())
    assert "_fp_unpickle(" in script.read_text()
    runner = tmp_path / "other_python.py"
    runner.write_text(BY_VALUE)
    done = subprocess.run([sys.executable, str(runner), str(script)], cwd=tmp_path, capture_output=True, text=True,
                          env={"FLOWPACK_ROOT": str(tmp_path / "root")}, timeout=60)
    assert done.returncode != 0
    minor = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert f"pickled by Python {minor}" in done.stderr and "3.99" in done.stderr
    assert f"python:{minor}-slim" in done.stderr


@pytest.mark.parametrize("engine", ["docker"])
def test_run_on_the_docker_engine_from_the_command_line(tmp_path, engine, docker_client):
    done = flowpack("run", f"{EXAMPLES / 'hello_shell.py'}:hello_world", "-p", "msg=from a container", "-p",
                    "number=7", "--engine", engine, "--run-dir", "runs", cwd=tmp_path)
    out = json.loads(done.stdout)
    assert out["out_param"] == 7 and Path(out["out_art"]).read_text() == "from a container\n"
    assert only_run(tmp_path / "runs")["engine"] == "docker"


PACKAGED = """
import flowpack as fp


@fp.op(packages=["six"])
def version() -> str:
    import six
    return six.__version__


@fp.op
def plain(x: str) -> str:
    return x + "!"


@fp.workflow
def packaged():
    return plain(version())
"""


def test_built_images_are_named_in_rendered_manifests(tmp_path, docker_client, user_module):
    m = user_module(PACKAGED)
    before = m.packaged.render()
    mapping = m.packaged.build_images()
    assert mapping["version"].startswith("flowpack/step:") and mapping["plain"] == "python:3.11-slim"
    after = m.packaged.render()
    images = {t["name"]: t["script"]["image"] for t in after["spec"]["templates"] if "script" in t}
    assert images == {"version": mapping["version"], "plain": "python:3.11-slim"}
    assert {t["name"]: t["script"]["image"] for t in before["spec"]["templates"] if "script" in t}["version"] == \
        "python:3.11-slim"
    assert_argo_valid(after)
    import six

    run = m.packaged.run(engine="docker", run_dir=tmp_path / "runs")
    assert run.result() == six.__version__ + "!"
