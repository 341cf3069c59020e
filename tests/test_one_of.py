"""`fp.one_of(a, b)`: the output of whichever conditional branch ran, without a join step (issue 16 item 8), as
Argo's `valueFrom.expression` for a workflow output and a `{{=...}}` argument for a step; the same on the local
engine and on Argo's own controller."""

from __future__ import annotations

import pytest

import flowpack as fp
from both_engines import local_view, run_both
from helpers import dag_tasks, render_checked, template

OPS = '''
import flowpack as fp


@fp.op
def double(x: int) -> int:
    return 2 * x


@fp.op
def negate(x: int) -> int:
    return -x


@fp.op
def describe(v: int) -> str:
    return f"value {v}"


@fp.workflow
def returned(n: int):
    return fp.one_of(double(n, name="big").when(n > 9), negate(n, name="small").when(n <= 9))


@fp.workflow
def passed_on(n: int):
    chosen = fp.one_of(double(n, name="big").when(n > 9), negate(n, name="small").when(n <= 9))
    return describe(chosen, name="describe")


@fp.workflow
def neither(n: int):
    return fp.one_of(double(n, name="big").when(n > 9), negate(n, name="small").when(n > 99))


@fp.workflow
def neither_passed_on(n: int):
    describe(fp.one_of(double(n, name="big").when(n > 9), negate(n, name="small").when(n > 99)), name="describe")
'''

CASES = [
    ("returned", {"n": 3}, "Succeeded", {"return": "-3"}),
    ("returned", {"n": 12}, "Succeeded", {"return": "24"}),
    ("passed_on", {"n": 3}, "Succeeded", {"return": "value -3"}),
    ("passed_on", {"n": 12}, "Succeeded", {"return": "value 24"}),
    ("neither", {"n": 3}, "Error", {}),
    ("neither_passed_on", {"n": 3}, "Succeeded", {}),
]


def test_one_of_renders_as_one_expression(user_module):
    m = user_module(OPS)
    manifest = render_checked(m.returned, n=3)
    entry = template(manifest, manifest["spec"]["entrypoint"])
    [out] = entry["outputs"]["parameters"]
    assert out["valueFrom"] == {"expression": "tasks['big'].status == 'Succeeded' ? get(get(get(tasks['big'], "
                                              "'outputs'), 'parameters'), 'return') : "
                                              "tasks['small'].outputs.parameters['return']"}
    describe = dag_tasks(render_checked(m.passed_on, n=3))["describe"]
    assert describe["depends"] == "(big.Succeeded || small.Succeeded)"
    assert describe["arguments"]["parameters"][0]["value"].endswith("{{=" + out["valueFrom"]["expression"] + "}}")


@pytest.mark.parametrize("name, params, phase, outputs", CASES, ids=[f"{c[0]}-{c[1]['n']}" for c in CASES])
def test_one_of_locally_and_on_argos_controller(user_module, tmp_path, name, params, phase, outputs):
    m = user_module(OPS)
    local = run_both(getattr(m, name), params, tmp_path).local  # render_checked: Argo's validator accepts it
    assert local.phase == phase and local_view(local).outputs == outputs
    if name == "returned":
        assert local.result() == int(outputs["return"])


def test_one_of_refuses_what_it_cant_choose(user_module):
    m = user_module(OPS)

    @fp.workflow
    def one():
        return fp.one_of(m.double(1))

    with pytest.raises(fp.WorkflowBuildError, match="two or more"):
        one.render()

    @fp.workflow
    def mixed():
        return fp.one_of(m.double(1), m.describe(2))

    with pytest.raises(fp.WorkflowBuildError, match="of one kind"):
        mixed.render()

    @fp.workflow
    def mapped():
        return fp.one_of(m.double.map(x=[1]), m.double(2))

    with pytest.raises(fp.WorkflowBuildError, match="not a parameter output of a single step"):
        mapped.render()
