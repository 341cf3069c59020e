"""How a Python annotation travels between steps: the one table mapping types to Argo parameters and artifacts."""

from __future__ import annotations

import base64
import json
import pathlib
import re
import types
import typing
import unicodedata
from dataclasses import dataclass
from enum import StrEnum


class How(StrEnum):
    """How a value moves: as an Argo parameter (text), a file or folder artifact, a pickled artifact, or a list of
    files (`list[Path]`: a folder of the items' artifacts and their names in order, _fanin). Its text is what the
    step script's spec and the manifests carry."""

    PARAM = "param"
    PATH = "path"
    PICKLE = "pickle"
    PATHS = "paths"


class Codec(StrEnum):
    """How a parameter's value is text: "text" passes a str through unchanged, "json" encodes everything else."""

    TEXT = "text"
    JSON = "json"


PARAM, PATH, PICKLE, PATHS = How.PARAM, How.PATH, How.PICKLE, How.PATHS
TEXT, JSON = Codec.TEXT, Codec.JSON

_JSON_SCALARS = (int, float, str, bool, type(None))
_JSON_CONTAINERS = (list, dict, tuple)


@dataclass(frozen=True)
class Kind:
    """How one input or output travels: `how` is PARAM, PATH or PICKLE; `codec` applies to PARAM only."""

    how: How
    codec: Codec = JSON
    is_list: bool = False  # a list value: map() fans out over it


PARAM_TEXT = Kind(PARAM, TEXT)
PARAM_JSON = Kind(PARAM, JSON)
LIST_JSON = Kind(PARAM, JSON, True)
ARTIFACT_PATH = Kind(PATH)
ARTIFACT_PICKLE = Kind(PICKLE)
ARTIFACT_PATHS = Kind(PATHS, is_list=True)


def kind_of(annotation: object) -> Kind:
    """The table: str -> text parameter; JSON-representable types -> JSON parameter; Path -> artifact; list[Path] ->
    a list of files; else pickle."""
    if annotation is str:
        return PARAM_TEXT
    if _is_path(annotation):
        return ARTIFACT_PATH
    if typing.get_origin(annotation) is list and [_is_path(a) for a in typing.get_args(annotation)] == [True]:
        return ARTIFACT_PATHS
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
    return (isinstance(annotation, type) and issubclass(annotation, tuple) and hasattr(annotation, "_fields")
            and hasattr(annotation, "__annotations__"))


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
    """A parameter value as Argo text (before `protect`, which the builder applies where a step decodes it)."""
    if kind.codec == TEXT and isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def decode(text: str, kind: Kind) -> object:
    """Argo text back to a Python value, as the step script reads it (templates/step.py.j2 has the step's copy).

    Text behind MARKER is always a string, whatever the codec: a protected text value, or a string item that
    Argo pasted bare out of a list (see `bare_items`)."""
    if text.startswith(MARKER):
        return _unprotected(text)  # exact: nothing inside is marked
    if kind.codec == TEXT:
        return text
    return unmarked(json.loads(text))


# ---------------------------------------------------------------------------------------------------------- wire
# Argo substitutes a parameter through Go's strconv.Quote and then needs valid JSON: control bytes other than tab,
# newline and carriage return, DEL and unprintable characters beyond the BMP break a node, and '{{' is read as an
# expression. Such text travels base64-encoded behind MARKER (printable); so does any text beginning with MARKER or a
# codec tag, so that a user's text never looks encoded. Inside JSON values the rule applies to each string.
MARKER = "fp-b64:"
# A value wired from a producer of the other codec, or gathered by Argo from a map's items, carries its codec.
TAGS: dict[str, tuple[Codec, bool]] = {
    "fp-text:": (TEXT, False), "fp-json:": (JSON, False), "fp-each-text:": (TEXT, True), "fp-each-json:": (JSON, True)}


def wire_tag(codec: Codec, gathered: bool, consumer: Codec | None = None) -> str:
    """The tag before a reference to a producer's output: Argo's list of a map's items (`gathered`), or a value of a
    codec other than the `consumer`'s (None: a pickled input, always tagged). Empty when nothing needs saying."""
    if gathered:
        return f"fp-each-{codec}:"
    return "" if codec == consumer else f"fp-{codec}:"


UNSAFE = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\{\{"
# What Argo pastes into a loop's `{{item.key}}` (and, on v3, `{{item}}`) with its JSON escape (Item.String): quotes,
# backslashes, control characters, U+2028 and U+2029. A Python step gets such an item's text encoded behind MARKER.
ITEM_ESCAPED = '["\\\\\x00-\x1f\x7f\u2028\u2029]'
# A parameter whose text is over flowpack._bigvalue.BIG_VALUE holds this marker; its text travels as an artifact.
BIG = "fp-big:"
_PREFIXES = (MARKER, *TAGS, BIG)


def _compiled():
    global _UNSAFE_RE, _ASTRAL_RE
    if _UNSAFE_RE is None:
        _UNSAFE_RE, _ASTRAL_RE = re.compile(UNSAFE), re.compile("[\U00010000-\U0010ffff]")
    return _UNSAFE_RE, _ASTRAL_RE


_UNSAFE_RE = _ASTRAL_RE = None


def needs_marker(text: str) -> bool:
    """Whether Argo could not carry `text` unchanged, or a step would mistake it for encoded text."""
    unsafe, astral = _compiled()
    if text.startswith(_PREFIXES) or unsafe.search(text) is not None:
        return True
    return any(unicodedata.category(c)[0] not in "LMNPS" for c in astral.findall(text))


@typing.overload
def protect(text: str, codec: str = ...) -> str: ...


@typing.overload
def protect(text: str | None, codec: str = ...) -> str | None: ...


def protect(text: str | None, codec: str = TEXT) -> str | None:
    """`text` (of `codec`) as Argo can carry it to a step script, which decodes it.

    Text travels base64-encoded behind MARKER when it must; in JSON text each string that must is encoded on its own
    (a list stays a list for Argo's loops), and the step decodes every string that begins with MARKER."""
    if text is None:
        return None
    if codec == JSON:
        if MARKER not in text and "\\u" not in text and not needs_marker(text):  # "\\u": an escaped control byte
            return text

        return json.dumps(_marked(json.loads(text)), separators=(",", ":"), ensure_ascii=False)
    if not needs_marker(text):
        return text
    return _encoded(text)


def reads_as_json(text: str) -> bool:
    """Whether `text` parses as JSON (`"123"`, `"null"`, `" [1]"`): pasted bare, it would pass for another type."""
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def bare_items(annotation: object) -> bool:
    """Whether a list of this annotation may hold both text and other values (`list`, `list[Any]`,
    `list[Optional[str]]`): Argo pastes a loop's string item bare (`{{item}}` of `"123"` and of `123` are both
    `123`), so the step producing such a list writes each string item that reads as JSON protected, and the step
    mapped over it gets that string back. Lists of text only, or of no text, need nothing (the map's tag says)."""
    items = value_shape(annotation).items
    return items is not None and items.text and items.other


def protect_items(value: list, mixed: bool) -> list:
    """`value`'s items as a loop hands them on exactly (see _param_items): a string item holding what Argo pastes
    escaped (ITEM_ESCAPED), or, in a list `mixed` of text and other values, reading as JSON, goes encoded; so does a
    dict item's text field holding what Argo pastes escaped. Everything else as `protect` leaves it."""
    escaped = re.compile(ITEM_ESCAPED)

    def one(item: object) -> object:
        if isinstance(item, str):
            plain = not escaped.search(item) and not (mixed and reads_as_json(item))
            return _marked(item) if plain else _encoded(item)
        if isinstance(item, dict):
            return {_marked(k): _encoded(v) if isinstance(v, str) and escaped.search(v) else _marked(v)
                    for k, v in item.items()}
        return _marked(item)

    return [one(item) for item in value]


def _encoded(text: str) -> str:
    return MARKER + base64.b64encode(text.encode("utf-8")).decode("ascii")


def _marked(value: object) -> object:
    if isinstance(value, str):
        return _encoded(value) if needs_marker(value) else value
    if isinstance(value, (list, tuple)):
        return [_marked(v) for v in value]
    if isinstance(value, dict):
        return {_marked(k): _marked(v) for k, v in value.items()}
    return value


def _unprotected(text: str) -> str:
    return base64.b64decode(text[len(MARKER):]).decode("utf-8")


def unmarked(value: object) -> object:
    """A decoded JSON value with every string that begins with MARKER decoded (the inverse of `_marked`)."""
    if isinstance(value, str):
        return _unprotected(value) if value.startswith(MARKER) else value
    if isinstance(value, list):
        return [unmarked(v) for v in value]
    if isinstance(value, dict):
        return {unmarked(k): unmarked(v) for k, v in value.items()}
    return value


# ---------------------------------------------------------------------------------------------------------- shapes
@dataclass(frozen=True)
class Shape:
    """What a step script needs to type a decoded value (the consumer's annotation, `value_shape`): may it be text,
    something else, a list (of what `items` says), floats (Argo's float64 gives 1.0 back as 1), None."""

    text: bool
    other: bool
    items: Shape | None = None
    floats: bool = False
    none: bool = False

    def to_json(self) -> dict:
        """The shape as the step script reads it from its spec (`fit` in templates/step.py.j2)."""
        data: dict = {"str": self.text, "other": self.other, "items": self.items.to_json() if self.items else None}
        if self.floats:
            data["float"] = True
        return data


ANY_SHAPE = Shape(text=True, other=True)
_OTHER = Shape(text=False, other=True)


def value_shape(annotation: object) -> Shape:
    """What a step script needs to type a decoded value: may it be text, something else, a list (of what)."""
    if annotation is str:
        return Shape(text=True, other=False)
    if annotation is float:  # Argo's fan-in of objects and lists decodes numbers as Go float64: 1.0 comes back as 1
        return Shape(text=False, other=True, floats=True)
    if annotation in (None, type(None)):
        return Shape(text=False, other=True, none=True)
    if annotation in (int, bool, dict, typing.Dict):  # noqa: UP006
        return _OTHER
    if annotation in (list, tuple, typing.List, typing.Tuple):  # noqa: UP006
        return Shape(text=False, other=True, items=ANY_SHAPE)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return _merged([value_shape(a) for a in args])
    if origin is typing.Literal:
        return Shape(text=any(isinstance(a, str) for a in args), other=any(not isinstance(a, str) for a in args))
    if origin in (list, tuple):
        items = _merged([value_shape(a) for a in args if a is not Ellipsis]) if args else ANY_SHAPE
        return Shape(text=False, other=True, items=items)
    if origin is dict:
        return _OTHER
    return ANY_SHAPE


def _merged(shapes: list[Shape]) -> Shape:
    lists = [s.items for s in shapes if s.items is not None]
    return Shape(text=any(s.text for s in shapes), other=any(s.other for s in shapes),
                 items=_merged(lists) if lists else None,
                 floats=any(s.floats for s in shapes) and all(s.floats or s.none for s in shapes))  # or Optional[float]
