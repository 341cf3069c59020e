"""Checking parameter values against their annotations, at build time and on the command line.

A value that can't travel (not JSON, NaN, an integer too long to print, text that isn't valid Unicode) or that does
not match its annotation (`n="5"` for `n: int`) is refused with a WorkflowBuildError naming where it was given.
Text for a shell step's environment is also checked against what an environment variable can hold.
"""

from __future__ import annotations

import inspect
import json
import math
import sys
import types
import typing

from ._errors import WorkflowBuildError

ENV_LIMIT = 128 * 1024  # Linux refuses a single environment string longer than this (MAX_ARG_STRLEN)


_UNKNOWN = (inspect.Parameter.empty, typing.Any, object)  # no annotation, or one that accepts anything


def problem(value: object, annotation: object = inspect.Parameter.empty) -> str | None:
    """Why `value` can't be a parameter of type `annotation` (None when it can)."""
    bad = _unsendable(value)
    if bad is not None:
        return bad
    if not matches(value, annotation):
        return f"expected {type_name(annotation)}, got {_short(value)}"
    return None


def check(value: object, annotation: object, where: str) -> None:
    """Raise WorkflowBuildError when `value` can't travel as a parameter annotated `annotation`."""
    why = problem(value, annotation)
    if why is not None:
        fix = f" Pass a value of type {type_name(annotation)}." if why.startswith("expected ") else ""
        raise WorkflowBuildError(f"{where}: {why}.{fix}")


def check_env_text(text: str, where: str) -> None:
    """A shell step's input reaches it as an environment variable: no NUL byte, at most 128 KiB."""
    if "\x00" in text:
        raise WorkflowBuildError(f"{where}: the value holds a NUL character, which an environment variable can't "
                                 f"carry. Pass binary data through a file (fp.Artifact) instead.")
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size >= ENV_LIMIT:
        raise WorkflowBuildError(f"{where}: the value is {size} bytes; an environment variable holds less than "
                                 f"{ENV_LIMIT // 1024} KiB. Pass large values through a file (fp.Artifact) instead.")


def _short(value: object) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def _unsendable(value: object) -> str | None:
    """Why a value can't be written as JSON text (None when it can)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        try:
            str(value)
        except ValueError:
            return f"the integer has more than {_max_digits()} digits, too long to travel as text"
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value!r} is not a JSON number; pass a finite number"
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            return (f"the text holds {value[exc.start]!r} at position {exc.start}, a lone surrogate that is not "
                    f"valid Unicode and can't be written as UTF-8")
        return None
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            bad = _unsendable(item)
            if bad is not None:
                return f"item {i}: {bad}"
        return None
    if isinstance(value, dict):
        for k, item in value.items():
            if not isinstance(k, str):
                return f"key {k!r} is not text; JSON object keys are strings"
            bad = _unsendable(k) or _unsendable(item)
            if bad is not None:
                return f"key {k!r}: {bad}"
        return None
    return f"{_short(value)} is not JSON data (numbers, text, booleans, None, lists, dicts)"


def _max_digits() -> int:
    return sys.get_int_max_str_digits()


def matches(value: object, annotation: object) -> bool:
    """Whether a JSON value fits an annotation (unknown or non-JSON annotations accept anything)."""
    if annotation in _UNKNOWN or isinstance(annotation, str):
        return True
    if annotation is None or annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, a) for a in args)
    if origin is typing.Literal:
        return any(value == a and type(value) is type(a) for a in args)
    container = origin or annotation
    if container in (list, tuple, typing.List, typing.Tuple):  # noqa: UP006 - the bare typing forms
        if not isinstance(value, (list, tuple)):
            return False
        if container in (tuple, typing.Tuple) and args and args[-1] is not Ellipsis:
            return len(args) == len(value) and all(matches(v, a) for v, a in zip(value, args))
        item = args[0] if args else None
        return item is None or all(matches(v, item) for v in value)
    if container in (dict, typing.Dict):  # noqa: UP006
        if not isinstance(value, dict):
            return False
        item = args[1] if len(args) == 2 else None
        return item is None or all(matches(v, item) for v in value.values())
    return True  # Path, pickled classes: not a parameter's business here


def type_name(annotation: object) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def parse_text(text: str, annotation: object, name: str) -> object:
    """A value typed on the command line (`-p name=text`) as its annotation asks; ValueError says why not.

    JSON where the annotation takes JSON (numbers, lists, dicts...), the text itself where it takes text."""
    if annotation is str:
        value: object = text
    else:
        try:
            value = json.loads(text, parse_constant=_no_constant)
        except ValueError as exc:
            if not matches(text, annotation) or text.lstrip().startswith(("[", "{")):
                why = (" (NaN and Infinity are not JSON numbers)" if str(exc).endswith("finite number") else
                       f" (not valid JSON: {exc})" if text.lstrip().startswith(("[", "{")) else "")
                raise ValueError(f"{name}: expected {_expected(annotation)}, got {text!r}{why}") from None
            value = text
        else:
            if not matches(value, annotation) and matches(text, annotation):
                value = text  # e.g. Optional[str] given 123: the text "123" itself
    refused = problem(value, annotation)
    if refused is not None:
        if refused.startswith("expected "):
            refused = f"expected {_expected(annotation)}, got {text!r}"
        raise ValueError(f"{name}: {refused}")
    return value


def _expected(annotation: object) -> str:
    if annotation in _UNKNOWN:
        return "JSON"
    return type_name(annotation)


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number; pass a finite number")
