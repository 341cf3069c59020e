"""A DAG's phase as Argo decides it (workflow/controller/dag.go `assessDAGPhase`), for the local engine.

Argo walks from the DAG's root tasks to its target tasks (the tasks no other task depends on, or `dag.target`)
carrying a "branch phase": a task that completed (Succeeded, Failed, Error) passes on its own phase; a Skipped or
Omitted task passes on what it inherited. A target's phase is its own when it completed, else a Failed or Error
phase it inherited (those win over Succeeded). The DAG fails with the first failed target (in name order) unless
that task has `continueOn` for its phase; it succeeds when every target has a phase. So a failure whose every path
to a target runs through a task that completed (e.g. one whose `depends` accepts the failure) does not fail the DAG.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._phase import Phase


@dataclass(frozen=True)
class Assessment:
    """The DAG's phase and, when it failed, the task whose own failure decided it (its origin) and the target."""

    phase: str  # Succeeded | Failed | Error | Running
    origin: str | None = None  # the task that failed (completed Failed/Error) on the way to `target`
    target: str | None = None


def targets(deps: dict[str, set[str]], target: str | None = None) -> list[str]:
    """`dag.target` split on spaces, else the tasks no other task depends on, sorted by name (as Argo)."""
    if target:
        return target.split(" ")
    depended = set().union(*deps.values()) if deps else set()
    return sorted(n for n in deps if n not in depended)


def assess(order: list[str], deps: dict[str, set[str]], phases: dict[str, str], target_names: list[str],
           continues: dict[str, dict]) -> Assessment:
    """`order` lists tasks with dependencies first; `phases` holds the tasks that have a node (any phase);
    `continues` maps a task to its `continueOn` ({"failed": true, "error": true})."""
    carried: dict[str, dict[str, str]] = {}  # task -> branch phase -> the task it comes from
    for name in order:
        phase = phases.get(name)
        if phase is None:
            continue
        if phase not in Phase.COMPLETED and phase not in ("Skipped", "Omitted"):
            return Assessment("Running")
        if phase in Phase.COMPLETED:
            carried[name] = {phase: name}
            continue
        inherited: dict[str, str] = {}
        for parent in sorted(deps.get(name) or ()):
            for p, origin in carried.get(parent, {}).items():
                inherited.setdefault(p, origin)
        carried[name] = inherited if deps.get(name) else {"Succeeded": name}
    result = Assessment("Succeeded")
    for name in target_names:
        branch = carried.get(name)
        if branch is None:
            result = Assessment("Running")
            continue
        failed = next(((p, o) for p, o in branch.items() if p in Phase.FAILED_LIKE), None)
        if failed is None:
            continue
        phase, origin = failed
        flag = {"Failed": "failed", "Error": "error"}[phase]
        if (continues.get(name) or {}).get(flag):
            continue
        return Assessment(phase, origin, name)
    return result
