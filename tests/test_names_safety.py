"""No name of the user's code can break a step script: any identifier as an op, parameter, helper, class, constant or
import name runs and returns the right value; flowpack's reserved `_fp_` prefix is refused with a clear error."""

from __future__ import annotations

import builtins
import dis
import keyword
import subprocess
import sys
import tempfile
import textwrap
import types
import unicodedata
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import flowpack as fp
from flowpack._code_names import MODULE_DUNDERS
from helpers import run_checked, write_module

# Names the old runner used for itself, builtins it called, modules it imported, soft keywords and the like.
TRICKY = sorted({
    "f", "open", "load", "data", "result", "path", "text", "name", "kind", "value", "values", "outputs", "src", "dest",
    "root", "io", "kwargs", "json", "os", "pathlib", "shutil", "pickle", "asyncio", "base64", "hashlib", "re", "sys",
    "unicodedata", "builtins", "cloudpickle", "importlib", "spec", "b", "marker", "tags", "prefixes", "unsafe",
    "astral", "compact", "fit", "parameter", "from_text", "loads", "namespace", "is_main", "func", "func_name",
    "Hashing", "contained_copy", "read", "write_text", "protected", "unmarked", "marked", "needs_marker", "as_text",
    "result_fd", "field", "pickler", "carried", "out", "main", "globals", "exec", "compile", "getattr", "isinstance",
    "repr", "len", "print", "tuple", "str", "dict", "list", "int", "type", "object", "ValueError", "TypeError",
    "ImportError", "FileNotFoundError", "SystemExit", "__import__", "match", "case", "_", "__", "self", "cls",
    "True_", "None_", "async_", "await_", "annotations", "__future__", "__init__", "__class__", "__main__",
})
RESERVED_HERE = {"fp", "_bi", "n", "pipeline", "x", "v"}  # the test module's own names


def usable(name: str) -> bool:
    return (name.isidentifier() and not keyword.iskeyword(name) and unicodedata.normalize("NFKC", name) == name
            and name not in MODULE_DUNDERS
            and not name.lower().startswith("_fp_") and name not in RESERVED_HERE)


identifiers = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True).filter(usable)
names = st.sampled_from([n for n in TRICKY if usable(n)]) | identifiers
# Any Python identifier for functions, classes and constants; Argo parameter names are ASCII.
any_identifiers = st.text(st.characters(categories=["Lu", "Ll", "Lo"]), min_size=1, max_size=6).filter(usable)

_WORK = Path(tempfile.mkdtemp(prefix="fp-names-"))

SOURCE = '''
import builtins as _bi
import flowpack as fp
import json as {IMP}

{CONST} = 5


class {CLS}:
    def __init__(self, v):
        self.v = v


def {HELPER}(x):
    return {CLS}(x + {CONST}).v


@fp.op
def {OP}({P}: _bi.int, {Q}: _bi.str = "s") -> _bi.int:
    return {HELPER}({P}) + {IMP}.dumps({Q}).__len__()


@fp.op
def {OP2}({Q}: _bi.int) -> {CLS}:
    return {CLS}({Q} * 2)


@fp.workflow
def pipeline(n: _bi.int = 2):
    return {OP2}({OP}(n))
'''


def run_names(op, op2, p, q, helper, cls, const, imp, n=3):
    source = SOURCE.format(OP=op, OP2=op2, P=p, Q=q, HELPER=helper, CLS=cls, CONST=const, IMP=imp)
    module = write_module(_WORK / "src", source)
    try:
        run = run_checked(module.pipeline, _WORK / uuid.uuid4().hex[:8], n=n)
        value = run.result()
        assert type(value).__name__ == cls and type(value) is vars(module)[cls]
        assert value.v == 2 * (n + 5 + 3)
    finally:
        sys.modules.pop(module.__name__, None)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@example(("open", "load", "f", "kwargs", "json", "io", "len", "pickle"))
@example(("_fp", "result", "data", "value", "outputs", "Hashing", "spec", "os"))
@example(("globals", "exec", "text", "name", "compile", "getattr", "isinstance", "b"))
@example(("match", "case", "type", "_", "str", "dict", "print", "namespace"))
@example(("FileNotFoundError", "Hashing", "ImportError", "SystemExit", "True_", "__class__", "A", "None_"))
@given(st.lists(names, min_size=8, max_size=8, unique=True).map(tuple))
def test_any_names_run_and_return_the_right_value(picked):
    op, op2, p, q, helper, cls, const, imp = picked
    run_names(op, op2, p, q, helper, cls, const, imp)


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(any_identifiers, min_size=5, max_size=5, unique=True), st.lists(identifiers, min_size=3, max_size=3,
                                                                                   unique=True))
def test_unicode_function_class_and_constant_names_run(uni, ascii_names):
    op, op2, helper, cls, const = uni
    p, q, imp = ascii_names
    if {p, q, imp} & set(uni):
        return
    run_names(op, op2, p, q, helper, cls, const, imp)


GZIP_OPEN = '''
import flowpack as fp
from gzip import open
from re import compile
from pickle import loads as json
exec = "not the builtin"


@fp.op
def write(path: str = "x") -> str:
    assert open.__module__ == "gzip" and compile.__module__ == "re" and exec == "not the builtin"
    return path + "!"


@fp.op
def read(path: str) -> str:
    return path + "?"


@fp.workflow
def pipeline():
    return read(write())
'''


def test_module_level_imports_shadowing_builtins_leave_the_runner_alone(tmp_path, user_module):
    module = user_module(GZIP_OPEN)
    assert run_checked(module.pipeline, tmp_path).result() == "x!?"


def test_a_project_module_loads_beside_an_op_module_that_binds_compile_and_exec(tmp_path):
    """The import hook for project modules compiles their source: a user's `from re import compile` can't reach it."""
    src = tmp_path / "proj"
    src.mkdir()
    helpers_name = f"fphelpers_{uuid.uuid4().hex[:8]}"
    (src / f"{helpers_name}.py").write_text("def clean(s):\n    return s.strip()\n")
    module = write_module(src, f'''
        import flowpack as fp
        from re import compile
        exec = 1
        from {helpers_name} import clean


        @fp.op
        def tidy(s: str) -> str:
            return clean(s) + str(compile("a").pattern) + str(exec)


        @fp.workflow
        def pipeline(s: str = "  x  "):
            return tidy(s)
        ''')
    try:
        assert run_checked(module.pipeline, tmp_path).result() == "xa1"
        assert "_fp_Embedded" in module.tidy.script()
    finally:
        sys.modules.pop(module.__name__, None)
        sys.modules.pop(helpers_name, None)


# ---------------------------------------------------------------------------------------------------- reserved


@pytest.mark.parametrize("source, what", [
    ("@fp.op\ndef _fp_main(x: int) -> int:\n    return x\n", "'_fp_main'"),
    ("_fp_json = 1\n@fp.op\ndef g(x: int) -> int:\n    return x + _fp_json\n", "'_fp_json'"),
    ("@fp.op\ndef _FP_SPEC(x: int) -> int:\n    return x\n", "'_FP_SPEC'"),
    ("@fp.op\ndef __name__(x: int) -> int:\n    return x\n", "'__name__'"),
])
def test_reserved_names_are_refused_at_decoration(user_module, source, what):
    with pytest.raises(fp.OpDefinitionError, match=what) as info:
        user_module("import flowpack as fp\n" + source)
    assert "Rename" in str(info.value)


def test_a_helper_named_with_the_reserved_prefix_is_refused_when_the_script_renders(user_module):
    module = user_module('''
        import flowpack as fp


        def helper(x):
            return _Fp_helper(x)


        def _Fp_helper(x):
            return x


        @fp.op
        def g(x: int) -> int:
            return helper(x)
        ''')
    with pytest.raises(fp.FlowpackError, match="'_Fp_helper'.*reserved|'_Fp_helper' begins with"):
        module.g.script()


def test_the_runner_reads_no_global_after_the_ops_code_has_run(user_module):
    """Structural: every function inside the runner reaches modules and builtins through its own locals."""
    module = user_module('''
        import flowpack as fp


        @fp.op
        def g(x: int, y: "object" = None) -> list:
            return [x]
        ''')
    code = compile(module.g.script(), "step.py", "exec")
    runner = next(c for c in code.co_consts if isinstance(c, types.CodeType) and c.co_name == "_fp_runner")
    stack = [c for c in runner.co_consts if isinstance(c, types.CodeType)]
    checked = 0
    while stack:
        c = stack.pop()
        stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
        loads = {i.argval for i in dis.get_instructions(c) if i.opname in ("LOAD_GLOBAL", "LOAD_NAME")}
        if c.co_name == "Hashing":  # a class body records its module's name, which user code can't rebind
            loads -= {"__name__"}
        assert not loads, f"{c.co_name} reads globals {loads}"
        checked += 1
    assert checked > 10


# ---------------------------------------------------------------------------------------------------- by value


def _by_value_op(tmp_path, body: str):
    """An op whose source can't be read: defined by exec, as in `python -c` or a REPL."""
    ns = {"__name__": f"fp_exec_{uuid.uuid4().hex[:6]}", "fp": fp}
    exec(compile(textwrap.dedent(body), "<exec>", "exec"), ns)
    return ns


def test_by_value_function_with_an_undefined_name_is_a_clear_script_error(tmp_path):
    ns = _by_value_op(tmp_path, '''
        def outer(x: int) -> int:
            def inner():
                return [undefined_thing for _ in range(x)]
            return len(inner())
        g = fp.op(outer)
    ''')
    with pytest.raises(fp.ScriptError, match="'undefined_thing'.*outer.*can't be read"):
        ns["g"].script()


def test_by_value_function_with_its_names_defined_renders_and_runs(tmp_path):
    ns = _by_value_op(tmp_path, '''
        import math
        BASE = 2
        class K:
            scale = 3
            doubled = scale * 2
        def outer(x: int) -> int:
            global LATER
            LATER = 1
            return int(math.sqrt(x)) * BASE * K.doubled + LATER
        g = fp.op(outer)
        @fp.workflow
        def pipeline(x: int = 16) -> int:
            return g(x)
    ''')
    assert "_fp_unpickle(" in ns["g"].script()
    assert run_checked(ns["pipeline"], tmp_path).result() == 4 * 2 * 6 + 1


def test_python_dash_c_op_with_an_undefined_name_fails_before_running(tmp_path):
    code = textwrap.dedent('''
        import flowpack as fp
        def g(x: int) -> int:
            return x + not_defined_anywhere
        try:
            fp.op(g).script()
        except fp.ScriptError as exc:
            print("ScriptError:", exc)
    ''')
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert "ScriptError:" in out.stdout and "'not_defined_anywhere'" in out.stdout, out.stdout + out.stderr


def test_builtins_and_dunders_are_not_undefined_names(tmp_path):
    ns = _by_value_op(tmp_path, '''
        def outer(x: int) -> str:
            return __name__ + str(len([x]))
        g = fp.op(outer)
    ''')
    assert ns["g"].script()
    assert builtins.len is len
