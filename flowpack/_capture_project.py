"""Modules of the user's own project (a `helpers.py` beside the workflow file) travel inside the step script.

No package provides such a module, so neither a container image nor a local step's interpreter could import it. The
script carries its source instead (with that of the project modules it imports in turn) and imports it the usual way,
through an import hook, so names, classes and pickles keep their module. A project module that imports flowpack
can't be run inside a step: the functions and classes an op takes from it are copied like same-module helpers.
"""

from __future__ import annotations

import ast
import importlib.util
import site
import sys
import sysconfig
from collections.abc import Mapping
from functools import lru_cache
from importlib.metadata import packages_distributions
from pathlib import Path

from ._errors import ScriptError

EMBED_LIMIT = 512 * 1024  # bytes of source one script may carry; beyond it a package belongs in the image


@lru_cache(maxsize=1)
def _installed_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if paths.get(k)}
    roots |= set(getattr(site, "getsitepackages", lambda: [])())
    roots.add(site.getusersitepackages())
    return tuple(sorted(str(Path(r).resolve()) + "/" for r in roots if r))


@lru_cache(maxsize=1)
def module_distributions() -> Mapping[str, list[str]]:
    """Top-level module -> distributions providing it (cached: scanning site-packages takes ~0.1 s)."""
    return packages_distributions()


@lru_cache(maxsize=256)
def _origin(top: str) -> tuple[str, bool] | None:
    """(source file, is_package) of a top-level module of the user's project; None for anything installed."""
    if not top or top == "flowpack" or top in sys.stdlib_module_names or top in sys.builtin_module_names:
        return None
    module = sys.modules.get(top)
    origin = getattr(module, "__file__", None) if module is not None else None
    if origin is None:
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            return None
        origin = spec.origin if spec is not None else None
    if not origin or not origin.endswith(".py") or not Path(origin).is_file():
        return None
    if str(Path(origin).resolve()).startswith(_installed_roots()):
        return None
    if top in module_distributions():
        return None  # installed (editable installs too): the image builder ships it as a wheel
    return origin, Path(origin).name == "__init__.py"


def is_project_module(module: str) -> bool:
    return _origin(module.split(".", 1)[0]) is not None


def _sources(top: str) -> dict[str, tuple[bool, str]]:
    """Dotted name -> (is_package, source) for a project module, or every module of a project package."""
    origin, is_package = _origin(top)  # type: ignore[misc]
    if not is_package:
        return {top: (False, Path(origin).read_text(encoding="utf-8"))}
    root = Path(origin).parent
    found: dict[str, tuple[bool, str]] = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).with_suffix("")
        if "__pycache__" in rel.parts or not all((root.parent / Path(*rel.parts[:i]) / "__init__.py").is_file()
                                                for i in range(1, len(rel.parts))):
            continue
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        found[".".join(parts)] = (rel.name == "__init__", path.read_text(encoding="utf-8"))
    return found


def imported_tops(source: str) -> set[str]:
    """Top-level modules an absolute import statement anywhere in `source` names."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    tops = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            tops |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            tops.add(node.module.split(".")[0])
    return tops


@lru_cache(maxsize=256)
def imports_flowpack(top: str) -> bool:
    """Whether the project module (or package) `top` imports flowpack anywhere."""
    return _uses_flowpack(_imports_of(_sources(top)))


def _imports_of(sources: dict[str, tuple[bool, str]]) -> dict[str, set[str]]:
    """Each module's imported top-level names."""
    return {name: imported_tops(source) for name, (_, source) in sources.items()}


def _uses_flowpack(imports: dict[str, set[str]]) -> bool:
    return any("flowpack" in tops for tops in imports.values())


def embedded_modules(op_name: str, modules: set[str]) -> tuple[tuple[tuple[str, bool, str], ...], set[str]]:
    """The project modules among `modules`, with those they import in turn, as (name, is_package, source); and the
    other modules their code imports (for the image)."""
    todo = sorted({m.split(".")[0] for m in modules if is_project_module(m)})
    via: dict[str, str] = {}
    seen: dict[str, tuple[bool, str]] = {}
    others: set[str] = set()
    done: set[str] = set()
    while todo:
        top = todo.pop()
        if top in done:
            continue
        done.add(top)
        sources = _sources(top)
        imports = _imports_of(sources)  # read and parsed once, for the flowpack check and the walk below
        if _uses_flowpack(imports):
            chain = f"module {top!r}" + (f" (imported by {via[top]!r})" if top in via else "")
            raise ScriptError(
                f"op {op_name!r}: the step needs {chain} of your project, which imports flowpack; a step never "
                f"imports flowpack. Import the functions you need from it by name in the op's own module, or move "
                f"them into a module that does not import flowpack.")
        seen.update(sources)
        for name in sources:
            for other in imports[name]:
                if is_project_module(other):
                    via.setdefault(other, top)
                    todo.append(other)
                else:
                    others.add(other)
    size = sum(len(src.encode("utf-8")) for _, src in seen.values())
    if size > EMBED_LIMIT:
        raise ScriptError(
            f"op {op_name!r}: the project modules the step imports ({', '.join(sorted(done))}) hold {size} bytes of "
            f"source, more than a step script should carry ({EMBED_LIMIT}). Make them an installable package "
            f"(a pyproject.toml, then `pip install -e .`): flowpack then ships it in the image as a wheel.")
    others -= {"flowpack"} | set(sys.builtin_module_names)
    return tuple((n, p, s) for n, (p, s) in sorted(seen.items())), others


def with_project_modules(op_name: str, modules: set[str]) -> tuple[tuple, set[str]]:
    """The project modules to carry in the script, and the modules left for the image to provide."""
    embedded, more = embedded_modules(op_name, modules)
    return embedded, {m for m in modules | more if not is_project_module(m)}


def copied_module(module: object) -> bool:
    """Whether `module` is a project module that imports flowpack (a script copies code from it, never imports it)."""
    if not isinstance(module, str) or module == "__main__" or not is_project_module(module):
        return False
    return imports_flowpack(module.split(".")[0])
