"""Steps that depend on how another step ended: `.after(x, on="failed")`, `fp.any_of(a, b)`, `fp.status(x)`.

Each renders as the `depends` clause an Argo user writes by hand (`x.Failed || x.Errored`, `m.AnySucceeded`,
`(a.Succeeded || b.Succeeded)`), and `fp.status(x) == "Failed"` as a `when` reading `tasks['x'].status`. Argo decides
a DAG's phase from the paths leading to its last tasks (dag.go `assessDAGPhase`): a failure followed by a step that
ran because of it does not fail the workflow; the failed step still shows as Failed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from ._condition import Condition, Reference
from ._errors import WorkflowBuildError


class On(str, Enum):
    """How a step must have ended for a step after it to run (`.after(x, on=...)`)."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"  # Failed or Errored (an error of the step's pod or of its inputs)
    ERRORED = "errored"
    SKIPPED = "skipped"
    OMITTED = "omitted"
    SUCCEEDED_OR_SKIPPED = "succeeded_or_skipped"
    NOT_SUCCEEDED = "not_succeeded"
    ANY = "any"
    ANY_SUCCEEDED = "any_succeeded"  # a map: at least one item succeeded
    ALL_FAILED = "all_failed"  # a map: every item failed


_PHASES: dict[On, tuple[str, ...]] = {
    On.SUCCEEDED: ("Succeeded",),
    On.FAILED: ("Failed", "Errored"),
    On.ERRORED: ("Errored",),
    On.SKIPPED: ("Skipped",),
    On.OMITTED: ("Omitted",),
    On.SUCCEEDED_OR_SKIPPED: ("Succeeded", "Skipped"),
    On.NOT_SUCCEEDED: ("Failed", "Errored", "Skipped", "Omitted"),
    On.ANY: ("Succeeded", "Skipped", "Omitted", "Failed", "Errored"),
    On.ANY_SUCCEEDED: ("AnySucceeded",),
    On.ALL_FAILED: ("AllFailed",),
}
MAP_ONLY = (On.ANY_SUCCEEDED, On.ALL_FAILED)
# Phases a step can have in the run record and in Argo's `tasks.X.status`.
STATUSES = ("Succeeded", "Failed", "Error", "Skipped", "Omitted")


def parse_on(on: object, where: str) -> On:
    try:
        return On(on)
    except ValueError:
        raise WorkflowBuildError(f"{where}: on={on!r} is not one of {[o.value for o in On]}.") from None


class NamedTask(Protocol):
    """What a dependency needs of a graph Task (declared here: the graph sits above): its name in the DAG."""

    name: str


@dataclass(frozen=True)
class Clause:
    """One part of a task's `depends`: `(task, On)` pairs joined by `||` (one pair for `.after(x, on=...)`)."""

    members: tuple[tuple[NamedTask, On], ...]

    @property
    def tasks(self) -> set[NamedTask]:
        return {t for t, _ in self.members}

    def accepts_failure(self, task) -> bool:
        """The clause can hold when `task` failed (so a failure of `task` does not keep this step from running)."""
        return any(t is task and ("Failed" in _PHASES[on] or on is On.ALL_FAILED) for t, on in self.members)

    def always(self) -> bool:
        """The clause holds whatever its tasks did (on="any")."""
        return all(on is On.ANY for _, on in self.members)

    def render(self) -> str:
        parts = [" || ".join(f"{t.name}.{p}" for p in _PHASES[on]) for t, on in self.members]
        text = " || ".join(parts)
        return f"({text})" if len(parts) > 1 or " || " in text else text


class AnyOf:
    """`fp.any_of(a, b, on=...)`: run after all of them ended, when at least one ended as `on` says (Argo's `||`)."""

    def __init__(self, members: tuple[tuple[NamedTask, On], ...]):
        self.members = members

    def __bool__(self):
        raise WorkflowBuildError("fp.any_of(...) is a dependency: pass it to .after(...).")

    def __repr__(self) -> str:
        return "fp.any_of(" + ", ".join(f"{t.name}:{on.value}" for t, on in self.members) + ")"


def any_of(*handles, on: str = "succeeded") -> AnyOf:
    """A dependency on any one of several steps: `report().after(fp.any_of(a, b))` runs once `a` and `b` have both
    ended, if at least one succeeded (`on=` as in `.after`). Nest them to mix:
    `fp.any_of(fp.any_of(a, on="failed"), b)`."""
    kind = parse_on(on, "fp.any_of(...)")
    members: list[tuple[NamedTask, On]] = []
    for h in handles:
        if isinstance(h, AnyOf):
            members.extend(h.members)
        else:
            members.append((_task_of(h, "fp.any_of(...)"), kind))
    if len(members) < 1:
        raise WorkflowBuildError("fp.any_of(...) needs at least one result of an op call, e.g. fp.any_of(a, b).")
    return AnyOf(tuple(members))


def _task_of(handle, where: str):
    if not isinstance(handle, Reference) or handle.task is None:
        raise WorkflowBuildError(f"{where} takes results of op calls (or fp.any_of); got {handle!r}.")
    return handle.task


def add_after(task, others: tuple, on: str | None) -> None:
    """`.after(*others, on=...)`: order-only dependencies, each holding only when the other ended as `on` says."""
    kind = None if on is None else parse_on(on, f"step {task.name!r}: .after(...)")
    for other in others:
        if isinstance(other, AnyOf):
            if kind is not None:
                raise WorkflowBuildError(f"step {task.name!r}: give on= to fp.any_of(...), not to .after(...).")
            clause = Clause(other.members)
        else:
            dep = _task_of(other, ".after()")
            if kind is None:
                task.deps.add(dep)
                continue
            clause = Clause(((dep, kind),))
        for dep in clause.tasks:
            if dep is task:
                raise WorkflowBuildError(f"step {task.name!r} can't run after itself.")
        task.deps |= clause.tasks
        task.clauses.append(clause)


class StepStatus:
    """`fp.status(x)`: how step x ended, for a condition: `.when(fp.status(x) == "Failed")` (Argo's
    `tasks.x.status`). The step with the condition then waits for x whatever x did."""

    def __init__(self, task):
        self.task = task

    def _compare(self, op: str, other: object) -> Condition:
        if other not in STATUSES:
            raise WorkflowBuildError(f"fp.status({self.task.name}) is compared with {other!r}; a step's status is one "
                                     f"of {list(STATUSES)}.")
        return Condition(f"tasks['{self.task.name}'].status {op} {json.dumps(other)}", {self.task})

    def __eq__(self, other: object) -> Condition:  # type: ignore[override]  # a condition, not a bool
        return self._compare("==", other)

    def __ne__(self, other: object) -> Condition:  # type: ignore[override]  # a condition, not a bool
        return self._compare("!=", other)

    __hash__ = object.__hash__

    def __bool__(self):
        raise WorkflowBuildError("fp.status(x) has no value while the workflow is built; compare it in .when(...).")


def status(handle) -> StepStatus:
    """The status a step ended with, usable in a condition: `.when(fp.status(train) != "Succeeded")`."""
    return StepStatus(_task_of(handle, "fp.status(...)"))


_STATUS_REF = re.compile(r"tasks\['([^']+)'\]\.status")


def status_refs(when: str | None) -> set[str]:
    """Names of the tasks whose status a `when` reads."""
    return set(_STATUS_REF.findall(when or ""))


def task_clauses(task, wrapped: set, data: set) -> tuple[list[str], set]:
    """The rendered status clauses of `task` and the dependencies they cover (those get no default clause).
    A task whose condition reads another's status waits for it whatever it did. `wrapped` holds the maps that run
    in a DAG of their own, where Argo's AnySucceeded/AllFailed (task-group only) would never hold; `data` the
    dependencies whose outputs the task reads without a default (a status clause can't run it without them)."""
    texts, covered = [], set()
    for clause in task.clauses:
        for dep, on in clause.members:
            if dep in data and on is not On.SUCCEEDED:
                raise WorkflowBuildError(
                    f"step {task.name!r} reads outputs of {dep.name!r} and runs after it on={on.value!r}, when "
                    f"those outputs may not exist. Give the input a default, or pass the values on another way.")
            if on in MAP_ONLY and not dep.is_map:
                raise WorkflowBuildError(f"step {task.name!r}: on={on.value!r} applies to a map (its items); "
                                         f"{dep.name!r} is a single step. Use on=\"succeeded\" or \"failed\".")
            if on in MAP_ONLY and dep in wrapped:
                raise WorkflowBuildError(
                    f"step {task.name!r}: on={on.value!r} reads the items of map {dep.name!r}, but that map runs in "
                    f"a DAG of its own (it is bounded, conditional or over a list known only at run time), where "
                    f"Argo can't count its items. Map over a literal list without parallelism= or .when().")
        texts.append(clause.render())
        covered |= clause.tasks
    by_name = {d.name: d for d in task.deps}
    for name in sorted(status_refs(task.when)):
        dep = by_name.get(name)
        if dep is not None and dep not in covered:
            texts.append(Clause(((dep, On.ANY),)).render())
            covered.add(dep)
    return texts, covered


def may_not_run(task) -> bool:
    """The task may end Omitted because of a status clause (so dependents treat it as skippable)."""
    return any(not c.always() for c in task.clauses)


def failure_handled(task, tasks: list) -> bool:
    """Every step that depends on `task` runs when it failed (a status clause accepts its failure, or a condition
    reads its status): Argo then lets the workflow succeed past the failure, so a closing task does too."""
    dependents = [t for t in tasks if task in t.deps]
    return bool(dependents) and all(
        any(c.accepts_failure(task) for c in t.clauses) or task.name in status_refs(t.when) for t in dependents)


def wire_one_of(task, branches: tuple) -> None:
    """A step taking `fp.one_of(a, b)` runs once a and b ended, when at least one of them succeeded."""
    clause = Clause(tuple((h.task, On.SUCCEEDED) for h in branches))
    task.deps |= clause.tasks
    task.clauses.append(clause)
