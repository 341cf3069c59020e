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


def decode_parameter(shape: dict, name: str, text: str, kind: Kind) -> object:
    """A parameter output as a value. A map's gathered output (`each` in its record) is a list Argo built from the
    items' texts unless every item was a JSON object or list: such items are decoded one by one."""
    from ._types import PARAM, decode

    value = decode(text, kind)
    each = (shape.get("kinds", {}).get(name) or {}).get("each")
    if each is not None and isinstance(value, list):
        value = [decode(v, Kind(PARAM, each)) if isinstance(v, str) else v for v in value]
    return value


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


def load_pickled(data: bytes) -> object:
    """A value a step pickled. Instances of the user's classes that travelled by value get their real class back."""
    import pickle

    import cloudpickle  # noqa: F401 - values pickled by value need it loaded

    value = pickle.loads(data)
    if b"_make_skeleton_class" in data:  # cloudpickle rebuilt some class by value
        _adopt_classes(value)
    return value


def _real_class(cls: type) -> type | None:
    """The importable class of the same module and qualified name as the by-value copy `cls`, if there is one."""
    import enum
    import sys

    obj: object = sys.modules.get(getattr(cls, "__module__", None) or "")
    for part in cls.__qualname__.split("."):
        obj = getattr(obj, part, None)
    if not isinstance(obj, type) or obj is cls or issubclass(obj, enum.Enum) or obj.__name__ != cls.__name__:
        return None
    return obj


def _adopt_classes(value: object) -> None:
    """Walk containers and instance attributes, switching each by-value class copy to the real class."""
    plain = (int, float, complex, str, bytes, bool, type(None))
    real: dict[type, type | None] = {}
    seen: set[int] = set()
    stack = [value]
    while stack:
        obj = stack.pop()
        t = type(obj)
        if t in plain or id(obj) in seen:
            continue
        seen.add(id(obj))
        if t.__module__ != "builtins":
            if t not in real:
                real[t] = _real_class(t)
            if real[t] is not None:
                try:
                    object.__setattr__(obj, "__class__", real[t])
                except TypeError:  # a different layout (e.g. other __slots__): keep the copy
                    real[t] = None
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend(obj)
        attrs = getattr(obj, "__dict__", None)
        if isinstance(attrs, dict):
            stack.extend(attrs.values())
