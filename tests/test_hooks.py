"""Exit hooks on a single step (issue 16 item 3, task-level hooks): `h.on_exit(op)` renders Argo's task `hooks.exit`
with the step's status; the hook runs after the step whatever it did, its failure fails nothing, and Argo's own
controller ends every node the same way as the local engine."""

from __future__ import annotations

import pytest

import flowpack as fp
from both_engines import run_both
from helpers import BOOM_ECHO_OPS, dag_tasks, render_checked

OPS = BOOM_ECHO_OPS + '''

@fp.op
def notify(status: str) -> str:
    return "status " + status


@fp.op
def bad_hook(status: str) -> str:
    raise SystemExit(4)


@fp.workflow
def hooked(n: int):
    first = echo(n, name="first").on_exit(notify)
    boom(n, name="boom").on_exit(notify).allow_failure()
    echo(n, name="skipped").when(n > 5).on_exit(notify)      # skipped: no hook
    return echo(first, name="second").on_exit(bad_hook)
'''


def test_on_exit_renders_a_task_hook(user_module):
    m = user_module(OPS)
    tasks = dag_tasks(render_checked(m.hooked, n=1))
    assert tasks["first"]["hooks"] == {"exit": {"template": "notify", "arguments": {
        "parameters": [{"name": "status", "value": "{{tasks.first.status}}"}]}}}
    assert tasks["second"]["hooks"]["exit"]["template"] == "bad-hook"


def test_exit_hooks_locally_and_on_argos_controller(user_module, tmp_path):
    m = user_module(OPS)
    both = run_both(m.hooked, {"n": 1}, tmp_path)  # render_checked: Argo's validator accepts it
    argo, local = both.argo, both.local
    assert argo.phase == "Succeeded" and local.result() == 1
    assert argo.node("boom.onExit").parameters["return"] == "status Failed"
    assert argo.node("first.onExit").parameters["return"] == "status Succeeded"
    phases = {s["name"]: s["phase"] for s in local.steps.values()}
    assert phases["boom.onExit"] == phases["first.onExit"] == "Succeeded" and phases["second.onExit"] == "Failed"
    assert "skipped.onExit" not in phases


def test_on_exit_is_checked(user_module):
    m = user_module(OPS)

    @fp.workflow
    def twice():
        m.echo(1).on_exit(m.notify).on_exit(m.notify)

    with pytest.raises(fp.WorkflowBuildError, match="already has an exit hook"):
        twice.render()

    @fp.workflow
    def needs_more():
        m.echo(1).on_exit(m.echo)

    with pytest.raises(fp.WorkflowBuildError, match="receives only `status`"):
        needs_more.render()
