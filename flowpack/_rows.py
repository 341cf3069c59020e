"""`op.map(fp.rows(dicts))`: map an op over a list of dicts, each dict's keys spread onto the op's arguments.

A literal list becomes zipped lists (`withItems` of the rows); a list known only at run time (a step's output or a
workflow parameter) becomes `withParam` over it, each argument read as `{{item.<name>}}`. For a run-time list the
op's arguments without a default (and not given by keyword) come from the rows: every row must hold them."""

from __future__ import annotations

from dataclasses import dataclass

from ._condition import Reference
from ._errors import WorkflowBuildError


@dataclass(frozen=True, eq=False)
class Rows:
    """The rows to map over: a list of dicts, or a reference to one."""

    rows: list[dict[str, object]] | Reference


@dataclass(frozen=True, eq=False)
class RowField:
    """The argument `name` of each item, read from the run-time rows `ref`."""

    ref: Reference
    name: str


def rows(dicts) -> Rows:
    """Rows for `op.map(fp.rows(dicts))`: a list of dicts, or a list-typed output or workflow parameter."""
    if isinstance(dicts, Reference):
        if dicts.kind is None or not dicts.kind.is_list or dicts.problem:
            raise WorkflowBuildError(f"fp.rows({dicts!r}): give a list of dicts, or a list output of a step.")
        return Rows(dicts)
    if not isinstance(dicts, (list, tuple)) or not all(isinstance(r, dict) for r in dicts):
        raise WorkflowBuildError(f"fp.rows(...) takes a list of dicts; got {dicts!r}.")
    return Rows(list(dicts))


def spread(step, args: tuple, kwargs: dict, where: str) -> tuple[tuple, dict]:
    """`args`/`kwargs` of a map with its rows spread: literal rows become zipped lists, run-time rows RowFields."""
    found = [a for a in args if isinstance(a, Rows)]
    if not found:
        return args, kwargs
    if len(found) > 1 or len(args) > 1:
        raise WorkflowBuildError(f"{where}: give one fp.rows(...) as the only positional argument; pass the other "
                                 f"arguments by keyword.")
    table, inputs = found[0].rows, step.interface.inputs
    out = dict(kwargs)
    if isinstance(table, Reference):
        names = [n for n, i in inputs.items() if not i.has_default and n not in kwargs]
        if not names:
            raise WorkflowBuildError(f"{where}: every argument is given; fp.rows(...) has nothing to spread.")
        out.update({n: RowField(table, n) for n in names})
        return (), out
    keys = {k for row in table for k in row}
    for row in table:
        if set(row) != keys:
            raise WorkflowBuildError(f"{where}: the rows have different keys ({sorted(set(row))} and {sorted(keys)}); "
                                     f"give every row the same keys.")
    unknown = keys - inputs.keys()
    clash = keys & kwargs.keys()
    if unknown or clash:
        raise WorkflowBuildError(f"{where}: row keys {sorted(unknown or clash)} are "
                                 + ("not arguments of the op." if unknown else "also given by keyword."))
    if not keys:
        raise WorkflowBuildError(f"{where}: fp.rows(...) needs at least one row with keys.")
    out.update({k: [row[k] for row in table] for k in sorted(keys)})
    return (), out
