"""Steps that depend on how another ended (issue 16 item 1) and per-call step names (item 9): the manifest holds the
`depends`/`when` an Argo user writes, the local engine runs it, and Argo's own controller ends every workflow the same
way (workflow phase, every step's phase, outputs)."""

from __future__ import annotations

import pytest

import flowpack as fp
from both_engines import run_both
from helpers import BOOM_ECHO_OPS, assert_argo_valid, dag_tasks, render_checked, run_checked

OPS = BOOM_ECHO_OPS + '''

@fp.op
def mark(label: str) -> str:
    return label


@fp.op
def odd_fails(x: int) -> int:
    if x % 2:
        raise SystemExit(1)
    return x


@fp.workflow
def handled(n: int):
    bad = boom(n, name="train")
    mark("cleanup", name="cleanup").after(bad, on="failed")
    mark("report", name="report").after(bad, on="any")
    mark("checked", name="checked").when(fp.status(bad) == "Failed")
    return echo(n, name="other")


@fp.workflow
def unhandled(n: int):
    bad = boom(n, name="train")
    mark("cleanup", name="cleanup").after(bad, on="failed")
    mark("next", name="next").after(bad, on="succeeded")      # omitted: the failure reaches the end of the DAG


@fp.workflow
def handled_beside_allowed(n: int):
    bad = boom(n, name="train")
    mark("cleanup", name="cleanup").after(bad, on="failed")
    boom(n, name="optional").allow_failure()                   # a closing task: it accepts train's handled failure
    return echo(n, name="other")


@fp.workflow
def some_items(xs: list = [1, 2, 3]):
    items = odd_fails.map(x=[1, 2, 3], name="items")
    return mark("some", name="some").after(items, on="any_succeeded")


@fp.workflow
def all_items_failed():
    items = odd_fails.map(x=[1, 3], name="items")
    mark("all", name="all").after(items, on="all_failed")
    mark("none", name="none").after(items, on="any_succeeded")  # omitted: the map's failure ends the workflow


@fp.workflow
def either(n: int):
    a = echo(n, name="big").when(n > 1)
    b = echo(n, name="small").when(n <= 1)
    return mark("either", name="either").after(fp.any_of(a, b))


@fp.workflow
def skipped_or_ok(n: int):
    a = echo(n, name="maybe").when(n > 1)
    return mark("went on", name="went-on").after(a, on="succeeded_or_skipped")
'''

CASES = [
    ("handled", {"n": 1}, "Succeeded",
     {"train": "Failed", "cleanup": "Succeeded", "report": "Succeeded", "checked": "Succeeded", "other": "Succeeded"}),
    ("unhandled", {"n": 1}, "Failed", {"train": "Failed", "cleanup": "Succeeded", "next": "Omitted"}),
    ("handled_beside_allowed", {"n": 1}, "Succeeded",
     {"train": "Failed", "cleanup": "Succeeded", "optional": "Failed", "other": "Succeeded", "finish": "Succeeded"}),
    ("some_items", {}, "Succeeded",
     {"items(0)": "Failed", "items(1)": "Succeeded", "items(2)": "Failed", "some": "Succeeded"}),
    ("all_items_failed", {}, "Failed",
     {"items(0)": "Failed", "items(1)": "Failed", "all": "Succeeded", "none": "Omitted"}),
    ("either", {"n": 1}, "Succeeded", {"big": "Skipped", "small": "Succeeded", "either": "Succeeded"}),
    ("skipped_or_ok", {"n": 1}, "Succeeded", {"maybe": "Skipped", "went-on": "Succeeded"}),
]


def _run(wf, tmp_path, **params):
    try:
        return run_checked(wf, tmp_path, **params)
    except fp.RunError as exc:
        return exc.run


def test_status_clauses_render_as_argo_depends(user_module):
    m = user_module(OPS)
    tasks = dag_tasks(render_checked(m.handled, n=1))
    assert tasks["cleanup"]["depends"] == "(train.Failed || train.Errored)"
    assert tasks["report"]["depends"] == \
        "(train.Succeeded || train.Skipped || train.Omitted || train.Failed || train.Errored)"
    assert tasks["checked"]["when"] == "{{=tasks['train'].status == \"Failed\"}}"
    assert tasks["checked"]["depends"] == tasks["report"]["depends"]  # it waits for train whatever it did
    assert "depends" not in tasks["other"] and "finish" not in tasks
    assert dag_tasks(render_checked(m.some_items))["some"]["depends"] == "items.AnySucceeded"
    assert dag_tasks(render_checked(m.all_items_failed))["all"]["depends"] == "items.AllFailed"
    assert dag_tasks(render_checked(m.either, n=1))["either"]["depends"] == "(big.Succeeded || small.Succeeded)"
    assert dag_tasks(render_checked(m.skipped_or_ok, n=1))["went-on"]["depends"] == \
        "(maybe.Succeeded || maybe.Skipped)"
    finish = dag_tasks(render_checked(m.handled_beside_allowed, n=1))["finish"]["depends"]
    assert "(train.Succeeded || train.Skipped || train.Omitted || train.Failed || train.Errored)" in finish


@pytest.mark.parametrize("name, params, phase, steps", CASES, ids=[c[0] for c in CASES])
def test_status_driven_steps_run_locally(user_module, tmp_path, name, params, phase, steps):
    m = user_module(OPS)
    run = _run(getattr(m, name), tmp_path, **params)
    assert run.phase == phase
    assert {s["name"]: s["phase"] for s in run.steps.values()} == steps


@pytest.mark.parametrize("name, params, phase, steps", CASES, ids=[c[0] for c in CASES])
def test_status_driven_steps_end_as_on_argos_controller(user_module, tmp_path, name, params, phase, steps):
    m = user_module(OPS)
    both = run_both(getattr(m, name), params, tmp_path)  # render_checked: Argo's validator accepts it
    assert_argo_valid(both.local.manifest)  # the manifest the local engine ran, as run_checked checks it
    assert both.argo.phase == phase


def test_status_clauses_refuse_what_argo_cant_do(user_module):
    m = user_module(OPS)

    @fp.workflow
    def on_single():
        m.mark("x").after(m.echo(1), on="any_succeeded")

    with pytest.raises(fp.WorkflowBuildError, match="applies to a map"):
        on_single.render()

    @fp.workflow
    def on_bounded():
        items = m.odd_fails.map(x=[1, 2], parallelism=1)
        m.mark("x").after(items, on="any_succeeded")

    with pytest.raises(fp.WorkflowBuildError, match="DAG of its own"):
        on_bounded.render()

    @fp.workflow
    def reads_failed_output():
        bad = m.boom(1)
        m.echo(bad).after(bad, on="any")

    with pytest.raises(fp.WorkflowBuildError, match="reads outputs of 'boom'"):
        reads_failed_output.render()

    @fp.workflow
    def unknown_on():
        m.mark("x").after(m.echo(1), on="sometimes")

    with pytest.raises(fp.WorkflowBuildError, match="on='sometimes' is not one of"):
        unknown_on.render()

    @fp.workflow
    def bad_status():
        m.mark("x").when(fp.status(m.echo(1)) == "Done")

    with pytest.raises(fp.WorkflowBuildError, match="one of"):
        bad_status.render()


# ------------------------------------------------------------------------------------------ per-call names (item 9)
def test_a_call_named_by_the_user_keeps_its_name_everywhere(user_module, tmp_path):
    m = user_module(OPS)

    @fp.workflow
    def sweep():
        return [m.echo(i, name=f"train-lr-0.{i}") for i in (1, 2)] + [m.echo(3)]

    manifest = render_checked(sweep)
    assert list(dag_tasks(manifest)) == ["train-lr-0-1", "train-lr-0-2", "echo"]
    run = run_checked(sweep, tmp_path)
    assert sorted(s["name"] for s in run.steps.values()) == ["echo", "train-lr-0-1", "train-lr-0-2"]
    assert run.result() == (1, 2, 3)


def test_step_names_are_checked(user_module, tmp_path):
    m = user_module(OPS)

    @fp.workflow
    def twice():
        m.echo(1, name="same")
        m.echo(2, name="Same")

    with pytest.raises(fp.WorkflowBuildError, match="already the name of another step"):
        twice.render()

    @fp.workflow
    def empty():
        m.echo(1, name=" ")

    with pytest.raises(fp.WorkflowBuildError, match="non-empty string"):
        empty.render()

    named = user_module('''
import flowpack as fp


@fp.op
def greet(name: str) -> str:
    return "hi " + name


@fp.workflow
def hello():
    return greet(name="Ada")
''')
    assert run_checked(named.hello, tmp_path).result() == "hi Ada"  # an op's own `name` argument stays its own
    assert dag_tasks(render_checked(named.hello))["greet"]["arguments"]["parameters"][0]["value"] == "Ada"
