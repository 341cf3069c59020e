"""A condition per item (issue 16.6): `op.map(x=xs).when(fp.item > 2)` runs the items whose condition holds and
skips the others, each on its own, as Argo evaluates a loop task's `when` per item. Each case runs on the local
engine and on Argo's own controller (the harness), which must end the same way (workflow phase, node phases,
outputs)."""

from __future__ import annotations

import pytest

import flowpack as fp
from both_engines import run_both
from helpers import dag_tasks, render_checked, template

OPS = '''
import flowpack as fp


@fp.op
def sq(x: int) -> int:
    return x * x


@fp.op
def nums(n: int) -> list:
    return list(range(n))


@fp.op
def total(xs: list) -> int:
    return sum(xs)


@fp.op
def say(w: str) -> str:
    return w


@fp.op
def pair(a: int, b: str) -> str:
    return f"{a}{b}"


@fp.workflow
def above_two():
    return total(sq.map(x=[1, 2, 3, 4]).when(fp.item > 2))


@fp.workflow
def none_run():
    return total(sq.map(x=[1, 2]).when(fp.item > 5))


@fp.workflow
def run_time(n: int = 5):
    return total(sq.map(x=nums(n)).when((fp.item >= 1) & (fp.item != 3)))


@fp.workflow
def texts():
    return say.map(w=["a", "b", "c d"]).when(fp.item != "b")


@fp.workflow
def zipped():
    return pair.map(a=[1, 2, 3], b=["x", "y", "z"]).when(fp.item.b != "y")


@fp.workflow
def both(n: int = 3):
    return total(sq.map(x=[1, 2, 3]).when(fp.item != 2).when(n > 1))
'''


@pytest.mark.parametrize("name, params, result, skipped", [
    ("above_two", {}, 25, 2),
    ("none_run", {}, 0, 2),              # every item skipped: the map gathers []
    ("run_time", {"n": 5}, 21, 2),       # a list known only at run time
    ("texts", {}, ["a", "c d"], 1),      # compared with text: the item's text
    ("zipped", {}, ["1x", "3z"], 1),     # a field of a zipped map's items
    ("both", {"n": 3}, 10, 1),           # a condition per item and one on the map as a whole
])
def test_each_item_runs_or_is_skipped_as_on_argo(user_module, tmp_path, name, params, result, skipped):
    m = user_module(OPS)
    local = run_both(getattr(m, name), params, tmp_path).local
    assert local.phase == "Succeeded" and local.result() == result
    assert sum(s["phase"] == "Skipped" for s in local.steps.values() if "(" in s["name"]) == skipped


def test_the_condition_is_the_loops_own_when(user_module):
    m = user_module(OPS)
    manifest = render_checked(m.both)
    outer = dag_tasks(manifest)["sq"]
    assert outer["when"] == "{{=sprig.fromJson(workflow.parameters['n']) > 1}}"   # the map as a whole
    [loop] = template(manifest, outer["template"])["dag"]["tasks"]
    # each item; a string item may come encoded behind flowpack's marker, and is decoded first
    assert loop["when"] == "{{=(item startsWith 'fp-b64:' ? sprig.b64dec(item[7:]) : sprig.fromJson(item)) != 2}}"
    zipped = render_checked(m.zipped)
    [loop] = template(zipped, dag_tasks(zipped)["pair"]["template"])["dag"]["tasks"]
    assert loop["when"] == "{{=(item['b'] startsWith 'fp-b64:' ? sprig.b64dec(item['b'][7:]) : item['b']) != \"y\"}}"


def test_misuse_is_refused_at_build_time(user_module):
    m = user_module(OPS)

    @fp.workflow
    def on_a_step():
        return m.sq(2).when(fp.item > 1)

    @fp.workflow
    def with_a_handle(n: int = 1):
        return m.sq.map(x=[1, 2]).when(fp.item > m.sq(n))

    @fp.workflow
    def no_such_field():
        return m.pair.map(a=[1], b=["x"]).when(fp.item.c > 1)

    @fp.workflow
    def whole_dict_item():
        return m.pair.map(a=[1], b=["x"]).when(fp.item > 1)

    with pytest.raises(fp.WorkflowBuildError, match="fp.item is the item of a map"):
        on_a_step.render()
    with pytest.raises(fp.WorkflowBuildError, match="compares the item with numbers, text, booleans or None"):
        with_a_handle.render()
    with pytest.raises(fp.WorkflowBuildError, match=r"fp.item.c is not a field of its items \(\['a', 'b'\]\)"):
        no_such_field.render()
    with pytest.raises(fp.WorkflowBuildError, match=r"its items are dicts of \['a', 'b'\]; compare one of them"):
        whole_dict_item.render()
