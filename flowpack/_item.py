"""`fp.item`: the item of a map in a condition, so each item runs or is skipped on its own (issue 16.6):
`square.map(x=xs).when(fp.item > 2)`, and `fp.item.a` for a field of a zipped map's (or rows') items.

The condition is the loop task's own `when`, which Argo evaluates once per item with `item` in the expression's
scope (operator.go processItem: the item's text, or `item.<field>` for dict items); an item whose condition is false
is Skipped, and the map gathers the outputs of the items that ran. Such a map runs in a DAG of its own, whose
gathered outputs default to `[]` when every item was skipped. A per-item condition compares the item with literals:
JSON values are decoded first (`sprig.fromJson(item)`) unless the item is compared with text.
"""

from __future__ import annotations

from ._condition import Condition, Reference
from ._errors import WorkflowBuildError
from ._names import PARAM_NAME
from ._types import PARAM_JSON, PARAM_TEXT


class Item(Reference):
    """The current item of a map (or one field of it), for `.when(...)` on the map."""

    __slots__ = ("field", "task", "kind", "ref", "problem")
    per_item = True  # a condition reading it belongs to each item, not to the map as a whole

    def __init__(self, field: str | None = None, text: bool = False):
        self.field = field
        self.task = None
        self.kind = PARAM_TEXT if text else PARAM_JSON
        self.ref = "{{item}}" if field is None else "{{item.%s}}" % field
        self.problem = None

    def __getattr__(self, name: str) -> "Item":
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, name: str) -> "Item":
        if self.field is not None or not isinstance(name, str) or not PARAM_NAME.match(name):
            raise WorkflowBuildError(f"fp.item[{name!r}]: name one argument of the map, e.g. fp.item.x.")
        return Item(name)

    def _compare(self, op: str, other) -> Condition:
        if isinstance(other, Reference):
            raise WorkflowBuildError(
                f"fp.item {op} {other!r}: a condition per item compares the item with numbers, text, booleans or "
                f"None; compare step outputs in a condition of the map as a whole (.when on it) instead.")
        left = Item(self.field, text=isinstance(other, str))  # compared with text: the item's text, not decoded
        return Condition.compare(left, op, other)

    __hash__ = object.__hash__

    def __bool__(self):
        raise WorkflowBuildError("fp.item has no value while the workflow is built; compare it in .when(...).")

    def __repr__(self) -> str:
        return "fp.item" if self.field is None else f"fp.item.{self.field}"


item = Item()


def set_item_when(task, condition: Condition) -> None:
    """Make `condition` (reading `fp.item`) the loop's own `when` of the map `task`, after checking it."""
    where = f"step {task.name!r}: .when({condition.expr})"
    if not task.is_map:
        raise WorkflowBuildError(f"{where}: fp.item is the item of a map; call .when(fp.item ...) on op.map(...).")
    if condition.tasks:
        raise WorkflowBuildError(f"{where}: a condition per item compares the item with literals only; give the map "
                                 f"a separate .when(...) for the step outputs it depends on.")
    if task.item_when is not None:
        raise WorkflowBuildError(f"{where}: the map already has a condition per item; combine them with & or |.")
    if task.step.batched:  # its loop's items are batches (_batch)
        raise WorkflowBuildError(f"{where}: a condition per item is not supported with batch=; filter the list "
                                 f"before the map, or map without batch=.")
    mapped, dict_items = task.mapped, task.dict_items
    for field in condition.item_fields:
        if field is None and dict_items:
            raise WorkflowBuildError(f"{where}: its items are dicts of {sorted(mapped)}; compare one of them, "
                                     f"e.g. fp.item.{sorted(mapped)[0]}.")
        if field is not None and (not dict_items or field not in mapped):
            raise WorkflowBuildError(
                f"{where}: fp.item.{field} is not a field of its items" + (
                    f" ({sorted(mapped)}); use one of them." if dict_items else
                    "; it maps over one list: compare fp.item itself."))
    task.item_when = condition.when
