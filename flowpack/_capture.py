"""Turn a plain function into the code pieces a step script needs, so the script runs without flowpack or the user's
module.

`capture` reads the function's source, finds the global names it uses (symtable for scoping, ast for annotations and
decorators) and resolves each one by value from the function's globals: modules and foreign objects become import
statements, same-module functions and classes become helper source blocks (transitively), plain values become
constants (a Python literal when one round-trips, else cloudpickle). When the source can't be read or the function
closes over non-literal values, the whole function travels by value instead. `undefined_names` checks a finished script.
Which import statement binds a name, and which modules a pickle imports, is `_capture_imports`'s job.
"""

from __future__ import annotations

import ast
import base64
import builtins
import inspect
import linecache
import math
import symtable
import sys
import textwrap
import types
from dataclasses import dataclass
from typing import Any, Callable, Iterator, NamedTuple

from ._callsite import display_path, source_label
from ._capture_imports import _import_option, _ImportOption, _pickle_modules
from ._capture_project import copied_module, with_project_modules
from ._code_names import MODULE_DUNDERS as _MODULE_DUNDERS
from ._code_names import check_by_value, is_reserved, reserved_problem
from ._errors import ScriptError

_FUTURE = "from __future__ import annotations\n"
_BUILTINS = frozenset(dir(builtins))


@dataclass(frozen=True)
class Constant:
    """One module-level value the script re-creates: from a literal when possible, else from a cloudpickle."""

    name: str
    literal: str | None
    pickled_b64: str | None


@dataclass(frozen=True)
class Origin:
    """A piece of source copied into the script, and the file and line its first line comes from."""

    source: str
    filename: str  # as the script names it: `_callsite.source_label`, the same from every working directory
    first_line: int


@dataclass(frozen=True)
class Captured:
    """The pieces of a step script for one function (or the pickled function when it must travel by value)."""

    name: str
    imports: tuple[str, ...]
    constants: tuple[Constant, ...]
    helpers: tuple[str, ...]
    function_source: str
    pickled_b64: str | None
    python: tuple[int, int]
    is_async: bool
    modules: tuple[str, ...]
    needs_cloudpickle: bool
    # the user's project modules it imports: (name, is_package, source)
    embedded: tuple[tuple[str, bool, str], ...] = ()
    origins: tuple[Origin, ...] = ()  # where the function's and helpers' source came from (a traceback's line map)


class _ByValue(Exception):
    """Internal: the function can't be rebuilt from source; pickle it instead."""


# ---------------------------------------------------------------------------------------------------------- literals


def _literal(value: Any, seen: frozenset[int] = frozenset()) -> str | None:
    """Python source that evaluates to an equal value, for plain data only (None when not such a value)."""
    kind = type(value)
    if value is None or kind is bool:
        return repr(value)
    if kind is int:
        try:
            return repr(value)
        except ValueError:  # beyond sys.get_int_max_str_digits
            return None
    if kind is float:
        return repr(value) if math.isfinite(value) else None
    if kind in (str, bytes):
        return repr(value)
    if kind not in (list, tuple, dict, set, frozenset) or id(value) in seen:
        return None
    seen = seen | {id(value)}
    if kind is dict:
        parts = []
        for key, item in value.items():
            k, v = _literal(key, seen), _literal(item, seen)
            if k is None or v is None:
                return None
            parts.append(f"{k}: {v}")
        return "{" + ", ".join(parts) + "}"
    items = [_literal(item, seen) for item in value]
    if any(item is None for item in items):
        return None
    body = ", ".join(items)  # type: ignore[arg-type]
    if kind is list:
        return f"[{body}]"
    if kind is tuple:
        return f"({body},)" if len(items) == 1 else f"({body})"
    if kind is set:
        return f"{{{body}}}" if items else "set()"
    return f"frozenset({{{body}}})" if items else "frozenset()"


# ---------------------------------------------------------------------------------------------------------- pickling


def _is_op(value: Any) -> bool:
    try:
        return getattr(value, "__flowpack_op__", False) is True
    except Exception:  # objects with hostile __getattr__
        return False


def _pickle_b64(value: Any, by_value_modules: set[str]) -> tuple[str, set[str]]:
    """cloudpickle `value` with the user's own modules pickled by value; return base64 and the modules it imports."""
    import cloudpickle  # lazy: cloudpickle loads only for pickled values

    registered = []
    try:
        for name in sorted(by_value_modules):
            module = sys.modules.get(name)
            if module is None or name == "__main__" or name in cloudpickle.list_registry_pickle_by_value():
                continue
            cloudpickle.register_pickle_by_value(module)
            registered.append(module)
        data = cloudpickle.dumps(value)
    finally:
        for module in registered:
            cloudpickle.unregister_pickle_by_value(module)
    return base64.b64encode(data).decode("ascii"), _pickle_modules(data)


# ---------------------------------------------------------------------------------------------------------- analysis


def _annotation_nodes(tree: ast.AST) -> Iterator[ast.expr]:
    """Every annotation expression in `tree` (parameters, returns, annotated assignments)."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            a = node.args
            for arg in (*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg):
                if arg is not None and arg.annotation is not None:
                    yield arg.annotation
            if not isinstance(node, ast.Lambda) and node.returns is not None:
                yield node.returns
        elif isinstance(node, ast.AnnAssign):
            yield node.annotation


def _annotation_names(tree: ast.AST) -> set[str]:
    """Names used in annotations, including inside string annotations."""
    names: set[str] = set()
    for ann in _annotation_nodes(tree):
        for node in ast.walk(ann):
            if isinstance(node, ast.Name):
                names.add(node.id)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                try:
                    inner = ast.parse(node.value.strip(), mode="eval")
                except SyntaxError:
                    continue
                names.update(n.id for n in ast.walk(inner) if isinstance(n, ast.Name))
    return names


def _global_reads(source: str, filename: str) -> tuple[set[str], set[str]]:
    """(hard, soft) global names the code block `source` reads; soft ones are only annotations or `global` writes."""
    table = symtable.symtable(_FUTURE + source, filename, "exec")  # annotations are never evaluated in the script
    hard: set[str] = set()
    soft: set[str] = set()
    bound = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}
    for sym in table.get_symbols():
        if sym.is_referenced() and sym.get_name() not in bound:
            hard.add(sym.get_name())
    stack = list(table.get_children())
    while stack:
        child = stack.pop()
        stack.extend(child.get_children())
        for sym in child.get_symbols():
            if sym.is_global() and sym.is_referenced():
                hard.add(sym.get_name())
            elif sym.is_declared_global() and sym.is_assigned():
                soft.add(sym.get_name())  # `global x; x += 1` reads x, `x = 1` does not: include x when it exists
    soft |= _annotation_names(ast.parse(source))
    soft -= hard
    return hard, soft


def _first_line(tree: ast.AST, name: str) -> int:
    """1-based line of the first non-annotation use of `name` in `tree` (1 when not found)."""
    in_annotations = {id(n) for ann in _annotation_nodes(tree) for n in ast.walk(ann)}
    lines = [n.lineno for n in ast.walk(tree)
             if isinstance(n, ast.Name) and n.id == name and id(n) not in in_annotations]
    return min(lines) if lines else 1


# ---------------------------------------------------------------------------------------------------------- source


class _Block(NamedTuple):
    """A def/class block read from its file: dedented text, its ast node and where it starts in the file."""

    text: str
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
    filename: str
    first_line: int  # file line of the block text's first line


def _read_block(obj: Any) -> _Block | None:
    """The source block defining function or class `obj`, or None when it can't be read or doesn't match `obj`."""
    if inspect.isclass(obj):
        return _read_class_block(obj)
    try:
        lines, lnum = inspect.getsourcelines(obj)
        filename = inspect.getsourcefile(obj) or obj.__code__.co_filename
    except (OSError, TypeError):
        return None
    block = _parse_block("".join(lines), filename, max(lnum, 1))
    if block is None or not isinstance(block.node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    if block.node.name != obj.__code__.co_name:  # a wrapper, a lambda, or source that moved since import
        return None
    return block


def _read_class_block(cls: type) -> _Block | None:
    """Find a class's block through one of its methods' code (works for notebook cells), else via inspect."""
    for attr in vars(cls).values():
        fn = getattr(attr, "__func__", getattr(attr, "fget", attr))
        code = getattr(fn, "__code__", None)
        if code is None or not getattr(fn, "__qualname__", "").startswith(cls.__qualname__ + "."):
            continue
        lines = linecache.getlines(code.co_filename)
        if not lines:
            continue
        try:
            tree = ast.parse("".join(lines))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if (isinstance(node, ast.ClassDef) and node.name == cls.__name__
                    and node.lineno <= code.co_firstlineno <= (node.end_lineno or 0)):
                start = min([node.lineno] + [d.lineno for d in node.decorator_list])
                text = "".join(lines[start - 1:node.end_lineno])
                return _parse_block(text, code.co_filename, start)
    if cls.__module__ == "__main__":  # inspect would search the wrong file (the interpreter's main script)
        return None
    try:
        lines, lnum = inspect.getsourcelines(cls)
        filename = inspect.getsourcefile(cls) or ""
    except (OSError, TypeError):
        return None
    block = _parse_block("".join(lines), filename, max(lnum, 1))
    if block is not None and isinstance(block.node, ast.ClassDef) and block.node.name == cls.__name__:
        return block
    return None


def _parse_block(text: str, filename: str, first_line: int) -> _Block | None:
    text = textwrap.dedent(text)
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    if not tree.body or not isinstance(tree.body[0], (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return None
    return _Block(text, tree.body[0], filename, first_line)


def _without_decorators(block: _Block, drop: Callable[[ast.expr], bool]) -> tuple[str, int]:
    """The block's text with the decorators `drop` selects removed, and the block line its first kept line is on."""
    lines = block.text.splitlines(keepends=True)
    kept = [d for d in block.node.decorator_list if not drop(d)]
    head = [line for d in kept for line in lines[d.lineno - 1:d.end_lineno]]
    start = kept[0].lineno if kept else block.node.lineno
    return "".join(head + lines[block.node.lineno - 1:]).rstrip() + "\n", start

# ---------------------------------------------------------------------------------------------------------- capture


class _State:
    """What one capture has collected so far."""

    def __init__(self, op_name: str, func: types.FunctionType, name: str) -> None:
        self.op_name, self.func, self.name, self.module = op_name, func, name, func.__module__
        self.bound: dict[str, Any] = {}
        self.imports: list[str] = []
        self.modules: set[str] = set()
        self.constants: list[Constant] = []
        self.helpers: list[str] = []
        self.origins: list[Origin] = []
        self.visited: set[int] = set()
        self.homes: set[str] = set()  # modules whose code the pieces copy: never imported, pickled by value
        self.import_tables: dict[str, dict[str, list[_ImportOption]]] = {}

    def bind(self, name: str, value: Any) -> bool:
        """Claim script-level `name` for `value`; False when already bound to it. Two values for one name: by value."""
        if name in self.bound:
            if self.bound[name] is value:
                return False
            raise _ByValue(f"name {name!r} means different objects in different pieces")
        if is_reserved(name):
            raise ScriptError(reserved_problem(self.op_name, name, "the name"))
        self.bound[name] = value
        return True


def capture(func: Callable, op_name: str) -> Captured:
    """Split `func` into imports, constants, helpers and its own source; pickle it when the source can't rebuild it."""
    if _is_op(func):
        func = func.func  # type: ignore[attr-defined]
    is_async = inspect.iscoroutinefunction(func)
    python = tuple(sys.version_info[:2])
    try:
        return _capture_source(func, op_name, is_async, python)  # type: ignore[arg-type]
    except _ByValue:
        pass
    if inspect.isfunction(func):
        check_by_value(func, op_name)
    module = getattr(func, "__module__", None)
    own = {module} if isinstance(module, str) and not module.startswith("flowpack") else set()
    b64, modules = _pickle_b64(func, own)
    name = getattr(func, "__name__", op_name)
    embedded, modules = with_project_modules(op_name, modules)
    return Captured(name if isinstance(name, str) and name.isidentifier() else op_name, (), (), (), "", b64, python,  # type: ignore[arg-type]
                    is_async, tuple(sorted(modules)), True, embedded)


def _capture_source(func: Callable, op_name: str, is_async: bool, python: tuple[int, int]) -> Captured:
    if not inspect.isfunction(func):
        raise _ByValue("not a plain function")
    block = _read_block(func)
    if block is None:
        raise _ByValue("source not readable")
    name = block.node.name
    state = _State(op_name, func, name)
    state.bind(name, func)
    # Closure variables: literals become constants, anything else sends the function by value.
    for var, cell in zip(func.__code__.co_freevars, func.__closure__ or ()):
        try:
            literal = _literal(cell.cell_contents)
        except ValueError:  # empty cell
            raise _ByValue("closure cell is empty") from None
        if literal is None:
            raise _ByValue(f"closes over non-literal {var!r}")
        if state.bind(var, cell.cell_contents):
            state.constants.append(Constant(var, literal, None))
    source, start = _without_decorators(block, lambda d: True)
    state.origins.append(Origin(source, source_label(block.filename, func.__module__), block.first_line + start - 1))
    state.homes.add(func.__module__)
    closure = dict(zip(func.__code__.co_freevars, (c.cell_contents for c in func.__closure__ or ())))
    _resolve_block(state, source, block, start, func.__globals__, func.__module__, closure)
    needs_pickle = any(c.pickled_b64 is not None for c in state.constants)
    embedded, modules = with_project_modules(op_name, state.modules)
    return Captured(name, tuple(state.imports), tuple(state.constants), tuple(state.helpers), source, None, python,
                    is_async, tuple(sorted(modules)), needs_pickle, embedded, tuple(state.origins))


def _resolve_block(state: _State, source: str, block: _Block, start: int, module_globals: dict[str, Any], home: str,
                   closure: dict[str, Any] | None = None) -> None:
    """Resolve every global name the code `source` (block line `start` onward) reads into a script piece."""
    hard, soft = _global_reads(source, block.filename)
    for name in sorted(hard | soft):
        if name in _MODULE_DUNDERS or (closure is not None and name in closure):
            continue
        if name in module_globals:
            _resolve_value(state, name, module_globals[name], module_globals, block.filename, home, name in soft)
        elif name in _BUILTINS or name in soft:
            continue
        else:
            line = block.first_line + start - 1 + _first_line(ast.parse(source), name) - 1
            path = display_path(block.filename)
            raise ScriptError(
                f"op {state.op_name!r}: name {name!r} is not defined ({path}:{line}). "
                f"Define or import it at module level of {path}."
            )


def _resolve_value(state: _State, name: str, value: Any, module_globals: dict[str, Any], filename: str, home: str,
                   soft: bool = False) -> None:
    """Turn one global binding into an import, a helper or a constant (soft names: never a pickled one)."""
    if value is state.func or (_is_op(value) and getattr(value, "func", None) is state.func):
        if name in state.bound and state.bound[name] is state.func:
            return
        # The op under another name (alias or recursion through an alias).
        if state.bind(name, value):
            state.helpers.append(f"{name} = {state.name}\n")
        return
    if name in state.bound and state.bound[name] is value:
        return
    is_op = _is_op(value)
    option = None if is_op else _import_option(name, value, module_globals, filename, home, state.homes,
                                               state.import_tables)
    # From a project module that imports flowpack: its code is copied (or its value re-created), never imported.
    copied = copied_module(value.__name__ if isinstance(value, types.ModuleType)
                           else getattr(value, "__module__", None))
    copied = copied or (option is not None and copied_module(option.top_module()))
    if copied and isinstance(value, types.ModuleType):
        raise ScriptError(
            f"op {state.op_name!r}: module {name!r} of your project imports flowpack, so a step can't import it. "
            f"Import the functions you need from it by name (from {value.__name__} import ...), or move them into "
            f"a module that does not import flowpack.")
    if option is not None and not copied:
        if state.bind(name, value):
            statement = option.statement()
            if statement not in state.imports:
                state.imports.append(statement)
            state.modules.add(option.top_module())
        return
    target = value.func if is_op else inspect.unwrap(value) if callable(value) and not inspect.isclass(value) else value
    if (inspect.isfunction(target) or inspect.isclass(target)) and (
            is_op or copied or getattr(target, "__module__", None) == home):
        if _add_helper(state, name, value, target, is_op):
            return
    literal = _literal(value)
    if soft and literal is None:
        return  # only in annotations, which the script never evaluates: not worth a pickle
    if state.bind(name, value):
        if literal is not None:
            state.constants.append(Constant(name, literal, None))
        else:
            payload = value.func if is_op else value  # an Op object would need flowpack to unpickle
            b64, modules = _pickle_b64(payload, {m for m in state.homes | {home} if not m.startswith("flowpack")})
            state.modules |= modules
            state.constants.append(Constant(name, None, b64))


def _add_helper(state: _State, name: str, value: Any, target: Any, is_op: bool) -> bool:
    """Add the source of same-module function/class `target` (bound to `name`) and, first, what it needs."""
    if id(target) in state.visited:
        if state.bind(name, value) and name != target.__name__:
            state.helpers.append(f"{name} = {target.__name__}\n")
        return True
    if inspect.isfunction(target) and target.__closure__:
        return False
    block = _read_block(target)
    if block is None or (not is_op and value is not target and not block.node.decorator_list):
        return False  # unreadable, or a wrapper whose decorators we can't see
    home = target.__module__
    globals_ = target.__globals__ if inspect.isfunction(target) else _class_globals(target, state)

    def is_flowpack(decorator: ast.expr) -> bool:
        root = decorator
        while isinstance(root, (ast.Call, ast.Attribute)):
            root = root.func if isinstance(root, ast.Call) else root.value
        if not isinstance(root, ast.Name) or root.id not in globals_:
            return False
        obj = globals_[root.id]
        owner = (obj.__name__ if isinstance(obj, types.ModuleType)
                 else getattr(obj, "__module__", None) or type(obj).__module__)
        return isinstance(owner, str) and owner.split(".")[0] == "flowpack"

    source, start = _without_decorators(block, (lambda d: True) if is_op else is_flowpack)
    state.visited.add(id(target))
    state.homes.add(home)
    state.bind(block.node.name, value if name == block.node.name else target)
    if name != block.node.name:
        state.bind(name, value)
    _resolve_block(state, source, block, start, globals_, home)
    state.helpers.append(source)
    state.origins.append(Origin(source, source_label(block.filename, home), block.first_line + start - 1))
    if inspect.isclass(target) and home != "__main__":
        # Values of this class leave the step pickled by value, naming the user's module: the caller gets them back
        # as instances of the real class (see _results.load_pickled).
        state.helpers.append(f"{block.node.name}.__module__ = {home!r}\n")
    if name != block.node.name:
        state.helpers.append(f"{name} = {block.node.name}\n")
    return True


def _class_globals(cls: type, state: _State) -> dict[str, Any]:
    """The namespace a class was defined in (its module's globals; the op's globals when that's the same module)."""
    if cls.__module__ == state.module:
        return state.func.__globals__
    module = sys.modules.get(cls.__module__)
    return vars(module) if module is not None else {}


# ---------------------------------------------------------------------------------------------------------- checking


def undefined_names(source: str) -> list[tuple[str, int]]:
    """(name, line) for each global a finished script reads but never binds, imports or gets from builtins."""
    table = symtable.symtable(source, "<script>", "exec")
    bound: set[str] = set(_MODULE_DUNDERS)
    read: set[str] = set()
    for sym in table.get_symbols():
        if sym.is_assigned() or sym.is_imported() or sym.is_namespace():
            bound.add(sym.get_name())
        elif sym.is_referenced():
            read.add(sym.get_name())
    stack = list(table.get_children())
    while stack:
        child = stack.pop()
        stack.extend(child.get_children())
        for sym in child.get_symbols():
            if sym.is_declared_global() and sym.is_assigned():
                bound.add(sym.get_name())
            if sym.is_global() and sym.is_referenced():
                read.add(sym.get_name())
    missing = read - bound - _BUILTINS
    if not missing:
        return []  # the common case costs one symtable pass; line numbers need the ast only on failure
    tree = ast.parse(source)
    if any(isinstance(n, ast.ImportFrom) and any(a.name == "*" for a in n.names) for n in tree.body):
        return []  # a star import may bind anything
    first: dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in missing:
            first[node.id] = min(first.get(node.id, node.lineno), node.lineno)
    return sorted(((name, first.get(name, 1)) for name in missing), key=lambda item: (item[1], item[0]))
