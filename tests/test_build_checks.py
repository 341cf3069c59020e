"""Bad names and values are refused at build time with flowpack errors (issue 12, items 12, 18, 20)."""

from __future__ import annotations

import pytest

import flowpack as fp
from flowpack._errors import OpDefinitionError, WorkflowBuildError
from helpers import render_checked, run_checked

NAMES = '''
import flowpack as fp

@fp.op(name="wf1")
def notify(status: str = "") -> None:
    print(status)

@fp.op
def add(a: int) -> int:
    return a + 1

@fp.workflow(name="wf1", on_exit=notify)
def exit_named_like_workflow(n: int = 1) -> int:
    return add(n)

@fp.op(name="wf2-exit")
def other(a: int) -> int:
    return a * 10

@fp.op
def notify2(status: str = "") -> None:
    print(status)

@fp.workflow(name="wf2", on_exit=notify2)
def op_named_like_exit(n: int = 1) -> int:
    return other(n)

@fp.op(name="sq-loop")
def sq_loop(a: int) -> int:
    return a + 100

@fp.op
def sq(x: int) -> int:
    return x * x

@fp.workflow
def loop_beside_op(n: int = 1) -> tuple:
    return sq_loop(n), sq.map(x=[1, 2, 3], parallelism=2)

@fp.workflow
def op_after_loop(n: int = 1) -> tuple:
    return sq.map(x=[1, 2, 3], parallelism=2), sq_loop(n)

@fp.op(name="a" * 60)
def long_name(x: int) -> int:
    return x + 1

@fp.workflow
def long_bounded_map() -> list:
    return long_name.map(x=[1, 2], parallelism=1)
'''


def _names(manifest: dict) -> list[str]:
    return [t["name"] for t in manifest["spec"]["templates"]]


def test_manifest_names_never_collide_and_every_run_gives_the_right_values(user_module, tmp_path):
    m = user_module(NAMES)
    for wf in (m.exit_named_like_workflow, m.op_named_like_exit, m.loop_beside_op, m.op_after_loop,
               m.long_bounded_map):
        names = _names(render_checked(wf))
        assert len(names) == len(set(names)), names
        assert all(len(n) <= 63 for n in names), names
    manifest = m.exit_named_like_workflow.render()
    entry, on_exit = manifest["spec"]["entrypoint"], manifest["spec"]["onExit"]
    assert entry != "wf1" and "wf1" in _names(manifest) and on_exit not in (entry, "wf1")
    assert run_checked(m.exit_named_like_workflow, tmp_path, n=4).result() == 5
    assert run_checked(m.op_named_like_exit, tmp_path, n=4).result() == 40
    assert run_checked(m.loop_beside_op, tmp_path, n=1).result() == (101, [1, 4, 9])
    assert run_checked(m.op_after_loop, tmp_path, n=1).result() == ([1, 4, 9], 101)
    assert run_checked(m.long_bounded_map, tmp_path).result() == [2, 3]


def test_duplicate_template_names_are_a_manifest_error():
    from flowpack._errors import ManifestError
    from flowpack._validate import check_manifest

    manifest = {"spec": {"entrypoint": "a", "templates": [{"name": "a", "dag": {"tasks": []}},
                                                          {"name": "a", "container": {"image": "x"}}]}}
    with pytest.raises(ManifestError, match="two templates share the name"):
        check_manifest(manifest)


@pytest.mark.parametrize("name", ["a/b", "has space", "", "..", "1abc", "x\n", "a-b"])
def test_shell_output_names_are_checked(name):
    with pytest.raises(OpDefinitionError, match="output name"):
        fp.shell("echo hi > /tmp/o", name="s", outputs={name: fp.Parameter("/tmp/o")})
    with pytest.raises(OpDefinitionError, match="output name"):
        fp.shell("echo hi > /tmp/o", name="s", outputs={name: fp.Artifact("/tmp/o")})


VALUES = '''
import flowpack as fp
from typing import Optional

@fp.op
def add(a: int, b: int = 1) -> int:
    return a + b

@fp.op
def echo(s: str) -> str:
    return s

@fp.workflow
def ints(n: int = 3) -> int:
    return add(n, 1)

@fp.workflow
def texts(s: str = "x") -> str:
    return echo(s)

@fp.workflow
def maybe(s: Optional[str] = None, xs: list[int] = []) -> str:
    return echo("ok")

@fp.workflow
def plus(n: int = 3) -> int:
    h = add(n)
    return add(h + 1)

@fp.workflow
def literal_str_for_int() -> int:
    return add("5")

sh = fp.shell('printf %s "$msg" > /tmp/o', name="sh", inputs={"msg": str}, outputs={"o": fp.Parameter("/tmp/o")})

@fp.workflow
def shell_param(m: str = "x") -> str:
    return sh(msg=m)

@fp.workflow
def shell_nul_literal() -> str:
    return sh(msg="a\\x00b")

@fp.workflow
def shell_big_literal() -> str:
    return sh(msg="a" * 200000)
'''


@pytest.mark.parametrize("wf, params, match", [
    ("texts", {"s": "\ud800"}, "lone surrogate"),
    ("ints", {"n": object()}, "not JSON data"),
    ("ints", {"n": 10 ** 5000}, "more than 4300 digits"),
    ("ints", {"n": "5"}, "parameter 'n': expected int, got str '5'"),
    ("ints", {"n": True}, "expected int, got bool"),
    ("ints", {"n": float("nan")}, "not a JSON number"),
    ("maybe", {"xs": [1, "2"]}, "expected list\\[int\\]"),
    ("maybe", {"xs": [1, float("inf")]}, "item 1: inf is not a JSON number"),
    ("maybe", {"s": 5}, "expected Optional\\[str\\]"),
    ("plus", {}, "arithmetic"),
    ("literal_str_for_int", {}, "argument 'a': expected int, got str '5'"),
    # a NUL travels encoded like every control character (e98de73), which a shell step can't decode
    ("shell_param", {"m": "a\x00b"}, "control characters.*the shell step 'sh' can't decode it.*Path parameter"),
    ("shell_param", {"m": "a" * (128 * 1024)}, "less than 128 KiB"),
    ("shell_nul_literal", {}, "NUL character"),
    ("shell_big_literal", {}, "less than 128 KiB"),
])
def test_bad_values_are_build_errors_on_render_and_run(user_module, tmp_path, wf, params, match):
    m = user_module(VALUES)
    with pytest.raises(WorkflowBuildError, match=match):
        getattr(m, wf).render(**params)
    with pytest.raises(WorkflowBuildError, match=match):
        getattr(m, wf).run(run_dir=tmp_path / "runs", **params)
    assert not (tmp_path / "runs").exists()  # refused before anything ran


def test_values_that_fit_their_annotations_still_run(user_module, tmp_path):
    m = user_module(VALUES)
    assert run_checked(m.ints, tmp_path, n=10 ** 50).result() == 10 ** 50 + 1
    assert run_checked(m.maybe, tmp_path, s=None, xs=[1, 2]).result() == "ok"
    assert run_checked(m.shell_param, tmp_path, m="é " * 1000).result() == "é " * 1000
