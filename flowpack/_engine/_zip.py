"""Maps over several lists known only at run time, zipped (`op.map(a=h1, b=h2)`, issue 16.6): the Argo expression
that zips them into the loop's items, written by the builder and evaluated by the local engine as Argo would.

The map's `withParam` is one expression over the lists (step outputs or workflow parameters, JSON text):

    {{=toJson(map(sprig.until(min(len(A), len(B))), sprig.dict('a', ITEM(A[#]), 'b', ITEM(B[#]))))}}

with A = `sprig.fromJson(tasks['x'].outputs.parameters['return'])`, so each item is a dict and each argument reads
`{{item.a}}`, as for zipped literal lists. The lists are cut to the shortest, as Python's `zip` does. (No braces:
flowpack's expressions never hold `{` or `}`, which would end Argo's expression tag or read as a closure.) Argo pastes a
string field of an item with its JSON escapes (`say \\"hi\\"`, Item.String), so ITEM sends every string base64-encoded
behind flowpack's marker, which a Python step decodes to the same string:
`(type(A[#]) == 'string' && !(A[#] startsWith MARKER) ? MARKER + sprig.b64enc(A[#]) : A[#])` (a string
already behind the marker, as its producer wrote text Argo can't carry, stays as it is). Other values (numbers,
booleans, null, lists, dicts) arrive as their JSON text.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass

from .._errors import ManifestError
from .._types import MARKER  # flowpack's marker for base64-encoded text, which a step decodes
from ._cond import expression_path
from ._gojson import GoJSONError, decode, marshal

_SOURCE = r"sprig\.fromJson\(((?:tasks|workflow|inputs)(?:\['[^'\\]*'\]|\.[A-Za-z_][A-Za-z0-9_]*)+)\)"
_FIELD = (r"'([A-Za-z0-9_-]+)', \(type\((%s)\[#\]\) == 'string' && !\(\2\[#\] startsWith '%s'\) \? '%s' \+ "
          r"sprig\.b64enc\(\2\[#\]\) : \2\[#\]\)" % (_SOURCE, re.escape(MARKER), re.escape(MARKER)))
_FIELD_RE = re.compile(_FIELD)
_ZIP = re.compile(r"^toJson\(map\(sprig\.until\(min\((?P<lens>.*)\)\), sprig\.dict\((?P<fields>.*)\)\)\)$")


def zip_expression(sources: dict[str, str]) -> str:
    """The `withParam` zipping `sources` (argument name -> `{{...}}` reference of a JSON list) into dict items."""
    lists = {name: "sprig.fromJson(%s)" % expression_path(ref[2:-2]) for name, ref in sources.items()}
    lens = ", ".join("len(%s)" % lst for lst in lists.values())  # two or more: expr-lang's min takes as many
    fields = ", ".join("'%s', (type(%s[#]) == 'string' && !(%s[#] startsWith '%s') ? '%s' + sprig.b64enc(%s[#]) : "
                       "%s[#])" % (name, lst, lst, MARKER, MARKER, lst, lst) for name, lst in lists.items())
    return "{{=toJson(map(sprig.until(min(%s)), sprig.dict(%s)))}}" % (lens, fields)


@dataclass(frozen=True)
class Zip:
    """A parsed zip: each argument's list, as the `{{...}}` name of its JSON text."""

    sources: dict[str, str]

    def items(self, values: dict[str, str]) -> str:
        """The loop's items as Argo's expression gives them (JSON text)."""
        lists = []
        for name, source in self.sources.items():
            text = values.get(source)
            if text is None:
                raise ManifestError(f"the zipped map's list {name!r}: {{{{{source}}}}} has no value")
            try:
                value = decode(text)  # as sprig.fromJson: numbers are float64
            except (GoJSONError, json.JSONDecodeError):
                value = None
            if not isinstance(value, list):
                raise ManifestError(f"the zipped map's list {name!r} is not a JSON list: {text[:200]!r}")
            lists.append(value)
        rows = [{name: _field(v) for name, v in zip(self.sources, row)} for row in zip(*lists)]
        return marshal(rows)  # as toJson: Go's json.Marshal


def _field(value: object) -> object:
    if isinstance(value, str) and not value.startswith(MARKER):
        return MARKER + base64.b64encode(value.encode("utf-8")).decode("ascii")
    return value


def parse_zip(expr: str) -> Zip | None:
    """The zip an expression (without `{{` and `=`) is, or None for any other expression."""
    m = _ZIP.match(expr)
    if m is None:
        return None
    sources = {}
    for field in _split(m.group("fields")):
        f = _FIELD_RE.fullmatch(field)
        if f is None:
            return None
        sources[f.group(1)] = re.sub(r"\['([^'\\]*)'\]", r".\1", f.group(3))
    return Zip(sources) if sources else None


def references(zipped: Zip) -> list[str]:
    """The `{{...}}` names a zip reads."""
    return list(zipped.sources.values())


def _split(fields: str) -> list[str]:
    """The (name, value) pairs of sprig.dict's arguments: split on the top-level commas, then paired."""
    parts, depth, start, quoted = [], 0, 0, False
    for i, c in enumerate(fields):
        if c == "'":
            quoted = not quoted
        elif not quoted and c in "([":
            depth += 1
        elif not quoted and c in ")]":
            depth -= 1
        elif not quoted and c == "," and depth == 0:
            parts.append(fields[start:i].strip())
            start = i + 1
    parts.append(fields[start:].strip())
    return [f"{parts[i]}, {parts[i + 1]}" for i in range(0, len(parts) - 1, 2)] if len(parts) % 2 == 0 else []
