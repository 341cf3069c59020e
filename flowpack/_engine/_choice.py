"""The output of whichever of several steps succeeded (`fp.one_of(a, b)`), as one Argo expression (expr-lang).

    tasks['a'].status == 'Succeeded' ? get(get(get(tasks['a'], 'outputs'), 'parameters'), 'return') :
    tasks['b'].outputs.parameters['return']

A DAG's output takes it as `valueFrom.expression` (operator.go `getTemplateOutputsFromScope`, scope.go
`resolveParameter`); a task's argument as `{{=...}}`. Each step but the last is read only when it succeeded (with
expr-lang's `get`, which names no missing variable); the last is read as it is, so when none succeeded the
expression fails and Argo reports the output as unresolved. The local engine reads exactly this form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .._errors import ManifestError

_NAME = r"[A-Za-z0-9][-A-Za-z0-9]*"
_PARAM = r"[-A-Za-z0-9_]+"
_GUARDED = re.compile(r"tasks\['(%s)'\]\.status == 'Succeeded' \? get\(get\(get\(tasks\['\1'\], 'outputs'\), "
                      r"'parameters'\), '(%s)'\) : " % (_NAME, _PARAM))
_LAST = re.compile(r"tasks\['(%s)'\]\.outputs\.parameters\['(%s)'\]$" % (_NAME, _PARAM))


@dataclass(frozen=True)
class Branch:
    """One step the choice reads: the task and its output parameter."""

    task: str
    output: str


def choice_expression(branches: list[Branch]) -> str:
    """The expression (without braces or `=`) choosing among the branches' outputs, in order."""
    *guarded, last = branches
    head = "".join("tasks['%s'].status == 'Succeeded' ? get(get(get(tasks['%s'], 'outputs'), 'parameters'), '%s') : "
                   % (b.task, b.task, b.output) for b in guarded)
    return head + "tasks['%s'].outputs.parameters['%s']" % (last.task, last.output)


def parse_choice(expr: str) -> list[Branch] | None:
    """The branches of a choice expression, or None for any other expression."""
    branches: list[Branch] = []
    pos = 0
    while True:
        m = _GUARDED.match(expr, pos)
        if m is None:
            break
        branches.append(Branch(m.group(1), m.group(2)))
        pos = m.end()
    m = _LAST.match(expr, pos)
    if m is None or not branches:
        return None
    return branches + [Branch(m.group(1), m.group(2))]


def resolve_choice(branches: list[Branch], values: dict[str, str], where: str) -> str:
    """The value of the first step that succeeded (the last one unguarded, as Argo evaluates it)."""
    for i, branch in enumerate(branches):
        last = i == len(branches) - 1
        if not last and values.get(f"tasks.{branch.task}.status") != "Succeeded":
            continue
        key = f"tasks.{branch.task}.outputs.parameters.{branch.output}"
        if key in values:
            return values[key]
        if last:
            break
    names = ", ".join(b.task for b in branches)
    raise ManifestError(f"{where}: none of the steps {names} succeeded with output {branches[-1].output!r}, so "
                        f"fp.one_of has no value")
