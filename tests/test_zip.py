"""Maps over several lists known only at run time, zipped (issue 16.6): `op.map(a=h1, b=h2)` runs op(a=h1[i],
b=h2[i]) for each i up to the shorter list, and every item's values arrive exactly (text that reads as JSON, quotes,
backslashes, control characters). Each case runs on the local engine and on Argo's own controller (the harness),
which must end the same way (workflow phase, node phases, outputs)."""

from __future__ import annotations

import pytest

import flowpack as fp
from both_engines import run_both
from helpers import dag_tasks, render_checked, template

OPS = '''
import flowpack as fp


@fp.op
def nums(n: int) -> list:
    return list(range(1, n + 1))


@fp.op
def words(n: int) -> list[str]:
    return ['say "hi"', "back\\\\slash", "123", "null", "é\\x07<&>"][:n]


@fp.op
def pair(a: int, b: str) -> str:
    return f"{a}:{b}"


@fp.op
def sq(x: int) -> int:
    return x * x


@fp.workflow
def outputs(n: int = 5):
    return pair.map(a=nums(n), b=words(5))


@fp.workflow
def shortest(n: int = 5):
    return pair.map(a=nums(n), b=words(2))


@fp.workflow
def parameters(xs: list = [1, 2], ys: list = ["a", "b", "c"]):
    return pair.map(a=xs, b=ys)


@fp.workflow
def gathered(n: int = 3):
    return pair.map(a=sq.map(x=nums(n)), b=words(n))
'''

WORDS = ['say "hi"', "back\\slash", "123", "null", "é\x07<&>"]


@pytest.mark.parametrize("name, params, expected", [
    ("outputs", {"n": 5}, [f"{i + 1}:{w}" for i, w in enumerate(WORDS)]),
    ("outputs", {"n": 0}, []),                                     # an empty list: no item, an empty result
    ("shortest", {}, ['1:say "hi"', "2:back\\slash"]),           # cut to the shorter list, as Python's zip
    ("parameters", {}, ["1:a", "2:b"]),                           # workflow parameters
    ("gathered", {}, ['1:say "hi"', "4:back\\slash", "9:123"]),   # a map's gathered result
])
def test_zipped_run_time_lists_as_on_argo(user_module, tmp_path, name, params, expected):
    m = user_module(OPS)
    assert run_both(getattr(m, name), params, tmp_path).local.result() == expected


def test_the_items_are_one_expression_without_braces(user_module):
    m = user_module(OPS)
    manifest = render_checked(m.outputs)
    outer = dag_tasks(manifest)["pair"]
    [lists] = [v["value"] for v in outer["arguments"]["parameters"]]
    assert lists.startswith("{{=toJson(map(sprig.until(min(len(sprig.fromJson(tasks['nums'].outputs")
    assert "{" not in lists[2:-2] and "}" not in lists[2:-2]  # nothing ends Argo's expression tag early
    assert outer["depends"] == "nums && words"
    [loop] = template(manifest, outer["template"])["dag"]["tasks"]
    assert loop["withParam"] == "{{inputs.parameters.p0}}"
    assert [p["value"] for p in loop["arguments"]["parameters"]] == ["{{item.a}}", "{{item.b}}"]


def test_misuse_is_refused_at_build_time(user_module):
    m = user_module(OPS)

    @fp.workflow
    def mixed(n: int = 2):
        return m.pair.map(a=m.nums(n), b=["x", "y"])

    with pytest.raises(fp.WorkflowBuildError, match=r"pair\.map\(\.\.\.\): maps over \['b'\] \(lists written in the "
                                                     r"workflow\) and \['a'\].*list-typed workflow parameters"):
        mixed.render()

    shell = fp.shell('echo "$a $b"', name="say", inputs={"a": int, "b": str})

    @fp.workflow
    def on_shell(n: int = 2):
        return shell.map(a=m.nums(n), b=m.words(n))

    with pytest.raises(fp.WorkflowBuildError, match="a shell step can't map over several lists known at run time"):
        on_shell.render()
