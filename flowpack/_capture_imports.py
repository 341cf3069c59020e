"""Find the import statement that binds a name to a value in a step script, and the modules a pickle imports.

Used by `_capture`: a global a function reads is best re-created by the user's own import statement for it (read from
the function's file, relative imports made absolute), else by one generated from the value's module and qualname. The
pickle opcode scan tells which top-level modules loading a cloudpickle needs, so the image can provide them.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import linecache
import pickletools
import sys
import types
from typing import Any, NamedTuple

# ---------------------------------------------------------------------------------------------------------- statements


class _ImportOption(NamedTuple):
    """One name bound by one of the user's import statements, made absolute."""

    module: str | None  # `from module import attr`; None for `import dotted`
    attr: str
    asname: str | None

    def statement(self) -> str:
        if self.module is None:
            return f"import {self.attr}" + (f" as {self.asname}" if self.asname else "")
        return f"from {self.module} import {self.attr}" + (f" as {self.asname}" if self.asname else "")

    def touches(self, modules: set[str]) -> bool:
        """Whether running this statement imports one of `modules`."""
        full = self.attr if self.module is None else f"{self.module}.{self.attr}"
        return self.module in modules or any(full == m or full.startswith(m + ".") for m in modules)

    def top_module(self) -> str:
        return (self.module or self.attr).split(".")[0]

    def resolve(self) -> Any:
        if self.module is None:
            module = importlib.import_module(self.attr)
            return module if self.asname else sys.modules[self.attr.split(".")[0]]
        module = importlib.import_module(self.module)
        if hasattr(module, self.attr):
            return getattr(module, self.attr)
        return importlib.import_module(f"{self.module}.{self.attr}")


def _user_imports(filename: str, module_globals: dict[str, Any]) -> dict[str, list[_ImportOption]]:
    """Names bound by the top-level import statements of the file (incl. inside top-level if/try/with)."""
    lines = linecache.getlines(filename, module_globals)
    try:
        tree = ast.parse("".join(lines))
    except (SyntaxError, ValueError):
        return {}
    package = module_globals.get("__package__") or ""
    options: dict[str, list[_ImportOption]] = {}
    stack = list(reversed(tree.body))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If):
            stack.extend(reversed(node.body + node.orelse))
        elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            inner = node.body + [s for h in node.handlers for s in h.body] + node.orelse + node.finalbody  # type: ignore[attr-defined]
            stack.extend(reversed(inner))
        elif isinstance(node, ast.With):
            stack.extend(reversed(node.body))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                options.setdefault(bound, []).append(_ImportOption(None, alias.name, alias.asname))
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                if not package:
                    continue
                base = package.split(".")
                if node.level - 1 >= len(base):
                    continue
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([module] if module else []))
            for alias in node.names:
                if alias.name != "*":
                    options.setdefault(alias.asname or alias.name, []).append(
                        _ImportOption(module, alias.name, alias.asname if alias.asname != alias.name else None))
    return options


def _generated_import(name: str, value: Any) -> _ImportOption | None:
    """An import statement binding `name` to `value`, built from the value's own module/qualname, if it resolves."""
    if isinstance(value, types.ModuleType):
        mod = value.__name__
        if mod == "__main__" or sys.modules.get(mod) is not value:
            return None
        if name == mod:
            return _ImportOption(None, mod, None)
        return _ImportOption(None, mod, name)
    module, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or module == "__main__" or "." in qualname:
        return None
    option = _ImportOption(module, qualname, None if name == qualname else name)
    try:
        return option if option.resolve() is value else None
    except Exception:
        return None


def _import_option(name: str, value: Any, module_globals: dict[str, Any], filename: str, home: str, homes: set[str],
                   tables: dict[str, dict[str, list[_ImportOption]]]) -> _ImportOption | None:
    """The user's own import statement for `name` if it yields `value`, else a generated one for modules and foreign
    objects.

    `homes` are the modules whose code the script copies (never imported); `tables` caches `_user_imports` per file.
    """
    if filename not in tables:
        tables[filename] = _user_imports(filename, module_globals)
    for option in tables[filename].get(name, []):
        if option.touches(homes | {home, "__main__"}):
            continue  # importing a module whose code is being copied would re-run its top-level code
        try:
            if option.resolve() is value:
                return option
        except Exception:
            continue
    if isinstance(value, types.ModuleType):
        return _generated_import(name, value)
    module = getattr(value, "__module__", None)
    if (inspect.isfunction(value) or inspect.isclass(value) or inspect.isbuiltin(value)) and module != home:
        generated = _generated_import(name, value)
        return None if generated is None or generated.touches(homes | {home}) else generated
    return None


# ---------------------------------------------------------------------------------------------------------- pickles


def _pickle_modules(data: bytes) -> set[str]:
    """Top-level module names that loading the pickle `data` imports (GLOBAL opcodes and cloudpickle's subimport)."""
    found: set[str] = set()
    memo: list[Any] = []
    recent: list[Any] = []  # what the last opcodes pushed: a str, ("global", qualname), or None for anything else
    want_subimport = False
    for opcode, arg, _ in pickletools.genops(data):
        name = opcode.name
        pushed: Any = None
        if "UNICODE" in name:
            pushed = arg
        elif name in ("BINGET", "LONG_BINGET", "GET"):
            pushed = memo[arg] if isinstance(arg, int) and arg < len(memo) else None
        elif name == "MEMOIZE":
            memo.append(recent[-1] if recent else None)
            continue
        elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
            continue
        elif name == "GLOBAL":
            module, qualname = str(arg).split(" ", 1)
            found.add(module.split(".")[0])
            pushed = ("global", qualname)
        elif name == "STACK_GLOBAL":
            if len(recent) >= 2 and isinstance(recent[-2], str) and isinstance(recent[-1], str):
                found.add(recent[-2].split(".")[0])
                pushed = ("global", recent[-1])
        if want_subimport and isinstance(pushed, str):
            found.add(pushed.split(".")[0])  # the argument of cloudpickle's subimport(name): a module by reference
            want_subimport = False
        if isinstance(pushed, tuple) and pushed[1] in ("subimport", "dynamic_subimport"):
            want_subimport = True
        recent.append(pushed)
        del recent[:-2]
    found.discard("builtins")
    found.discard("__main__")
    return found
