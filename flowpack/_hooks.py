"""Exit hooks on a single step: `train(x).on_exit(report)` runs the op `report` once `train` ended (Succeeded,
Failed or Error; not when skipped or omitted), handing it the step's status as `status` (Argo's task-level
`hooks: {exit: ...}` with `{{tasks.train.status}}`). Steps after `train` wait for the hook; the hook failing does
not fail the workflow (Argo's controller: a hooked node is not one of the DAG's tasks)."""

from __future__ import annotations

from dataclasses import dataclass

from ._context import current
from ._errors import WorkflowBuildError

STATUS = "status"


@dataclass(frozen=True)
class ExitHook:
    """A step's exit hook: the hook op's template, and whether it takes the step's status as `status`."""

    template: str
    takes_status: bool


def add_exit_hook(task, op) -> None:
    """Give `task` the exit hook `op` (an op whose inputs other than `status` have defaults)."""
    graph = current()
    where = f"step {task.name!r}: .on_exit({getattr(op, 'name', op)!r})"
    if graph is None:
        raise WorkflowBuildError(f"{where}: set exit hooks inside a workflow body.")
    if not getattr(op, "__flowpack_op__", False):
        raise WorkflowBuildError(f"{where}: the hook must be an op.")
    if task.exit_hook is not None:
        raise WorkflowBuildError(f"{where}: the step already has an exit hook.")
    required = [n for n, i in op.interface.inputs.items() if n != STATUS and not i.has_default]
    if required:
        raise WorkflowBuildError(f"{where}: a step's exit hook receives only `status` (the step's phase); give "
                                 f"{required} defaults.")
    task.exit_hook = ExitHook(graph.register(op), STATUS in op.interface.inputs)


def hooks_field(task) -> dict | None:
    """The task's `hooks` block, or None."""
    exit_hook: ExitHook | None = task.exit_hook
    if exit_hook is None:
        return None
    hook: dict = {"template": exit_hook.template}
    if exit_hook.takes_status:
        hook["arguments"] = {"parameters": [{"name": STATUS, "value": "{{tasks.%s.status}}" % task.name}]}
    return {"exit": hook}
