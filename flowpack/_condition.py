"""Conditions on handles (`h > 3`, `(a == "x") | ~b`), rendered as one Argo expression for a task's `when`."""

from __future__ import annotations

import json
from typing import Any

from ._engine._cond import expression_path, item_operand
from ._engine._gojson import format_float
from ._errors import WorkflowBuildError
from ._types import PARAM, TEXT, Kind


class Reference:
    """A value that exists only while the workflow runs (a `Handle` of the graph, which subclasses this): what
    conditions and status dependencies read of it, declared here so they need not import the graph."""

    __slots__ = ()
    task: Any  # the Task whose output this is; None for a workflow parameter
    kind: Kind | None
    ref: str | None  # the Argo expression for the value, e.g. {{tasks.add.outputs.parameters.return}}
    problem: str | None  # why this value can't be passed on

    def _compare(self, op: str, other: object) -> "Condition":
        raise NotImplementedError

    # Comparing a reference builds a Condition (for `.when(...)`), not a bool.
    def __eq__(self, other: object) -> "Condition":  # type: ignore[override]
        return self._compare("==", other)

    def __ne__(self, other: object) -> "Condition":  # type: ignore[override]
        return self._compare("!=", other)

    def __lt__(self, other: object) -> "Condition":
        return self._compare("<", other)

    def __le__(self, other: object) -> "Condition":
        return self._compare("<=", other)

    def __gt__(self, other: object) -> "Condition":
        return self._compare(">", other)

    def __ge__(self, other: object) -> "Condition":
        return self._compare(">=", other)

    __hash__ = object.__hash__


class Condition:
    """A condition on workflow parameters or step outputs, rendered as one Argo expression (`{{=...}}`, expr-lang).

    Values are variables of the expression, never text pasted into it, so no value can change what the condition
    means; JSON values are decoded first (`sprig.fromJson`), so numbers, booleans and null compare as in Python.
    The expression gives `true` or `false`, which is all govaluate (Argo's `when`) then reads.
    """

    def __init__(self, expr: str, tasks: set, item_fields: frozenset = frozenset()):
        self.expr = expr
        self.tasks = tasks
        self.item_fields = item_fields  # fp.item (None) or its fields read: a condition per item of a map (_item)

    @property
    def when(self) -> str:
        """The task's `when`: the expression in one expression tag."""
        return "{{=" + self.expr + "}}"

    @staticmethod
    def operand(value) -> tuple[str, set]:
        if isinstance(value, Reference):
            if value.kind is None or value.kind.how != PARAM or value.problem or value.ref is None:
                raise WorkflowBuildError(f"a condition can use parameters only; {value!r} is not one.")
            path = expression_path(value.ref[2:-2])
            if getattr(value, "per_item", False):  # fp.item: its text may be encoded (_engine/_cond.item_operand)
                return item_operand(path, value.kind.codec != TEXT), set()
            text = path if value.kind.codec == TEXT else "sprig.fromJson(%s)" % path
            return text, {value.task} if value.task is not None else set()
        if value is None:
            return "nil", set()
        if isinstance(value, bool):
            return ("true" if value else "false"), set()
        if isinstance(value, int):
            if abs(value) >= 2**53:
                raise WorkflowBuildError(f"condition literal {value}: Argo compares numbers as 64-bit floats, which "
                                         f"can't hold this integer exactly. Compare with a smaller number.")
            return str(value), set()
        if isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                raise WorkflowBuildError(f"condition literal {value!r}: NaN and infinities can't be compared in Argo.")
            return format_float(value), set()
        if isinstance(value, str):
            if "{" in value or "}" in value:
                raise WorkflowBuildError(
                    f"condition literal {value!r}: braces would end Argo's expression tag; compare with text "
                    f"without '{{' and '}}'.")
            return json.dumps(value), set()
        raise WorkflowBuildError(
            f"a condition compares parameters with numbers, strings, booleans or None; got {value!r}.")

    @classmethod
    def compare(cls, left, op: str, right) -> "Condition":
        a, ta = cls.operand(left)
        b, tb = cls.operand(right)
        fields = frozenset(getattr(v, "field", None) for v in (left, right) if getattr(v, "per_item", False))
        return cls(f"{a} {op} {b}", ta | tb, fields)

    def __and__(self, other: "Condition") -> "Condition":
        return Condition(f"({self.expr}) && ({other.expr})", self.tasks | other.tasks,
                         self.item_fields | other.item_fields)

    def __or__(self, other: "Condition") -> "Condition":
        return Condition(f"({self.expr}) || ({other.expr})", self.tasks | other.tasks,
                         self.item_fields | other.item_fields)

    def __invert__(self) -> "Condition":
        return Condition(f"!({self.expr})", set(self.tasks), self.item_fields)

    def __bool__(self):
        raise WorkflowBuildError("a condition has no value while the workflow is built; pass it to .when(...).")

    def __repr__(self) -> str:
        return f"<condition {self.expr}>"
