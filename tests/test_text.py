"""Handles in text (issue 16 item 5, first half): `f"hello {x}"` and `prefix + h` render as Argo's own substitution
in a step's argument, the same on the local engine and Argo's controller; what Argo can't do is a build error."""

from __future__ import annotations

import pytest

import flowpack as fp
from both_engines import run_both
from helpers import dag_tasks, render_checked

OPS = '''
import flowpack as fp


@fp.op
def count(n: int) -> int:
    return n + 1


@fp.op
def ratio() -> float:
    return 1e-07


@fp.op
def word() -> str:
    return 'say "hi"\\tthere'


@fp.op
def flag() -> bool:
    return True


@fp.op
def greet(text: str) -> str:
    return text.upper()


@fp.op
def twice(n: int) -> int:
    return 2 * n


@fp.workflow
def hello(name: str = "Ada", n: int = 2):
    c = count(n, name="count")
    first = greet(f"hello {name} #{c} {word(name='word')} {ratio(name='ratio')}", name="first")
    second = greet("model-" + name + "-" + c, name="second")
    return first, second
'''


def test_text_with_handles_renders_as_argo_substitution(user_module):
    m = user_module(OPS)
    tasks = dag_tasks(render_checked(m.hello))
    assert tasks["first"]["arguments"]["parameters"] == [{"name": "text", "value": (
        "hello {{workflow.parameters.name}} #{{tasks.count.outputs.result}} "
        "{{tasks.word.outputs.parameters.return}} {{tasks.ratio.outputs.result}}")}]
    assert tasks["first"]["depends"] == "count && word && ratio"
    assert tasks["second"]["arguments"]["parameters"][0]["value"] == \
        "model-{{workflow.parameters.name}}-{{tasks.count.outputs.result}}"


def test_text_with_handles_locally_and_on_argos_controller(user_module, tmp_path):
    m = user_module(OPS)
    local = run_both(m.hello, {"name": "Bob", "n": 4}, tmp_path).local  # render_checked: Argo's validator accepts it
    assert local.phase == "Succeeded" and local.result() == ('HELLO BOB #5 SAY "HI"\tTHERE 1E-07', "MODEL-BOB-5")


def test_what_argo_cant_paste_is_a_build_error(user_module):
    m = user_module(OPS)
    cases = {
        "format spec": lambda: m.greet(f"{m.ratio():.2f}"),
        "Argo would paste its JSON text": lambda: m.greet(f"is {m.flag()}"),
        "goes to `str` arguments": lambda: m.twice(f"{m.count(1)}"),
        "arithmetic": lambda: m.twice(m.count(1) + 1),
        "holds '{{'": lambda: m.greet("{{x}} " + m.word()),
        "map item": lambda: m.greet.map(text=["a" + m.word()]),
    }
    for match, body in cases.items():
        def bad():
            body()

        with pytest.raises(fp.WorkflowBuildError, match=match):
            fp.workflow(bad).render()
    from flowpack._handle import Handle

    outside = Handle(None, "x", m.greet.interface.outputs["return"], "{{workflow.parameters.x}}")
    with pytest.raises(fp.WorkflowBuildError, match="inside a workflow body"):
        f"{outside}"
