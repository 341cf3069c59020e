"""A step's output handed to the workflow's exit op (`fp.exit_with(total=h)`, issue 16.3): the Argo expression the
exit handler's argument is, written by the builder (flowpack/_exit_with.py) and evaluated by the local engine.

The step's template exports the output as a global output parameter (`globalName: fp-exit-<input>`), which Argo
sets when the step ends and keeps for the exit handler, whether the workflow succeeded or not. The argument reads it,
or the exit op's own default when the step did not produce it (never ran, failed: Argo then holds "" for it):

    {{=(workflow.outputs.parameters['fp-exit-' + 'total'] ?? '') == '' ? DEFAULT : workflow.outputs.parameters[...]}}

The key is computed so that Argo's strict check of missing variables (member paths of literal keys) does not hold the
exit handler back when the value is missing. DEFAULT is a JSON string literal of the default's Argo text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

PREFIX = "fp-exit-"  # the global output parameter fp-exit-<input>

_VALUE = r"workflow\.outputs\.parameters\['fp-exit-' \+ '([A-Za-z0-9_-]+)'\]"
_EXPR = re.compile(r"^\(%s \?\? ''\) == '' \? (\"(?:[^\"\\]|\\.)*\") : %s$" % (_VALUE, _VALUE))


def global_name(name: str) -> str:
    """The global output parameter carrying the exit op's input `name`."""
    return PREFIX + name


def exit_value(name: str, default_text: str) -> str:
    """The exit handler's argument for input `name`: the exported value, else `default_text`."""
    value = "workflow.outputs.parameters['%s' + '%s']" % (PREFIX, name)
    literal = json.dumps(default_text, ensure_ascii=False).replace("{", "\\u007b").replace("}", "\\u007d")
    return "{{=(%s ?? '') == '' ? %s : %s}}" % (value, literal, value)


@dataclass(frozen=True)
class ExitValue:
    """A parsed exit value: the input it carries and the default text."""

    name: str
    default: str

    def resolve(self, values: dict[str, str]) -> str:
        """As Argo: the global output's value, unless it is missing or empty."""
        return values.get("workflow.outputs.parameters." + global_name(self.name)) or self.default


def parse_exit_value(expr: str) -> ExitValue | None:
    """The exit value an expression (without `{{` and `=`) is, or None for any other expression."""
    m = _EXPR.match(expr)
    if m is None or m.group(1) != m.group(3):
        return None
    return ExitValue(m.group(1), json.loads(m.group(2)))
