"""The exit op gets Argo's workflow variables at exit (issue 16 item 3): status, name, uid, duration and the failed
nodes, the same on the local engine and on Argo's own controller."""

from __future__ import annotations

import pytest

import flowpack as fp
from both_engines import run_both
from helpers import render_checked, template

OPS = '''
import sys

import flowpack as fp


@fp.op
def boom(n: int) -> int:
    raise SystemExit(3)


@fp.op
def odd_fails(x: int) -> int:
    if x % 2:
        raise SystemExit(1)
    return x


@fp.op
def echo(x: int) -> int:
    return x


@fp.op
def notify(status: str, name: str, uid: str, duration: float, failures: list) -> str:
    nodes = sorted((f["templateName"], f["phase"]) for f in failures)
    keys = sorted({k for f in failures for k in f})
    summary = f"{status} {nodes} {keys} {duration >= 0} {bool(name)} {bool(uid)}"
    print(summary, file=sys.stderr)
    return summary


@fp.workflow(on_exit=notify)
def fails(n: int):
    odd_fails.map(x=[1, 2], parallelism=1)
    boom(n)
    return echo(n)


@fp.workflow(on_exit=notify)
def fine(n: int):
    return echo(n)
'''

KEYS = "['displayName', 'finishedAt', 'message', 'phase', 'podName', 'templateName']"
EXPECTED = {
    "fails": "Failed [('boom', 'Failed'), ('fails', 'Failed'), ('odd-fails', 'Failed'), ('odd-fails', 'Failed'), "
             f"('odd-fails-loop', 'Failed')] {KEYS} True True True",
    "fine": "Succeeded [] [] True True True",
}


def test_the_exit_op_receives_the_workflow_variables(user_module):
    m = user_module(OPS)
    manifest = render_checked(m.fails, n=1)
    [task] = template(manifest, manifest["spec"]["onExit"])["dag"]["tasks"]
    values = {p["name"]: p["value"] for p in task["arguments"]["parameters"]}
    assert values == {"status": "{{workflow.status}}", "name": "{{workflow.name}}", "uid": "{{workflow.uid}}",
                      "duration": "{{workflow.duration}}",
                      "failures": "{{=sprig.fromJson(workflow.failures) == 'null' ? '[]' : "
                                  "sprig.fromJson(workflow.failures)}}"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_exit_variables_locally_and_on_argos_controller(user_module, tmp_path, name):
    m = user_module(OPS)
    both = run_both(getattr(m, name), {"n": 1}, tmp_path)  # render_checked: Argo's validator accepts it
    assert both.argo.node("exit-handler").parameters["return"] == EXPECTED[name]
    assert [line.content for line in both.local.logs("exit-handler")] == [EXPECTED[name]]
    assert both.local.phase == both.argo.phase


def test_an_exit_op_with_other_inputs_is_refused(user_module):
    m = user_module(OPS)
    with pytest.raises(fp.OpDefinitionError, match=r"can receive only \['duration', 'failures', 'name'"):
        @fp.workflow(on_exit=m.echo)
        def wf():
            pass
