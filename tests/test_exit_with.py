"""The exit op takes outputs of steps (issue 16.3): `fp.exit_with(total=h)` in the body hands h's value to the
workflow's exit op as its input `total`, or the input's default when the step produced none. Checked on the local
engine and on Argo's own controller (the harness): phases, node phases, outputs, and what the exit op received."""

from __future__ import annotations

import json

import pytest

import flowpack as fp
from both_engines import run_both
from helpers import render_checked, template

OPS = '''
import flowpack as fp


@fp.op
def notify(status: str, total: int = -1, label: str = "none") -> str:
    return f"{status} {total} {label}"


@fp.op
def add(a: int, b: int) -> int:
    if a < 0:
        raise ValueError("a must not be negative")
    return a + b


@fp.op
def word(s: str) -> str:
    return s


@fp.workflow(on_exit=notify)
def totals(a: int = 1):
    total = add(a, 2)
    fp.exit_with(total=total, label=word('say "hi" {x}'))
    return total
'''


@pytest.mark.parametrize("a, phase, received", [
    (1, "Succeeded", {"status": "Succeeded", "total": "3", "label": 'say "hi" {x}'}),
    (-1, "Failed", {"status": "Failed", "total": "-1", "label": 'say "hi" {x}'}),   # add failed: the default
])
def test_the_exit_op_gets_step_outputs_as_on_argo(user_module, tmp_path, a, phase, received):
    m = user_module(OPS)
    both = run_both(m.totals, {"a": a}, tmp_path)
    argo, local = both.argo, both.local
    assert local.phase == phase
    exit_node = next(n for n in argo.nodes if n.display_name == "exit-handler")
    assert exit_node.input_parameters == received
    node, _ = next((n, s) for n, s in local.steps.items() if s["name"] == "exit-handler")
    step = json.loads((local.path / "steps" / node / "step.json").read_text())
    assert step["inputs"]["parameters"] == received


def test_the_step_exports_its_output_and_the_handler_reads_it(user_module):
    m = user_module(OPS)
    manifest = render_checked(m.totals, a=1)
    exported = [p for t in manifest["spec"]["templates"] for p in (t.get("outputs") or {}).get("parameters") or []
                if p.get("globalName")]
    assert sorted(p["globalName"] for p in exported) == ["fp-exit-label", "fp-exit-total"]
    handler = template(manifest, manifest["spec"]["onExit"])["dag"]["tasks"][0]
    values = {p["name"]: p["value"] for p in handler["arguments"]["parameters"]}
    assert values["total"] == ("{{=(workflow.outputs.parameters['fp-exit-' + 'total'] ?? '') == '' ? \"-1\" : "
                               "workflow.outputs.parameters['fp-exit-' + 'total']}}")


def test_misuse_is_refused_at_build_time(user_module):
    m = user_module(OPS)

    @fp.workflow
    def no_exit_op():
        fp.exit_with(total=m.add(1, 2))

    @fp.workflow(on_exit=m.notify)
    def unknown_input():
        fp.exit_with(count=m.add(1, 2))

    @fp.workflow(on_exit=m.notify)
    def a_map():
        fp.exit_with(total=m.add.map(a=[1, 2], b=1))

    @fp.workflow(on_exit=m.notify)
    def the_status():
        fp.exit_with(status=m.word("x"))

    with pytest.raises(fp.WorkflowBuildError, match=r"fp.exit_with\(total=...\) needs an exit op"):
        no_exit_op.render()
    with pytest.raises(fp.WorkflowBuildError, match="the exit op 'notify' has no parameter input 'count'"):
        unknown_input.render()
    with pytest.raises(fp.WorkflowBuildError, match="pass the output of one op call"):
        a_map.render()
    with pytest.raises(fp.WorkflowBuildError, match="is the workflow's own"):
        the_status.render()
    with pytest.raises(fp.WorkflowBuildError, match="call it in an @fp.workflow body"):
        fp.exit_with(total=1)
