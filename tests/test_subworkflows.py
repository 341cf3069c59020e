"""Sub-workflows as templates (issue 16 item 2): a `@fp.workflow` called inside another renders as its own DAG
template (inputs from its parameters, outputs from its returned handles), is mapped like an op, takes `when`, and
calls itself under a guard (Argo's coinflip-recursive). Each case runs on the local engine and on Argo's own
controller (tests/argo_harness.py), which must agree on the phase, every step's phase and the outputs."""

from __future__ import annotations

import re

import pytest

import flowpack as fp
from argo_harness import Harness
from both_engines import View, Views, run_both
from fixtures_docker import docker_client  # noqa: F401  (a pytest fixture)
from helpers import dag_tasks, render_checked, template

SUBS = '''
import pathlib
import random
from typing import NamedTuple

import flowpack as fp


class Pair(NamedTuple):
    lo: int
    hi: int


@fp.op
def sq(x: int) -> int:
    return x * x


@fp.op
def add(a: int, b: int) -> int:
    return a + b


@fp.op
def total(xs: list) -> int:
    return sum(xs)


@fp.op
def split(x: int) -> Pair:
    return Pair(x - 1, x + 1)


@fp.op
def write(text: str) -> pathlib.Path:
    out = pathlib.Path("note.txt")
    out.write_text(text)
    return out


@fp.op
def read(note: pathlib.Path) -> str:
    return note.read_text()


@fp.op
def numbers(n: int) -> list:
    return list(range(n))


@fp.op
def boom(x: int) -> int:
    raise SystemExit(3)


@fp.op
def flip(n: int) -> str:
    return "heads" if n >= 2 else "tails"


@fp.op
def inc(n: int) -> int:
    return n + 1


@fp.op
def heads(n: int) -> str:
    return f"heads after {n} tails"


@fp.op
def flip_coin() -> str:
    return random.choice(["heads", "tails"])


@fp.op
def notify(status: str) -> None:
    print("ended", status)


@fp.op
def say(text: str) -> str:
    print(text)
    return text


@fp.workflow
def sumsq(a: int, b: int):
    return add(sq(a), sq(b))


@fp.workflow
def bounds(x: int):
    return split(x)


@fp.workflow
def note(text: str):
    return write(text)


@fp.workflow
def squares(n: int):
    return sq.map(x=numbers(n))


@fp.workflow
def twice(n: int):
    return sumsq(n, sumsq(n, 1))


@fp.workflow
def calls(n: int):
    s = sumsq(n, 2)
    b = bounds(s)
    return add(b.lo, b.hi), read(note("hello")), sumsq(s, b.hi, name="again"), twice(n)


@fp.workflow
def reads(note: pathlib.Path, text: str):
    return {"first": read(note), "second": read(write(text))}


@fp.workflow
def files(n: int):
    r = reads(note("hello"), "bye")
    return r.first, r.second


@fp.workflow
def whole(n: int):
    return bounds(n)


@fp.workflow
def mapped(n: int):
    return sumsq.map(a=[1, 2, 3], b=n), sumsq.map(a=numbers(n), b=1), total(squares(n))


@fp.workflow
def conditional(n: int):
    skipped = sumsq(n, n).when(n > 2)
    many = sumsq.map(a=numbers(n), b=n).when(n > 2)
    return total(squares(n)), sq(skipped), total(many)


@fp.workflow
def failing(n: int):
    return boom(n)


@fp.workflow
def echoed(s: str):
    return say(s)


@fp.workflow
def texts(t: str):
    return echoed("a{{b}}\x01"), echoed(t), echoed.map(s=["1", "x", 'say "hi"'])


@fp.workflow
def summed(xs: list, k: int):
    return {"total": total(xs), "square": sq(k)}


@fp.workflow
def tagged(n: int):
    s = summed(sq.map(x=numbers(n)), say("3"))
    return s.total, s.square


@fp.workflow
def keyed(n: int):
    return {"square": sq(n), "following": inc(n)}


@fp.workflow
def maybe(n: int):
    sumsq(n, n).when(n > 2)
    return sq(n)


@fp.workflow
def broken(n: int):
    add(n, n)
    return failing(n)


@fp.workflow
def tolerated(n: int):
    failed = failing(n).allow_failure()
    sq(n, name="cleanup").after(failed, on="failed")
    k = keyed(n).on_exit(notify)
    return add(k.square, k.following)


@fp.op
def mul(a: int, b: int) -> int:
    return a * b


@fp.op
def dec(n: int) -> int:
    return n - 1


@fp.op
def one() -> int:
    return 1


@fp.workflow
def fact(n: int) -> int:
    deeper = fact(dec(n)).when(n > 1)
    return fp.one_of(mul(n, deeper, name="times"), one(name="base").when(n <= 1))


@fp.workflow
def coinflip(n: int = 0):
    f = flip(n)
    heads(n).when(f == "heads")
    coinflip(inc(n)).when(f == "tails")


@fp.workflow
def coinflip_recursive():
    f = flip_coin()
    say("it was heads").when(f == "heads")
    coinflip_recursive().when(f == "tails")
'''

DIFFERENTIAL = [
    ("calls", {"n": 3}),
    ("mapped", {"n": 3}),
    ("mapped", {"n": 0}),
    ("conditional", {"n": 1}),
    ("conditional", {"n": 3}),
    ("tolerated", {"n": 2}),
    ("coinflip", {}),
    ("texts", {"t": "p{{q}}"}),
    ("tagged", {"n": 3}),
    ("fact", {"n": 4}),
    ("fact", {"n": 1}),
    ("files", {"n": 1}),
]


def _path(node: str) -> str:
    """A node's path of task names, a loop item as `name(i)`, the same for both engines."""
    return re.sub(r"\((\d+):[^()]*\)", r"(\1)", re.sub(r"/(\d+)(?=/|$)", r"(\1)", node))


def _local_view(run) -> View:
    """A local run's view, each step by its path of nested task names."""
    steps = {_path(node): s["phase"] for node, s in run.steps.items()}
    return View(run.phase, steps, dict((run.record.get("outputs") or {}).get("parameters") or {}))


def _argo_view(result) -> View:
    """An Argo run's view, each step by its path of nested task names (its node name less the workflow's)."""
    root = next(n for n in result.nodes if n.type == "DAG" and not n.boundary_id)
    steps = {}
    for n in result.nodes:
        if n.type in ("Pod", "Skipped", "Suspend"):
            path = "/".join(n.name.replace(".onExit", "\0").split(".")[1:]).replace("\0", ".onExit")
            steps[_path(path)] = n.phase  # a task's exit hook is `task.onExit`, beside the task
    return View(result.phase, steps, root.parameters)


BY_PATH = Views(_local_view, _argo_view)


@pytest.mark.parametrize("name, params", DIFFERENTIAL, ids=[f"{n}-{i}" for i, (n, _) in enumerate(DIFFERENTIAL)])
def test_sub_workflows_run_locally_as_on_argos_controller(harness: Harness, user_module, tmp_path, name, params):
    # render_checked (in run_both): Argo's validator of every pinned version accepts the manifest
    run_both(getattr(user_module(SUBS), name), params, tmp_path, version=harness.version, views=BY_PATH)


def test_outputs_come_back_like_an_ops(user_module, tmp_path):
    m = user_module(SUBS)
    run = m.calls.run(run_dir=tmp_path / "runs", n=3)
    # sumsq(3, 2) = 13; bounds(13) = (12, 14); the note's file; sumsq(13, 14) = 365; twice(3) = 9 + 10**2
    assert run.result() == (26, "hello", 365, 109)
    phase, steps, _ = _local_view(run)
    assert phase == "Succeeded"
    pair = m.whole.run(run_dir=tmp_path / "runs", n=3).result()  # a NamedTuple, as split's own result would be
    assert type(pair) is m.Pair and pair == (2, 4)
    assert {"sumsq/sq", "sumsq/sq-2", "sumsq/add", "bounds/split", "note/write", "again/add", "twice/sumsq/add",
            "twice/sumsq-2/add"} <= steps.keys()


def test_text_argo_cant_carry_crosses_the_boundary_exactly(user_module, tmp_path):
    m = user_module(SUBS)
    assert m.texts.run(run_dir=tmp_path / "runs", t="p{{q}}").result() == ("a{{b}}\x01", "p{{q}}",
                                                                           ["1", "x", 'say "hi"'])


def test_a_maps_list_and_text_cross_tagged_into_what_only_ops_read(user_module, tmp_path):
    m = user_module(SUBS)
    manifest = m.tagged.render(n=3)
    [call] = [t for t in dag_tasks(manifest).values() if t["template"] == "summed"]
    assert call["arguments"]["parameters"] == [
        {"name": "xs", "value": "fp-each-json:{{tasks.sq.outputs.parameters.return}}"},
        {"name": "k", "value": "fp-text:{{tasks.say.outputs.parameters.return}}"}]
    assert m.tagged.run(run_dir=tmp_path / "runs", n=3).result() == (0 + 1 + 4, 9)


def test_maps_and_conditions_on_a_sub_workflow(user_module, tmp_path):
    m = user_module(SUBS)
    assert m.mapped.run(run_dir=tmp_path / "runs", n=3).result() == ([10, 13, 18], [1, 2, 5], 5)
    assert m.mapped.run(run_dir=tmp_path / "runs", n=0).result() == ([1, 4, 9], [], 0)
    with pytest.raises(fp.RunError, match="sq"):
        m.conditional.run(run_dir=tmp_path / "runs", n=1)  # the skipped sub-workflow's output can't be had
    assert m.conditional.run(run_dir=tmp_path / "runs", n=3).result() == (5, 18 ** 2, 9 + 10 + 13)


def test_the_viewer_plans_the_nested_steps_and_ends_them_with_a_skipped_call(user_module, tmp_path):
    from flowpack import _view

    m = user_module(SUBS)
    run = m.maybe.run(run_dir=tmp_path / "runs", n=1)
    plan = _view.Plan(run.manifest)
    rows = {r.node: r.phase for r in plan.rows(run.steps)}
    assert rows == {"sumsq/sq": "Skipped", "sumsq/sq-2": "Skipped", "sumsq/add": "Skipped", "sq": "Succeeded"}
    done = plan.tally(run.steps, final_phase=run.phase)
    assert (done.done, done.total) == (4, 4)
    ran = m.maybe.run(run_dir=tmp_path / "runs", n=3)
    assert {r.node: r.phase for r in plan.rows(ran.steps)} == {"sumsq/sq": "Succeeded", "sumsq/sq-2": "Succeeded",
                                                               "sumsq/add": "Succeeded", "sq": "Succeeded"}


def test_a_failed_step_inside_one_is_reported_with_its_own_line(user_module, tmp_path):
    m = user_module(SUBS)
    with pytest.raises(fp.RunError) as failed:
        m.broken.run(run_dir=tmp_path / "runs", n=2)
    text = str(failed.value)
    assert "step failing/boom failed" in text
    assert re.search(r"called at \S+:\d+: return boom\(n\)", text), text


def test_a_sub_workflow_is_one_template_however_often_it_is_called(user_module):
    m = user_module(SUBS)
    manifest = render_checked(m.calls, n=3)
    names = [t["name"] for t in manifest["spec"]["templates"]]
    assert names.count("sumsq") == 1 and "twice" in names
    sumsq = template(manifest, "sumsq")
    assert sumsq["inputs"] == {"parameters": [{"name": "a"}, {"name": "b"}]}
    assert sumsq["outputs"] == {"parameters": [{"name": "return", "valueFrom": {
        "parameter": "{{tasks.add.outputs.result}}"}}]}
    assert [t["arguments"]["parameters"][0]["value"] for t in sumsq["dag"]["tasks"][:2]] == [
        "{{inputs.parameters.a}}", "{{inputs.parameters.b}}"]
    assert template(manifest, "note")["outputs"] == {
        "artifacts": [{"name": "return", "from": "{{tasks.write.outputs.artifacts.return}}"}]}
    tasks = dag_tasks(manifest)
    assert tasks["add"]["arguments"]["parameters"] == [
        {"name": "a", "value": "{{tasks.bounds.outputs.parameters.lo}}"},
        {"name": "b", "value": "{{tasks.bounds.outputs.parameters.hi}}"}]
    assert tasks["read"]["arguments"]["artifacts"] == [
        {"name": "note", "from": "{{tasks.note.outputs.artifacts.return}}"}]
    assert {t["template"] for t in tasks.values()} >= {"sumsq", "bounds", "note", "twice"}


def test_a_sub_workflows_parallelism_bounds_its_own_dag(user_module, tmp_path):
    m = user_module(SUBS)

    @fp.workflow(parallelism=1)
    def one_at_a_time(n: int):
        return m.add(m.sq(n), m.sq(3))

    @fp.workflow
    def uses_it(n: int):
        return one_at_a_time(n)

    assert template(uses_it.render(n=2), "one-at-a-time")["parallelism"] == 1
    run = uses_it.run(run_dir=tmp_path / "runs", n=2)
    assert run.result() == 13
    squares = sorted((s for p, s in run.steps.items() if p.startswith("one-at-a-time/sq")),
                     key=lambda s: s["startedAt"])
    assert len(squares) == 2 and squares[0]["finishedAt"] <= squares[1]["startedAt"]  # one after the other


def test_recursion_renders_as_argos_coinflip_recursive(user_module, tmp_path):
    m = user_module(SUBS)
    manifest = render_checked(m.coinflip_recursive)
    assert manifest["spec"]["entrypoint"] == "coinflip-recursive"
    assert [t["name"] for t in manifest["spec"]["templates"]] == ["coinflip-recursive", "flip-coin", "say"]
    tasks = dag_tasks(manifest)
    assert tasks["coinflip-recursive"]["template"] == "coinflip-recursive"
    assert tasks["coinflip-recursive"]["when"] == "{{=tasks['flip-coin'].outputs.parameters['return'] == \"tails\"}}"
    run = m.coinflip_recursive.run(run_dir=tmp_path / "runs")
    # every level flips once; the last one came up heads and said so; every other one recursed
    flips = sorted((p for p, s in run.steps.items() if p.endswith("flip-coin") and s["phase"] == "Succeeded"), key=len)
    depth = len(flips)
    assert flips == ["/".join(["coinflip-recursive"] * i + ["flip-coin"]) for i in range(depth)]
    said = [p for p, s in run.steps.items() if p.endswith("say") and s["phase"] == "Succeeded"]
    assert said == ["/".join(["coinflip-recursive"] * (depth - 1) + ["say"])]


def test_a_recursive_workflow_returns_a_value(user_module, tmp_path):
    m = user_module(SUBS)
    assert [m.fact.run(run_dir=tmp_path / "runs", n=n).result() for n in (1, 2, 5)] == [1, 2, 120]


def test_coinflip_recursive_on_argos_controller(harness: Harness, user_module, tmp_path):
    m = user_module(SUBS)
    argo = harness.run(m.coinflip_recursive.render(), tmp_path / "store", timeout=120)
    assert argo.phase == "Succeeded", argo.message
    pods = {n.name.split(".", 1)[1]: n.phase for n in argo.nodes if n.type == "Pod"}
    depth = sum(1 for p in pods if p.endswith("flip-coin"))
    assert pods == {**{".".join(["coinflip-recursive"] * i + ["flip-coin"]): "Succeeded" for i in range(depth)},
                    ".".join(["coinflip-recursive"] * (depth - 1) + ["say"]): "Succeeded"}


def test_misuse_is_a_build_error_naming_the_workflow(user_module):
    m = user_module(SUBS)

    @fp.workflow
    def forever(n: int):
        forever(m.inc(n))

    with pytest.raises(fp.WorkflowBuildError, match="'forever' calls itself .*unconditionally.*when"):
        forever.render(n=1)

    @fp.workflow
    def unknowable(n: int):
        f = m.flip(n)
        unknowable(m.inc(n)).when(f == "tails")
        return m.inc(n)

    with pytest.raises(fp.WorkflowBuildError, match="'unknowable' calls itself and returns.*Annotate its return"):
        unknowable.render(n=1)

    @fp.workflow
    def pair(n: int):
        return m.sq(n), m.sq(n)

    @fp.workflow
    def uses_pair(n: int):
        return pair(n)

    with pytest.raises(fp.WorkflowBuildError, match="'pair'.*returns a tuple.*NamedTuple"):
        uses_pair.render(n=1)

    @fp.workflow
    def takes_list(xs: list):
        return m.total(m.sq.map(x=xs))

    @fp.workflow
    def passes_gathered(n: int):
        return takes_list(m.sq.map(x=[1, 2]))

    with pytest.raises(fp.WorkflowBuildError, match="'takes-list'.*argument 'xs'.*gathered from a map.*maps over it"):
        passes_gathered.render(n=1)

    @fp.workflow
    def takes_int(x: int):
        return m.sq(x).when(x > 1)

    @fp.workflow
    def passes_text(n: int):
        return takes_int(m.say("3"))

    with pytest.raises(fp.WorkflowBuildError, match="'takes-int'.*argument 'x' is JSON.*text"):
        passes_text.render(n=1)

    @fp.workflow
    def tests_text(s: str):
        return m.say(s).when(s == "x")

    @fp.workflow
    def passes_braces(n: int):
        return tests_text("a{{b}}")

    with pytest.raises(fp.WorkflowBuildError, match="'tests-text'.*argument 's' holds text Argo can't carry.*tests it"):
        passes_braces.render(n=1)

    @fp.workflow
    def passes_param(t: str):
        return tests_text(t)

    with pytest.raises(fp.WorkflowBuildError, match="parameter 't' holds text Argo can't carry.*'tests-text'.*'s'"):
        passes_param.render(t="p{{q}}")
    passes_param.render(t="plain")

    @fp.workflow(on_exit=m.notify)
    def with_exit(n: int):
        return m.sq(n)

    @fp.workflow
    def calls_with_exit(n: int):
        return with_exit(n)

    with pytest.raises(fp.WorkflowBuildError, match="'with-exit'.*on_exit.*on_exit\\(op\\)"):
        calls_with_exit.render(n=1)


def test_docker_runs_the_nested_dags_as_the_local_engine_does(user_module, tmp_path, docker_client):
    from flowpack._engine.docker import DockerEngine

    m = user_module(SUBS)
    local = m.calls.run(run_dir=tmp_path / "local", n=3)
    docker = m.calls.run(engine=DockerEngine(run_dir=tmp_path / "docker", client=docker_client), n=3)
    assert docker.record["engine"] == "docker"
    assert docker.result() == local.result() == (26, "hello", 365, 109)
    assert _local_view(docker) == _local_view(local)
