"""A list given to a workflow parameter, written so a loop hands each item to a Python op exactly (issue 12.6).

Argo pastes a string item of a `withParam` list into `{{item}}` bare, so `"123"` and `123` both arrive as `123`; on
v3 with its JSON escapes (`say \\"hi\\"`, Item.String); and a text field of a dict item into `{{item.key}}` with its
escapes on every version. A list parameter whose items may be text and other values (`list`, `list[Any]`,
`list[Optional[str]]`), or may be dicts, is therefore written with each such string encoded behind flowpack's
marker (`_types.protect_items`) when every step reading it is a Python op, which decodes them. Lists of text only
need nothing here: a map over one encodes its items itself (`_engine/_zip.text_items_expression`). A value given
outside flowpack (`argo submit -p`) is read as Argo gives it.
"""

from __future__ import annotations

import json

from ._graph import Graph
from ._types import TAGS, bare_items, protect_items, value_shape
from ._wire import RAW_JSON


def item_protected(graph: Graph, name: str, value: object, annotation: object) -> str | None:
    """The text of workflow parameter `name` (of `value`) with its items protected, or None when it needs nothing or
    some step reads it in a way that would see the encoded text (a shell step, a condition, text built from it)."""
    if not isinstance(value, list):
        return None
    mixed = bare_items(annotation)
    items = value_shape(annotation).items
    dicts = items is None or items.other  # dict items are possible
    if not mixed and not dicts:
        return None
    protected = protect_items(value, mixed)
    if protected == value or not _only_python_readers(graph, name):
        return None
    return json.dumps(protected, separators=(",", ":"), ensure_ascii=False)


def _only_python_readers(graph: Graph, name: str) -> bool:
    ref = "{{workflow.parameters.%s}}" % name
    path = "workflow.parameters['%s']" % name
    whole = {ref} | {tag + ref for tag in TAGS} | {RAW_JSON + ref}
    for task in graph.tasks:
        step = task.step

        def decodes(arg: str) -> bool:
            return step.decodes_input(arg)

        for param in task.parameters:
            if ref in param.value and not (param.value in whole and decodes(param.name)):
                return False
        for art in task.artifacts:
            data = (art.get("raw") or {}).get("data", "")
            if ref in data and not (data in whole and decodes(art.get("name", ""))):
                return False
        loop = str(task.extra.get("withParam", ""))
        if (ref in loop or path in loop) and not all(decodes(arg) for arg in task.mapped):
            return False
        rest = json.dumps([task.when, task.item_when, {k: v for k, v in task.extra.items() if k != "withParam"}])
        if ref in rest or path in rest:
            return False
    return True
