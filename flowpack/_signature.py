"""Describe an op's inputs and outputs from a Python signature (checked at decoration time)."""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass, field
from typing import Mapping

from ._errors import OpDefinitionError
from ._names import PARAM_NAME
from ._types import ARTIFACT_PICKLE, PARAM, PATHS, Kind, encode, is_json_value, is_namedtuple, is_short_json, kind_of

_EMPTY = inspect.Parameter.empty


# The public names of a workflow handle (flowpack/_graph.Handle; tests/test_names_safety.py keeps the two in step):
# a NamedTuple output field can't share one, since `h.<field>` must reach the output.
HANDLE_ATTRIBUTES = frozenset({"after", "allow_failure", "branches", "kind", "on_exit", "output", "problem", "ref",
                               "task", "when"})


@dataclass(frozen=True)
class Input:
    """One input of an op: how it travels, and its default (as Argo text for parameters)."""

    name: str
    kind: Kind
    has_default: bool = False
    default: object = None
    annotation: object = inspect.Parameter.empty  # what values are checked against at build time

    @property
    def default_text(self) -> str | None:
        if not self.has_default or self.kind.how != PARAM:
            return None
        return encode(self.default, self.kind)


@dataclass(frozen=True)
class Interface:
    """Everything the template, the script and the builder need to know about an op's data."""

    inputs: dict[str, Input]
    outputs: dict[str, Kind]
    fields: tuple[str, ...] | None  # NamedTuple fields when the return gives several named outputs
    # The output also printed to stdout, so consumers read Argo's short `outputs.result` (a number, bool or None).
    result: str | None = None
    # Outputs that are Argo's list gathered from a map's items (a sub-workflow passing one on) -> the items' codec.
    gathered: Mapping[str, str] = field(default_factory=dict)


def _hints(func) -> dict:
    try:
        return typing.get_type_hints(func)
    except Exception:  # unresolvable forward references: fall back to the raw annotations
        return dict(getattr(func, "__annotations__", {}))


def describe(func, op_name: str) -> Interface:
    """Inputs from parameters, outputs from the return annotation; faults raise OpDefinitionError naming the fix."""
    sig = inspect.signature(func)
    hints = _hints(func)
    inputs: dict[str, Input] = {}
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            star = "*" if p.kind is p.VAR_POSITIONAL else "**"
            raise OpDefinitionError(
                f"op {op_name!r}: argument {star}{p.name} is not supported, because every input of a step must have "
                f"a name in the Argo template. Declare each input as a named argument (or pass a list or dict)."
            )
        if p.kind is p.POSITIONAL_ONLY:
            raise OpDefinitionError(
                f"op {op_name!r}: argument {p.name!r} is positional-only; steps receive inputs by name. Remove the '/'."
            )
        if not PARAM_NAME.match(p.name):
            raise OpDefinitionError(f"op {op_name!r}: argument name {p.name!r} is not a valid Argo parameter name.")
        kind = kind_of(hints[p.name]) if p.name in hints else ARTIFACT_PICKLE
        has_default = p.default is not _EMPTY
        if has_default and kind.how == PARAM and not is_json_value(p.default):
            raise OpDefinitionError(
                f"op {op_name!r}: the default of argument {p.name!r} ({p.default!r}) is not JSON, but the annotation "
                f"makes it an Argo parameter. Use a JSON default (for example None) or annotate it with a non-JSON "
                f"type."
            )
        inputs[p.name] = Input(p.name, kind, has_default, p.default if has_default else None,
                               hints.get(p.name, inspect.Parameter.empty))

    ret = hints.get("return", sig.return_annotation)
    fields = None
    if ret is None or ret is type(None):
        outputs: dict[str, Kind] = {}
    elif ret is _EMPTY:
        outputs = {"return": ARTIFACT_PICKLE}
    elif is_namedtuple(ret):
        field_hints = typing.get_type_hints(ret)
        fields = tuple(ret._fields)
        taken = sorted(set(fields) & HANDLE_ATTRIBUTES)
        if taken:
            raise OpDefinitionError(
                f"op {op_name!r}: the NamedTuple {ret.__name__!r} it returns has field {taken[0]!r}, which is also "
                f"the name of a method or attribute of the handle an op call returns in a workflow (h.{taken[0]} "
                f"could not reach the output). Rename the field."
            )
        outputs = {f: kind_of(field_hints.get(f, object)) for f in fields}
    else:
        outputs = {"return": kind_of(ret)}
    listed = sorted(n for n, k in outputs.items() if k.how == PATHS)
    if listed:
        raise OpDefinitionError(
            f"op {op_name!r}: output {listed[0]!r} is a list of files (list[Path]), which a step can't return yet. "
            f"Return one folder holding them (-> Path), or map an op returning one Path each (op.map(...)).")
    result = "return" if fields is None and outputs and is_short_json(ret) else None
    return Interface(inputs, outputs, fields, result)


def check_callable(func: object, what: str = "@fp.op") -> None:
    """Only plain Python functions (def / async def) can become steps."""
    if not inspect.isfunction(func):
        kind = "a builtin" if inspect.isbuiltin(func) else type(func).__name__
        raise OpDefinitionError(
            f"{what} needs a Python function defined with def; got {kind} {func!r}. Wrap it in a def."
        )
    if func.__name__ == "<lambda>":
        raise OpDefinitionError(
            f"{what} can't take a lambda (it has no name to give the step). Define it with def instead."
        )
