"""How a Python annotation travels between steps: the one table mapping types to Argo parameters and artifacts."""

from __future__ import annotations

import pathlib
import types
import typing
from dataclasses import dataclass

# How a value moves: as an Argo parameter (text), as a file/directory artifact, or as a pickled artifact.
PARAM = "param"
PATH = "path"
PICKLE = "pickle"

# Codecs for parameters: "text" passes a str through unchanged, "json" encodes everything else.
TEXT = "text"
JSON = "json"

_JSON_SCALARS = (int, float, str, bool, type(None))
_JSON_CONTAINERS = (list, dict, tuple)


@dataclass(frozen=True)
class Kind:
    """How one input or output travels: `how` is PARAM, PATH or PICKLE; `codec` applies to PARAM only."""

    how: str
    codec: str = JSON
    is_list: bool = False  # a list value: map() fans out over it


PARAM_TEXT = Kind(PARAM, TEXT)
PARAM_JSON = Kind(PARAM, JSON)
LIST_JSON = Kind(PARAM, JSON, True)
ARTIFACT_PATH = Kind(PATH)
ARTIFACT_PICKLE = Kind(PICKLE)


def kind_of(annotation: object) -> Kind:
    """The table: str -> text parameter; JSON-representable types -> JSON parameter; Path -> artifact; else pickle."""
    if annotation is str:
        return PARAM_TEXT
    if _is_path(annotation):
        return ARTIFACT_PATH
    if _is_json(annotation):
        listy = annotation in (list, tuple, typing.List, typing.Tuple) or typing.get_origin(annotation) in (list, tuple)
        return LIST_JSON if listy else PARAM_JSON
    return ARTIFACT_PICKLE


def _is_path(annotation: object) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, pathlib.PurePath)


def _is_json(annotation: object) -> bool:
    """True for int, float, str, bool, None, list/dict/tuple and their typing forms, Optional/Union of those."""
    if annotation is None or annotation in _JSON_SCALARS or annotation in _JSON_CONTAINERS:
        return True
    if annotation in (typing.List, typing.Dict, typing.Tuple):  # noqa: UP006 - the bare typing forms
        return True
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return all(_is_json(a) for a in args)
    if origin in _JSON_CONTAINERS:
        if origin is dict and args and args[0] is not str:
            return False  # JSON object keys are strings: other keys would not round-trip
        return all(a is Ellipsis or _is_json(a) for a in args)
    if origin is typing.Literal:
        return all(isinstance(a, _JSON_SCALARS) for a in args)
    return False


def is_short_json(annotation: object) -> bool:
    """Numbers, booleans, None and literals: JSON whose text stays short, so it fits in Argo's stdout `result`."""
    if annotation is None or annotation in (int, float, bool, type(None)):
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return all(is_short_json(a) for a in typing.get_args(annotation))
    return origin is typing.Literal and _is_json(annotation)


def is_namedtuple(annotation: object) -> bool:
    """A typing.NamedTuple class: its fields become several named outputs."""
    return isinstance(annotation, type) and issubclass(annotation, tuple) and hasattr(annotation, "_fields") and hasattr(
        annotation, "__annotations__"
    )


def is_json_value(value: object) -> bool:
    """True when a concrete value round-trips through JSON unchanged (used for defaults and literals)."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return True
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))
    if isinstance(value, list):
        return all(is_json_value(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_json_value(v) for k, v in value.items())
    return False


def encode(value: object, kind: Kind) -> str:
    """A parameter value as Argo text."""
    import json

    if kind.codec == TEXT and isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def decode(text: str, kind: Kind) -> object:
    """Argo text back to a Python value (the step script has its own copy of this rule, in templates/step.py.j2)."""
    import json

    if kind.codec == TEXT:
        return text
    return json.loads(text)
