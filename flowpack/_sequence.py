"""`fp.sequence(n)`: map an op over the numbers 0..n-1 (or `start`..`end`) without a list, rendered as Argo's
`withSequence`; `n` may be a number or an int output of a step or a workflow parameter, known only at run time."""

from __future__ import annotations

from dataclasses import dataclass

from ._condition import Reference
from ._errors import WorkflowBuildError
from ._types import JSON, PARAM


@dataclass(frozen=True)
class Sequence:
    """The numbers a map runs over: `count` from `start`, or `start` to `end` inclusive (Argo's withSequence)."""

    count: object = None  # int or a Reference to an int
    start: object = 0
    end: object = None

    def spec(self) -> dict:
        """The `withSequence` block: numbers as text (Argo's schema types them IntOrString, as a string), run-time
        values as their `{{...}}` reference."""
        out: dict = {}
        for key in ("count", "start", "end"):
            value = getattr(self, key)
            if value is None or (key == "start" and not isinstance(value, Reference) and value == 0):
                continue
            out[key] = value.ref if isinstance(value, Reference) else str(value)  # IntOrString, as text
        return out

    def tasks(self) -> set:
        """The steps whose outputs the sequence reads."""
        return {v.task for v in (self.count, self.start, self.end) if isinstance(v, Reference) and v.task is not None}


def sequence(count=None, *, start=0, end=None) -> Sequence:
    """Numbers to map over: `op.map(i=fp.sequence(5))` runs op(i=0) ... op(i=4); `fp.sequence(start=1, end=3)`
    runs 1, 2, 3. Each bound is an int, or an int output of a step or a workflow parameter."""
    if (count is None) == (end is None):
        raise WorkflowBuildError("fp.sequence(...) takes a count, or start= and end=, e.g. fp.sequence(5) or "
                                 "fp.sequence(start=1, end=5).")
    for name, value in (("count", count), ("start", start), ("end", end)):
        if value is None:
            continue
        if isinstance(value, Reference):
            if value.kind is None or value.kind.how != PARAM or value.kind.codec != JSON or value.kind.is_list \
                    or value.problem:
                raise WorkflowBuildError(f"fp.sequence({name}={value!r}): a run-time bound must be an int output of a "
                                         f"single step or an int workflow parameter.")
        elif isinstance(value, bool) or not isinstance(value, int) or (name == "count" and value < 0):
            raise WorkflowBuildError(f"fp.sequence({name}={value!r}): must be a whole number"
                                     + (" >= 0." if name == "count" else "."))
    return Sequence(count, start, end)
