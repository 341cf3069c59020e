"""Map tolerance (issue 16.7): `op.map(xs, tolerate=2)` succeeds when at most 2 items failed, `tolerate=0.1` when at
most a tenth did (dflow's success ratio); the steps after it get the outputs of the items that succeeded, and the
failed items stay Failed (in the run's steps, the viewer, Argo's UI and the exit op's `failures`).

On Argo the map runs in a DAG of its own (as a bounded map does) holding the loop and a check: a zero-duration
`suspend` (no pod) that waits for the loop whatever its items did (`depends: T.Succeeded || T.Failed ||
T.Errored`; an empty list skips the loop and omits the check) and runs only when few enough items failed (`when`,
see flowpack/_engine/_tolerance.py). Argo decides the DAG's phase from its last task (dag.go assessDAGPhase): the
check completing makes it Succeeded; the check skipped leaves the loop's failure to decide it, so the map fails as a
map without tolerance does. Each item counts itself through an output parameter `fp-done` (a default "1", read
from a path the step never writes), which Argo gathers from the items that succeeded only.
"""

from __future__ import annotations

import json
import re
import weakref
from dataclasses import dataclass

from ._engine._tolerance import DONE, check_expression, parameter_path, total_of_count, total_of_list
from ._errors import WorkflowBuildError
from ._steplike import StepForm, StepLike
from ._wire import io_path

UNWRITTEN = "outputs/done"  # the folder of fp-done's path: no step writes there, so Argo takes the default

_variants: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Tolerance:
    """How many items a map may lose: a count, or a fraction of its items. `template` names the check's template."""

    allowed: int | float
    template: str


def check_tolerate(tolerate: object, where: str) -> int | float:
    """A count of items >= 0, or a fraction strictly between 0 and 1."""
    if isinstance(tolerate, bool) or not isinstance(tolerate, (int, float)) or tolerate < 0 or \
            (isinstance(tolerate, float) and not 0 < tolerate < 1):
        raise WorkflowBuildError(
            f"{where}: tolerate={tolerate!r} must be how many items may fail (a whole number >= 0, e.g. tolerate=2) "
            f"or which fraction of them (between 0 and 1, e.g. tolerate=0.1), known when the workflow is built.")
    return tolerate


class CountedStep(StepForm):
    """The op as a tolerant map runs it: its template (or a map-of-files form of it) with the output parameter
    `fp-done`. Anything else is the op's own."""

    def __init__(self, step: StepLike) -> None:
        super().__init__(step, "-counted")

    def __repr__(self) -> str:
        return f"<{self.inner!r} counting its items>"

    def adapt(self, template: dict) -> None:
        outputs = template.setdefault("outputs", {})
        outputs["parameters"] = [*(outputs.get("parameters") or []),
                                 {"name": DONE, "valueFrom": {"path": io_path(UNWRITTEN, DONE), "default": "1"}}]


def counted_step(step: StepLike) -> CountedStep:
    """The counting form of `step` (one per step)."""
    variant = _variants.get(step)
    if variant is None:
        variant = _variants[step] = CountedStep(step)
    return variant


def check_row(loop: dict, tolerance: Tolerance, where: str) -> dict:
    """The check task after the loop `loop` (the task row inside the map's DAG, its run-time values already coming
    in as the DAG's input parameters)."""
    task = loop["name"]
    extra = loop["extra"]
    if "withItems" in extra:
        total = str(len(extra["withItems"]))
    elif "withParam" in extra:
        total = _from_input(extra["withParam"], total_of_list, where)
    else:
        total = _sequence_total(extra.get("withSequence") or {}, where)
    ends = " || ".join(f"{task}.{end}" for end in ("Succeeded", "Failed", "Errored"))
    return {"name": f"{task}-tolerate", "template": tolerance.template, "depends": f"({ends})", "parameters": [],
            "artifacts": [], "extra": {"when": check_expression(task, total, tolerance.allowed)}}


def _from_input(text: str, total, where: str) -> str:
    """A run-time value (`{{inputs.parameters.pN}}` lifted into the map's DAG, or `{{workflow.parameters.x}}`) as
    the expression of its total."""
    if text == "[]":
        return "0"
    m = re.fullmatch(r"\{\{(inputs|workflow)\.parameters\.([A-Za-z0-9_-]+)\}\}", text)
    if m is None:
        raise WorkflowBuildError(f"{where}: tolerate= can't count the items of {text!r}.")
    return total(parameter_path(m.group(1), m.group(2)))


def _sequence_total(spec: dict, where: str) -> str:
    """The number of items of a withSequence: a literal, or a run-time count."""
    count, start, end = spec.get("count"), str(spec.get("start", "0")), str(spec.get("end"))
    if count is not None:
        return count if "{{" not in count else _from_input(count, total_of_count, where)
    if "{{" in json.dumps([start, end]):
        raise WorkflowBuildError(f"{where}: tolerate= needs a sequence whose bounds are known when the workflow is "
                                 f"built, or a run-time count (fp.sequence(n)).")
    return str(abs(int(end) - int(start)) + 1)


def suspend_template(name: str) -> dict:
    """The check's template: a suspend of no duration, which Argo completes at once without a pod."""
    return {"name": name, "suspend": {"duration": "0"}}
