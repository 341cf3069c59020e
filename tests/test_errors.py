"""Bad input gives a clear FlowpackError at decoration or build time, naming the function and the fault."""

from __future__ import annotations

import pytest

import flowpack as fp
from helpers import render_checked

BASE = '''
from pathlib import Path
import flowpack as fp


@fp.op
def add(a: int, b: int = 1) -> int:
    return a + b


@fp.op
def make_file(s: str) -> Path:
    Path("f").write_text(s)
    return Path("f")


@fp.op
def side(x: int) -> None:
    pass
'''


@pytest.fixture
def mod(user_module):
    return user_module(BASE)


def test_lambdas_and_builtins_are_refused():
    with pytest.raises(fp.OpDefinitionError, match="lambda"):
        fp.op(lambda x: x)
    with pytest.raises(fp.OpDefinitionError, match="lambda"):
        fp.op(name="n")(lambda x: x)
    for builtin in (len, print, max):
        with pytest.raises(fp.OpDefinitionError, match="builtin") as info:
            fp.op(builtin)
        assert builtin.__name__ in str(info.value)
    with pytest.raises(fp.OpDefinitionError, match="lambda"):
        fp.workflow(lambda: None)
    with pytest.raises(fp.OpDefinitionError):
        fp.op(functools_partial())


def functools_partial():
    import functools

    return functools.partial(max, 1)


@pytest.mark.parametrize("source, star", [
    ("def f(a: int, *rest: int) -> int:\n    return a\n", "*rest"),
    ("def f(a: int, **options) -> int:\n    return a\n", "**options"),
])
def test_star_arguments_are_refused_naming_function_and_argument(user_module, source, star):
    with pytest.raises(fp.OpDefinitionError) as info:
        user_module("import flowpack as fp\n\n\n@fp.op\n" + source)
    assert "'f'" in str(info.value) and star in str(info.value)
    assert isinstance(info.value, fp.FlowpackError) and isinstance(info.value, TypeError)


def test_non_json_default_for_a_parameter_is_refused(user_module):
    with pytest.raises(fp.OpDefinitionError) as info:
        user_module('''
import flowpack as fp


@fp.op
def bad_default(n: int = object(), m: int = 2) -> int:
    return n
''')
    text = str(info.value)
    assert "bad-default" in text or "bad_default" in text
    assert "'n'" in text and "JSON" in text
    with pytest.raises(fp.OpDefinitionError, match="'x'"):
        user_module('''
import flowpack as fp


@fp.op
def nan_default(x: float = float("nan")) -> float:
    return x
''')


def test_non_json_default_is_fine_for_a_pickled_input(user_module, tmp_path):
    m = user_module('''
import flowpack as fp

SENTINEL = {1, 2}


@fp.op
def with_set(x=frozenset({1, 2})) -> int:
    return len(x)


@fp.workflow
def wf():
    return with_set()
''')
    render_checked(m.wf)


@pytest.mark.parametrize("call, fault", [
    ("add()", "missing a required argument: 'a'"),
    ("add(1, c=2)", "unexpected keyword argument 'c'"),
    ("add(1, 2, 3)", "too many positional arguments"),
    ("add(1, a=2)", "multiple values for argument 'a'"),
])
def test_wrong_arguments_in_an_op_call_fail_at_build_time(user_module, call, fault):
    m = user_module(BASE + f'''

@fp.workflow
def wf():
    return {call}
''')
    with pytest.raises(fp.WorkflowBuildError) as info:
        m.wf.render()
    text = str(info.value)
    assert "'add'" in text and fault in text
    assert "add(a: int, b: int = 1) -> int" in text  # the signature, to fix the call


def test_wrong_arguments_fail_before_any_step_runs(user_module, tmp_path):
    m = user_module(BASE + '''

@fp.workflow
def wf():
    x = add(1)
    return add(x, nope=1)
''')
    with pytest.raises(fp.WorkflowBuildError):
        m.wf.run(run_dir=tmp_path / "runs")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("step.json"))


def test_two_different_ops_with_the_same_name_in_one_workflow(user_module):
    one = user_module(BASE)
    two = user_module(BASE)
    assert one.add is not two.add

    @fp.workflow
    def wf():
        return one.add(1), two.add(2)

    with pytest.raises(fp.WorkflowBuildError) as info:
        wf.render()
    assert "'add'" in str(info.value) and "name=" in str(info.value)

    renamed = user_module('''
import flowpack as fp


@fp.op(name="add")
def something_else(a: int) -> int:
    return a
''')

    @fp.workflow
    def wf2():
        return one.add(1), renamed.something_else(2)

    with pytest.raises(fp.WorkflowBuildError, match="'add'"):
        wf2.render()


def test_the_same_op_from_the_same_module_twice_is_fine(mod):
    @fp.workflow
    def wf():
        return mod.add(mod.add(1))

    render_checked(wf)


UNDEFINED = '''
import flowpack as fp


def helper(v):
    return v + MISSING_CONSTANT


@fp.op
def uses_helper(x: int) -> int:
    return helper(x)


@fp.op
def direct(x: int) -> int:
    y = x * 2
    return y + also_missing(y)


@fp.workflow
def wf_direct(n: int = 1):
    return direct(n)


@fp.workflow
def wf_helper(n: int = 1):
    return uses_helper(n)
'''


def _line_of(module, text: str) -> int:
    from pathlib import Path

    lines = Path(module.__file__).read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


@pytest.mark.parametrize("wf, op, name, marker", [
    ("wf_direct", "direct", "also_missing", "also_missing(y)"),
    ("wf_helper", "uses-helper", "MISSING_CONSTANT", "v + MISSING_CONSTANT"),
])
def test_undefined_names_fail_before_render_or_run(user_module, tmp_path, wf, op, name, marker):
    m = user_module(UNDEFINED)
    with pytest.raises(fp.ScriptError) as info:
        getattr(m, wf).render()
    text = str(info.value)
    assert f"'{op}'" in text and f"'{name}'" in text
    assert f":{_line_of(m, marker)}" in text  # the line in the user's file
    with pytest.raises(fp.ScriptError):
        getattr(m, wf).to_yaml()
    with pytest.raises(fp.ScriptError):
        getattr(m, wf).run(run_dir=tmp_path / "runs")
    assert not any((tmp_path / "runs").rglob("step.json")) if (tmp_path / "runs").exists() else True


def test_a_handle_used_outside_a_workflow(mod):
    leaked = {}

    @fp.workflow
    def wf(n: int = 1):
        h = mod.add(n)
        leaked["h"] = h
        leaked["param"] = n
        return h

    render_checked(wf)
    with pytest.raises(fp.WorkflowBuildError) as info:
        mod.add(leaked["h"], 1)
    assert "'add'" in str(info.value) and "outside a workflow" in str(info.value)
    with pytest.raises(fp.WorkflowBuildError):
        mod.add(a=leaked["param"])
    with pytest.raises(fp.WorkflowBuildError):
        mod.add(1, b=leaked["h"])


def test_handles_refuse_python_control_flow(mod):
    @fp.workflow
    def branching(n: int = 1):
        x = mod.add(n)
        if x:
            return x
        return mod.add(x)

    with pytest.raises(fp.WorkflowBuildError):
        branching.render()

    @fp.workflow
    def looping(n: int = 1):
        return [mod.add(v) for v in mod.add(n)]

    with pytest.raises(fp.WorkflowBuildError):
        looping.render()


def test_mismatched_kinds_and_values_are_refused(mod, tmp_path):
    @fp.workflow
    def path_into_int():
        return mod.add(mod.make_file("x"))

    with pytest.raises(fp.WorkflowBuildError, match="'a'"):
        path_into_int.render()

    @fp.workflow
    def object_into_param():
        return mod.add(object())

    with pytest.raises(fp.WorkflowBuildError, match="JSON"):
        object_into_param.render()

    @fp.workflow
    def no_output_passed():
        return mod.add(mod.side(1))

    with pytest.raises(fp.WorkflowBuildError, match="side"):
        no_output_passed.render()

    @fp.workflow
    def returns_a_value():
        mod.add(1)
        return 5

    with pytest.raises(fp.WorkflowBuildError, match="return"):
        returns_a_value.render()

    @fp.workflow
    def after_a_value():
        return mod.add(1).after(3)

    with pytest.raises(fp.WorkflowBuildError, match="after"):
        after_a_value.render()


def test_workflow_parameters_are_checked(mod):
    @fp.workflow
    def wf(n: int):
        return mod.add(n)

    with pytest.raises(fp.WorkflowBuildError, match="'n'"):
        wf.render()
    with pytest.raises(fp.WorkflowBuildError, match="wf"):
        wf.render(n=1, m=2)
    with pytest.raises(fp.OpDefinitionError, match="run_dir"):
        @fp.workflow
        def clash(run_dir: str = "x"):
            return mod.add(1)


def test_errors_form_one_hierarchy():
    for cls in (fp.OpDefinitionError, fp.WorkflowBuildError, fp.ScriptError, fp.ManifestError, fp.RunError,
                fp.StepFailed):
        assert issubclass(cls, fp.FlowpackError)
    assert issubclass(fp.StepFailed, fp.RunError)
