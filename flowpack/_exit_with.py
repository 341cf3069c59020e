"""`fp.exit_with(total=h)` in a workflow body: hand a step's output to the workflow's exit op (issue 16.3), which
receives it as its input `total` (an input with a default, taken when the step produced no value: it did not run,
or failed).

Rendered as an Argo user would: the step's template exports the output as a global output parameter
(`globalName`), which Argo keeps for the exit handler however the workflow ended, and the exit handler's argument
reads it (see flowpack/_engine/_exitvalue.py). The step runs a copy of its op's template with that one export.
"""

from __future__ import annotations

import weakref

from ._condition import Reference
from ._context import current
from ._engine._exitvalue import exit_value, global_name
from ._errors import WorkflowBuildError
from ._exit import EXIT_INPUTS
from ._steplike import StepForm, StepLike
from ._types import PARAM, protect

_bound: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # graph -> {exit op input: handle}


class ExportingStep(StepForm):
    """The op as one call runs it: its template with the output `output` exported as `global_name`."""

    def __init__(self, step: StepLike, output: str, exported: str) -> None:
        super().__init__(step, "-exports", f"-{exported}")
        self.output, self.exported = output, exported

    def __repr__(self) -> str:
        return f"<{self.inner!r} exporting {self.output!r}>"

    def adapt(self, template: dict) -> None:
        for p in (template.get("outputs") or {}).get("parameters") or []:
            if p["name"] == self.output:
                p["globalName"] = self.exported
        template.pop("memoize", None)  # a cache hit would not export the value


def exit_with(**values: Reference) -> None:
    """Hand step outputs to the workflow's exit op: `fp.exit_with(total=h)` gives its input `total` h's value."""
    graph = current()
    if graph is None:
        raise WorkflowBuildError("fp.exit_with(...) hands step outputs to the exit op; call it in an @fp.workflow "
                                 "body.")
    bound = _bound.setdefault(graph, {})
    for name, handle in values.items():
        where = f"fp.exit_with({name}={handle!r})"
        task = getattr(handle, "task", None)
        if not isinstance(handle, Reference) or task is None or handle.kind is None or handle.kind.how != PARAM \
                or handle.problem or getattr(handle, "output", None) is None or task.is_map \
                or getattr(handle, "branches", ()):
            raise WorkflowBuildError(f"{where}: pass the output of one op call (a JSON value or text, not a map's "
                                     f"list, a file or a workflow parameter).")
        if name in bound or name in EXIT_INPUTS:
            raise WorkflowBuildError(f"{where}: the exit op's input {name!r} is " + (
                "already given." if name in bound else "the workflow's own (status, name, uid, duration, failures)."))
        if isinstance(task.step, ExportingStep):
            raise WorkflowBuildError(f"{where}: step {task.name!r} already hands an output to the exit op; give the "
                                     f"exit op that one.")
        task.step = ExportingStep(task.step, getattr(handle, "output"), global_name(name))
        graph.register(task.step)
        bound[name] = handle


def bind_exit_values(graph, op, handler: dict, workflow: str) -> None:
    """Add the values handed with fp.exit_with to the exit handler's task (`handler`: its DAG template)."""
    bound = _bound.get(graph) or {}
    if bound and op is None:
        raise WorkflowBuildError(f"workflow {workflow!r}: fp.exit_with({', '.join(bound)}=...) needs an exit op: "
                                 f"@fp.workflow(on_exit=op).")
    if not bound:
        return
    task = handler["dag"]["tasks"][0]
    params = task.setdefault("arguments", {}).setdefault("parameters", [])
    for name in bound:
        inp = op.interface.inputs.get(name)
        if inp is None or inp.kind.how != PARAM:
            raise WorkflowBuildError(f"workflow {workflow!r}: fp.exit_with({name}=...): the exit op {op.name!r} has "
                                     f"no parameter input {name!r}; its inputs are {sorted(op.interface.inputs)}.")
        default = protect(inp.default_text or "", inp.kind.codec) if op.decodes_protected else \
            inp.default_text or ""
        params.append({"name": name, "value": exit_value(name, default or "")})
