"""Issue 12.8: a handle used where its value is needed, or a NamedTuple field named like a handle attribute, is a
clear build error naming the op and the argument (never a literal of the handle's repr passed on silently)."""

from __future__ import annotations

import dataclasses
import typing

import pytest

import flowpack as fp
from flowpack._handle import Handle
from flowpack._signature import HANDLE_ATTRIBUTES


@fp.op
def one(x: int) -> int:
    return x


@fp.op
def show(s: str) -> str:
    return s


@fp.op
def anything(v: object) -> str:
    return repr(v)


@dataclasses.dataclass
class Box:
    inner: object


def _render(body):
    @fp.workflow
    def wf(n: int = 1):
        return body(one(n))

    return wf.render(n=1)


@pytest.mark.parametrize("body, message", [
    (lambda h: show(str(h)), r"str\(<output return of task one>\) can't give the value"),
    (lambda h: show("%s" % h), r"str\(<output return of task one>\)"),
    (lambda h: anything({h}), r"op 'anything' argument 'v': a list, tuple, set or dict holding handles"),
    (lambda h: anything({h: 1}), r"op 'anything' argument 'v': a list, tuple, set or dict holding handles"),
    (lambda h: anything(frozenset([h])), r"op 'anything' argument 'v': a list, tuple, set or dict holding handles"),
    (lambda h: anything(Box(h)), r"op 'anything' argument 'v': the value holds <output return of task one>"),
], ids=["str", "percent", "set", "dict-key", "frozenset", "object-attribute"])
def test_a_hidden_or_stringified_handle_is_a_build_error(body, message):
    with pytest.raises(fp.WorkflowBuildError, match=message):
        _render(body)


def test_an_f_string_still_renders_argo_substitution():
    manifest = _render(lambda h: show(f"value is {h}"))
    args = [t for t in manifest["spec"]["templates"][0]["dag"]["tasks"] if t["template"] == "show"][0]["arguments"]
    assert "value is {{tasks.one.outputs.result}}" in str(args)


@pytest.mark.parametrize("field", sorted(HANDLE_ATTRIBUTES))
def test_a_namedtuple_field_named_like_a_handle_attribute_is_refused_at_decoration(field):
    Out = typing.NamedTuple("Out", [(field, int), ("other", int)])

    def stats(x):
        return Out(x, x)

    stats.__annotations__ = {"x": int, "return": Out}  # a class made here: no string annotation to resolve

    with pytest.raises(fp.OpDefinitionError, match=f"op 'stats': the NamedTuple 'Out' it returns has field '{field}'"):
        fp.op(stats)


def test_the_reserved_field_names_are_exactly_the_public_names_of_a_handle():
    public = {n for n in dir(Handle) if not n.startswith("_")}
    assert public == HANDLE_ATTRIBUTES
