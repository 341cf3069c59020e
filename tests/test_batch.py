"""Batched maps (issue 16.11): `op.map(xs, batch=N)` runs up to N items per pod, in order, in one process, and the
steps after it get the flat list of results in item order, as without batch=. Each case runs on the local engine and
on Argo's own controller (the harness, every pinned Argo version), which must end the same way (workflow phase, node
phases, outputs), and the result is compared with the same map without batch=."""

from __future__ import annotations

import base64
import json

import pytest

import flowpack as fp
from argo_harness import Harness
from both_engines import local_view, run_both
from fixtures_docker import docker_client  # noqa: F401  (a pytest fixture)
from helpers import assert_map_option_refused, dag_tasks, render_checked, template

OPS = '''
import os

import flowpack as fp


@fp.op
def sq(x: int, plus: int = 0) -> int:
    if x < 0:
        raise ValueError("negative")
    return x * x + plus


@fp.op
def tagged(x: str) -> dict:
    return {"x": x, "pid": os.getpid()}


@fp.op
def texts(x: str) -> str:
    return x + "!"


@fp.op
def make(n: int) -> list:
    return list(range(n))


@fp.op
def words(n: int) -> list[str]:
    return ["007", "null", 'say "hi"', "a<b>&c", "{}", "x"][:n]


@fp.op
def ten() -> int:
    return 10


@fp.op
def echo(xs: list) -> list:
    return xs


@fp.workflow
def written(batch: int = 2):
    return echo(sq.map(x=[1, 2, 3, 4, 5], batch=2))


@fp.workflow
def written_whole():
    return echo(sq.map(x=[1, 2, 3, 4, 5]))


@fp.workflow
def written_empty():
    return echo(sq.map(x=[], batch=3))


@fp.workflow
def at_run_time(n: int = 7):
    return echo(sq.map(x=make(n), plus=ten(), batch=3))


@fp.workflow
def at_run_time_whole(n: int = 7):
    return echo(sq.map(x=make(n), plus=ten()))


@fp.workflow
def text_items(n: int = 6):
    return echo(texts.map(x=words(n), batch=4))


@fp.workflow
def text_items_whole(n: int = 6):
    return echo(texts.map(x=words(n)))


@fp.workflow
def a_failing_item():
    return echo(sq.map(x=[1, 2, -3, 4, 5], batch=2))


@fp.workflow
def one_process():
    return echo(tagged.map(x=["a", "b", "c", "d", "e"], batch=3))
'''


@pytest.mark.parametrize("name, params, phase, items, outputs", [
    ("written", {}, "Succeeded", ["sq(0)", "sq(1)", "sq(2)"], "[1,4,9,16,25]"),  # 5 items, batches of 2: 3 pods
    ("written_empty", {}, "Succeeded", [], "[]"),                                # no item: no pod, the empty list
    ("at_run_time", {"n": 7}, "Succeeded", ["sq(0)", "sq(1)", "sq(2)"], "[10,11,14,19,26,35,46]"),  # 3 + 3 + 1
    ("at_run_time", {"n": 6}, "Succeeded", ["sq(0)", "sq(1)"], "[10,11,14,19,26,35]"),
    ("at_run_time", {"n": 0}, "Succeeded", [], "[]"),                            # an empty run-time list
    # a list that may hold text and other values (echo's `-> list`) carries text Argo v3 would paste escaped encoded
    ("text_items", {"n": 6}, "Succeeded", ["texts(0)", "texts(1)"],
     '["007!","null!","fp-b64:%s","a<b>&c!","{}!","x!"]' % base64.b64encode(b'say "hi"!').decode()),
    ("a_failing_item", {}, "Failed", ["sq(0)", "sq(1)", "sq(2)"], None),         # the failing item fails its batch
])
def test_a_batched_map_ends_as_on_argo(harness: Harness, user_module, tmp_path, name, params, phase, items, outputs):
    m = user_module(OPS)
    local = run_both(getattr(m, name), params, tmp_path, version=harness.version).local
    assert local.phase == phase and local_view(local).outputs == ({"return": outputs} if outputs else {})
    assert sorted(s["name"] for s in local.steps.values() if "(" in s["name"]) == items
    if phase == "Failed":
        assert [s["phase"] for s in local.steps.values() if "(" in s["name"]].count("Failed") == 1
        return
    whole = getattr(m, name + "_whole", None)
    if whole is not None:  # the same map without batch= gives the same list, item for item
        assert local.result() == whole.run(run_dir=tmp_path / "whole", **params).result()


def test_results_are_in_item_order(user_module, tmp_path):
    m = user_module(OPS)
    assert m.written.run(run_dir=tmp_path / "a").result() == [1, 4, 9, 16, 25]
    assert m.at_run_time.run(run_dir=tmp_path / "b", n=7).result() == [10, 11, 14, 19, 26, 35, 46]
    assert m.written_empty.run(run_dir=tmp_path / "c").result() == []
    assert m.text_items.run(run_dir=tmp_path / "d").result() == ["007!", "null!", 'say "hi"!', "a<b>&c!", "{}!", "x!"]


def test_a_batch_runs_its_items_in_one_process(user_module, tmp_path):
    m = user_module(OPS)
    out = m.one_process.run(run_dir=tmp_path / "runs").result()
    assert [o["x"] for o in out] == ["a", "b", "c", "d", "e"]
    pids = [o["pid"] for o in out]
    assert pids[0] == pids[1] == pids[2] and pids[3] == pids[4] and pids[2] != pids[3]


def test_it_renders_as_a_loop_over_chunks(user_module):
    m = user_module(OPS)
    manifest = render_checked(m.written)
    outer = dag_tasks(manifest)["sq"]
    loop_dag = template(manifest, outer["template"])
    (loop,) = loop_dag["dag"]["tasks"]
    assert loop["withItems"] == [[1, 2], [3, 4], [5]]
    assert {"name": "fp-batch", "value": "x"} in loop["arguments"]["parameters"]
    assert loop_dag["outputs"]["parameters"] == [{"name": "return", "valueFrom": {
        "expression": "toJson(flatten(sprig.fromJson(tasks['sq'].outputs.parameters['return'])))", "default": "[]"}}]
    run_time = render_checked(m.at_run_time)
    outer = dag_tasks(run_time)["sq"]
    assert json.dumps(outer).count("sprig.chunk(3, sprig.fromJson(tasks['make'].outputs.parameters['return']))") == 1


@pytest.mark.parametrize("batch", [0, -1, 1.5, True, "50", None.__class__])
def test_a_bad_batch_is_refused_naming_the_map(user_module, batch):
    assert_map_option_refused(user_module(OPS).sq, "batch", batch,
                              r"sq\.map\(\.\.\.\): batch=.* must be how many items each pod")


def test_unsupported_combinations_are_refused(user_module):
    m = user_module(OPS + '''

from pathlib import Path


@fp.op
def write(n: int) -> Path:
    p = Path("out.txt")
    p.write_text("x" * n)
    return p


@fp.op(cache=True)
def cached(x: int) -> int:
    return x
''')

    def refused(body, match):
        wf = fp.workflow(body)
        with pytest.raises(fp.WorkflowBuildError, match=match):
            wf.render()

    def tolerant():
        return m.sq.map(x=[1, 2], tolerate=1, batch=2)

    def files():
        return m.write.map(n=[1, 2], batch=2)

    def zipped():
        return m.sq.map(x=[1, 2], plus=[3, 4], batch=2)

    def sequence():
        return m.sq.map(x=fp.sequence(3), batch=2)

    def cached():
        return m.cached.map(x=[1, 2], batch=2)

    def per_item():
        return m.sq.map(x=[1, 2], batch=2).when(fp.item > 1)

    refused(tolerant, r"sq\.map\(\.\.\.\): batch= and tolerate= together are not supported")
    refused(files, r"write\.map\(\.\.\.\): batch= needs an op whose outputs are values; \['return'\]")
    refused(zipped, r"sq\.map\(\.\.\.\): batch= maps over one list; zipped lists \['plus', 'x'\]")
    refused(sequence, r"batch= with fp\.sequence\(\.\.\.\) is not supported")
    refused(cached, r"cached\.map\(\.\.\.\): batch= with an op made with cache=True is not supported")
    refused(per_item, r"a condition per item is not supported with batch=")


def test_the_local_expressions_read_argos_values():
    from flowpack._engine._batch import chunk_expression, flatten_expression, parse_chunk, parse_flatten

    chunk = parse_chunk(chunk_expression("{{tasks.make.outputs.parameters.return}}", 2)[3:-2])
    assert chunk is not None and chunk.items({"tasks.make.outputs.parameters.return": '[1,"a",3]'}) == '[[1,"a"],[3]]'
    flat = parse_flatten(flatten_expression("sq", "return"))
    assert flat is not None and flat.value({"tasks.sq.outputs.parameters.return": '[["1","4"],["9"]]'}) == \
        '["1","4","9"]'
    assert parse_chunk("toJson(x)") is None and parse_flatten("toJson(x)") is None


@pytest.mark.parametrize("name, params", [("at_run_time", {"n": 7}), ("at_run_time", {"n": 0}),
                                          ("text_items", {"n": 6})])
def test_the_gathered_list_is_the_unbatched_maps_on_argo(user_module, tmp_path, name, params):
    """What the map hands on, as Argo's controller gathers it: the same text with batch= and without."""
    import argo_harness

    m = user_module(OPS)

    def gathered(wf, store):
        result = argo_harness.run(render_checked(wf, **params), store, timeout=180)
        (node,) = [n for n in result.nodes if n.type == "DAG" and n.display_name in ("sq", "texts")]
        return result.phase, (node.outputs or {}).get("parameters")

    batched = gathered(getattr(m, name), tmp_path / "a")
    assert batched[0] == "Succeeded" and batched[1] and batched == gathered(getattr(m, name + "_whole"), tmp_path / "b")


def test_a_batched_map_in_docker(user_module, tmp_path, docker_client):
    from flowpack._engine.docker import DockerEngine

    m = user_module(OPS)
    run = m.at_run_time.run(engine=DockerEngine(run_dir=tmp_path / "runs", client=docker_client), n=5)
    assert run.result() == [10, 11, 14, 19, 26]
