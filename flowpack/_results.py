"""Workflow outputs as Python values, the same for every engine: how each output decodes, and the return shape."""

from __future__ import annotations

import enum
import hashlib
import json
import pickle
import sys
from pathlib import Path
from typing import Callable

from ._engine._record import step_records
from ._errors import ArtifactIntegrityError
from ._manifest import OUTPUTS_ANNOTATION
from ._records import NamedValues
from ._types import PARAM, TEXT, Kind, decode, unmarked
from ._wire import DIGEST_PREFIX

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
    each = (shape.get("kinds", {}).get(name) or {}).get("each")
    if each is None:
        return decode(text, kind)
    items = json.loads(text)  # Argo's aggregate itself is never encoded: only the items' texts and strings inside
    if not isinstance(items, list):
        return unmarked(items)
    if each == TEXT:  # text items Argo decoded (every one was JSON-object or -list text) are text again
        return [decode(v, Kind(PARAM, each)) if isinstance(v, str) else
                json.dumps(unmarked(v), separators=(",", ":"), ensure_ascii=False) for v in items]
    return [decode(v, Kind(PARAM, each)) if isinstance(v, str) else unmarked(v) for v in items]


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


def load_pickled(data: bytes, sha256: str | None, what: str = "a pickled output") -> object:
    """A value a step pickled, unpickled only once `data` hashes to `sha256` (the digest the step reported: a pickle
    runs code as it loads). Instances of the user's classes that travelled by value get their real class back."""
    digest = hashlib.sha256(data).hexdigest()
    if not sha256 or digest != sha256:
        raise ArtifactIntegrityError(
            f"{what}: its bytes hash to sha256 {digest}, but the step reported {sha256 or 'no digest'}; it was "
            f"changed or replaced after the step wrote it, so it is not unpickled (unpickling runs code). Check who "
            f"can write to the artifact store, then run the workflow again.")
    # lazy: cloudpickle loads only for pickled values
    import cloudpickle  # noqa: F401 - values pickled by value need it loaded

    value = pickle.loads(data)
    if b"_make_skeleton_class" in data:  # cloudpickle rebuilt some class by value
        _adopt_classes(value)
    return value


def step_digest(run_path, key: str) -> str | None:
    """The sha256 the step that stored artifact `key` reported for it (its `sha256-<output>` output parameter, in
    its step.json), as fetch's `reported_digest` finds it in an Argo workflow's status."""
    for _, record in step_records(Path(run_path)):
        outputs = record.outputs or NamedValues()
        for name, ref in outputs.artifacts.items():
            if isinstance(ref, dict) and ref.get("key") == key:
                return outputs.parameters.get(DIGEST_PREFIX + name)
    return None


def _real_class(cls: type) -> type | None:
    """The importable class of the same module and qualified name as the by-value copy `cls`, if there is one."""
    obj: object = sys.modules.get(getattr(cls, "__module__", None) or "")
    for part in cls.__qualname__.split("."):  # own namespaces only: a class named `__class__` is not the module's type
        namespace = getattr(obj, "__dict__", None)
        obj = namespace.get(part) if namespace is not None else None
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
