"""`op.map(fp.rows(dicts))` (issue 16 item 6, part): a list of dicts spread onto an op's arguments, literal
(`withItems` of the rows) or known only at run time (`withParam`, `{{item.<arg>}}`); the same on the local engine and
on Argo's controller."""

from __future__ import annotations

import pytest

import flowpack as fp
from both_engines import run_both
from helpers import dag_tasks, render_checked

OPS = '''
import flowpack as fp


@fp.op
def grid() -> list:
    return [{"c": 1, "g": 0.5}, {"c": 10, "g": 0.25}, {"c": 3, "g": 2.0}]


@fp.op
def train(c: int, g: float, label: str = "m") -> str:
    return f"{label} c={c} g={g}"


@fp.workflow
def runtime():
    return train.map(fp.rows(grid()), label="svc")


@fp.workflow
def literal():
    return train.map(fp.rows([{"c": 1, "g": 0.5}, {"c": 2, "g": 1.5}]))
'''

CASES = [("runtime", ["svc c=1 g=0.5", "svc c=10 g=0.25", "svc c=3 g=2.0"]),
         ("literal", ["m c=1 g=0.5", "m c=2 g=1.5"])]


def test_rows_render_as_items_of_dicts(user_module):
    m = user_module(OPS)
    [task] = dag_tasks(render_checked(m.literal)).values()
    assert task["withItems"] == [{"c": 1, "g": 0.5}, {"c": 2, "g": 1.5}]
    assert task["arguments"]["parameters"] == [{"name": "c", "value": "{{item.c}}"},
                                               {"name": "g", "value": "{{item.g}}"}]


@pytest.mark.parametrize("name, result", CASES, ids=[c[0] for c in CASES])
def test_rows_locally_and_on_argos_controller(user_module, tmp_path, name, result):
    m = user_module(OPS)
    local = run_both(getattr(m, name), {}, tmp_path).local  # render_checked: Argo's validator accepts it
    assert local.phase == "Succeeded" and local.result() == result


def test_rows_are_checked(user_module):
    m = user_module(OPS)
    cases = {
        "different keys": lambda: m.train.map(fp.rows([{"c": 1, "g": 1.0}, {"c": 2}])),
        "not arguments of the op": lambda: m.train.map(fp.rows([{"c": 1, "g": 1.0, "z": 3}])),
        "also given by keyword": lambda: m.train.map(fp.rows([{"c": 1, "g": 1.0}]), c=2),
        "only positional argument": lambda: m.train.map(fp.rows([{"c": 1}]), 2.0),
    }
    for match, body in cases.items():
        def bad():
            body()

        with pytest.raises(fp.WorkflowBuildError, match=match):
            fp.workflow(bad).render()
    with pytest.raises(fp.WorkflowBuildError, match="list of dicts"):
        fp.rows([1, 2])
