"""`fp.sequence(n)` (issue 16 item 5, second half): a map over numbers renders as Argo's `withSequence`, over a
literal count, a range, or a count known only at run time; the same on the local engine and Argo's controller."""

from __future__ import annotations

import pytest

import flowpack as fp
from both_engines import run_both
from helpers import dag_tasks, render_checked

OPS = '''
import flowpack as fp


@fp.op
def square(x: int) -> int:
    return x * x


@fp.op
def count(n: int) -> int:
    return n


@fp.op
def total(xs: list) -> int:
    return sum(xs)


@fp.workflow
def literal():
    return total(square.map(x=fp.sequence(4)))


@fp.workflow
def ranged():
    return total(square.map(x=fp.sequence(start=3, end=1)))


@fp.workflow
def runtime(n: int):
    return total(square.map(x=fp.sequence(count(n))))


@fp.workflow
def none_at_all():
    return total(square.map(x=fp.sequence(0)))


@fp.workflow
def from_param(n: int):
    return total(square.map(x=fp.sequence(n)))
'''

CASES = [("literal", {}, 14), ("ranged", {}, 14), ("runtime", {"n": 3}, 5), ("runtime", {"n": 0}, 0),
         ("from_param", {"n": 2}, 1), ("none_at_all", {}, 0)]


def test_sequence_renders_with_sequence(user_module):
    m = user_module(OPS)
    assert dag_tasks(render_checked(m.literal))["square"]["withSequence"] == {"count": "4"}
    assert dag_tasks(render_checked(m.ranged))["square"]["withSequence"] == {"start": "3", "end": "1"}
    manifest = render_checked(m.runtime, n=3)
    # a run-time count may be 0: the map runs in a DAG whose output defaults to []
    outer = dag_tasks(manifest)["square"]
    assert outer["arguments"]["parameters"] == [{"name": "p0", "value": "{{tasks.count.outputs.result}}"}]
    inner = next(t for t in manifest["spec"]["templates"] if t["name"] == outer["template"])
    assert inner["dag"]["tasks"][0]["withSequence"] == {"count": "{{inputs.parameters.p0}}"}


@pytest.mark.parametrize("name, params, result", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_sequence_locally_and_on_argos_controller(user_module, tmp_path, name, params, result):
    m = user_module(OPS)
    local = run_both(getattr(m, name), params, tmp_path).local  # render_checked: Argo's validator accepts it
    assert local.phase == "Succeeded" and local.result() == result


def test_sequence_refuses_bad_bounds(user_module):
    m = user_module(OPS)
    for args, kwargs, match in [((), {}, "takes a count"), ((3,), {"end": 4}, "takes a count"),
                                ((-1,), {}, "whole number >= 0"), ((1.5,), {}, "whole number"),
                                ((True,), {}, "whole number")]:
        with pytest.raises(fp.WorkflowBuildError, match=match):
            fp.sequence(*args, **kwargs)

    @fp.workflow
    def zipped():
        return m.total(m.square.map(x=fp.sequence(2), y=[1, 2]))

    with pytest.raises(fp.WorkflowBuildError):
        zipped.render()

    @fp.workflow
    def listed():
        return m.total(m.square.map(x=fp.sequence(m.total([1]))))

    listed.render()  # an int output is a fine count

    @fp.workflow
    def from_list():
        return m.total(m.square.map(x=fp.sequence(m.square.map(x=[1]))))

    with pytest.raises(fp.WorkflowBuildError, match="run-time bound must be an int"):
        from_list.render()
