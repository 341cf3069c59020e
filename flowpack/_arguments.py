"""A parameter argument as the builder writes it: one entry of Argo's `arguments.parameters`, a name and its text.

A task hands each parameter input its Argo text (a literal, a reference such as `{{tasks.a.outputs.result}}`, or an
expression), and a workflow gives each of its parameters a value the same way; templates/workflow.json.j2 writes
both as `{"name": ..., "value": ...}`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ParameterArgument:
    """One parameter argument: the input's `name` and the Argo text it gets (`value`, Argo's field of that name)."""

    name: str
    value: str
