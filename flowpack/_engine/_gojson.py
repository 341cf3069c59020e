"""JSON as Argo's Go code reads and writes it, so the local engine produces the same text Argo would.

Argo's controller decodes and re-encodes values with Go's encoding/json: numbers decode to float64, object keys
are written sorted, `<`, `>`, `&`, U+2028 and U+2029 are escaped, and `json.RawMessage` values (loop items,
step results) keep their number text. Three places of Argo's code matter to flowpack and are mirrored here:
`processAggregateNodeOutputs` (a map's gathered outputs), `Item.String` with `processItem` (`{{item}}` and
`{{item.key}}`), and `json.Unmarshal`'s strictness (no NaN, no control characters, no out-of-range numbers).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from .._errors import ManifestError


class GoJSONError(ValueError):
    """Text Go's json.Unmarshal refuses."""


class RawNumber(str):
    """A JSON number kept as the text it was written with (as Go's json.RawMessage keeps it)."""


def _refuse_constant(name: str):
    raise GoJSONError(f"{name} is not JSON")


def _go_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise GoJSONError(f"number {text} is out of range")
    return value


def decode(text: str) -> object:
    """Go's json.Unmarshal into `any`: every number becomes a float64; what Go refuses raises GoJSONError."""
    try:
        return json.loads(text, parse_int=_go_float, parse_float=_go_float, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise GoJSONError(str(exc)) from None


def decode_raw(text: str) -> object:
    """Like `decode`, but numbers keep their text (RawNumber), as a json.RawMessage would."""
    try:
        value = json.loads(text, parse_int=RawNumber, parse_float=RawNumber, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise GoJSONError(str(exc)) from None
    _check_ranges(value)
    return value


def json_list(text: str | None, what: str, decoder: Callable[[str], object] = decode) -> list:
    """`text` decoded as a JSON list (by `decoder`: as sprig.fromJson by default), or ManifestError naming `what`."""
    try:
        value = decoder(text) if text is not None else None
    except (GoJSONError, json.JSONDecodeError):
        value = None
    if not isinstance(value, list):
        raise ManifestError(f"{what} is not a JSON list: {(text or '')[:200]!r}")
    return value


def _check_ranges(value: object) -> None:
    if isinstance(value, RawNumber):
        _go_float(value)
    elif isinstance(value, list):
        for v in value:
            _check_ranges(v)
    elif isinstance(value, dict):
        for v in value.values():
            _check_ranges(v)


def format_float(value: float) -> str:
    """Go's encoding/json text for a float64: shortest digits, positional from 1e-6 to 1e21, else `1e-7` form."""
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digit_tuple, exponent = Decimal(repr(value)).as_tuple()  # repr: the shortest digits that round-trip
    if not isinstance(exponent, int):  # NaN or an infinity: JSON has no text for them, nor has Go's encoder
        raise ValueError(f"{value!r} has no JSON form")
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    exponent += len(digit_tuple) - len(digits)
    point = len(digits) + exponent  # where the decimal point goes, counted from the first digit
    minus = "-" if sign else ""
    if 1e-6 <= abs(value) < 1e21:
        if point <= 0:
            return minus + "0." + "0" * -point + digits
        if point >= len(digits):
            return minus + digits + "0" * (point - len(digits))
        return minus + digits[:point] + "." + digits[point:]
    exp10 = point - 1
    body = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{minus}{body}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}" if exp10 >= 0 else f"{minus}{body}e-{-exp10}"


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f",
            "<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_NEEDS_ESCAPE = re.compile('["\\\\\x00-\x1f<>&\u2028\u2029]')


def quote(text: str) -> str:
    """Go's json.Marshal of a string (HTML-safe escaping)."""
    return '"' + _NEEDS_ESCAPE.sub(lambda m: _ESCAPES.get(m.group(0)) or "\\u%04x" % ord(m.group(0)), text) + '"'


def marshal(value: object) -> str:
    """Go's json.Marshal of a decoded value: compact, keys sorted, HTML-safe, float64 numbers."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, RawNumber):
        return str.__str__(value)
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, (int, float)):
        return format_float(float(value))
    if isinstance(value, list):
        return "[" + ",".join(marshal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(quote(k) + ":" + marshal(value[k]) for k in sorted(value)) + "}"
    raise TypeError(f"can't write {type(value).__name__} as JSON")


def _raw(value: object) -> str:
    """A json.RawMessage written back by Go: compact, HTML-safe, object keys in their own order, numbers as written."""
    if isinstance(value, dict):
        return "{" + ",".join(quote(k) + ":" + _raw(v) for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_raw(v) for v in value) + "]"
    if isinstance(value, float) and not isinstance(value, RawNumber):
        return json.dumps(value)  # a manifest value: the number text Python wrote into the manifest
    return marshal(value)


def _unfix(text: str) -> str:
    """Argo's jsonutil.Fix: undo the HTML escapes of `<`, `>` and `&`."""
    return text.replace("\\u003c", "<").replace("\\u003e", ">").replace("\\u0026", "&")


def item_string(value: object) -> str:
    """`Item.String()`: the item's JSON, with the outer quotes of a string removed (inner escapes stay)."""
    text = _raw(value)
    if isinstance(value, str) and not isinstance(value, RawNumber):
        text = text[1:-1]
    return _unfix(text)


def item_values(item: object) -> dict[str, str]:
    """What `{{item}}` and `{{item.key}}` become for one loop item (Argo's processItem)."""
    if isinstance(item, str) and not isinstance(item, RawNumber):
        return {"item": item}
    if isinstance(item, dict):
        values = {"item." + k: item_string(v) for k, v in item.items()}
        values["item"] = "{" + ",".join(quote(k) + ":" + _raw(item[k]) for k in sorted(item)) + "}"
        return values
    if isinstance(item, list):
        return {"item": _raw(item)}
    return {"item": item_string(item)}


@dataclass(frozen=True)
class ItemOutputs:
    """One succeeded loop item's outputs: its output parameters (text) and its captured result, if any."""

    parameters: dict
    result: str | None


def aggregate(items: list[ItemOutputs]) -> tuple[dict[str, str], str]:
    """A map's gathered outputs exactly as `processAggregateNodeOutputs`: per parameter, a JSON list of decoded
    values when every value decodes to a JSON object or list, else a JSON list of the values' text; and the
    results as a JSON list of their (compacted) JSON. Only parameters some item produced get a value.
    Raises GoJSONError when a result is not JSON (Argo then fails the task's dependents)."""
    lists: dict[str, list[str]] = {}
    results: list[str] = []
    for out in items:
        for name, text in out.parameters.items():
            lists.setdefault(name, []).append(text)
        if out.result is not None:
            results.append(_raw(decode_raw(out.result)))
    params = {name: _aggregated(values) for name, values in lists.items()}
    return params, "[" + ",".join(results) + "]"


def _aggregated(values: list[str]) -> str:
    decoded = []
    for text in values:
        try:
            value = decode(text)
        except GoJSONError:
            break
        if not isinstance(value, (list, dict)):
            break
        decoded.append(value)
    else:
        return marshal(decoded)
    return marshal(list(values))
