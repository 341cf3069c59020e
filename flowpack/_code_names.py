"""Names in compiled code: the globals a function reads (its code objects, nested ones included), and the names a
step script keeps for itself.

A step script binds its runner under names beginning with `_fp_` (any case), so the op's own code may not use that
prefix; module dunders (`__name__`, `__builtins__`, ...) are the script's own too. A function that travels by value
(its source can't be read) is checked through its code objects the way captured source is checked through symtable.
"""

from __future__ import annotations

import builtins
import dis
import types

from ._errors import OpDefinitionError, ScriptError

RESERVED_PREFIX = "_fp_"
MODULE_DUNDERS = frozenset(
    {"__name__", "__file__", "__doc__", "__spec__", "__loader__", "__package__", "__builtins__", "__annotations__",
     "__path__", "__cached__", "__dict__"}
)
_BUILTINS = frozenset(dir(builtins))
_LOADS = {"LOAD_GLOBAL", "LOAD_NAME"}
_STORES = {"STORE_GLOBAL", "STORE_NAME", "DELETE_GLOBAL", "DELETE_NAME", "IMPORT_NAME"}


def is_reserved(name: str) -> bool:
    """A name the step script keeps for itself."""
    return name.lower().startswith(RESERVED_PREFIX)


def reserved_problem(op_name: str, name: str, what: str) -> str:
    return (f"op {op_name!r}: {what} {name!r} begins with {RESERVED_PREFIX!r}, which flowpack's step script keeps "
            f"for its own names. Rename it (for example to {name.lstrip('_') or 'value'!r}).")


def _walk(code: types.CodeType):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _walk(const)


def global_reads(code: types.CodeType) -> tuple[set[str], set[str]]:
    """(names read as globals, names bound as globals) by `code` and the code nested in it.

    A class body reads its own names with LOAD_NAME too: those it binds itself are not global reads."""
    reads: set[str] = set()
    binds: set[str] = set()
    for c in _walk(code):
        local_binds = set()
        loads = set()
        for ins in dis.get_instructions(c):
            if ins.opname in _LOADS:
                loads.add(ins.argval)
            elif ins.opname == "STORE_GLOBAL":
                binds.add(ins.argval)
            elif ins.opname in _STORES:
                local_binds.add(ins.argval)
        is_class_body = not (c.co_flags & (0x01 | 0x02)) and c.co_name != "<module>"  # neither optimized nor new-locals
        reads |= (loads - local_binds) if is_class_body else loads
    return reads, binds


def check_function_names(func: types.FunctionType, op_name: str) -> None:
    """At decoration: the function's own name and the globals it reads may not be the script's reserved names."""
    if is_reserved(func.__name__) or func.__name__ in MODULE_DUNDERS:
        raise OpDefinitionError(
            reserved_problem(op_name, func.__name__, "the function name") if is_reserved(func.__name__) else
            f"op {op_name!r}: the function is named {func.__name__!r}, a name every module defines for itself (a "
            f"step script needs its own). Rename the function.")
    reads, _ = global_reads(func.__code__)
    for name in sorted(reads):
        if is_reserved(name):
            raise OpDefinitionError(reserved_problem(op_name, name, "the global name"))


def check_by_value(func: types.FunctionType, op_name: str) -> None:
    """A function that travels by value: every global its code reads must exist now (in its globals or builtins)."""
    reads, binds = global_reads(func.__code__)
    missing = sorted(n for n in reads - binds if n not in func.__globals__ and n not in _BUILTINS
                     and n not in MODULE_DUNDERS)
    if missing:
        where = func.__code__.co_filename
        raise ScriptError(
            f"op {op_name!r}: name {missing[0]!r} is used by function {func.__qualname__!r} but not defined (its "
            f"source can't be read, from {where}, so its compiled code was checked"
            + (f"; also undefined: {', '.join(missing[1:])}" if missing[1:] else "")
            + "). Define or import it before decorating the function, at module level.")
