"""A small, fast YAML writer for JSON-shaped data (dicts, lists, str, numbers, bools, None).

PyYAML's C emitter takes about 1.5 s for a 10,000-task manifest; this writer produces equivalent YAML in a
fraction of that. Scalars that could be misread are written JSON-quoted (valid YAML double-quoted strings);
multi-line strings such as step scripts are written as literal blocks so they stay readable.
"""

from __future__ import annotations

import json
import re

# Plain (unquoted) only when no YAML reader can take it for anything but text: it starts with a letter, '_' or '/'
# (a leading '.' could be a float: .5, .inf, .nan) and is not a YAML 1.1 boolean or null.
_PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9_./-]*\Z")
_RESERVED = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}
_BLOCK_SAFE = re.compile(r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f\ufeff\ufffe\uffff\u2028\u2029\r\ud800-\udfff]*$")


_SCALARS: dict[str, str] = {}


def _scalar(value: object) -> str:
    if isinstance(value, str):
        cached = _SCALARS.get(value)
        if cached is None:
            cached = _string(value)
            if len(_SCALARS) < 100_000:
                _SCALARS[value] = cached
        return cached
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        text = json.dumps(value)
        mantissa, e, exponent = text.partition("e")
        return mantissa + ("" if "." in mantissa else ".0") + e + exponent if e else text  # YAML 1.1: 1.0e+18
    if isinstance(value, int):
        return json.dumps(value)
    raise TypeError(f"cannot write {type(value).__name__} to YAML")


# Characters a YAML reader refuses raw (outside its printable set) or folds as line breaks inside a quoted scalar
# (NEL, LS, PS), and the byte-order mark: written as escapes.
_UNSAFE_IN_QUOTES = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")


def _quoted(value: str) -> str:
    """A YAML double-quoted scalar (JSON's string syntax, a subset of YAML's) that reads back exactly."""
    return _UNSAFE_IN_QUOTES.sub(lambda m: "\\u%04x" % ord(m.group(0)), json.dumps(value, ensure_ascii=False))


def _string(value: str) -> str:
    if _PLAIN.match(value) and value.lower() not in _RESERVED:
        return value
    return _quoted(value)


def _block(text: str, indent: str) -> str | None:
    """A literal block scalar for a multi-line string, or None when one can't represent it exactly."""
    if "\n" not in text or not _BLOCK_SAFE.match(text) or text.startswith((" ", "\n")):
        return None
    if any(line != line.rstrip(" \t") for line in text.split("\n")):
        return None  # trailing spaces are kept by a block, but editors strip them: quote instead
    chomp = "-" if not text.endswith("\n") else ("+" if text.endswith("\n\n") else "")
    body = text[:-1] if text.endswith("\n") else text
    lines = [indent + line if line else "" for line in body.split("\n")]
    return "|" + chomp + "\n" + "\n".join(lines)


def _emit(value: dict | list, indent: str, out: list[str]) -> None:
    """Append the lines for a mapping or sequence value at the given indentation."""
    if isinstance(value, dict):
        for key, item in value.items():
            _entry(indent + _scalar(str(key)) + ":", item, indent, out)
    else:
        for item in value:
            if isinstance(item, dict) and item:
                first = True
                for key, sub in item.items():
                    prefix = indent + ("- " if first else "  ")
                    _entry(prefix + _scalar(str(key)) + ":", sub, indent + "  ", out)
                    first = False
            else:
                _entry(indent + "-", item, indent, out)


def _entry(head: str, value: object, indent: str, out: list[str]) -> None:
    child = indent + "  "
    if isinstance(value, dict):
        if value:
            out.append(head)
            _emit(value, child, out)
        else:
            out.append(head + " {}")
    elif isinstance(value, list):
        if value:
            out.append(head)
            _emit(value, child, out)
        else:
            out.append(head + " []")
    elif isinstance(value, str) and "\n" in value:
        block = _block(value, child)
        out.append(head + " " + (block if block is not None else _quoted(value)))
    else:
        out.append(head + " " + _scalar(value))


def dump(data: dict) -> str:
    """YAML text for a JSON-shaped mapping."""
    if not data:
        return "{}\n"
    out: list[str] = []
    _emit(data, "", out)
    return "\n".join(out) + "\n"
