"""The Argo expression (`{{=...}}`, expr-lang) flowpack writes for a condition, read and evaluated locally.

A condition built from handles (`h > 3`, `h == "fast"`) renders as one expression tag in the task's `when`:
`{{=tasks['x'].outputs.parameters['return'] == "fast"}}`. Argo evaluates it with expr-lang, where a value is a
variable, never text pasted into the condition, so no value can change what the condition means; the result,
`true` or `false`, is what govaluate then reads. JSON values are decoded first (`sprig.fromJson(...)`, numbers as
float64; nil for text that is not JSON). This module reads exactly that subset: comparisons of variables,
`sprig.fromJson(...)` and literals (double-quoted strings, numbers, true, false, nil), `&&`, `||`, `!` and parentheses.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import NoReturn

from .._errors import ManifestError
from .._types import MARKER
from ._gojson import GoJSONError, decode

# An expr-lang path to a value of Argo's scope, as flowpack writes it (see `expression_path`).
PATH = r"(?:tasks|workflow|inputs)(?:\['[^'\\]*'\]|\.[A-Za-z_][A-Za-z0-9_]*)+"


_TOKEN = re.compile(r"""\s*(?:
    (?P<path>%s|item(?:\['[^'\\]*'\])?)
  | (?P<func>sprig\.fromJson)\(
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<num>-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<word>true|false|nil)\b
  | (?P<op>==|!=|<=|>=|<|>|&&|\|\||!|\(|\))
)""" % PATH, re.X)
_COMPARE = ("==", "!=", "<", "<=", ">", ">=")
# A map's item in a condition (fp.item), text behind flowpack's marker decoded first (`item_operand`).
_ITEM = re.compile(r"\s*\((?P<item>item(?:\['[^'\\]*'\])?) startsWith '%s' \? sprig\.b64dec\((?P=item)\[%d:\]\) : "
                   r"(?P<json>sprig\.fromJson\()?(?P=item)(?(json)\))\)" % (re.escape(MARKER), len(MARKER)))


@dataclass(frozen=True)
class Var:
    """A value from the scope, by its dotted name (tasks.x.outputs.parameters.p); `json` decodes it first; `item`:
    a map's item, whose text behind flowpack's marker is a string, decoded."""

    name: str
    json: bool = False
    item: bool = False


def item_operand(path: str, json: bool) -> str:
    """A map's item (`item`, or `item['a']` of a dict item) as a condition reads it: a string item may arrive
    base64-encoded behind flowpack's marker (a run-time list's encoded items, _zip; a literal item Argo would
    change); it is decoded, anything else read as it is, or decoded as JSON when `json`."""
    value = "sprig.fromJson(%s)" % path if json else path
    return "(%s startsWith '%s' ? sprig.b64dec(%s[%d:]) : %s)" % (path, MARKER, path, len(MARKER), value)


def reference_name(path: str) -> str:
    """An expr-lang path as its `{{...}}` name: `tasks['x'].outputs.parameters['p']` -> `tasks.x.outputs...` (the
    inverse of `expression_path`)."""
    return re.sub(r"\['([^'\\]*)'\]", r".\1", path)


def expression_path(ref: str) -> str:
    """`tasks.x-1.outputs.parameters.p` (a `{{...}}` name) as an expr-lang path: `tasks['x-1'].outputs...`."""
    parts = ref.split(".")
    head, rest = parts[0], parts[1:]
    if head == "tasks" and len(rest) >= 3:
        tail = rest[2:]
        if tail[0] == "parameters":
            return "tasks['%s'].outputs.parameters['%s']" % (rest[0], ".".join(tail[1:]))
        return "tasks['%s'].outputs.%s" % (rest[0], ".".join(tail))
    if head == "item" and len(rest) <= 1:  # a map's item, or a field of a dict item (fp.item, _item)
        return "item" if not rest else "item['%s']" % rest[0]
    if head in ("workflow", "inputs") and len(rest) >= 2 and rest[0] == "parameters":
        return "%s.parameters['%s']" % (head, ".".join(rest[1:]))
    raise ValueError(f"{{{{{ref}}}}} can't be used in a condition")


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        item = _ITEM.match(text, pos)
        if item is not None:
            out.append(("item", item.group(0)))
            pos = item.end()
            continue
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ManifestError(f"condition {{{{={text}}}}}: can't read it from position {pos}")
        kind = m.lastgroup
        if kind is None:  # every alternative of _TOKEN is a named group
            raise ManifestError(f"condition {{{{={text}}}}}: can't read it from position {pos}")
        out.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def fail(self, why: str) -> NoReturn:
        raise ManifestError(f"condition {{{{={self.text}}}}}: {why}")

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            self.fail(f"expected {value or 'more'} at token {self.i}")
        self.i += 1
        return tok

    def parse(self):
        node = self.or_()
        if self.peek() is not None:
            self.fail(f"unexpected {self.peek()[1]!r}")
        return node

    def or_(self):
        node = self.and_()
        while self.peek() == ("op", "||"):
            self.take()
            node = ("||", node, self.and_())
        return node

    def and_(self):
        node = self.not_()
        while self.peek() == ("op", "&&"):
            self.take()
            node = ("&&", node, self.not_())
        return node

    def not_(self):
        if self.peek() == ("op", "!"):
            self.take()
            return ("!", self.not_())
        left = self.term()
        tok = self.peek()
        if tok is not None and tok[0] == "op" and tok[1] in _COMPARE:
            self.take()
            return (tok[1], left, self.term())
        return left

    def term(self):
        kind, value = self.take()
        if (kind, value) == ("op", "("):
            node = self.or_()
            self.take(")")
            return node
        if kind == "path":
            return Var(reference_name(value))
        if kind == "item":
            m = _ITEM.match(value)
            assert m is not None  # the token is this pattern's match
            return Var(reference_name(m.group("item")), json=bool(m.group("json")), item=True)
        if kind == "func":
            inner = self.take()
            if inner[0] != "path":
                self.fail("sprig.fromJson takes a variable")
            self.take(")")
            return Var(reference_name(inner[1]), json=True)
        if kind == "str":
            return ("lit", json.loads(value))
        if kind == "num":
            return ("lit", float(value) if any(c in value for c in ".eE") else int(value))
        if kind == "word":
            return ("lit", {"true": True, "false": False, "nil": None}[value])
        self.fail(f"unexpected {value!r}")


def parse(text: str):
    """The expression's syntax tree; ManifestError when it is not the subset flowpack writes."""
    return _Parser(text).parse()


def references(text: str) -> list[str]:
    """The scope names a condition expression reads (for the manifest check)."""
    return [reference_name(m.group("path")) for m in _TOKEN.finditer(text) if m.group("path")]


def evaluate(text: str, values: dict[str, str]) -> bool:
    """Evaluate the expression (without `{{=` and `}}`) against the substituted values, as expr-lang would."""
    result = _eval(_Parser(text).parse(), values, text)
    if not isinstance(result, bool):
        raise ManifestError(f"condition {{{{={text}}}}} gave {result!r}, not true or false")
    return result


def _eval(node, values: dict[str, str], text: str):
    if isinstance(node, Var):
        if node.name not in values:
            raise ManifestError(f"condition {{{{={text}}}}}: {node.name} does not resolve")
        raw = values[node.name]
        if node.item and raw.startswith(MARKER):
            try:
                return base64.b64decode(raw[len(MARKER):], validate=True).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                raise ManifestError(f"condition {{{{={text}}}}}: {node.name} is not base64 text") from None
        if not node.json:
            return raw
        try:
            return decode(raw)
        except GoJSONError:
            return None  # sprig's fromJson gives nil for text that is not JSON
    op = node[0]
    if op == "lit":
        return node[1]
    if op == "!":
        return not _bool(_eval(node[1], values, text), text)
    if op == "&&":
        return _bool(_eval(node[1], values, text), text) and _bool(_eval(node[2], values, text), text)
    if op == "||":
        return _bool(_eval(node[1], values, text), text) or _bool(_eval(node[2], values, text), text)
    left, right = _eval(node[1], values, text), _eval(node[2], values, text)
    if op in ("==", "!="):
        same = _equal(left, right)
        return same if op == "==" else not same
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (left, right))
    if not numbers and not (isinstance(left, str) and isinstance(right, str)):
        raise ManifestError(f"condition {{{{={text}}}}}: can't compare {left!r} {op} {right!r}")
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]


def _equal(left, right) -> bool:
    """expr-lang's ==: numbers by value (int and float alike), otherwise same type and value."""
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (left, right))
    if numbers:
        return left == right
    return type(left) is type(right) and left == right


def _bool(value, text: str) -> bool:
    if not isinstance(value, bool):
        raise ManifestError(f"condition {{{{={text}}}}}: {value!r} is not true or false")
    return value
