"""The rendered manifest is the same from whatever folder flowpack runs in: a source file is named in it (a step
script's traceback line map, the workflow's call-site annotation) by its path below its import root (`shop/flow.py`),
a script by its file name, a notebook cell by a label from its text, never by a path relative to the working
directory. So a run resumed from another folder reuses its succeeded steps, and a step's traceback still shows the
user's file and line."""

from __future__ import annotations

import json
import linecache
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import flowpack as fp
from flowpack._callsite import CALL_SITES

FLOW = '''\
from pathlib import Path

import flowpack as fp

from shop.util import check


def scale(n):
    return check(n) * 10


def refuse(folder):
    if (Path(folder) / "fail").exists():
        raise RuntimeError("told to fail")


def count(folder, name):
    marks = Path(folder) / name
    marks.write_text((marks.read_text() if marks.exists() else "") + "x")


@fp.op
def first(n: int, folder: str) -> int:
    count(folder, "first")
    return scale(n)


@fp.op
def second(x: int, folder: str) -> int:
    count(folder, "second")
    refuse(folder)
    return x + 1


@fp.workflow
def flow(n: int = 2, folder: str = "") -> int:
    return second(first(n, folder), folder)
'''

UTIL = '''\
def check(n):
    if n < 0:
        raise ValueError("n must be positive")
    return n
'''

RENDER = '''\
import importlib, json, sys
print(json.dumps(importlib.import_module(sys.argv[1]).flow.render(), sort_keys=True))
'''

SCRIPT = FLOW + '''

if __name__ == "__main__":
    import json
    print(json.dumps(flow.render(), sort_keys=True))
'''

RUN = '''\
import importlib, json, sys
import flowpack as fp
module, runs, folder, resume = sys.argv[1:5]
wf = importlib.import_module(module).flow
try:
    run = wf.run(run_dir=runs, n=2, folder=folder, resume=resume or None)
    failure = ""
except fp.StepFailed as exc:
    run, failure = exc.run, str(exc)
print(json.dumps({"id": run.id, "phase": run.run_record.phase.value, "failure": failure,
                  "messages": {name: step.get("message") or "" for name, step in run.steps.items()}}))
'''


def _line(text: str) -> int:
    return next(i for i, line in enumerate(FLOW.splitlines(), 1) if text in line)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """proj/shop (a package: flow.py with the ops, util.py a project module it imports), proj/plain.py (the same
    ops in a plain module) and proj/script.py (run as a script); two other folders to run from."""
    root = tmp_path / "proj"
    (root / "shop").mkdir(parents=True)
    (root / "shop" / "__init__.py").write_text("")
    (root / "shop" / "flow.py").write_text(FLOW)
    (root / "shop" / "util.py").write_text(UTIL)
    (root / "plain.py").write_text(FLOW)
    (root / "script.py").write_text(SCRIPT)
    for other in ("elsewhere", "proj/shop/deeper"):
        (tmp_path / other).mkdir(parents=True)
    return root


def _python(args: list[str], cwd: Path, project: Path) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(project), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _folders(project: Path) -> list[Path]:
    return [project, project / "shop", project.parent / "elsewhere", project / "shop" / "deeper"]


@pytest.mark.parametrize("module, path", [("shop.flow", "shop/flow.py"), ("plain", "plain.py")])
def test_a_module_renders_the_same_manifest_from_every_folder(project, module, path):
    rendered = {str(cwd): _python(["-c", RENDER, module], cwd, project) for cwd in _folders(project)}
    assert len(set(rendered.values())) == 1, "the manifest differs between folders"
    manifest = json.loads(next(iter(rendered.values())))
    script = next(t["script"]["source"] for t in manifest["spec"]["templates"] if t["name"] == "second")
    assert f"'{path}', {_line('def second')}]" in script  # the line map names the module's file below its root
    sites = json.loads(manifest["metadata"]["annotations"][CALL_SITES])
    assert sites == {f"{path}:{_line('return second(')}: return second(first(n, folder), folder)": "first second"}


def test_a_script_renders_the_same_manifest_however_it_is_named(project):
    """A script run as __main__ (by a relative path, or an absolute one from elsewhere) is named by its file name."""
    by_relative = _python(["proj/script.py"], project.parent, project)
    by_absolute = _python([str(project / "script.py")], project.parent / "elsewhere", project)
    from_inside = _python(["script.py"], project, project)
    assert by_relative == by_absolute == from_inside
    assert f"script.py:{_line('return second(')}: return second" in by_relative


def test_the_command_line_renders_the_same_manifest_from_every_folder(project):
    """`flowpack render FILE.py:WF`, given the file relative to where it runs or absolute; a package's file loaded
    by its path (as the command line and the viewer's resume load it) renders as the package imported by name."""
    here = _python(["-m", "flowpack", "render", "plain.py:flow", "--format", "json"], project, project)
    away = _python(["-m", "flowpack", "render", f"{project}/plain.py:flow", "--format", "json"],
                   project.parent / "elsewhere", project)
    assert here == away
    by_path = _python(["-m", "flowpack", "render", "shop/flow.py:flow", "--format", "json"], project, project)
    by_name = _python(["-c", RENDER, "shop.flow"], project.parent / "elsewhere", project)
    assert json.loads(by_path) == json.loads(by_name)


def test_a_run_resumed_from_another_folder_reuses_its_succeeded_steps(project, tmp_path):
    runs, side = tmp_path / "runs", tmp_path / "side"
    side.mkdir()
    (side / "fail").write_text("")
    failed = json.loads(_python(["-c", RUN, "shop.flow", str(runs), str(side), ""], project, project))
    assert failed["phase"] == "Failed" and "told to fail" in failed["failure"]
    assert (side / "first").read_text() == "x" and (side / "second").read_text() == "x"

    (side / "fail").unlink()
    resumed = json.loads(_python(["-c", RUN, "shop.flow", str(runs), str(side), failed["id"]],
                                 project.parent / "elsewhere", project))
    assert resumed["phase"] == "Succeeded", resumed
    assert (side / "first").read_text() == "x", "the succeeded step ran again"
    assert "reused from run " + failed["id"] in resumed["messages"]["first"]
    assert (side / "second").read_text() == "xx"


def test_a_cached_step_is_reused_by_a_run_from_another_folder(project, tmp_path):
    """`@fp.op(cache=True)`: a later run of the same workflow, started from another folder, reuses the result."""
    (project / "memo.py").write_text(FLOW.replace("@fp.op\ndef first", "@fp.op(cache=True)\ndef first"))
    runs, side = tmp_path / "runs", tmp_path / "side"
    side.mkdir()
    first = json.loads(_python(["-c", RUN, "memo", str(runs), str(side), ""], project, project))
    second = json.loads(_python(["-c", RUN, "memo", str(runs), str(side), ""], project.parent / "elsewhere", project))
    assert first["phase"] == second["phase"] == "Succeeded"
    assert (side / "first").read_text() == "x", "the cached step ran again"
    assert (side / "second").read_text() == "xx"


def test_a_steps_traceback_names_the_users_file_and_line_from_any_folder(project, tmp_path):
    (tmp_path / "side").mkdir()
    (tmp_path / "side" / "fail").write_text("")
    for cwd in (project, project.parent / "elsewhere"):
        out = json.loads(_python(["-c", RUN, "shop.flow", str(tmp_path / f"runs-{cwd.name}"),
                                  str(tmp_path / "side"), ""], cwd, project))
        text = out["failure"]
        assert f'File "shop/flow.py", line {_line("raise RuntimeError")}, in refuse' in text, text
        assert f'File "shop/flow.py", line {_line("    refuse(folder)")}, in second' in text, text
        assert f"shop/flow.py:{_line('return second(')}: return second(first(n, folder), folder)" in text
        assert "RuntimeError: told to fail" in text and "_fp_main" not in text


CELL = '''\
import flowpack as fp


def half(n):
    return n // 2


@fp.op
def halve(n: int) -> int:
    return half(n)


@fp.workflow
def cellflow(n: int = 4) -> int:
    return halve(n)
'''


def _notebook_cell(folder: Path) -> dict:
    """CELL run as a Jupyter kernel runs a cell: compiled under a file name that exists only in linecache, in the
    kernel's own folder (ipykernel_<pid>), named by a hash of the cell's text; its manifest."""
    filename = str(folder / "3551209853.py")
    linecache.cache[filename] = (len(CELL), None, CELL.splitlines(keepends=True), filename)
    try:
        namespace = {"__name__": "__main__"}
        exec(compile(CELL, filename, "exec"), namespace)
        return namespace["cellflow"].render()
    finally:
        linecache.cache.pop(filename, None)


def test_a_notebook_cell_renders_the_same_manifest_in_every_kernel(tmp_path):
    one, two = _notebook_cell(tmp_path / "ipykernel_101"), _notebook_cell(tmp_path / "ipykernel_202")
    assert json.dumps(one, sort_keys=True) == json.dumps(two, sort_keys=True)
    script = next(t["script"]["source"] for t in one["spec"]["templates"] if t["name"] == "halve")
    assert "'<cell 3551209853>', 4]" in script  # half(), from the cell's line 4
    assert "<cell 3551209853>:15: return halve(n)" in one["metadata"]["annotations"][CALL_SITES]


def test_build_time_messages_keep_the_real_path(tmp_path, user_module):
    """What is shown on the user's own machine while building may name the file where it is: a name an op uses but
    never defines is reported at the module's real path (here outside the working directory: absolute)."""
    m = user_module(textwrap.dedent('''
        import flowpack as fp


        @fp.op
        def broken(n: int) -> int:
            return undefined_thing(n)


        @fp.workflow
        def brokenflow(n: int = 1) -> int:
            return broken(n)
        '''), "brokenflow")
    with pytest.raises(fp.FlowpackError) as info:
        m.brokenflow.render()
    assert f"({tmp_path / 'src' / 'brokenflow.py'}:" in str(info.value), str(info.value)


def test_a_module_below_a_namespace_package_is_named_by_its_dotted_name(tmp_path):
    """Folders without an __init__.py (a namespace package): the module's name says where its import root is."""
    root = tmp_path / "nsroot"
    (root / "spaced" / "inner").mkdir(parents=True)
    (root / "spaced" / "inner" / "nsflow.py").write_text(FLOW.replace("from shop.util import check", "check = abs"))
    sys.path.insert(0, str(root))
    try:
        import spaced.inner.nsflow as module  # type: ignore[import-not-found]

        manifest = module.flow.render()
    finally:
        sys.path.remove(str(root))
        for name in ("spaced.inner.nsflow", "spaced.inner", "spaced"):
            sys.modules.pop(name, None)
    script = next(t["script"]["source"] for t in manifest["spec"]["templates"] if t["name"] == "second")
    assert f"'spaced/inner/nsflow.py', {_line('def second')}]" in script
    assert f"spaced/inner/nsflow.py:{_line('return second(')}:" in manifest["metadata"]["annotations"][CALL_SITES]
