"""What a workflow body holds while it builds the DAG: the handles op calls return, the tasks they name, and the
small values the builder passes around (fallbacks, a sub-workflow's finish, uploaded items, what a body returned)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ._arguments import ParameterArgument
from ._callsite import CallSite, call_site
from ._condition import Condition, Reference
from ._errors import WorkflowBuildError
from ._fanin import names_ref
from ._hooks import ExitHook, add_exit_hook
from ._item import set_item_when
from ._status_deps import Clause, add_after
from ._steplike import StepLike, caches
from ._text import concat, placeholder
from ._tolerate import Tolerance
from ._types import (
    ARTIFACT_PATHS,
    JSON,
    PARAM,
    PATH,
    Codec,
    Kind,
)


class _HandleInside(Exception):
    """Raised while pickling a literal that holds a handle; the caller names the op and argument."""


class Handle(Reference):
    """A value that will exist when the workflow runs: one output of a task (or a workflow parameter)."""

    __slots__ = ("task", "output", "kind", "ref", "problem")
    __hash__ = object.__hash__
    branches: tuple = ()  # fp.one_of(a, b): the handles it chooses among (flowpack/_one_of.py)

    def __init__(self, task: "Task | None", output: str | None, kind: Kind | None, ref: str | None,
                 problem: str | None = None):
        self.task = task
        self.output = output
        self.kind = kind
        self.ref = ref  # the Argo expression for the value, e.g. {{tasks.add.outputs.parameters.return}}
        self.problem = problem  # why this handle can't be passed on (e.g. artifacts of a map)

    def when(self, condition: "Condition | str") -> "Handle":
        """Run this step (or map) only when `condition` holds, e.g. `.when(x > 3)`; otherwise it is skipped."""
        task = self._own_task("when")
        if task.when is not None:
            raise WorkflowBuildError(f"task {task.name!r} already has a condition; combine them with & or |.")

        if isinstance(condition, Condition) and condition.item_fields:  # fp.item: each item on its own (_item)
            set_item_when(task, condition)
            return self
        task.when = condition.when if isinstance(condition, Condition) else str(condition)
        if isinstance(condition, Condition):
            task.deps |= condition.tasks
        return self

    def on_exit(self, op) -> "Handle":
        """Run the op `op` once this step ended (not when it was skipped), handing it the step's status as
        `status`; steps after this one wait for it (Argo's task-level exit hook)."""
        add_exit_hook(self._own_task("on_exit"), op)
        return self

    def allow_failure(self) -> "Handle":
        """Let the workflow go on when this step (or any item of this map) fails: the step stays Failed, steps
        that use its outputs are omitted, steps ordered after it (`.after`) or with a default for its output run."""
        self._own_task("allow_failure").allowed_failure = True
        return self

    def _own_task(self, what: str) -> "Task":
        if self.task is None:
            raise WorkflowBuildError(f".{what}() applies to the result of an op call, not to a workflow parameter.")
        return self.task

    def _compare(self, op: str, other) -> "Condition":
        return Condition.compare(self, op, other)

    def after(self, *others: "Handle", on: str | None = None) -> "Handle":
        """Run this task only after `others` finished (an order-only dependency); returns self for chaining.
        `on="failed"`, `"any"`, `"succeeded_or_skipped"`, `"any_succeeded"` (a map)... runs it only when they
        ended so (see flowpack/_status_deps.py); `fp.any_of(a, b)` is an OR between dependencies."""
        if self.task is None:
            raise WorkflowBuildError(".after() applies to the result of an op call, not to a workflow parameter.")

        add_after(self.task, others, on)
        return self

    def __getattr__(self, name: str) -> "Handle":
        task = object.__getattribute__(self, "task")
        if name.startswith("_") or task is None or name in Handle.__slots__:
            raise AttributeError(name)
        outputs = task.step.interface.outputs
        if name not in outputs:
            raise AttributeError(
                f"op {task.step.name!r} has no output {name!r}; its outputs are {sorted(outputs) or 'none'}."
            )
        return task.handle(name)

    def _arithmetic(self, *other):
        raise WorkflowBuildError(
            f"{self!r} has no value while the workflow is being built, so arithmetic on it can't be done here. "
            f"Do the computation inside an op and pass the handle to it.")

    def __format__(self, spec: str) -> str:
        """In an f-string: a placeholder that becomes Argo's `{{...}}` in a step's text argument (see _text)."""
        return placeholder(self, spec)

    def __add__(self, other):
        return concat(self, other, True)

    def __radd__(self, other):
        return concat(self, other, False)

    __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _arithmetic
    __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = __pow__ = __rpow__ = __neg__ = __pos__ = __abs__ = _arithmetic

    def __bool__(self):
        raise WorkflowBuildError(
            f"{self!r} has no value while the workflow is being built, so it can't be tested with if/while/and/or. "
            f"Use a condition on the step instead."
        )

    def __iter__(self):
        raise WorkflowBuildError(f"{self!r} can't be iterated while the workflow is being built; map an op over it.")

    def __str__(self) -> str:
        raise WorkflowBuildError(
            f"str({self!r}) can't give the value while the workflow is being built. Pass the handle itself, or use "
            f"it in an f-string passed to a text argument (f'{{h}}'), which Argo fills in when the step runs."
        )

    def __reduce_ex__(self, protocol):
        raise _HandleInside(repr(self))  # a handle hidden inside an object passed as a literal

    def __repr__(self) -> str:
        if self.task is None:
            return f"<workflow parameter {self.output}>"
        return f"<output {self.output or '*'} of task {self.task.name}>"


@dataclass(frozen=True)
class Fallback:
    """An input wired to `output` of `source` that falls back to `default` (its own default, as the step reads it)
    when `source` did not succeed; used when the manifest is assembled (see _manifest)."""

    source: Task
    output: str
    default: str


@dataclass(frozen=True)
class Finish:
    """The task closing a DAG whose tasks may end in an allowed failure or without outputs, and its template's name
    (see _manifest.needs_finish)."""

    task: str
    template: str


@dataclass(frozen=True)
class UploadedItems:
    """A literal list of local files or folders a map runs over, uploaded: their store keys (the loop's items), and
    whether they are files (stored as they are) rather than folders (stored as tarballs Argo unpacks)."""

    keys: list[str]
    files: bool


@dataclass(eq=False)
class Task:
    """One call of a step inside a workflow body (or one map over a step)."""

    name: str
    step: StepLike
    parameters: list[ParameterArgument] = field(default_factory=list)  # each parameter input's Argo text
    artifacts: list[dict[str, Any]] = field(default_factory=list)  # Argo artifact arguments
    deps: set[Task] = field(default_factory=set)  # tasks whose data this one uses
    order: int = 0
    when: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # withItems / withParam
    allowed_failure: bool = False  # .allow_failure(): the workflow goes on past this task's failure
    is_map: bool = False
    parallelism: int | None = None
    loop_template: str | None = None  # a bounded map's wrapper DAG template (a unique template name)
    fallbacks: dict[str, Fallback] = field(default_factory=dict)  # input -> its default, if its source is skipped
    clauses: list[Clause] = field(default_factory=list)  # status clauses from .after(on=...) / fp.any_of (_status_deps)
    exit_hook: ExitHook | None = None  # .on_exit(op): the hook's template, and whether it takes the status (_hooks)
    tolerance: Tolerance | None = None  # op.map(..., tolerate=2): how many items it may lose (_tolerate)
    item_when: str | None = None  # .when(fp.item > 2): the loop's own condition, per item (_item)
    mapped: tuple[str, ...] = ()  # the arguments a map maps over (dict_items: whether its items are dicts of them)
    dict_items: bool = False
    line: CallSite | None = field(default_factory=call_site)  # where the body calls it: `pipeline.py:14: ...`

    def handle(self, output: str | None) -> Handle:
        if output is None:
            return Handle(self, None, None, None)
        kind = self.step.interface.outputs[output]
        section = "parameters" if kind.how == PARAM else "artifacts"
        ref = "{{tasks.%s.outputs.%s.%s}}" % (self.name, section, output)
        if not self.is_map:
            # The same value by Argo's shorter name (a map gathers parameters). Not for a cached op: a cache hit
            # restores only the outputs its first run captured, and Argo captures `result` only when referenced.
            if output == self.step.interface.result and not caches(self.step):
                ref = "{{tasks.%s.outputs.result}}" % self.name
            return Handle(self, output, kind, ref)
        if kind.how == PATH:  # a map of files: its items' file names, in item order, under the map's prefix (_fanin)
            return Handle(self, output, ARTIFACT_PATHS, names_ref(self.name, output))
        if kind.how != PARAM:
            return Handle(self, output, kind, ref, problem=(
                f"output {output!r} of map {self.name!r} is an artifact; Argo gathers only parameters from a map. "
                f"Annotate the op's return with a JSON type to fan in its results."))
        return Handle(self, output, Kind(PARAM, JSON, True), ref)


def item_codec(handle: Handle) -> Codec | None:
    """The items' codec when `handle` is Argo's list gathered from a map's items (a map's output, or a sub-workflow's
    output passing one on), else None."""
    task = handle.task
    if task is None or handle.output is None:
        return None
    if task.is_map:
        return task.step.interface.outputs[handle.output].codec
    return task.step.interface.gathered.get(handle.output)


def result_handle(task: Task) -> Handle:
    """What an op call returns: its single output, or the task itself for several (h.field) or none."""
    outputs = task.step.interface.outputs
    if task.step.interface.fields is None and len(outputs) == 1:
        return task.handle(next(iter(outputs)))
    return task.handle(None)


class ReturnForm(StrEnum):
    """What a workflow body returned: nothing, one handle, a tuple or a dict of handles, or the fields of an op's
    NamedTuple result. Its text is what the manifest's outputs annotation records."""

    NONE = "none"
    SINGLE = "single"
    TUPLE = "tuple"
    DICT = "dict"
    FIELDS = "fields"


@dataclass(frozen=True)
class Returned:
    """How a workflow body's return value maps to its outputs, for run.result() to rebuild it: its form, how each
    output decodes (its kind record), and a NamedTuple's fields in order."""

    form: ReturnForm
    kinds: dict[str, dict[str, str]]
    fields: tuple[str, ...] | None = None

    def to_json(self) -> dict:
        """The manifest's outputs annotation (the run side reads this form)."""
        record: dict = {"shape": self.form.value, "kinds": self.kinds}
        if self.fields is not None:
            record["fields"] = list(self.fields)
        return record


def workflow_param(name: str, kind: Kind) -> Handle:
    section = "parameters" if kind.how == PARAM else "artifacts"
    ref = "{{workflow.parameters.%s}}" % name if section == "parameters" else "{{inputs.artifacts.%s}}" % name
    return Handle(None, name, kind, ref)
