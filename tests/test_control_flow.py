"""Control flow and step options, on the local engine and in the rendered manifest: maps (fan-out/fan-in),
parallelism bounds, conditions, retries, timeouts, allow_failure, exit handlers, resources, placement and env."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import flowpack as fp
from flowpack._errors import ResourceError
from helpers import alive, dag_tasks, render_checked, run_checked, template


def steps_by_name(run) -> dict:
    """run.steps keyed by display name (e.g. "sq(0)", "total")."""
    return {s["name"]: s for s in run.steps.values()}


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The largest number of [start, end) intervals that hold at one instant (an end before a start at a tie)."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals], key=lambda x: (x[0], x[1]))
    most = now = 0
    for _, delta in events:
        now += delta
        most = max(most, now)
    return most


def recorded_intervals(folder: Path) -> list[tuple[float, float]]:
    """The [start, end] pairs the steps of a test wrote into `folder` (one JSON file per step)."""
    return [tuple(json.loads(p.read_text())) for p in sorted(folder.glob("*.json"))]


# ---------------------------------------------------------------------------------------------------------------
# Maps: fan-out over literals, workflow parameters and handles; fan-in; maps of maps; empty lists; zips
# ---------------------------------------------------------------------------------------------------------------

MAPS = '''
import flowpack as fp


@fp.op
def sq(x: int, k: int = 1) -> int:
    return x * x * k


@fp.op
def total(xs: list) -> int:
    return sum(xs)


@fp.op
def make(n: int) -> list:
    return list(range(n))


@fp.op
def label(name: str, n: int) -> str:
    return name + "=" + str(n)


@fp.op
def loose(v) -> dict:                       # unannotated: a pickled input, mapped from JSON items
    return {"got": v}


@fp.op
def ident(xs: list) -> list:
    return xs


@fp.workflow
def fan(items: list, n: int = 3):
    lit = sq.map(x=[1, 2, 3], k=n)          # a literal list, k broadcast from a workflow parameter
    par = sq.map(x=items)                   # a workflow parameter holding a list
    dyn = sq.map(x=make(n))                 # a handle whose value is a list
    again = sq.map(x=lit)                   # a map over another map's result
    zipped = label.map(name=["a", "b"], n=[1, 2])
    objs = loose.map(v=[{"k": 1}, "s", 2])
    return {"lit": total(lit), "par": total(par), "dyn": ident(dyn), "again": ident(again),
            "zipped": ident(zipped), "objs": ident(objs), "raw": ident(lit)}


@fp.workflow
def empty(items: list):
    a = sq.map(x=[])
    b = sq.map(x=items)
    c = sq.map(x=make(0))
    return total(a), total(b), ident(c)


@fp.workflow
def big_param(items: list):
    return total(sq.map(x=items, k=2))


@fp.workflow
def big_handle(n: int):
    return total(sq.map(x=make(n), k=2))
'''


def test_map_over_literals_parameters_handles_and_maps(user_module, tmp_path):
    m = user_module(MAPS)
    manifest = render_checked(m.fan, items=[4, 5])
    tasks = dag_tasks(manifest)
    assert tasks["sq"]["withItems"] == [1, 2, 3]
    assert {"name": "k", "value": "{{workflow.parameters.n}}"} in tasks["sq"]["arguments"]["parameters"]
    # a map over a list known at run time runs in a DAG of its own (which gets task outputs as its inputs)
    def loop(name):
        ref = template(manifest, tasks[name]["template"])["dag"]["tasks"][0]["withParam"]
        if ref.startswith("{{inputs.parameters."):
            given = {p["name"]: p["value"] for p in tasks[name]["arguments"]["parameters"]}
            ref = given[ref[len("{{inputs.parameters."):-2]]
        return ref

    assert loop("sq-2") == "{{workflow.parameters.items}}"
    assert loop("sq-3") == "{{tasks.make.outputs.parameters.return}}"
    assert "make" in tasks["sq-3"]["depends"]
    assert loop("sq-4") == "{{tasks.sq.outputs.parameters.return}}"
    assert tasks["label"]["withItems"] == [{"name": "a", "n": 1}, {"name": "b", "n": 2}]
    assert {p["name"]: p["value"] for p in tasks["label"]["arguments"]["parameters"]} == {
        "name": "{{item.name}}", "n": "{{item.n}}"}
    total_task = next(t for t in tasks.values() if t["template"] == "total" and "sq" == t.get("depends"))
    assert total_task["arguments"]["parameters"] == [
        {"name": "xs", "value": "fp-each-json:{{tasks.sq.outputs.parameters.return}}"}]

    out = run_checked(m.fan, tmp_path, items=[4, 5]).result()
    assert out == {"lit": 3 * (1 + 4 + 9), "par": 16 + 25, "dyn": [0, 1, 4], "again": [9, 144, 729],
                   "zipped": ["a=1", "b=2"], "objs": [{"got": {"k": 1}}, {"got": "s"}, {"got": 2}],
                   "raw": [3, 12, 27]}


def test_map_handle_is_a_list_in_item_order(user_module, tmp_path):
    m = user_module(MAPS)
    items = [9, 1, 8, 2, 7]
    run = run_checked(m.fan, tmp_path, items=items)
    assert run.result()["par"] == sum(i * i for i in items)
    by_name = steps_by_name(run)
    assert {f"sq-2({i})" for i in range(len(items))} <= set(by_name)
    assert all(by_name[f"sq-2({i})"]["phase"] == "Succeeded" for i in range(len(items)))


def test_empty_lists_map_to_no_steps_and_an_empty_fan_in(user_module, tmp_path):
    m = user_module(MAPS)
    manifest = render_checked(m.empty, items=[])
    tasks = dag_tasks(manifest)
    # Argo reads `withItems: []` as no loop (the task would run once); an empty withParam list runs no item. Maps
    # that may be empty run in a DAG of their own whose gathered outputs default to [] (Argo sets no value then).
    for name in ("sq", "sq-2", "sq-3"):
        loop = template(manifest, tasks[name]["template"])
        assert "withItems" not in loop["dag"]["tasks"][0]
        assert loop["outputs"]["parameters"][0]["valueFrom"]["default"] == "[]"
    assert template(manifest, tasks["sq"]["template"])["dag"]["tasks"][0]["withParam"] == "[]"
    run = run_checked(m.empty, tmp_path, items=[])
    assert run.result() == (0, 0, [])
    assert not [s for s in run.steps.values() if s["template"] == "sq" and s["phase"] != "Skipped"]  # no item ran


def test_zipped_lists_must_have_one_length_and_something_to_map(user_module):
    m = user_module(MAPS)
    with pytest.raises(fp.WorkflowBuildError, match="different lengths"):
        @fp.workflow
        def bad():
            return m.label.map(name=["a", "b"], n=[1])
        bad.render()
    with pytest.raises(fp.WorkflowBuildError, match="no argument to map over"):
        @fp.workflow
        def nothing():
            return m.sq.map(x=3)
        nothing.render()


@pytest.mark.parametrize("which", ["big_param", "big_handle"])
def test_a_map_of_100000_items_keeps_the_dag_small(user_module, which):
    m = user_module(MAPS)
    params = {"items": list(range(100_000))} if which == "big_param" else {"n": 100_000}
    manifest = render_checked(getattr(m, which), **params)
    dag = template(manifest, manifest["spec"]["entrypoint"])
    assert len(json.dumps(dag)) < 5000
    for t in manifest["spec"]["templates"]:  # no template grows with the items; only the parameter's value does
        assert len(json.dumps(t)) < 20_000, t["name"]


def test_map_handle_runs_small_version_of_the_big_maps(user_module, tmp_path):
    m = user_module(MAPS)
    assert run_checked(m.big_handle, tmp_path, n=4).result() == 2 * (0 + 1 + 4 + 9)
    assert run_checked(m.big_param, tmp_path, items=[3, 4]).result() == 2 * (9 + 16)


# ---------------------------------------------------------------------------------------------------------------
# Parallelism: the workflow's and a map's bound, never exceeded locally, carried by the manifest
# ---------------------------------------------------------------------------------------------------------------

BOUNDED = '''
import json
import os
import time
import uuid
from pathlib import Path
import flowpack as fp


@fp.op
def slot(i: int, folder: str, bound: int) -> int:
    """Records its own [start, end]; waits until `bound` steps have started, so the bound is reached, not just kept."""
    start = time.time()
    Path(folder, "started-%s" % uuid.uuid4().hex).write_text("")
    deadline = time.monotonic() + 60
    while len(list(Path(folder).glob("started-*"))) < bound:
        if time.monotonic() > deadline:
            raise SystemExit("only %d steps ever ran at once" % len(list(Path(folder).glob("started-*"))))
        time.sleep(0.01)
    time.sleep(0.15)                          # room for an extra step to overlap if the bound were not kept
    Path(folder, "%s.json" % uuid.uuid4().hex).write_text(json.dumps([start, time.time()]))
    return i


@fp.op
def total(xs: list) -> int:
    return sum(xs)


@fp.workflow(parallelism=2)
def wide(folder: str):
    return [slot(i, folder, 2) for i in range(5)]


@fp.workflow
def mapped(folder: str, items: list):
    return total(slot.map(i=[0, 1, 2, 3, 4], folder=folder, bound=2, parallelism=2)), \\
        total(slot.map(i=items, folder=folder, bound=2, parallelism=2))


@fp.workflow(parallelism=1)
def serial(folder: str):
    return total(slot.map(i=[0, 1, 2, 3], folder=folder, bound=1))
'''


def test_workflow_parallelism_bounds_steps_locally_and_in_the_manifest(user_module, tmp_path):
    m = user_module(BOUNDED)
    folder = tmp_path / "slots"
    folder.mkdir()
    manifest = render_checked(m.wide, folder=str(folder))
    assert manifest["spec"]["parallelism"] == 2
    run = run_checked(m.wide, tmp_path, workers=5, folder=str(folder))
    assert run.result() == (0, 1, 2, 3, 4)
    assert max_overlap(recorded_intervals(folder)) == 2       # the steps' own view
    engine_view = [(s["startedAt"], s["finishedAt"]) for s in run.steps.values()]
    assert max_overlap(engine_view) <= 2                      # the run record's view


def test_workflow_parallelism_one_runs_a_map_serially(user_module, tmp_path):
    m = user_module(BOUNDED)
    folder = tmp_path / "slots"
    folder.mkdir()
    assert render_checked(m.serial, folder=str(folder))["spec"]["parallelism"] == 1
    run = run_checked(m.serial, tmp_path, workers=4, folder=str(folder))
    assert run.result() == 6
    assert max_overlap(recorded_intervals(folder)) == 1


def test_map_parallelism_bounds_its_items_locally_and_in_a_wrapper_template(user_module, tmp_path):
    m = user_module(BOUNDED)
    folder = tmp_path / "slots"
    folder.mkdir()
    manifest = render_checked(m.mapped, folder=str(folder), items=[5, 6, 7, 8])
    assert "parallelism" not in manifest["spec"]
    tasks = dag_tasks(manifest)
    for name in ("slot", "slot-2"):
        wrapper = template(manifest, tasks[name]["template"])
        assert wrapper["parallelism"] == 2
        inner = wrapper["dag"]["tasks"]
        assert len(inner) == 1 and inner[0]["template"] == "slot"
        assert ("withItems" in inner[0]) != ("withParam" in inner[0])
    run = run_checked(m.mapped, tmp_path, workers=6, folder=str(folder), items=[5, 6, 7, 8])
    assert run.result() == (10, 26)
    # both maps run side by side (no dependency between them): at most 2 + 2 steps at once, never more
    assert max_overlap(recorded_intervals(folder)) <= 4
    for name in ("slot", "slot-2"):
        mine = [(s["startedAt"], s["finishedAt"]) for s in run.steps.values()
                if s["name"].startswith(name + "(")]
        assert len(mine) in (4, 5)
        assert max_overlap(mine) <= 2


# ---------------------------------------------------------------------------------------------------------------
# Conditions
# ---------------------------------------------------------------------------------------------------------------

CONDITIONS = '''
from pathlib import Path
import flowpack as fp


@fp.op
def coin(side: str) -> str:
    return side


@fp.op
def count(n: int) -> int:
    return n


@fp.op
def mark(what: str, folder: str) -> str:
    Path(folder, what).write_text("ran")
    return what


@fp.op
def follow(x: str, folder: str) -> str:
    Path(folder, "follow-" + x).write_text("ran")
    return x


@fp.workflow
def branches(n: int, mode: str, folder: str):
    c = coin("heads")
    k = count(n)
    big = mark("big", folder).when(n > 3)
    mark("small", folder).when(~(n > 3))
    mark("fast", folder).when(mode == "fast")
    mark("both", folder).when((k >= 2) & (mode != "slow"))
    mark("either", folder).when((n == 0) | (c == "tails"))
    mark("heads", folder).when(c == "heads")
    follow(big, folder)                              # below a step that may be skipped
    return k
'''


@pytest.mark.parametrize("n, mode, ran", [
    (5, "fast", {"big", "fast", "both", "heads", "follow-big"}),
    (1, "slow", {"small", "heads"}),
    (0, "slow", {"small", "either", "heads"}),
])
def test_conditions_skip_steps_and_their_dependents(user_module, tmp_path, n, mode, ran):
    m = user_module(CONDITIONS)
    folder = tmp_path / "marks"
    folder.mkdir()
    manifest = render_checked(m.branches, n=n, mode=mode, folder=str(folder))
    whens = {t["arguments"]["parameters"][0]["value"]: t.get("when") for t in dag_tasks(manifest).values()
             if t["template"] == "mark"}
    # One Argo expression per condition: values are variables (never pasted text), JSON values decoded first
    n_, mode_, coin_ = "sprig.fromJson(workflow.parameters['n'])", "workflow.parameters['mode']", \
        "tasks['coin'].outputs.parameters['return']"
    assert whens == {
        "big": "{{=%s > 3}}" % n_,
        "small": "{{=!(%s > 3)}}" % n_,
        "fast": '{{=%s == "fast"}}' % mode_,
        "both": "{{=(sprig.fromJson(tasks['count'].outputs.result) >= 2) && (%s != \"slow\")}}" % mode_,
        "either": '{{=(%s == 0) || (%s == "tails")}}' % (n_, coin_),
        "heads": '{{=%s == "heads"}}' % coin_,
    }
    tasks = dag_tasks(manifest)
    heads = next(t for t in tasks.values() if t.get("when", "").endswith('== "heads"}}'))
    assert "coin" in heads["depends"]                       # a condition on an output waits for that output
    assert "Succeeded" in tasks["follow"]["depends"]        # data from a conditional step needs it to succeed

    run = run_checked(m.branches, tmp_path, n=n, mode=mode, folder=str(folder))
    assert run.phase == "Succeeded" and run.result() == n
    assert {p.name for p in folder.iterdir()} == ran
    phases = {s["name"]: s["phase"] for s in run.steps.values()}
    marks = {t["arguments"]["parameters"][0]["value"]: name for name, t in tasks.items() if t["template"] == "mark"}
    for what, task in marks.items():
        assert phases[task] == ("Succeeded" if what in ran else "Skipped"), what
    assert phases["follow"] == ("Succeeded" if "big" in ran else "Omitted")


def test_a_condition_on_a_map_skips_the_map(user_module, tmp_path):
    m = user_module(MAPS)

    @fp.workflow
    def maybe(n: int):
        return m.total(m.sq.map(x=[1, 2]).when(n > 0))

    manifest = render_checked(maybe, n=1)
    outer = dag_tasks(manifest)["sq"]  # the map runs in a DAG of its own; the condition applies to it as a whole
    assert outer["when"] == "{{=sprig.fromJson(workflow.parameters['n']) > 0}}"
    assert "withItems" in template(manifest, outer["template"])["dag"]["tasks"][0]
    assert run_checked(maybe, tmp_path, n=1).result() == 5
    with pytest.raises(fp.RunError):  # the return value comes from a step that did not run
        run_checked(maybe, tmp_path, n=0)


def test_a_condition_on_a_bounded_map_skips_its_dependents(user_module, tmp_path):
    m = user_module(MAPS)

    @fp.workflow
    def maybe_bounded(n: int):
        m.total(m.sq.map(x=[1, 2], parallelism=1).when(n > 0))

    run = run_checked(maybe_bounded, tmp_path, n=0)
    phases = {s["name"]: s["phase"] for s in run.steps.values()}
    assert phases["total"] == "Omitted"


def test_conditions_refuse_values_that_cannot_be_compared(user_module):
    m = user_module(MAPS)

    @fp.workflow
    def bad_literal(n: int):
        return m.sq(n).when(n == "it's {{x}}")

    with pytest.raises(fp.WorkflowBuildError, match="braces"):
        bad_literal.render(n=1)

    @fp.workflow
    def bad_if(n: int):
        if n > 3:
            return m.sq(n)

    with pytest.raises(fp.WorkflowBuildError, match="condition"):
        bad_if.render(n=1)


# ---------------------------------------------------------------------------------------------------------------
# Retries, timeouts, allow_failure
# ---------------------------------------------------------------------------------------------------------------

FAILURES = '''
import os
import subprocess
import sys
import time
from pathlib import Path
import flowpack as fp


def _attempt(counter: str) -> int:
    with open(counter, "a") as f:
        f.write("x")
    return len(Path(counter).read_text())


@fp.op(retries=2, backoff=0.05)
def flaky2(counter: str) -> int:
    n = _attempt(counter)
    if n < 3:
        raise SystemExit("attempt %d fails" % n)
    return n


@fp.op(retries=1)
def flaky1(counter: str) -> int:
    n = _attempt(counter)
    if n < 3:
        raise SystemExit("attempt %d fails" % n)
    return n


@fp.op(timeout=1)
def sleepy(folder: str) -> int:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    Path(folder, "child.pid").write_text(str(child.pid))
    Path(folder, "step.pid").write_text(str(os.getpid()))
    time.sleep(120)
    return 0


@fp.op
def boom(x: int) -> int:
    raise SystemExit("boom %d" % x)


@fp.op
def echo(x: int) -> int:
    return x


@fp.workflow
def retry2(counter: str):
    return flaky2(counter)


@fp.workflow
def retry1(counter: str):
    return flaky1(counter)


@fp.workflow
def slow(folder: str):
    return sleepy(folder)


@fp.workflow
def tolerant(n: int):
    bad = boom(n).allow_failure()
    echo(bad)                                    # below the failed step: not run
    items = echo.map(x=[1, 2])
    boom.map(x=[1, 2]).allow_failure()
    return echo(n), items
'''




def _wait_dead(pid: int, deadline: float = 15.0) -> bool:
    end = time.monotonic() + deadline
    while alive(pid) and time.monotonic() < end:
        time.sleep(0.05)
    return not alive(pid)


def test_retries_and_backoff_render_as_retry_strategy(user_module):
    m = user_module(FAILURES)
    manifest = render_checked(m.retry2, counter="/nowhere")
    strategy = template(manifest, "flaky2")["retryStrategy"]
    assert strategy["limit"] == "2"
    assert strategy["retryPolicy"] in ("Always", "OnFailure", "OnError")
    assert strategy["backoff"]["duration"] == "0.05s" and strategy["backoff"]["factor"] == "2"
    assert "backoff" not in template(render_checked(m.retry1, counter="/x"), "flaky1")["retryStrategy"]


def test_a_flaky_step_succeeds_on_its_third_try_with_two_retries(user_module, tmp_path):
    m = user_module(FAILURES)
    counter = tmp_path / "attempts"
    run = run_checked(m.retry2, tmp_path, counter=str(counter))
    assert run.result() == 3
    assert counter.read_text() == "xxx"
    step = steps_by_name(run)["flaky2"]
    assert step["phase"] == "Succeeded" and "3 attempts" in step["message"]


def test_a_flaky_step_fails_with_one_retry(user_module, tmp_path):
    m = user_module(FAILURES)
    counter = tmp_path / "attempts"
    with pytest.raises(fp.StepFailed) as info:
        run_checked(m.retry1, tmp_path, counter=str(counter))
    assert counter.read_text() == "xx"
    assert "flaky1" in str(info.value) and "attempt 2 fails" in str(info.value)


def test_a_step_past_its_timeout_is_killed_and_reported_as_timed_out(user_module, tmp_path):
    m = user_module(FAILURES)
    manifest = render_checked(m.slow, folder=str(tmp_path))
    assert template(manifest, "sleepy")["activeDeadlineSeconds"] in (1, "1")
    with pytest.raises(fp.StepFailed) as info:
        run_checked(m.slow, tmp_path, folder=str(tmp_path))
    assert "timed out" in str(info.value)
    step = steps_by_name(info.value.run)["sleepy"]
    assert step["phase"] == "Failed" and "timed out" in step["message"]
    for name in ("step.pid", "child.pid"):   # the step and the process it started are gone
        assert _wait_dead(int((tmp_path / name).read_text())), name


def test_a_fractional_timeout_renders_as_whole_seconds():
    @fp.op(timeout=1.5)
    def quick(x: int) -> int:
        return x

    @fp.workflow
    def w():
        return quick(1)

    value = template(render_checked(w), "quick")["activeDeadlineSeconds"]
    assert str(value).isdigit() and int(value) >= 1.5


def test_allow_failure_continues_past_failed_steps_and_maps(user_module, tmp_path):
    m = user_module(FAILURES)
    manifest = render_checked(m.tolerant, n=4)
    tasks = dag_tasks(manifest)
    assert not [t for t in tasks.values() if "continueOn" in t]  # Argo refuses continueOn beside depends
    failing_map = next(t for t in tasks.values() if t["template"] == "boom" and "withItems" in t)
    assert tasks["echo"]["depends"] == "boom.Succeeded"  # it needs boom's output
    # the DAG ends with a task that runs when nothing failed but what may fail: the DAG succeeds past them
    finish = next(t for t in tasks.values() if t["template"].endswith("-finish"))
    assert "boom.Failed || boom.Errored" in finish["depends"]
    assert template(manifest, finish["template"]) == {"name": finish["template"], "suspend": {"duration": "0"}}
    run = run_checked(m.tolerant, tmp_path, n=4)
    assert run.phase == "Succeeded"
    assert run.result() == (4, [1, 2])
    phases = {s["name"]: s["phase"] for s in run.steps.values()}
    assert phases["boom"] == "Failed"
    assert phases["echo"] == "Omitted"
    assert [phases[f"{failing_map['name']}({i})"] for i in (0, 1)] == ["Failed", "Failed"]


def test_allow_failure_on_a_bounded_map_skips_its_dependents(user_module, tmp_path):
    m = user_module(FAILURES)

    @fp.workflow
    def bounded_tolerant(n: int):
        m.echo(m.boom.map(x=[1, 2], parallelism=1).allow_failure())
        return m.echo(n)

    run = run_checked(bounded_tolerant, tmp_path, n=3)
    assert run.result() == 3
    phases = {s["name"]: s["phase"] for s in run.steps.values()}
    assert phases["echo"] == "Omitted"


# ---------------------------------------------------------------------------------------------------------------
# Exit handlers
# ---------------------------------------------------------------------------------------------------------------

EXIT = '''
from pathlib import Path
import flowpack as fp


@fp.op
def notify(status: str, folder: str = "") -> None:
    Path(folder).joinpath("status").write_text(status)


@fp.op
def step(x: int) -> int:
    if x < 0:
        raise SystemExit("negative")
    return x
'''


def test_on_exit_runs_after_success_and_failure_with_the_status(user_module, tmp_path):
    folder = tmp_path / "exit"
    folder.mkdir()
    m = user_module(EXIT.replace('folder: str = ""', f'folder: str = {str(folder)!r}'))

    @fp.workflow(on_exit=m.notify)
    def guarded(x: int):
        return m.step(x)

    manifest = render_checked(guarded, x=1)
    exit_tpl = template(manifest, manifest["spec"]["onExit"])
    (task,) = exit_tpl["dag"]["tasks"]
    assert task["template"] == "notify"
    assert task["arguments"]["parameters"] == [{"name": "status", "value": "{{workflow.status}}"}]

    run = run_checked(guarded, tmp_path, x=1)
    assert run.result() == 1
    assert (folder / "status").read_text() == "Succeeded"
    assert any(s["template"] == "notify" and s["phase"] == "Succeeded" for s in run.steps.values())

    (folder / "status").unlink()
    with pytest.raises(fp.StepFailed) as info:
        run_checked(guarded, tmp_path, x=-1)
    assert (folder / "status").read_text() == "Failed"
    assert "negative" in str(info.value)


# ---------------------------------------------------------------------------------------------------------------
# Resources, placement and environment
# ---------------------------------------------------------------------------------------------------------------

OPTIONS = '''
import os
import flowpack as fp


@fp.op(cpu="500m", memory="64Mi", env={"MODE": "fast"}, secret_env={"FP_TEST_TOKEN": ("api-secret", "token")},
       node_selector={"pool": "cpu"}, tolerations=[{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}])
def placed(x: int) -> dict:
    return {"mode": os.environ.get("MODE"), "token_len": len(os.environ.get("FP_TEST_TOKEN", "")), "x": x}


@fp.op(gpu=1)
def on_gpu(x: int) -> int:
    return x


@fp.op(cpu=1000)
def greedy(x: int) -> int:
    return x


@fp.op(memory="100000Ti")
def hungry(x: int) -> int:
    return x


@fp.workflow
def options_wf(x: int = 1):
    return placed(x)


@fp.workflow
def gpu_wf(x: int = 1):
    return on_gpu(x)


@fp.workflow
def cpu_wf(x: int = 1):
    return greedy(x)


@fp.workflow
def memory_wf(x: int = 1):
    return hungry(x)
'''

SECRET = "s3cr3t-value-never-recorded"


def test_resources_placement_and_env_render_into_the_template(user_module):
    m = user_module(OPTIONS)
    tpl = template(render_checked(m.options_wf), "placed")
    assert tpl["script"]["resources"]["requests"] == {"cpu": "500m", "memory": "64Mi"}
    assert tpl["script"]["resources"]["limits"]["memory"] == "64Mi"
    assert tpl["nodeSelector"] == {"pool": "cpu"}
    assert tpl["tolerations"] == [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]
    env = {e["name"]: e for e in tpl["script"]["env"]}
    assert env["MODE"] == {"name": "MODE", "value": "fast"}
    assert env["FP_TEST_TOKEN"] == {"name": "FP_TEST_TOKEN",
                                    "valueFrom": {"secretKeyRef": {"name": "api-secret", "key": "token"}}}
    gpu = template(render_checked(m.gpu_wf), "on-gpu")
    assert gpu["script"]["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_env_and_secret_env_reach_the_step_and_the_secret_is_never_recorded(user_module, tmp_path, monkeypatch):
    m = user_module(OPTIONS)
    monkeypatch.setenv("FP_TEST_TOKEN", SECRET)
    run = run_checked(m.options_wf, tmp_path, x=2)
    assert run.result() == {"mode": "fast", "token_len": len(SECRET), "x": 2}
    assert SECRET not in json.dumps(run.manifest)
    for path in run.path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_a_missing_secret_variable_is_named_in_the_error(user_module, tmp_path, monkeypatch):
    m = user_module(OPTIONS)
    monkeypatch.delenv("FP_TEST_TOKEN", raising=False)
    with pytest.raises(fp.FlowpackError) as info:
        run_checked(m.options_wf, tmp_path)
    text = str(info.value)
    assert "FP_TEST_TOKEN" in text and "api-secret" in text


@pytest.mark.parametrize("wf, words", [("gpu_wf", ("GPU", "on-gpu")), ("cpu_wf", ("1000", "CPU", "greedy")),
                                       ("memory_wf", ("100000Ti", "memory", "hungry"))])
def test_steps_asking_more_than_the_machine_has_are_refused_before_running(user_module, tmp_path, wf, words):
    m = user_module(OPTIONS)
    render_checked(getattr(m, wf))   # a cluster could run it: the manifest is fine
    with pytest.raises(ResourceError) as info:
        getattr(m, wf).run(run_dir=tmp_path / "runs")
    assert isinstance(info.value, fp.FlowpackError)
    for word in words:
        assert word in str(info.value)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # nothing ran


def test_resource_error_is_public():
    assert fp.ResourceError is ResourceError


OPTIONAL = '''
import flowpack as fp


@fp.op
def maybe(n: int) -> int:
    if n == 2:
        raise RuntimeError("no value today")
    return n * 10


@fp.op
def use(x: int = -1, label: str = "} {{ odd default }}") -> str:
    return f"{label}:{x}"


@fp.op
def strict(x: int) -> int:
    return x


@fp.workflow
def optional(n: int = 0):
    m = maybe(n).when(n > 0)
    strict(m)  # no default: skipped with its input (its output can't be a workflow output then)
    return {"with_default": use(m), "literal_label": use(m, "plain")}


@fp.workflow
def failing(n: int = 2):
    m = maybe(n).allow_failure()
    return use(m)
'''


def test_an_input_with_a_default_takes_it_when_its_step_was_skipped(user_module, tmp_path):
    m = user_module(OPTIONAL)
    manifest = render_checked(m.optional, n=0)
    tasks = dag_tasks(manifest)
    # any end of `maybe` will do, except a failure: it is not allowed to fail
    assert tasks["use"]["depends"] == "(maybe.Succeeded || maybe.Skipped || maybe.Omitted)"
    value = tasks["use"]["arguments"]["parameters"][0]["value"]
    assert value.startswith("{{=tasks['maybe'].status == 'Succeeded' ? ") and '"-1"' in value
    assert tasks["strict"]["depends"] == "maybe.Succeeded"  # no default: it is skipped with its input

    skipped = m.optional.run(run_dir=tmp_path / "runs", n=0)
    assert skipped.phase == "Succeeded"
    assert skipped.output("with_default") == "} {{ odd default }}:-1"
    assert skipped.output("literal_label") == "plain:-1"
    assert skipped.steps["maybe"]["phase"] == "Skipped" and skipped.steps["strict"]["phase"] == "Omitted"

    ran = m.optional.run(run_dir=tmp_path / "runs", n=3)
    assert ran.result() == {"with_default": "} {{ odd default }}:30", "literal_label": "plain:30"}
    assert ran.steps["strict"]["phase"] == "Succeeded"


def test_an_input_with_a_default_takes_it_when_its_step_failed_and_was_allowed_to(user_module, tmp_path):
    m = user_module(OPTIONAL)
    render_checked(m.failing)
    run = m.failing.run(run_dir=tmp_path / "runs")
    assert run.steps["maybe"]["phase"] == "Failed"
    assert run.result() == "} {{ odd default }}:-1"
