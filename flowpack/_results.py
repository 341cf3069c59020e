"""Workflow outputs as Python values, the same for every engine: how each output decodes, and the return shape."""

from __future__ import annotations

import json
from typing import Callable

from ._manifest import OUTPUTS_ANNOTATION
from ._types import Kind

_NONE = '{"shape":"none","kinds":{}}'


def shape_of(manifest: dict) -> dict:
    """The `flowpack.io/outputs` annotation: the return shape and how each named output decodes."""
    ann = (manifest.get("metadata") or {}).get("annotations") or {}
    return json.loads(ann.get(OUTPUTS_ANNOTATION, _NONE))


def output_kind(shape: dict, name: str, owner: str) -> Kind:
    kinds = shape.get("kinds", {})
    if name not in kinds:
        raise KeyError(f"{owner} has no output {name!r}; outputs: {sorted(kinds)}")
    return Kind(kinds[name]["how"], kinds[name]["codec"])


def rebuild(shape: dict, output: Callable[[str], object], result_type: type | None = None):
    """The body's return value from its named outputs: None, a value, a tuple, a dict or a NamedTuple."""
    kind = shape.get("shape")
    names = list(shape.get("kinds", {}))
    if kind == "none":
        return None
    if kind == "single":
        return output("return")
    if kind == "tuple":
        return tuple(output(n) for n in names)
    if kind == "dict":
        return {n: output(n) for n in names}
    if kind == "fields":
        values = {n: output(n) for n in shape.get("fields", names)}
        return result_type(**values) if result_type is not None else values
    raise ValueError(f"unknown output shape {kind!r}")
