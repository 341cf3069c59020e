"""Batched maps (issue 16.11): `op.map(xs, batch=50)` runs the op on up to 50 items per pod (one process, in item
order), and the steps after it get the flat list of results in item order, as from a map without `batch`.

Rendered as an Argo user writes it by hand: the loop runs over chunks of the list, `withItems` of the chunks for a
list written in the workflow, `withParam` of `sprig.chunk` for a list known at run time (flowpack/_engine/_batch.py).
Each pod runs the op's own step script with a driver in place of its last line (templates/batch.py.j2), which hands
it the items one by one and writes each output as the list of the items' output texts. The map runs in a DAG of its
own whose outputs flatten the gathered per-batch lists (expr-lang's `flatten`), `[]` when no batch ran. A failing
item fails its batch (the items after it in that batch don't run).
"""

from __future__ import annotations

import ast
import weakref

from ._arguments import ParameterArgument
from ._engine._batch import chunk_expression
from ._errors import WorkflowBuildError
from ._jinja import render
from ._steplike import StepForm, StepLike, caches
from ._types import PARAM
from ._wire import PARAMS, io_path

BATCH_PARAM = "fp-batch"  # the input naming which argument holds the batch (an op's arguments never have a '-')

_variants: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def check_batch(batch: object, where: str, tolerate: object, step: StepLike) -> int:
    """The batch size (a whole number >= 1), for a Python op whose outputs are values; or a build error saying why
    not. Broadcast file or pickled inputs are allowed: the step reads them again for every item."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise WorkflowBuildError(f"{where}: batch={batch!r} must be how many items each pod runs, a whole number >= 1 "
                                 f"known when the workflow is built (e.g. batch=50).")
    source = (step.template().get("script") or {}).get("source", "")
    if "\n_fp_main(" not in source:
        raise WorkflowBuildError(f"{where}: batch= runs Python ops only (not shell steps or sub-workflows); map it "
                                 f"without batch=.")
    if tolerate is not None:
        raise WorkflowBuildError(f"{where}: batch= and tolerate= together are not supported (a failing item fails "
                                 f"its whole batch, so items can't be lost one by one); use one of them.")
    outputs = [n for n, k in step.interface.outputs.items() if k.how != PARAM]
    if outputs:
        raise WorkflowBuildError(f"{where}: batch= needs an op whose outputs are values; {outputs} are files or "
                                 f"pickled values. Map it without batch=, or return JSON values.")
    if caches(step):
        raise WorkflowBuildError(f"{where}: batch= with an op made with cache=True is not supported; map it "
                                 f"without batch=, or drop cache=True.")
    return batch


class BatchedStep(StepForm):
    """The op as a batched map runs it: its template with the input `fp-batch` and the batch driver as the script's
    last line. Anything else is the op's own."""

    def __init__(self, step: StepLike) -> None:
        super().__init__(step, "-batched")

    @property
    def batched(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"<{self.inner!r} in batches>"

    def adapt(self, template: dict) -> None:
        inputs = template.setdefault("inputs", {})
        inputs["parameters"] = [*(inputs.get("parameters") or []), {"name": BATCH_PARAM}]
        inputs["artifacts"] = [*(inputs.get("artifacts") or []),
                               {"name": "param-" + BATCH_PARAM, "path": io_path(PARAMS, BATCH_PARAM),
                                "raw": {"data": "{{inputs.parameters.%s}}" % BATCH_PARAM}}]
        script = template["script"]
        head, _, _ = script["source"].rstrip().rpartition("\n_fp_main(")
        script["source"] = head + "\n" + render("batch.py.j2", func_name=_func_name(self.op))


def _func_name(op: StepLike) -> str:
    """The name the step script gives the op's function (its last line hands it to the runner)."""
    last = op.template()["script"]["source"].rstrip().rpartition("\n_fp_main(")[2]
    return str(ast.literal_eval(last[:-1]))  # a string literal flowpack itself wrote (pyrepr)


def batched_step(step: StepLike) -> BatchedStep:
    """The batched form of `step` (one per step)."""
    variant = _variants.get(step)
    if variant is None:
        variant = _variants[step] = BatchedStep(step)
    return variant


def is_batched(step: object) -> bool:
    return isinstance(step, BatchedStep)


def batch_task(task, size: int, where: str) -> None:
    """Turn the map `task` (built as without batch=) into a loop over chunks of `size` items."""
    if task.dict_items or len(task.mapped) != 1:
        raise WorkflowBuildError(f"{where}: batch= maps over one list; zipped lists {sorted(task.mapped)} and "
                                 f"fp.rows(...) are not supported with it. Map them without batch=.")
    name = task.mapped[0]
    if task.step.interface.inputs[name].kind.how != PARAM:
        raise WorkflowBuildError(f"{where}: batch= maps over values; argument {name!r} takes a file or a pickled "
                                 f"value. Map it without batch=.")
    extra = task.extra
    if "withSequence" in extra:
        raise WorkflowBuildError(f"{where}: batch= with fp.sequence(...) is not supported; map over a list, e.g. "
                                 f"list(range(n)).")
    if "withItems" in extra:
        items = extra["withItems"]
        extra["withItems"] = [items[i:i + size] for i in range(0, len(items), size)]
    elif extra.get("withParam") not in (None, "[]"):
        extra["withParam"] = chunk_expression(extra["withParam"], size)
    task.parameters.append(ParameterArgument(BATCH_PARAM, name))
