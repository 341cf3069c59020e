"""Batched maps (`op.map(xs, batch=50)`, issue 16.11): the two Argo expressions around a batched loop, written by the
builder (flowpack/_batch.py) and evaluated by the local engine as Argo's expr-lang would.

A run-time list is cut into chunks by the map task's argument (lifted into the map's DAG as its input):

    {{=toJson(sprig.chunk(50, sprig.fromJson(tasks['x'].outputs.parameters['return'])))}}

and the loop runs one item per chunk. Each batch writes each output as a JSON list of its items' output texts, so
Argo gathers a list of lists (every item decodes to a list: processAggregateNodeOutputs keeps them decoded); the
map's DAG hands on the flat list through its output's `valueFrom.expression`

    toJson(flatten(sprig.fromJson(tasks['T'].outputs.parameters['P'])))

(expr-lang's `flatten`, v1.17 in Argo v4.0.5), with the default `[]` when no batch ran. Both are Go's JSON
(sprig.fromJson reads numbers as float64; toJson is json.Marshal), which `_gojson` reproduces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .._errors import ManifestError
from ._cond import PATH, expression_path, reference_name
from ._gojson import json_list, marshal

_CHUNK = re.compile(r"^toJson\(sprig\.chunk\((\d+), sprig\.fromJson\((%s)\)\)\)$" % PATH)
_FLATTEN = re.compile(r"^toJson\(flatten\(sprig\.fromJson\(tasks\['([A-Za-z0-9-]+)'\]\.outputs\.parameters"
                      r"\['([A-Za-z0-9_-]+)'\]\)\)\)$")


def chunk_expression(ref: str, size: int) -> str:
    """The `{{=...}}` argument cutting the JSON list at `ref` (a `{{...}}` reference) into lists of `size` items."""
    return "{{=toJson(sprig.chunk(%d, sprig.fromJson(%s)))}}" % (size, expression_path(ref[2:-2]))


def flatten_expression(task: str, output: str) -> str:
    """The DAG output (without braces) flattening the gathered per-batch lists of `task`'s `output`."""
    return "toJson(flatten(sprig.fromJson(tasks['%s'].outputs.parameters['%s'])))" % (task, output)


@dataclass(frozen=True)
class Chunk:
    """A parsed chunking: the list's `{{...}}` name and the batch size."""

    source: str
    size: int

    def items(self, values: dict[str, str]) -> str:
        """The loop's items (JSON text), as sprig.chunk and toJson give them."""
        items = json_list(values.get(self.source), f"the batched map's list {{{{{self.source}}}}}")
        return marshal([items[i:i + self.size] for i in range(0, len(items), self.size)])


@dataclass(frozen=True)
class Flatten:
    """A parsed flattening of a batched loop's gathered output."""

    task: str
    output: str

    def value(self, values: dict[str, str]) -> str:
        """The flat list (JSON text); a ManifestError when the loop gathered nothing (the DAG output's default)."""
        key = f"tasks.{self.task}.outputs.parameters.{self.output}"
        if key not in values:
            raise ManifestError(f"{{{{{key}}}}} has no value")
        return marshal(_flat(json_list(values[key], f"{{{{{key}}}}}")))


def _flat(value: list) -> list:
    """expr-lang's flatten: nested lists, all the way down, into one."""
    out: list = []
    for v in value:
        out.extend(_flat(v) if isinstance(v, list) else [v])
    return out


def parse_chunk(expr: str) -> Chunk | None:
    """The chunking an expression (without `{{` and `=`) is, or None for any other expression."""
    m = _CHUNK.match(expr)
    return Chunk(reference_name(m.group(2)), int(m.group(1))) if m is not None else None


def parse_flatten(expr: str) -> Flatten | None:
    """The flattening a DAG output's expression is, or None for any other expression."""
    m = _FLATTEN.match(expr)
    return Flatten(m.group(1), m.group(2)) if m is not None else None
