"""Map tolerance (issue 16.7): `op.map(xs, tolerate=N)` or `tolerate=fraction` succeeds when few enough items failed,
and the steps after it get the outputs of the items that succeeded. Each case runs on the local engine and on Argo's
own controller (the harness), which must end the same way (workflow phase, node phases, outputs)."""

from __future__ import annotations

import pytest

import flowpack as fp
from both_engines import local_view, run_both
from fixtures_docker import docker_client  # noqa: F401  (a pytest fixture)
from helpers import assert_map_option_refused, dag_tasks, render_checked, template

OPS = '''
from pathlib import Path

import flowpack as fp


@fp.op
def sq(x: int) -> int:
    if x < 0:
        raise ValueError("negative")
    return x * x


@fp.op
def total(xs: list) -> int:
    return sum(xs)


@fp.op
def make(n: int) -> list:
    return [n, -1, 2, -3]


@fp.op
def write(n: int) -> Path:
    if n < 0:
        raise ValueError("negative")
    p = Path("out.txt")
    p.write_text("x" * n)
    return p


@fp.op
def sizes(files: list[Path]) -> list:
    return [f.stat().st_size for f in files]


@fp.workflow
def counted():
    return total(sq.map(x=[1, -2, 3, -4], tolerate=2))


@fp.workflow
def counted_strictly():
    return total(sq.map(x=[1, -2, 3, -4], tolerate=1))


@fp.workflow
def fraction(n: int = 5):
    return total(sq.map(x=make(n), tolerate=0.5))


@fp.workflow
def fraction_strictly(n: int = 5):
    return total(sq.map(x=make(n), tolerate=0.25))


@fp.workflow
def every_item_failed():
    return total(sq.map(x=[-1, -2], tolerate=2))


@fp.workflow
def numbers(n: int = 0):
    return total(sq.map(x=fp.sequence(n), tolerate=1))


@fp.workflow
def from_minus_one():
    return total(sq.map(x=fp.sequence(start=-1, end=2), tolerate=1))


@fp.workflow
def files():
    return sizes(write.map(n=[2, -1, 5], tolerate=1))
'''


@pytest.mark.parametrize("name, params, phase, outputs, failed", [
    ("counted", {}, "Succeeded", {"return": "10"}, 2),             # 2 of 4 failed, 2 tolerated
    ("counted_strictly", {}, "Failed", {}, 2),                     # one too many: the map fails as without tolerance
    ("fraction", {}, "Succeeded", {"return": "29"}, 2),            # a run-time list, half of it may fail
    ("fraction_strictly", {}, "Failed", {}, 2),
    ("every_item_failed", {}, "Succeeded", {"return": "0"}, 2),    # no item succeeded: an empty list
    ("numbers", {"n": 0}, "Succeeded", {"return": "0"}, 0),        # no item at all: the check is omitted
    ("numbers", {"n": 3}, "Succeeded", {"return": "5"}, 0),
    ("from_minus_one", {}, "Succeeded", {"return": "5"}, 1),
    ("files", {}, "Succeeded", {"return": "[2,5]"}, 1),            # only the files of the items that succeeded
])
def test_a_tolerant_map_ends_as_on_argo(user_module, tmp_path, name, params, phase, outputs, failed):
    m = user_module(OPS)
    local = run_both(getattr(m, name), params, tmp_path).local
    assert local.phase == phase and local_view(local).outputs == outputs
    items = [s for s in local.steps.values() if "(" in s["name"]]
    assert sum(s["phase"] == "Failed" for s in items) == failed  # the failed items stay Failed


def test_the_check_is_a_suspend_after_the_loop(user_module):
    m = user_module(OPS)
    manifest = render_checked(m.counted)
    outer = dag_tasks(manifest)["sq"]
    loop_dag = template(manifest, outer["template"])["dag"]["tasks"]
    loop, check = loop_dag
    assert template(manifest, loop["template"])["outputs"]["parameters"][-1] == {
        "name": "fp-done", "valueFrom": {"path": "/tmp/flowpack/outputs/done/fp-done", "default": "1"}}
    assert check["depends"] == "(sq.Succeeded || sq.Failed || sq.Errored)"
    assert check["when"].startswith("{{=4 - (type(tasks['sq'].outputs.parameters) == 'string'")
    assert check["when"].endswith("<= 2}}")
    assert template(manifest, check["template"]) == {"name": check["template"], "suspend": {"duration": "0"}}


@pytest.mark.parametrize("tolerate", [-1, 1.0, 1.5, 0.0, True, "2"])
def test_a_bad_tolerance_is_refused_naming_the_map(user_module, tolerate):
    assert_map_option_refused(user_module(OPS).sq, "tolerate", tolerate,
                              r"sq\.map\(\.\.\.\): tolerate=.* must be how many items may fail")


def test_a_sequence_with_run_time_bounds_is_refused(user_module):
    m = user_module(OPS)

    @fp.workflow
    def bounds(a: int = 1):
        return m.sq.map(x=fp.sequence(start=a, end=3), tolerate=1)

    with pytest.raises(fp.WorkflowBuildError, match="map 'sq': tolerate= needs a sequence whose bounds are known"):
        bounds.render()


def test_the_local_check_reads_argos_gathered_values():
    from flowpack._engine._tolerance import check_expression, parse_check, total_of_list

    check = parse_check(check_expression("sq", total_of_list("inputs.parameters['p0']"), 0.25)[3:-2])
    values = {"inputs.parameters.p0": "[1,2,3,4]"}
    assert check.holds({**values, "tasks.sq.outputs.parameters.fp-done": '["1","1","1"]'})   # 1 of 4 failed
    assert not check.holds({**values, "tasks.sq.outputs.parameters.fp-done": '["1","1"]'})   # 2 of 4
    assert not check.holds(values)                                                            # none succeeded
    assert parse_check("4 - 2 <= 2") is None


def test_tolerance_in_docker(user_module, tmp_path, docker_client):
    from flowpack._engine.docker import DockerEngine

    m = user_module(OPS)
    run = m.counted.run(engine=DockerEngine(run_dir=tmp_path / "runs", client=docker_client))
    assert run.result() == 10

