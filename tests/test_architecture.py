"""The package's shape: layers that import only downward, no import cycle, lazy imports only for import time.

The import graph is read from the source with `ast` (imports inside functions count). Layers, bottom to top:

    0 values and types   errors, names, wire types, values, templates env, Argo's expression language
    1 capture            what a function needs: its code, imports, helpers, project modules; the step script
    2 ops and the graph  @op, shell ops, handles, tasks, conditions
    3 manifest           the rendered Argo Workflow
    4 validation         checks of a manifest (names, references, Argo's limits)
    5 engines and stores the local and Docker engines, run records, artifact stores, images, results
    6 Argo               the Argo Server client, submit, ArgoRun
    7 views              DAG pictures, progress, notebook displays, the run viewer
    8 API                Workflow and the package's public names
    9 CLI                `flowpack ...`
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "flowpack"

LAYERS = ["values", "capture", "ops", "manifest", "validation", "engines", "argo", "views", "api", "cli"]

# module (without the leading "flowpack.") -> layer; a package's modules share its layer unless listed.
LAYER_OF = {
    "_errors": "values", "_traceback": "values", "_names": "values", "_types": "values", "_values": "values",
    "_context": "values", "_code_names": "values", "_yaml": "values", "_jinja": "values", "_digest": "values",
    "_options": "values", "_signature": "values", "_wire": "values", "_phase": "values", "_records": "values",
    # Argo's expression language and Go's formats: written by the builder, evaluated by the engines
    "_engine._gojson": "values", "_engine._cond": "values", "_engine._expr": "values",
    "_engine._duration": "values", "_engine._choice": "values", "_engine._tolerance": "values",
    "_engine._zip": "values", "_engine._batch": "values", "_engine._exitvalue": "values", "_exit": "values",
    "_retry": "values", "_engine._retry": "values",  # retry policy as Argo reads it: written by ops, applied by engines
    "_callsite": "values",  # where the body calls an op: recorded by the graph, read by runs
    "_bigvalue": "values",  # big values' markers and stashed files: written by the graph, read by the manifest
    "_capture": "capture", "_capture_imports": "capture", "_capture_project": "capture", "_script": "capture",
    "_capture_facts": "capture",
    "_subworkflow": "ops",  # a workflow called inside another: its own DAG template
    "_condition": "ops", "_status_deps": "ops", "_one_of": "ops", "_sequence": "ops", "_rows": "ops", "_fanin": "ops",
    "_tolerate": "ops", "_batch": "ops", "_item": "ops", "_exit_with": "ops", "_text": "ops", "_hooks": "ops",
    "_graph": "ops", "_handle": "ops", "_given_files": "ops", "_op": "ops", "_shell": "ops",
    "_steplike": "ops",  # what the builder reads of a step, and the forms a map or a call runs a step in
    "_arguments": "ops",  # a parameter argument (name, Argo text): a task's, or the workflow's own
    "_param_items": "ops",  # a list workflow parameter's items, protected when only Python ops read it
    "_manifest": "manifest", "_skip_warning": "manifest", "_bigflow": "manifest",
    "_validate": "validation",
    "_engine": "engines", "_store": "engines", "_run": "engines", "_results": "engines", "_images": "engines",
    "_images_build": "engines", "_runbase": "engines", "_logs": "engines",
    "_argo": "argo",
    "_view": "views", "_ui": "views",
    "": "api", "_workflow": "api",
    "__main__": "cli", "_cli": "cli", "_cli_argo": "cli", "_cli_images": "cli", "_cli_store": "cli",
    "_cli_target": "cli", "_cli_view": "cli",
}

# Imports that may wait until a function runs, because importing them costs time `import flowpack` (or the CLI's
# start) should not pay: optional or heavy third-party packages, and flowpack's own heavier modules.
HEAVY = {
    "cloudpickle", "docker", "minio", "urllib3", "certifi", "requests", "jinja2", "IPython", "packaging",
    "jsonschema",
}
HEAVY_OWN = {
    "_view", "_argo", "_validate", "_run", "_ui", "_images_build", "_engine.local", "_engine.docker",
    "_cli_argo", "_cli_images", "_cli_view", "_cli_store", "_argo._status",
}


# The only imports that go up a layer: a run (local or Argo) draws itself (progress, notebook display) with the views,
# which sit above it because they read every kind of run. Each is inside the method that draws.
UPWARD = {("_run", "_view"), ("_argo._handle", "_view")}
# A module that is also run as a script on its own (the fork server's process): its package imports wait.
STANDALONE = {"_engine._forkserver"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = [p for p in base if p]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


class _Imports(ast.NodeVisitor):
    """(line, inside a function, imported module) for every import of one module; own modules without 'flowpack.'."""

    def __init__(self, module: str, is_package: bool):
        self.module, self.is_package, self.depth, self.found = module, is_package, 0, []

    def visit_FunctionDef(self, node):
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef

    def _add(self, node, name: str) -> None:
        self.found.append((node.lineno, self.depth > 0, name))

    def visit_Import(self, node):
        for alias in node.names:
            name = alias.name
            self._add(node, name[len("flowpack."):] if name.startswith("flowpack.") else name)

    def visit_ImportFrom(self, node):
        if node.level:
            base = _resolve(self.module, self.is_package, node)
        elif node.module == "flowpack" or (node.module or "").startswith("flowpack."):
            base = node.module[len("flowpack."):] if node.module != "flowpack" else ""
        else:
            self._add(node, node.module or "")
            return
        for alias in node.names:
            sub = f"{base}.{alias.name}".lstrip(".")
            self._add(node, sub if sub in MODULES else base)


def _imports() -> dict[str, list[tuple[int, bool, str]]]:
    out = {}
    for module, path in MODULES.items():
        visitor = _Imports(module, path.name == "__init__.py")
        visitor.visit(ast.parse(path.read_text(encoding="utf-8")))
        out[module] = visitor.found
    return out


IMPORTS = _imports()


def _layer(module: str) -> int:
    if module in LAYER_OF:
        return LAYERS.index(LAYER_OF[module])
    parts = module.split(".")
    for i in range(len(parts) - 1, 0, -1):
        key = ".".join(parts[:i])
        if key in LAYER_OF:
            return LAYERS.index(LAYER_OF[key])
    raise KeyError(module)


def _own_edges() -> dict[str, set[str]]:
    return {m: {t for _, _, t in found if t in MODULES and t != m} for m, found in IMPORTS.items()}


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_every_module_has_a_layer():
    assert [m for m in MODULES if not _try_layer(m)] == []


def _try_layer(module: str) -> bool:
    try:
        _layer(module)
    except KeyError:
        return False
    return True


def test_no_import_cycle():
    assert _cycles(_own_edges()) == []


def test_cycle_finder_finds_a_cycle():
    """The finder itself: a -> b -> c -> a is one component, d alone is none."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_imports_only_go_down():
    up = [f"{m} ({LAYERS[_layer(m)]}) -> {t} ({LAYERS[_layer(t)]}) line {line}"
          for m, found in IMPORTS.items() for line, inside, t in found
          if t in MODULES and _try_layer(m) and _try_layer(t) and _layer(t) > _layer(m)
          and not (inside and (m, t) in UPWARD)]
    assert up == []


def _lazy_faults() -> list[str]:
    faults = []
    for module, found in IMPORTS.items():
        lines = MODULES[module].read_text(encoding="utf-8").splitlines()
        for line, inside, target in found:
            if not inside:
                continue
            where = f"flowpack.{module} line {line}: import of {target}"
            text = lines[line - 1]
            if "# lazy: " not in text and "# lazy: " not in lines[line - 2]:
                faults.append(f"{where} has no '# lazy: reason' comment")
            own = target in MODULES
            if own and target not in HEAVY_OWN and module not in STANDALONE:
                faults.append(f"{where} is light: import it at the top of the module")
            elif not own and target.split(".")[0] not in HEAVY:
                faults.append(f"{where} is not an optional or heavy package: import it at the top")
    return faults


def test_function_level_imports_are_heavy_and_say_why():
    assert _lazy_faults() == []


def test_import_flowpack_stays_light():
    """`import flowpack` loads none of the heavy packages nor the modules kept lazy for that reason."""
    import subprocess

    code = ("import sys; before = set(sys.modules); import flowpack; print(' '.join(sorted(m for m in sys.modules "
            "if m not in before and (m.split('.')[0] in %r or m in %r))))"
            % (sorted(HEAVY), sorted("flowpack." + m for m in HEAVY_OWN)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_opens_with_a_docstring(module):
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    assert ast.get_docstring(tree), f"flowpack.{module} has no docstring of its purpose"


WIRE_LITERALS = ("/tmp/flowpack/", '"/tmp/flowpack"', "fp-pickle-b64", "fp-b64", "fp-json", "fp-text", "fp-each-",
                 '"sha256-"')


def test_wire_format_is_written_once():
    """The step's I/O root, folders, tags and digest prefix are written in flowpack/_wire.py (encodings in _types)
    and handed to the op template, the graph, the results reader and the step script, never written again."""
    templates = PACKAGE.parent / "templates"
    found = [f"{path.name}: {literal}" for path in [*MODULES.values(), *templates.glob("*.j2")]
             if path.name not in ("_wire.py", "_types.py")
             for literal in WIRE_LITERALS if literal in path.read_text(encoding="utf-8")]
    assert found == []
