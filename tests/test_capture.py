"""Tests for flowpack._capture: pieces are checked by assembling them into real scripts and running them."""

from __future__ import annotations

import base64
import importlib.util
import json
import linecache
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cloudpickle
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowpack._capture import Captured, _literal, capture, undefined_names
from flowpack._errors import ScriptError

MAIN_FIXTURE = '''
from __future__ import annotations

import os, sys
from os.path import join, exists, basename
import functools
from typing import TYPE_CHECKING
from pathlib import Path
if TYPE_CHECKING:
    from decimal import Decimal
try:
    import not_installed_fast_json as fastjson
except ImportError:
    import json as fastjson

with open(os.environ["FP_SIDE"], "a") as fh:
    fh.write("imported\\n")
print("SIDE EFFECT AT IMPORT")

SETTINGS = {"scale": 3, "tags": ("a", "b"), "ids": {1, 2}, "frozen": frozenset({1}), "none": None, "b": b"x"}
UNUSED = 5
OFFSET = 100


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y


ORIGIN = Point(7, 0)


def _square(v):
    return v * v


def norm(p):
    return _square(p.x) + _square(p.y)


class Scaler:
    factor = SETTINGS["scale"]

    def apply(self, v):
        return v * self.factor


@functools.lru_cache(maxsize=None)
def cached_double(v):
    return 2 * v


def fake_op(**kw):
    def deco(f):
        return f
    return deco


def tag(f):
    return f


tag.__module__ = "flowpack._op"


class Op:
    __flowpack_op__ = True

    def __init__(self, func):
        self.func = func

    def __call__(self, *args, **kwargs):
        return self.func(*args, **kwargs)


Op.__module__ = "flowpack._op"


def op(f):
    return Op(f)


op.__module__ = "flowpack._op"


@tag
def tagged_helper(v):
    return v + 1


@fake_op(
    image="python:3.11",
    retries=2,
)
def compute(a: int, b: "Decimal" = 2, c: Path | None = None, d: Unknown = None) -> dict:
    p = Point(a, b)
    names = [basename(join("x", str(i))) for i in range(2)]
    return {
        "norm": norm(p),
        "scaled": Scaler().apply(a),
        "origin": ORIGIN.x,
        "names": names,
        "tags": SETTINGS["tags"],
        "cached": cached_double(a),
        "json": fastjson.dumps([1]),
        "sep": os.sep,
        "tagged": tagged_helper(a),
        "nested": (lambda q: [OFFSET + z for z in range(q)])(2),
    }


@op
def prep(x):
    return _square(x) + 1


@op
def step(x):
    return prep(x) * 2


async def acompute(x):
    import asyncio
    await asyncio.sleep(0)
    return x + OFFSET


def make_adder(n):
    def add(x):
        return x + n + OFFSET
    return add


add5 = make_adder(5)


def make_point_getter():
    p = Point(1, 2)

    def get(x):
        return x + p.x + p.y + _square(2)
    return get


get_point = make_point_getter()
'''

BAD_FIXTURE = '''
import os


def train(x):
    y = x + 1
    return lr_schedule(y) + os.getpid()
'''


@pytest.fixture()
def load(tmp_path, monkeypatch):
    """Import a fixture module from a file in tmp_path (registered in sys.modules only for the test)."""
    side = tmp_path / "side-effect-at-capture.txt"
    monkeypatch.setenv("FP_SIDE", str(side))
    names = []

    def _load(source: str, name: str):
        src_dir = tmp_path / "src"
        src_dir.mkdir(exist_ok=True)
        path = src_dir / f"{name}.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        names.append(name)
        spec.loader.exec_module(module)
        return module

    yield _load
    for name in names:
        sys.modules.pop(name, None)


def assemble(cap: Captured, call: str) -> str:
    """Build a step script from the pieces the way the lead's template does, ending with `call`."""
    parts = ["from __future__ import annotations", *cap.imports]
    if cap.needs_cloudpickle:
        parts += ["import base64 as _b64", "import cloudpickle as _cp"]
    for c in cap.constants:
        if c.literal is not None:
            parts.append(f"{c.name} = {c.literal}")
        else:
            parts.append(f"{c.name} = _cp.loads(_b64.b64decode({c.pickled_b64!r}))")
    parts += [*cap.helpers, cap.function_source, call]
    return "\n".join(parts) + "\n"


def run_script(tmp_path: Path, script: str) -> subprocess.CompletedProcess:
    """Run `script` from an empty cwd, in a directory holding nothing else, with FP_SIDE pointing next to it."""
    run_dir, empty = tmp_path / "run", tmp_path / "empty"
    run_dir.mkdir(exist_ok=True)
    empty.mkdir(exist_ok=True)
    path = run_dir / "step.py"
    path.write_text(script)
    env = dict(os.environ, FP_SIDE=str(run_dir / "side-effect-in-script.txt"))
    result = subprocess.run([sys.executable, str(path)], cwd=empty, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"script failed:\n{script}\n--- stderr ---\n{result.stderr}"
    assert "SIDE EFFECT" not in result.stdout
    assert not (run_dir / "side-effect-in-script.txt").exists()
    assert list(empty.iterdir()) == []
    return result


def by_value_script(cap: Captured, call_args: str) -> str:
    return (
        "import base64, cloudpickle\n"
        f"fn = cloudpickle.loads(base64.b64decode({cap.pickled_b64!r}))\n"
        f"print(repr(fn({call_args})))\n"
    )


# ------------------------------------------------------------------------------------------------ source capture


def test_compute_pieces_and_script_runs(load, tmp_path):
    mod = load(MAIN_FIXTURE, "fp_fix_main")
    cap = capture(mod.compute, "compute")
    assert cap.name == "compute" and cap.pickled_b64 is None and not cap.is_async
    assert cap.python == tuple(sys.version_info[:2])
    # Imports are the user's own statements, reduced to the aliases used.
    assert "from os.path import join" in cap.imports
    assert "from os.path import basename" in cap.imports
    assert not any("exists" in i for i in cap.imports)
    assert "import os" in cap.imports and "import sys" not in cap.imports
    assert "import json as fastjson" in cap.imports  # the try/except branch that really resolves
    assert "import functools" in cap.imports  # needed by a kept helper decorator
    assert "from pathlib import Path" in cap.imports  # annotation-only, resolves: included
    assert not any("Decimal" in i or "Unknown" in i for i in cap.imports)  # annotation-only, unresolved: skipped
    assert {"os", "functools", "json", "pathlib"} <= set(cap.modules)
    # Decorators of the op are gone (multi-line one included), helper decorators kept unless flowpack's.
    assert cap.function_source.startswith("def compute(")
    assert "fake_op" not in cap.function_source and "retries" not in cap.function_source
    helpers = "\n".join(cap.helpers)
    assert "@functools.lru_cache(maxsize=None)" in helpers
    assert "@tag" not in helpers and "def tagged_helper" in helpers
    # Transitive helpers, each once, dependencies first.
    names = [h.split("(")[0].split()[-1] for h in cap.helpers if h.startswith(("def ", "class ", "@"))]
    assert names.count("_square") == 1
    assert names.index("_square") < names.index("norm")
    assert "class Point" in helpers and "class Scaler" in helpers
    # Constants: literal dict vs pickled instance.
    consts = {c.name: c for c in cap.constants}
    assert consts["SETTINGS"].literal is not None and consts["SETTINGS"].pickled_b64 is None
    assert eval(consts["SETTINGS"].literal) == mod.SETTINGS
    assert consts["ORIGIN"].literal is None and consts["ORIGIN"].pickled_b64
    assert cap.needs_cloudpickle
    assert "UNUSED" not in consts and "OFFSET" in consts
    # No top-level code of the module in any piece.
    script = assemble(cap, "import json as _j\nprint(_j.dumps(compute(3, 4)))")
    assert "SIDE EFFECT" not in script and "FP_SIDE" not in script and "UNUSED" not in script
    assert undefined_names(script) == []
    result = run_script(tmp_path, script)
    assert json.loads(result.stdout) == json.loads(json.dumps(mod.compute(3, 4)))


def test_op_helper_is_plain_function_without_decorators(load, tmp_path):
    mod = load(MAIN_FIXTURE, "fp_fix_ops")
    cap = capture(mod.step, "step")
    assert cap.name == "step" and cap.function_source.startswith("def step(")
    helpers = "\n".join(cap.helpers)
    assert "def prep(" in helpers and "@op" not in helpers and "class Op" not in helpers
    assert not cap.needs_cloudpickle
    result = run_script(tmp_path, assemble(cap, "print(step(3))"))
    assert result.stdout.strip() == "20"


def test_async_function(load, tmp_path):
    mod = load(MAIN_FIXTURE, "fp_fix_async")
    cap = capture(mod.acompute, "acompute")
    assert cap.is_async and cap.function_source.startswith("async def acompute(")
    result = run_script(tmp_path, assemble(cap, "import asyncio as _a\nprint(_a.run(acompute(1)))"))
    assert result.stdout.strip() == "101"


def test_undefined_name_names_op_name_and_user_line(load):
    mod = load(BAD_FIXTURE, "fp_fix_bad")
    with pytest.raises(ScriptError) as info:
        capture(mod.train, "train")
    message = str(info.value)
    assert "op 'train'" in message and "'lr_schedule'" in message
    assert "fp_fix_bad.py:7" in message
    assert "Define or import it at module level" in message


def test_closure_over_literal_is_captured_by_source(load, tmp_path):
    mod = load(MAIN_FIXTURE, "fp_fix_closure")
    cap = capture(mod.add5, "add5")
    assert cap.pickled_b64 is None and cap.name == "add"
    assert cap.function_source.startswith("def add(x):")  # dedented
    assert {c.name: c.literal for c in cap.constants} == {"n": "5", "OFFSET": "100"}
    result = run_script(tmp_path, assemble(cap, "print(add(1))"))
    assert result.stdout.strip() == "106"


def test_closure_over_object_goes_by_value(load, tmp_path):
    mod = load(MAIN_FIXTURE, "fp_fix_byvalue")
    cap = capture(mod.get_point, "get_point")
    assert cap.pickled_b64 and cap.needs_cloudpickle
    assert cap.imports == () and cap.constants == () and cap.helpers == () and cap.function_source == ""
    assert "fp_fix_byvalue" not in cap.modules  # the user's module travels by value, not by import
    # The fixture module is not importable in the subprocess: loading must not need it.
    result = run_script(tmp_path, by_value_script(cap, "1"))
    assert result.stdout.strip() == "8"


def test_exec_function_goes_by_value(tmp_path):
    namespace: dict = {}
    exec("import json\ndef dbl(x):\n    return json.loads(json.dumps(x)) * 2\n", namespace)
    cap = capture(namespace["dbl"], "dbl")
    assert cap.pickled_b64 and cap.function_source == "" and cap.name == "dbl"
    assert {"json", "cloudpickle"} <= set(cap.modules)  # what unpickling imports, for package discovery
    assert cloudpickle.loads(base64.b64decode(cap.pickled_b64))(4) == 8
    assert run_script(tmp_path, by_value_script(cap, "21")).stdout.strip() == "42"


def test_notebook_cell_source_in_linecache(tmp_path):
    """Functions and classes of a Jupyter-like __main__ whose source lives only in linecache are captured."""
    cell = textwrap.dedent('''
        import math
        SCALE = 2

        class Box:
            def __init__(self, v):
                self.v = v

        def helper(v):
            return math.sqrt(v) * SCALE

        def cell_fn(v):
            return helper(Box(v).v) + 1
    ''')
    filename = str(tmp_path / "ipykernel_0" / "cell1.py")  # never written to disk, like IPython's cells
    linecache.cache[filename] = (len(cell), None, cell.splitlines(keepends=True), filename)
    try:
        namespace = {"__name__": "__main__"}
        exec(compile(cell, filename, "exec"), namespace)
        cap = capture(namespace["cell_fn"], "cell_fn")
    finally:
        linecache.cache.pop(filename, None)
    assert cap.pickled_b64 is None
    assert "import math" in cap.imports
    assert any(h.startswith("class Box") for h in cap.helpers)
    assert run_script(tmp_path, assemble(cap, "print(cell_fn(16))")).stdout.strip() == "9.0"


# ------------------------------------------------------------------------------------------------ literals


_scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
            | st.binary())
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.lists(inner, max_size=4).map(tuple)
    | st.dictionaries(_scalars, inner, max_size=4)
    | st.frozensets(st.integers() | st.text(), max_size=4)
    | st.sets(st.integers() | st.text(), max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(_values)
def test_literal_round_trips(value):
    literal = _literal(value)
    assert literal is not None
    again = eval(literal, {})
    assert again == value and type(again) is type(value)


def test_literal_refuses_non_plain_values():
    class Thing:
        pass

    assert _literal(Thing()) is None
    assert _literal(float("nan")) is None
    assert _literal({"a": [1, Thing()]}) is None
    cyclic: list = []
    cyclic.append(cyclic)
    assert _literal(cyclic) is None


# ------------------------------------------------------------------------------------------------ undefined_names


def test_undefined_names_reports_reads_with_lines():
    script = textwrap.dedent('''\
        from __future__ import annotations
        import os

        def f(x: Foo) -> Bar:
            return os.sep + missing_one

        class K:
            y = other
    ''')
    assert undefined_names(script) == [("missing_one", 5), ("other", 8)]


def test_undefined_names_scoping():
    script = textwrap.dedent('''\
        from __future__ import annotations
        import json as j

        def setter():
            global counter
            counter = 1

        def reader(items):
            def inner():
                return items
            total = [v * 2 for v in items]
            return counter, inner, total, len(total), j, (lambda q: q)(1), __name__

        class A:
            pass

        class B(A):
            attr: Missing = 1
    ''')
    assert undefined_names(script) == []


def test_undefined_names_without_future_annotations_counts_annotations():
    assert undefined_names("def f(x: Foo):\n    return x\n") == [("Foo", 1)]


MISC_FIXTURE = '''
import os.path
import json as _json

CALLS = 0


def _base(v):
    return v + 1


alias = _base


def fact(n):
    global CALLS
    CALLS += 1
    return 1 if n <= 1 else n * fact(n - 1)


def misc(n):
    return fact(n) + alias(0) + len(os.path.sep) + CALLS + len(_json.dumps(n))
'''


def test_recursion_alias_global_and_dotted_import(load, tmp_path):
    mod = load(MISC_FIXTURE, "fp_fix_misc")
    cap = capture(mod.misc, "misc")
    assert "import os.path" in cap.imports and "import json as _json" in cap.imports
    assert "alias = _base\n" in cap.helpers
    assert [c.name for c in cap.constants] == ["CALLS"]
    script = assemble(cap, "print(misc(4))")
    assert undefined_names(script) == []
    # fact(4) = 24 (CALLS becomes 4 during the call), alias(0) = 1, len("/") = 1, len("4") = 1
    assert run_script(tmp_path, script).stdout.strip() == str(24 + 1 + 1 + 4 + 1)
