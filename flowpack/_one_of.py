"""`fp.one_of(a, b)`: the output of whichever of several steps succeeded, typically the branches of a condition
(`a = f(x).when(c)`, `b = g(x).when(~c)`), without a join step. It renders as one Argo expression (see
flowpack/_engine/_choice.py): a DAG output's `valueFrom.expression`, or a `{{=...}}` argument of a step that runs
once the branches ended, when at least one succeeded (`depends: (a.Succeeded || b.Succeeded)`)."""

from __future__ import annotations

from ._engine._choice import Branch, choice_expression
from ._errors import WorkflowBuildError
from ._handle import Handle
from ._types import PARAM


class OneOf(Handle):
    """A handle on the output of the first of `branches` that succeeded."""

    __slots__ = ("branches", "expression")

    def __init__(self, branches: tuple[Handle, ...], sources: list[Branch]):
        """`sources`: the step and output each branch reads, in order."""
        first = branches[0]
        expr = choice_expression(sources)
        super().__init__(None, first.output, first.kind, "{{=" + expr + "}}")
        self.branches = branches
        self.expression = expr  # without its tag, as a DAG output's `valueFrom.expression` takes it

    def __repr__(self) -> str:
        return "fp.one_of(" + ", ".join(repr(h) for h in self.branches) + ")"


def one_of(*handles: Handle) -> OneOf:
    """The output of the first of `handles` whose step succeeded: `return fp.one_of(big(x).when(x > 9),
    small(x).when(x <= 9))`. Each is a parameter output (not a map's, not a file) of a different step, all of one
    kind; when none succeeded, a step taking it is omitted and a workflow returning it ends in Error."""
    if len(handles) < 2:
        raise WorkflowBuildError("fp.one_of(...) chooses among two or more step outputs, e.g. fp.one_of(a, b).")
    codecs: set[str] = set()
    sources: list[Branch] = []
    for h in handles:
        if not isinstance(h, Handle) or h.task is None or h.kind is None or h.output is None:
            raise WorkflowBuildError(f"fp.one_of(...) takes single outputs of op calls; got {h!r}.")
        if h.kind.how != PARAM or h.task.is_map or h.problem:
            raise WorkflowBuildError(f"fp.one_of(...): {h!r} is not a parameter output of a single step (a file, a "
                                     f"pickled value or a map's output); return a JSON value or text instead.")
        codecs.add(h.kind.codec)
        sources.append(Branch(h.task.name, h.output))
    if len(codecs) > 1 or len({h.task for h in handles}) < len(handles):
        raise WorkflowBuildError(f"fp.one_of{handles!r}: the outputs must come from different steps and be of one "
                                 f"kind (all text or all JSON).")
    return OneOf(tuple(handles), sources)
