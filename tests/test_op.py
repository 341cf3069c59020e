"""@fp.op outside a workflow is the plain function: same result, exceptions, metadata and signature."""

from __future__ import annotations

import asyncio
import inspect
import sys

import pytest

import flowpack as fp
from helpers import render_checked, template

MODULE = '''
import asyncio
import flowpack as fp


def plain_add(a: int, b: int = 1) -> int:
    """Add two numbers."""
    return a + b


@fp.op
def add(a: int, b: int = 1) -> int:
    """Add two numbers."""
    return a + b


@fp.op(image="registry.example/team/img:1.2", name="Custom_Name!", packages=["requests>=2"])
def configured(x: int, *, scale: float = 2.0) -> float:
    """Scale x."""
    return x * scale


def plain_div(a: float, b: float) -> float:
    return a / b


@fp.op
def div(a: float, b: float) -> float:
    return a / b


class Boom(Exception):
    pass


@fp.op
def boom(msg: str) -> None:
    raise Boom(msg)


@fp.op
async def later(x: int) -> int:
    await asyncio.sleep(0)
    return x * 10


@fp.op
def identity(v):
    return v


@fp.workflow
def pipeline(n: int = 3) -> int:
    x = add(n, 1)
    return add(x, x)
'''


@pytest.fixture
def mod(user_module):
    return user_module(MODULE)


def test_bare_and_configured_decorators_give_ops(mod):
    assert isinstance(mod.add, fp.Op)
    assert isinstance(mod.configured, fp.Op)
    assert mod.add(1, 2) == 3
    assert mod.add(1) == 2
    assert mod.add(b=5, a=1) == 6
    assert mod.configured(3) == 6.0
    assert mod.configured(3, scale=0.5) == 1.5


def test_plain_call_keeps_metadata_and_signature(mod):
    assert mod.add.__name__ == "add"
    assert mod.add.__qualname__ == "add"
    assert mod.add.__doc__ == "Add two numbers."
    assert mod.add.__module__ == mod.__name__
    assert inspect.signature(mod.add) == inspect.signature(mod.plain_add)
    assert str(inspect.signature(mod.add)) == "(a: int, b: int = 1) -> int"
    assert str(inspect.signature(mod.configured)) == "(x: int, *, scale: float = 2.0) -> float"
    assert mod.configured.__doc__ == "Scale x."
    assert mod.configured.__name__ == "configured"


@pytest.mark.parametrize("args, kwargs", [
    ((), {}),                 # missing argument
    ((1, 2, 3), {}),          # too many
    ((1,), {"c": 2}),         # unknown keyword
    ((1,), {"a": 2}),         # given twice
])
def test_plain_call_raises_the_same_type_errors(mod, args, kwargs):
    with pytest.raises(TypeError) as plain:
        mod.plain_add(*args, **kwargs)
    with pytest.raises(TypeError) as wrapped:
        mod.add(*args, **kwargs)
    assert type(wrapped.value) is type(plain.value)
    assert str(wrapped.value) == str(plain.value).replace("plain_add", "add")


def test_plain_call_propagates_user_exceptions_unchanged(mod):
    with pytest.raises(ZeroDivisionError) as plain:
        mod.plain_div(1, 0)
    with pytest.raises(ZeroDivisionError) as wrapped:
        mod.div(1, 0)
    assert str(wrapped.value) == str(plain.value)
    with pytest.raises(mod.Boom, match="^exact message$"):
        mod.boom("exact message")


def test_async_op_is_the_plain_coroutine_function(mod):
    assert inspect.iscoroutinefunction(mod.later.func)
    coro = mod.later(4)
    assert inspect.iscoroutine(coro)
    assert asyncio.run(coro) == 40


def test_unannotated_op_passes_any_object_through(mod):
    obj = object()
    assert mod.identity(obj) is obj


def test_workflow_called_plainly_runs_ops_in_process(mod):
    assert mod.pipeline(5) == 12
    assert mod.pipeline() == 8


def test_default_image_is_python_slim_of_this_minor_version(mod):
    expected = f"python:{sys.version_info[0]}.{sys.version_info[1]}-slim"
    assert expected == "python:3.11-slim"  # the project targets 3.11; the issue names this image
    assert mod.add.image == expected
    manifest = render_checked(mod.pipeline, n=5)
    assert template(manifest, "add")["script"]["image"] == expected


def test_op_options_reach_the_op_and_template(user_module):
    m = user_module(MODULE + '''

@fp.workflow
def uses_configured(n: int = 1) -> float:
    return configured(n)
''')
    assert m.configured.image == "registry.example/team/img:1.2"
    assert m.configured.packages == ("requests>=2",)
    assert m.configured.name == "custom-name"  # sanitised to a Kubernetes name
    manifest = render_checked(m.uses_configured)
    tpl = template(manifest, "custom-name")
    assert tpl["script"]["image"] == "registry.example/team/img:1.2"
    assert tpl["script"]["command"] == ["python"]


def test_op_call_inside_a_workflow_returns_a_handle_not_a_value(mod):
    seen = {}

    @fp.workflow
    def probe(n: int = 1):
        h = mod.add(n, 1)
        seen["h"] = h
        return h

    render_checked(probe)
    assert not isinstance(seen["h"], int)
    assert "add" in repr(seen["h"])
    # and afterwards the op is a plain function again
    assert mod.add(2, 2) == 4


def test_op_script_is_cached_and_template_is_one_per_op(mod):
    assert mod.add.script() is mod.add.script()
    assert mod.add.template() is mod.add.template()
