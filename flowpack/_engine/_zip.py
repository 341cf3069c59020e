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

A single run-time list of text (`list[str]`, or the gathered outputs of a map of a `-> str` op) mapped over a Python
op goes through the same ITEM, one list without the zip: `{{=toJson(map(A, ITEM(#)))}}`, each item a string behind the
marker. Argo pastes a string item of a plain `withParam` into `{{item}}` with its JSON escapes on v3 (Item.String) and
as it is on v4; the encoded item reads the same on both. (Only text: `toJson(sprig.fromJson(...))` passes numbers
through float64, so lists that may hold numbers keep the plain `withParam`.)
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from .._errors import ManifestError
from .._types import MARKER  # flowpack's marker for base64-encoded text, which a step decodes
from ._cond import PATH, expression_path, reference_name
from ._gojson import json_list, marshal

_SOURCE = r"sprig\.fromJson\((%s)\)" % PATH
_FIELD = (r"'([A-Za-z0-9_-]+)', \(type\((%s)\[#\]\) == 'string' && !\(\2\[#\] startsWith '%s'\) \? '%s' \+ "
          r"sprig\.b64enc\(\2\[#\]\) : \2\[#\]\)" % (_SOURCE, re.escape(MARKER), re.escape(MARKER)))
_FIELD_RE = re.compile(_FIELD)
_ZIP = re.compile(r"^toJson\(map\(sprig\.until\(min\((?P<lens>.*)\)\), sprig\.dict\((?P<fields>.*)\)\)\)$")


def _item(value: str) -> str:
    """ITEM: a string `value` base64-encoded behind the marker (unless it already is), anything else as it is."""
    return "(type(%s) == 'string' && !(%s startsWith '%s') ? '%s' + sprig.b64enc(%s) : %s)" % (
        value, value, MARKER, MARKER, value, value)


def _list(ref: str) -> str:
    return "sprig.fromJson(%s)" % expression_path(ref[2:-2])


def zip_expression(sources: dict[str, str]) -> str:
    """The `withParam` zipping `sources` (argument name -> `{{...}}` reference of a JSON list) into dict items."""
    lists = {name: _list(ref) for name, ref in sources.items()}
    lens = ", ".join("len(%s)" % lst for lst in lists.values())  # two or more: expr-lang's min takes as many
    fields = ", ".join("'%s', %s" % (name, _item(lst + "[#]")) for name, lst in lists.items())
    return "{{=toJson(map(sprig.until(min(%s)), sprig.dict(%s)))}}" % (lens, fields)


def text_items_expression(ref: str) -> str:
    """The `withParam` over the run-time list of text `ref` (a `{{...}}` reference), each item encoded."""
    return "{{=toJson(map(%s, %s))}}" % (_list(ref), _item("#"))


# What text_items_expression writes, read back: the same ITEM text, so writer and reader can't drift apart.
_TEXT_ITEMS = re.compile("^%s%s%s$" % (re.escape("toJson(map("), _SOURCE, re.escape(", %s))" % _item("#"))))


@dataclass(frozen=True)
class Zip:
    """A parsed zip: each argument's list, as the `{{...}}` name of its JSON text. `single`: one list of text,
    whose items are the encoded values themselves rather than dicts (`text_items_expression`)."""

    sources: dict[str, str]
    single: bool = False

    def items(self, values: dict[str, str]) -> str:
        """The loop's items as Argo's expression gives them (JSON text)."""
        lists = []
        what = "the map's list" if self.single else "the zipped map's list"
        for name, source in self.sources.items():
            text = values.get(source)
            if text is None:
                raise ManifestError(f"{what} {name!r}: {{{{{source}}}}} has no value")
            lists.append(json_list(text, f"{what} {name!r}"))  # as sprig.fromJson: numbers are float64
        if self.single:
            return marshal([_field(v) for v in lists[0]])
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
        single = _TEXT_ITEMS.match(expr)
        return Zip({"item": reference_name(single.group(1))}, single=True) if single else None
    sources = {}
    for field in _split(m.group("fields")):
        f = _FIELD_RE.fullmatch(field)
        if f is None:
            return None
        sources[f.group(1)] = reference_name(f.group(3))
    return Zip(sources) if sources else None


def listed(with_param: str) -> str:
    """The `{{...}}` list a `withParam` value maps over: itself, or the list of a `text_items_expression`."""
    zipped = parse_zip(with_param[3:-2]) if with_param.startswith("{{=") and with_param.endswith("}}") else None
    return "{{%s}}" % zipped.sources["item"] if zipped is not None and zipped.single else with_param


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
