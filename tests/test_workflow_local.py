"""Workflows run on the embedded local engine: values of every kind travel between steps, as a user sees them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import flowpack as fp
from helpers import dag_tasks, render_checked, run_checked, template

PIPELINE = '''
import flowpack as fp


@fp.op
def add(a: int, b: int = 1) -> int:
    return a + b


@fp.workflow
def pipeline(n: int = 3) -> int:
    x = add(n, 1)
    return add(x, x)
'''


def test_issue_example_runs_and_renders(user_module, tmp_path):
    m = user_module(PIPELINE)
    run = run_checked(m.pipeline, tmp_path, n=5)
    assert run.phase == "Succeeded"
    assert run.result() == 12
    assert run_checked(m.pipeline, tmp_path).result() == 8  # the default n=3
    manifest = render_checked(m.pipeline, n=5)
    assert manifest["apiVersion"] == "argoproj.io/v1alpha1"
    assert {t["name"] for t in manifest["spec"]["templates"]} == {"pipeline", "add"}


JSON_TYPES = '''
from typing import Dict, List, Optional, Union
import flowpack as fp


@fp.op
def t_int(v: int) -> int:
    assert type(v) is int, type(v)
    return v


@fp.op
def t_float(v: float) -> float:
    assert type(v) is float, type(v)
    return v


@fp.op
def t_bool(v: bool) -> bool:
    assert type(v) is bool, type(v)
    return v


@fp.op
def t_none(v: None = None) -> None:
    assert v is None


@fp.op
def t_opt(v: Optional[int] = None) -> Optional[int]:
    return v


@fp.op
def t_list(v: list) -> list:
    return v


@fp.op
def t_tlist(v: List[int]) -> List[int]:
    return v


@fp.op
def t_dict(v: Dict[str, list]) -> dict[str, list]:
    return v


@fp.op
def t_union(v: Union[int, str, None]) -> int | str | None:
    return v


@fp.op
def t_str(v: str) -> str:
    assert type(v) is str
    return v


@fp.workflow
def types_wf():
    return {
        "i": t_int(t_int(-12345678901234567890)),
        "f": t_float(t_float(1.0)),
        "f2": t_float(-2.5e-300),
        "b": t_bool(t_bool(True)),
        "b2": t_bool(False),
        "n": t_opt(),
        "n2": t_opt(t_opt(7)),
        "l": t_list(t_list([1, "two", None, [3.5, {"k": False}]])),
        "tl": t_tlist([]),
        "d": t_dict(t_dict({"a": [1], "é ü": [], "": [None]})),
        "u": t_union("7"),
        "u2": t_union(7),
        "s": t_str(t_str("plain text")),
        "s2": t_str("123"),
        "s3": t_str("null"),
    }


@fp.workflow
def nothing_wf():
    t_none()
'''


def test_json_parameters_round_trip_with_their_types(user_module, tmp_path):
    m = user_module(JSON_TYPES)
    manifest = render_checked(m.types_wf)
    for name in ("t-int", "t-float", "t-bool", "t-opt", "t-list", "t-tlist", "t-dict", "t-union", "t-str"):
        tpl = template(manifest, name)
        assert [p["name"] for p in tpl["inputs"]["parameters"]] == ["v"], name
        # parameters reach the script as files Argo fills in (raw artifacts), never as pickles (a big one: as its
        # optional twin, fp-big-v, when every step reading it can take one: tests/test_bigvalues.py)
        assert [a["name"] for a in tpl["inputs"].get("artifacts", [])
                if not a["name"].startswith("fp-big")] == ["param-v"], name
        assert [p["name"] for p in tpl["outputs"]["parameters"]] == ["return"], name
    got = run_checked(m.types_wf, tmp_path).result()
    expected = {
        "i": -12345678901234567890, "f": 1.0, "f2": -2.5e-300, "b": True, "b2": False, "n": None, "n2": 7,
        "l": [1, "two", None, [3.5, {"k": False}]], "tl": [], "d": {"a": [1], "é ü": [], "": [None]},
        "u": "7", "u2": 7, "s": "plain text", "s2": "123", "s3": "null",
    }
    assert got == expected
    for key in ("f", "b", "b2", "s2", "s3", "u"):
        assert type(got[key]) is type(expected[key]), key
    run = run_checked(m.nothing_wf, tmp_path)
    assert run.result() is None


PATHS = '''
from pathlib import Path
import flowpack as fp


@fp.op
def write_file(text: str) -> Path:
    p = Path("result.txt")
    p.write_text(text, encoding="utf-8")
    return p


@fp.op
def write_tree(n: int) -> Path:
    root = Path("tree")
    (root / "sub" / "deeper").mkdir(parents=True)
    for i in range(n):
        (root / f"f{i}.txt").write_text(str(i))
    (root / "sub" / "deeper" / "leaf.bin").write_bytes(bytes(range(256)))
    return root


@fp.op
def read_file(p: Path) -> str:
    assert p.is_file()
    return p.read_text(encoding="utf-8")


@fp.op
def describe_tree(p: Path) -> list:
    assert p.is_dir()
    return sorted(str(q.relative_to(p)) for q in p.rglob("*") if q.is_file())


@fp.op
def upper_file(p: Path) -> Path:
    out = Path("upper.txt")
    out.write_text(p.read_text(encoding="utf-8").upper(), encoding="utf-8")
    return out


@fp.workflow
def paths_wf(src: Path, text: str = "héllo"):
    f = write_file(text)
    t = write_tree(3)
    return {
        "read": read_file(f),
        "tree": describe_tree(t),
        "given": read_file(src),
        "upper": upper_file(src),
        "file": f,
        "dir": t,
    }
'''


def test_path_inputs_and_outputs_are_file_and_directory_artifacts(user_module, tmp_path):
    m = user_module(PATHS)
    src = tmp_path / "input.txt"
    src.write_text("from the user's disk", encoding="utf-8")
    manifest = render_checked(m.paths_wf, src=src)
    assert template(manifest, "write-file")["outputs"]["artifacts"][0]["name"] == "return"
    assert template(manifest, "read-file")["inputs"]["artifacts"][0]["name"] == "p"
    assert "parameters" not in (template(manifest, "read-file")["inputs"])
    got = run_checked(m.paths_wf, tmp_path, src=src).result()
    assert got["read"] == "héllo"
    assert got["tree"] == ["f0.txt", "f1.txt", "f2.txt", "sub/deeper/leaf.bin"]
    assert got["given"] == "from the user's disk"
    assert isinstance(got["upper"], Path) and got["upper"].read_text(encoding="utf-8") == "FROM THE USER'S DISK"
    assert got["file"].is_file() and got["file"].read_text(encoding="utf-8") == "héllo"
    assert got["dir"].is_dir()
    assert (got["dir"] / "sub" / "deeper" / "leaf.bin").read_bytes() == bytes(range(256))
    assert src.read_text(encoding="utf-8") == "from the user's disk"  # the input was not modified


def test_path_literal_passed_to_an_op(user_module, tmp_path):
    m = user_module(PATHS)
    folder = tmp_path / "folder"
    (folder / "x").mkdir(parents=True)
    (folder / "x" / "a.txt").write_text("a")
    (folder / "b.txt").write_text("b")

    @fp.workflow
    def lit():
        return m.describe_tree(folder)

    assert run_checked(lit, tmp_path).result() == ["b.txt", "x/a.txt"]


PICKLES = '''
import dataclasses
import fractions
import numpy as np
import flowpack as fp


@dataclasses.dataclass
class Point:
    x: int
    y: float
    tags: frozenset = frozenset()


class Bag:
    def __init__(self, items):
        self.items = items

    def __eq__(self, other):
        return isinstance(other, Bag) and self.items == other.items


@fp.op
def make_point(x: int) -> Point:
    return Point(x, x / 2, frozenset({"a"}))


@fp.op
def shift(p: Point, by: int = 1) -> Point:
    return Point(p.x + by, p.y, p.tags)


@fp.op
def untyped(v):
    return {"got": v, "bag": Bag([v, v])}


@fp.op
def odd_things(n: int) -> object:
    return {1: "int key", (2, 3): {4, 5}, "c": 1 + 2j, "b": b"\\x00\\xff", "fr": fractions.Fraction(n, 3)}


@fp.op
def arange(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.float64).reshape(-1, 1)


@fp.op
def total(a: np.ndarray) -> float:
    return float(a.sum())


@fp.workflow
def object_literal_wf():
    return untyped(Bag(["x"]))


@fp.workflow
def pickles_wf(n: int = 4):
    p = make_point(n)
    a = arange(n)
    return {
        "point": shift(p, by=10),
        "untyped": untyped(p),
        "untyped_lit": untyped([1, {"k": "v"}]),
        "odd": odd_things(n),
        "arr": a,
        "sum": total(a),
    }
'''


def test_other_values_travel_as_pickled_artifacts(user_module, tmp_path):
    m = user_module(PICKLES)
    manifest = render_checked(m.pickles_wf)
    tpl = template(manifest, "make-point")
    assert tpl["outputs"]["artifacts"] == [
        {"name": "return", "path": "/tmp/flowpack/outputs/artifacts/return", "archive": {"none": {}}}]
    # the parameter `by` arrives as a file Argo fills in (raw artifact), listed first; `p` is a pickled artifact
    assert [a["name"] for a in template(manifest, "shift")["inputs"]["artifacts"]] == ["param-by", "p"]
    assert [p["name"] for p in template(manifest, "shift")["inputs"]["parameters"]] == ["by"]
    got = run_checked(m.pickles_wf, tmp_path).result()
    assert got["point"].x == 14 and got["point"].y == 2.0 and got["point"].tags == frozenset({"a"})
    assert type(got["point"]).__name__ == "Point"
    assert got["untyped"]["got"].x == 4
    assert got["untyped_lit"]["got"] == [1, {"k": "v"}]
    assert got["untyped_lit"]["bag"].items == [[1, {"k": "v"}]] * 2
    import fractions

    assert got["odd"] == {1: "int key", (2, 3): {4, 5}, "c": 1 + 2j, "b": b"\x00\xff", "fr": fractions.Fraction(4, 3)}
    import numpy as np

    assert isinstance(got["arr"], np.ndarray) and got["arr"].shape == (4, 1)
    assert np.array_equal(got["arr"], np.arange(4.0).reshape(-1, 1))
    assert got["sum"] == 6.0


def test_object_literal_of_a_user_class_reaches_the_step(user_module, tmp_path):
    m = user_module(PICKLES)
    got = run_checked(m.object_literal_wf, tmp_path).result()
    assert got["got"].items == ["x"]


NAMEDTUPLE = '''
from typing import NamedTuple
import flowpack as fp


class Stats(NamedTuple):
    total: int
    mean: float
    label: str


@fp.op
def stats(xs: list) -> Stats:
    return Stats(sum(xs), sum(xs) / len(xs), "n=%d" % len(xs))


@fp.op
def add(a: int, b: int = 1) -> int:
    return a + b


@fp.op
def shout(s: str) -> str:
    return s.upper()


@fp.workflow
def uses_fields(xs: list = [1, 2, 3, 6]):
    h = stats(xs)
    return add(h.total, 100), shout(h.label)


@fp.workflow
def returns_fields():
    return stats([2, 4])
'''


def test_namedtuple_return_gives_named_outputs(user_module, tmp_path):
    m = user_module(NAMEDTUPLE)
    manifest = render_checked(m.uses_fields)
    assert [p["name"] for p in template(manifest, "stats")["outputs"]["parameters"]] == ["total", "mean", "label"]
    tasks = dag_tasks(manifest)
    assert tasks["add"]["arguments"]["parameters"][0]["value"] == "{{tasks.stats.outputs.parameters.total}}"
    assert run_checked(m.uses_fields, tmp_path).result() == (112, "N=4")
    run = run_checked(m.returns_fields, tmp_path)
    assert run.outputs == {"total": 6, "mean": 3.0, "label": "n=2"}


ORDER = '''
import os
import time
from pathlib import Path
import flowpack as fp


@fp.op
def first(shared: str) -> None:
    time.sleep(0.5)
    Path(shared, "first-done").write_text("x")


@fp.op
def second(shared: str) -> bool:
    return Path(shared, "first-done").exists()


@fp.workflow
def ordered(shared: str):
    a = first(shared)
    return second(shared).after(a)
'''


def test_after_adds_an_order_only_dependency(user_module, tmp_path):
    m = user_module(ORDER)
    shared = tmp_path / "shared"
    shared.mkdir()
    manifest = render_checked(m.ordered, shared=str(shared))
    tasks = dag_tasks(manifest)
    assert tasks["second"]["depends"] == "first"
    assert "depends" not in tasks["first"]
    assert not any("first" in json.dumps(a) for a in tasks["second"].get("arguments", {}).get("parameters", [])
                   if "{{tasks." in json.dumps(a))  # no data edge: order only
    run = run_checked(m.ordered, tmp_path, shared=str(shared))
    assert run.result() is True
    steps = {s["name"]: s for s in run.steps.values()}
    assert steps["second"]["startedAt"] >= steps["first"]["finishedAt"]


PARALLEL = '''
import os
import time
from pathlib import Path
import flowpack as fp


@fp.op
def meet(me: str, other: str, shared: str) -> dict:
    start = sorted(os.listdir("."))
    Path("same.txt").write_text(me)          # the same relative file in both steps
    Path(shared, me).write_text(os.getcwd())
    deadline = time.monotonic() + 60
    while not Path(shared, other).exists():  # a rendezvous: only possible if both run at once
        if time.monotonic() > deadline:
            raise SystemExit("step %s never met %s: steps did not run in parallel" % (me, other))
        time.sleep(0.02)
    time.sleep(0.2)
    return {"start": start, "same": Path("same.txt").read_text(), "cwd": os.getcwd()}


@fp.workflow
def both(shared: str):
    return meet("left", "right", shared), meet("right", "left", shared)
'''


def test_independent_steps_run_in_parallel_in_their_own_empty_folders(user_module, tmp_path):
    m = user_module(PARALLEL)
    shared = tmp_path / "shared"
    shared.mkdir()
    manifest = render_checked(m.both, shared=str(shared))
    assert not any("depends" in t for t in dag_tasks(manifest).values())
    left, right = run_checked(m.both, tmp_path, workers=2, shared=str(shared)).result()
    assert left["start"] == [] and right["start"] == []
    assert left["same"] == "left" and right["same"] == "right"
    assert left["cwd"] != right["cwd"]


SIDE_EFFECTS = '''
import os
import json
from pathlib import Path
import flowpack as fp

with open(os.environ["FP_TEST_SIDE_FILE"], "a") as fh:   # top-level code: must run only on import
    fh.write("imported\\n")
print("TOP-LEVEL PRINT")

FACTOR = 7
NAMES = ("a", "b")
UNUSED_BIG = list(range(10))


def _inner(v):
    return v * FACTOR


def helper(v):
    return _inner(v) + len(NAMES)


@fp.op
def compute(x: int) -> int:
    return helper(x) + len(json.dumps([x]))


@fp.op
def chained(x: int) -> int:
    return compute.func(x) if hasattr(compute, "func") else compute(x)


@fp.workflow
def side_wf(x: int = 2):
    return compute(x), compute(compute(1))
'''


def test_top_level_code_of_the_users_module_does_not_rerun_in_steps(user_module, tmp_path, monkeypatch):
    side = tmp_path / "side.txt"
    monkeypatch.setenv("FP_TEST_SIDE_FILE", str(side))
    m = user_module(SIDE_EFFECTS)
    assert side.read_text() == "imported\n"
    run = run_checked(m.side_wf, tmp_path)
    assert run.result() == (7 * 2 + 2 + 3, 7 * (7 + 2 + 3) + 2 + 4)
    assert side.read_text() == "imported\n"  # one line: no step re-imported the module
    script = m.compute.script()
    assert "FP_TEST_SIDE_FILE" not in script and "TOP-LEVEL PRINT" not in script
    assert "UNUSED_BIG" not in script
    assert "def helper(" in script and "def _inner(" in script and "FACTOR = 7" in script
    assert "def compute(x: int) -> int:" in script
    assert "@fp.op" not in script and "side_wf" not in script and "def chained" not in script
    for step in (run.path / "steps").iterdir():
        assert "TOP-LEVEL PRINT" not in (step / "stdout").read_text()


BY_VALUE = '''
import dataclasses
import flowpack as fp


@dataclasses.dataclass
class Config:
    k: int


def make(cfg):
    @fp.op(name="scaled")
    def scaled(x: int) -> int:
        return x * cfg.k
    return scaled


scaled = make(Config(4))

namespace = {"fp": fp}
exec("@fp.op\\ndef from_exec(x: int) -> int:\\n    return x + 100\\n", namespace)
from_exec = namespace["from_exec"]


@fp.workflow
def by_value_wf(n: int = 2):
    return scaled(n), from_exec(n)
'''


def test_closures_and_exec_functions_travel_by_value(user_module, tmp_path):
    m = user_module(BY_VALUE)
    for op in (m.scaled, m.from_exec):
        assert "_fp_unpickle(" in op.script()
    assert run_checked(m.by_value_wf, tmp_path, n=3).result() == (12, 103)


ASYNC = '''
import asyncio
import flowpack as fp


@fp.op
async def slow_double(x: int) -> int:
    await asyncio.sleep(0.01)
    return 2 * x


@fp.op
async def gather(xs: list) -> list:
    async def one(v):
        await asyncio.sleep(0)
        return v + 1
    return list(await asyncio.gather(*(one(v) for v in xs)))


@fp.workflow
def async_wf2(n: int = 5):
    d = slow_double(n)
    return slow_double(d), gather([1, 2])
'''


def test_async_ops_run_as_steps(user_module, tmp_path):
    m = user_module(ASYNC)
    assert run_checked(m.async_wf2, tmp_path, n=5).result() == (20, [2, 3])


FAILING = '''
import sys
from pathlib import Path
import flowpack as fp


@fp.op
def add(a: int, b: int = 1) -> int:
    return a + b


@fp.op
def explode(a: int) -> int:
    print("diagnostic line on stderr", file=sys.stderr)
    raise ValueError("kaboom %d" % a)


@fp.op
def leave(code: int) -> int:
    sys.stderr.write("leaving with a code\\n")
    sys.exit(code)


@fp.op
def mark(v: int, marker: str) -> int:
    Path(marker).write_text("ran")
    return v


@fp.workflow
def failing(marker: str, n: int = 3):
    x = explode(n)
    y = mark(x, marker)
    return add(y)


@fp.workflow
def exiting():
    return leave(7)
'''


def test_a_failing_step_fails_the_run_with_name_exit_code_and_stderr(user_module, tmp_path):
    m = user_module(FAILING)
    marker = tmp_path / "dependent-ran"
    with pytest.raises(fp.StepFailed) as info:
        m.failing.run(run_dir=tmp_path / "runs", marker=str(marker))
    err = info.value
    assert isinstance(err, fp.RunError) and isinstance(err, fp.FlowpackError)
    text = str(err)
    assert "explode" in text
    assert "exit code 1" in text
    assert "kaboom 3" in text and "diagnostic line on stderr" in text
    assert err.failures and err.failures[0]["name"] == "explode" and err.failures[0]["exitCode"] == 1
    assert not marker.exists()  # dependents never ran
    steps = {s["name"]: s for s in err.run.steps.values()}
    assert steps["explode"]["phase"] == "Failed"
    for dependent in ("mark", "add"):
        assert steps.get(dependent, {}).get("phase") in (None, "Omitted"), dependent
    assert err.run.phase == "Failed"
    with pytest.raises(fp.StepFailed):
        err.run.result()

    with pytest.raises(fp.RunError) as info:
        m.exiting.run(run_dir=tmp_path / "runs")
    assert "leave" in str(info.value) and "exit code 7" in str(info.value)
    assert "leaving with a code" in str(info.value)
    assert info.value.failures[0]["exitCode"] == 7


RECORD = '''
import sys
import flowpack as fp


@fp.op
def talk(a: int, b: int = 1) -> int:
    print("out:", a)
    print("err:", b, file=sys.stderr)
    return a + b


@fp.workflow
def talker(n: int = 2):
    return talk(talk(n), b=5)
'''


def test_run_dir_keeps_scripts_inputs_outputs_logs_and_timings(user_module, tmp_path):
    m = user_module(RECORD)
    run = run_checked(m.talker, tmp_path, n=2)
    assert run.result() == 8
    assert run.path.parent == (tmp_path / "runs").absolute()
    assert json.loads((run.path / "manifest.json").read_text()) == run.manifest
    record = json.loads((run.path / "run.json").read_text())
    assert record["phase"] == "Succeeded"
    assert (run.path / "scripts" / "talk.py").read_text() == m.talk.script()
    assert set(run.steps) == {"talk", "talk-2"}
    for node, expected in (("talk", (2, 1, 3)), ("talk-2", (3, 5, 8))):
        a, b, out = expected
        step_dir = run.path / "steps" / node
        # stdout carries only the step's result (Argo's outputs.result); prints go to stderr, in the order made
        assert (step_dir / "stdout").read_text() == f"{out}\n"
        assert (step_dir / "stderr").read_text() == f"out: {a}\nerr: {b}\n"
        info = json.loads((step_dir / "step.json").read_text())
        assert info["phase"] == "Succeeded"
        assert info["inputs"]["parameters"] == {"a": str(a), "b": str(b)}
        assert info["outputs"]["parameters"] == {"return": str(out)}
        assert info["startedAt"] <= info["finishedAt"]
        s = run.steps[node]
        assert s["phase"] == "Succeeded" and s["exitCode"] == 0
        assert s["startedAt"] <= s["finishedAt"]
    assert run.steps["talk"]["finishedAt"] <= run.steps["talk-2"]["startedAt"]


def _poisoned_flowpack(tmp_path: Path) -> Path:
    """A folder whose `flowpack` package fails on import: put first on PYTHONPATH, it exposes any step importing it."""
    poison = tmp_path / "poison"
    (poison / "flowpack").mkdir(parents=True)
    (poison / "flowpack" / "__init__.py").write_text("raise ImportError('a step script imported flowpack')\n")
    return poison


def test_steps_never_import_flowpack(user_module, tmp_path, monkeypatch):
    pickles = user_module(PICKLES)
    by_value = user_module(BY_VALUE)
    ntuple = user_module(NAMEDTUPLE)
    for op in (pickles.make_point, pickles.untyped, by_value.scaled, by_value.from_exec, ntuple.stats):
        text = op.script()
        assert "import flowpack" not in text and "from flowpack" not in text
    poison = _poisoned_flowpack(tmp_path)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(poison), os.environ.get("PYTHONPATH")])))
    assert run_checked(by_value.by_value_wf, tmp_path, n=1).result() == (4, 101)
    assert run_checked(ntuple.uses_fields, tmp_path).result() == (112, "N=4")
    assert run_checked(pickles.pickles_wf, tmp_path, n=2).result()["sum"] == 1.0


def test_step_script_runs_by_hand_without_flowpack(user_module, tmp_path):
    m = user_module(PIPELINE)
    script = tmp_path / "by-hand" / "step.py"
    script.parent.mkdir()
    script.write_text(m.add.script())
    root = tmp_path / "root"
    cwd = tmp_path / "empty"
    params = root / "tmp/flowpack/params"
    params.mkdir(parents=True)
    cwd.mkdir()
    # each parameter's text goes in its own file, as Argo writes the op template's raw `param-<name>` artifacts
    (params / "a").write_text("40")
    (params / "b").write_text("2")
    env = {"PATH": os.environ.get("PATH", ""), "FLOWPACK_ROOT": str(root)}
    proc = subprocess.run([sys.executable, "-I", "-S", str(script)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    # the script ends the value with one newline, which the engine (like Argo) strips
    assert (root / "tmp/flowpack/outputs/parameters/return").read_text() == "42\n"
    assert os.listdir(cwd) == []
    # b has a default: leaving its file out uses it
    (params / "b").unlink()
    proc = subprocess.run([sys.executable, "-I", "-S", str(script)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert (root / "tmp/flowpack/outputs/parameters/return").read_text() == "41\n"


BRACES_IN_CODE = '''
import flowpack as fp

TEMPLATE = "{{inputs.parameters.s}} and {{workflow.name}}"


@fp.op
def braces(s: str) -> str:
    return TEMPLATE + "|" + s + "|" + "{{tasks.x.outputs.result}}"


@fp.workflow
def braces_wf(s: str = "v"):
    return braces(s)
'''


def test_step_code_containing_argo_braces_runs_unchanged(user_module, tmp_path):
    m = user_module(BRACES_IN_CODE)
    manifest = render_checked(m.braces_wf)
    assert "{{inputs.parameters.s}} and" not in template(manifest, "braces")["script"]["source"]
    got = run_checked(m.braces_wf, tmp_path, s="v").result()
    assert got == "{{inputs.parameters.s}} and {{workflow.name}}|v|{{tasks.x.outputs.result}}"
