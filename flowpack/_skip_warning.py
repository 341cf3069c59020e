"""A build-time warning: a workflow returns or passes on a value its step may not produce.

A step under `.when(...)`, allowed to fail, or below one may end without outputs. A step reading such a value through
an input without a default is then omitted, and a workflow returning it ends in Error. Said once per build, naming the
workflow line that uses the value (see _callsite), so the user can add a default or return something else.
"""

from __future__ import annotations

import warnings

from ._callsite import CallSite
from ._graph import Graph
from ._handle import Handle
from ._manifest import _skippable, _uses
from ._status_deps import may_not_run


class SkippableValueWarning(UserWarning):
    """A workflow returns or passes on a value from a step that may not run (under `when`, allowed to fail, or below
    one), without a default to fall back to."""


def _own_reason(task) -> str:
    """Why the task may end without outputs by itself ("" when it always runs once its inputs exist)."""
    if task.when is not None:
        return f"runs only when {task.when}"
    if task.allowed_failure:
        return "is allowed to fail"
    return "runs only on the status it is `.after` (a status clause)" if may_not_run(task) else ""


def _at_risk(graph: Graph) -> dict:
    """Task -> why its outputs may not exist: its own reason, or a value it reads (without a default) from such a
    task. Steps only ordered after another (`.after`, status clauses) run on that status: they are not at risk."""
    _, fallbacks = _skippable(graph)
    risk: dict = {}
    for t in graph.tasks:
        why = _own_reason(t)
        if not why:
            up = [d.name for d in sorted(t.deps, key=lambda d: d.order)
                  if d in risk and d not in fallbacks[t] and _uses(t, d)]
            why = f"runs only if {', '.join(up)} did" if up else ""
        if why:
            risk[t] = why
    return risk


def warn_skippable(graph: Graph, outputs: dict[str, Handle], workflow: str) -> None:
    """Warn for each returned output and each op input without a default fed by a step that may not run."""
    risk = _at_risk(graph)
    _, fallbacks = _skippable(graph)
    for t in graph.tasks:
        for d in sorted(t.deps, key=lambda d: d.order):
            if not _own_reason(d) or d in fallbacks[t] or not _uses(t, d) or t.when is not None:
                continue  # below a skippable step, the first one that reads it has been named already
            _warn(f"workflow {workflow!r}: {t.line or 'step ' + t.name} passes on the output of step {d.name!r}, "
                  f"which {risk[d]} ({d.line or d.name}); when it does not run, step {t.name!r} is omitted "
                  f"too. Give the op's input a default to fall back to, or silence this warning if that is intended.",
                  t.line)
    for name, h in outputs.items():
        if h.task is None or h.task not in risk:
            continue
        what = "the return value" if name == "return" else f"output {name!r}"
        _warn(f"workflow {workflow!r} returns as {what} the output of step {h.task.name!r} ({h.task.line or '?'}), "
              f"which {risk[h.task]}; when it does not run, the run ends in Error. Return a value from a "
              f"step that always runs, or pass it to an op input with a default and return that op's output.",
              h.task.line)


def _warn(message: str, site: CallSite | None) -> None:
    """The warning, pointed at the user's line (where Python's warning filters and `-W` see it)."""
    if site is None:
        warnings.warn(SkippableValueWarning(message), stacklevel=3)
        return
    warnings.warn_explicit(SkippableValueWarning(message), SkippableValueWarning, site.filename, site.lineno)
