"""Map tolerance (`op.map(..., tolerate=2)`): the Argo expression that decides whether a map lost few enough items,
written by the builder (flowpack/_tolerate.py) and evaluated by the local engine as Argo's expr-lang would.

Each item of a tolerant map reports the output parameter `fp-done` (always "1"); Argo gathers it from the items
that succeeded only, so its length is their count (processAggregateNodeOutputs). The check reads:

    {{=TOTAL - (type(tasks['T'].outputs.parameters) == 'string' ? 0
               : len(sprig.fromJson(tasks['T'].outputs.parameters['fp-' + 'done']))) <= ALLOWED}}

TOTAL is the number of items (a literal, or `len(sprig.fromJson(inputs.parameters['pN']))` of a run-time list, or
`asInt(inputs.parameters['pN'])` of a run-time count); ALLOWED a literal count, or `FRACTION * (TOTAL)`. When no
item succeeded Argo gathers no parameter, and `tasks.T.outputs.parameters` is the text "[]" instead of a map (the
two keys clash in the expression's environment; util/expand removes the less specific one). The gathered list is
read by a computed key, `'fp-' + 'done'`: Argo's strict check of missing variables (expressionReplaceStrict) reads
only member paths of literal keys, so the branch not taken does not hold the task back. (A `get(...)` chain, as the
fallback expression uses, reads nil from a task group's outputs on Argo v4.0.5's controller.) Checked on Argo's
controller (tests/test_tolerate.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .._errors import ManifestError
from ._cond import reference_name
from ._gojson import decode_raw, json_list

DONE = "fp-done"  # an item's output parameter, "1", gathered from the items that succeeded

_PARAM = r"(?:inputs|workflow)\.parameters\['[A-Za-z0-9_-]+'\]"
_TOTAL = r"(?:\d+|len\(sprig\.fromJson\((%s)\)\)|asInt\((%s)\))" % (_PARAM, _PARAM)
_CHECK = re.compile(
    r"^(?P<total>%s) - \(type\(tasks\['(?P<task>[A-Za-z0-9-]+)'\]\.outputs\.parameters\) == 'string' \? 0 : "
    r"len\(sprig\.fromJson\(tasks\['(?P=task)'\]\.outputs\.parameters\['fp-' \+ 'done'\]\)\)\) "
    r"<= (?P<allowed>\d+|(?P<fraction>0?\.\d+) \* \((?P=total)\))$" % _TOTAL)


def _done(task: str) -> str:
    """The number of the map's items that succeeded, as an expr-lang expression (see the module's docstring)."""
    params = "tasks['%s'].outputs.parameters" % task
    return "(type(%s) == 'string' ? 0 : len(sprig.fromJson(%s['fp-' + 'done'])))" % (params, params)


def parameter_path(scope: str, name: str) -> str:
    """A DAG input (`scope` "inputs") or workflow parameter ("workflow") as an expr-lang path."""
    return "%s.parameters['%s']" % (scope, name)


def total_of_list(path: str) -> str:
    """The number of items of a run-time list, the parameter at `path`."""
    return "len(sprig.fromJson(%s))" % path


def total_of_count(path: str) -> str:
    """The number of items of a run-time count, the parameter at `path`."""
    return "asInt(%s)" % path


def fraction_text(fraction: float) -> str:
    """A fraction between 0 and 1 as expr-lang reads it, without an exponent (`0.00001`)."""
    return ("%.9f" % fraction).rstrip("0")


def check_expression(task: str, total: str, tolerate: int | float) -> str:
    """The `when` of the check after map `task`: true when at most `tolerate` items (a count, or a fraction of
    `total`) did not succeed."""
    allowed = str(tolerate) if isinstance(tolerate, int) else "%s * (%s)" % (fraction_text(tolerate), total)
    return "{{=%s - %s <= %s}}" % (total, _done(task), allowed)


@dataclass(frozen=True)
class Check:
    """A parsed check: the map task, where its total comes from, and what is allowed."""

    task: str
    total: str  # a literal count, or the parameter holding the list or the count (`inputs.parameters.p0`)
    total_is: str  # "literal", "list" or "count"
    allowed: int | None  # a count, or None for a fraction
    fraction: float | None

    def holds(self, values: dict[str, str]) -> bool:
        """Evaluate as Argo: the items that did not succeed against what is allowed."""
        total = self._total(values)
        gathered = values.get(f"tasks.{self.task}.outputs.parameters.{DONE}")
        what = f"the tolerance check: the gathered {DONE} of {self.task!r}"
        done = 0 if gathered is None else len(json_list(gathered, what, decode_raw))
        allowed = self.allowed if self.allowed is not None else (self.fraction or 0.0) * total
        return total - done <= allowed

    def _total(self, values: dict[str, str]) -> int:
        if self.total_is == "literal":
            return int(self.total)
        text = values.get(self.total)
        if text is None:
            raise ManifestError(f"the tolerance check of {self.task!r}: input parameter {self.total!r} has no value")
        if self.total_is == "count":
            try:
                return int(text)
            except ValueError:
                raise ManifestError(f"the tolerance check of {self.task!r}: {text!r} is not a count") from None
        return len(json_list(text, f"the tolerance check: the items of {self.task!r}", decode_raw))




def parse_check(expr: str) -> Check | None:
    """The check an expression (without `{{` and `=`) is, or None for any other expression."""
    m = _CHECK.match(expr)
    if m is None:
        return None
    listed, counted = m.group(2), m.group(3)
    path = listed or counted
    if path is None:
        total, total_is = m.group("total"), "literal"
    else:
        total, total_is = reference_name(path), "list" if listed else "count"  # a {{...}} name
    fraction = float(m.group("fraction")) if m.group("fraction") else None
    return Check(m.group("task"), total, total_is, None if fraction is not None else int(m.group("allowed")), fraction)
