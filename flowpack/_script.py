"""Render an op's self-contained step script from its captured source (templates/step.py.j2) and check it."""

from __future__ import annotations

import ast
import typing

from . import _capture, _jinja
from ._capture import undefined_names
from ._code_names import is_reserved
from ._errors import ScriptError
from ._signature import Interface, _hints
from ._types import ANY_SHAPE, bare_items, value_shape
from ._wire import script_spec

SCRIPT_TEMPLATE = "step.py.j2"


def spec_of(func, op_name: str, interface: Interface, is_async: bool, embedded: tuple[str, ...] = ()) -> dict:
    """The literal data the script's runner reads: how each input and output travels, and the wire format."""
    hints = _hints(func)
    return {
        "op": op_name,
        "inputs": {n: {"how": i.kind.how, "codec": i.kind.codec,
                       "shape": (value_shape(hints[n]) if n in hints else ANY_SHAPE).to_json()}
                   for n, i in interface.inputs.items()},
        "outputs": {n: {"how": k.how, "codec": k.codec, "bare_items": bare_items(_output_hint(hints, interface, n))}
                    for n, k in interface.outputs.items()},
        "fields": list(interface.fields) if interface.fields else None,
        "result": interface.result,
        "is_async": is_async,
        "embedded": list(embedded),
        **script_spec(),  # the wire format: I/O root and layout, marker, codec tags, what must be encoded
    }


def _output_hint(hints: dict, interface: Interface, name: str) -> object:
    """The annotation of output `name`: the return's, or its NamedTuple field's (None when unknown)."""
    ret = hints.get("return")
    if not interface.fields:
        return ret
    try:
        return typing.get_type_hints(ret).get(name)
    except (NameError, TypeError):  # a field annotation that can't be resolved: its type is not known
        return None


def render_script(func, op_name: str, interface: Interface) -> tuple[str, _capture.Captured]:
    """The step script text and the capture it came from (the capture also lists the modules to install)."""
    cap = _capture.capture(func, op_name)
    spec = spec_of(func, op_name, interface, cap.is_async, tuple(name for name, _, _ in cap.embedded))

    def render(line_map: list) -> str:
        return _jinja.render(
            SCRIPT_TEMPLATE,
            op_name=op_name,
            python=tuple(cap.python),
            imports=cap.imports,
            constants=cap.constants,
            pickled_constants=any(c.pickled_b64 for c in cap.constants),
            helpers=cap.helpers,
            function_source=cap.function_source,
            pickled_function=cap.pickled_b64,
            func_name=cap.name,
            spec={**spec, "line_map": line_map},
            embedded={name: (is_package, source) for name, is_package, source in cap.embedded},
        )

    draft = render([])
    text = render(line_map(draft, cap.origins))  # the spec is one line: the map doesn't move what it maps
    check_script(text, op_name)
    return text, cap


def line_map(text: str, origins) -> list[list]:
    """[script line, line after it, file, file line] for each captured piece found in the script `text`: how the
    runner shows a traceback in the user's files and lines."""
    out: list[list] = []
    for origin in origins:
        at = text.find(origin.source.rstrip())
        if at < 0:
            continue
        start = text.count("\n", 0, at) + 1
        out.append([start, start + origin.source.rstrip().count("\n") + 1, origin.filename, origin.first_line])
    return out


def check_script(text: str, op_name: str) -> None:
    """Compile the script and look for names it uses but never defines or imports: fail now, not in a pod."""
    try:
        compile(text, f"<step script of op {op_name}>", "exec")
    except SyntaxError as exc:
        raise ScriptError(f"op {op_name!r}: the rendered step script does not compile: {exc}") from None
    _check_runner_names(text, op_name)
    missing = undefined_names(text)
    if missing:
        name, line = missing[0]
        raise ScriptError(
            f"op {op_name!r}: name {name!r} is used at line {line} of the step script but neither defined nor "
            f"imported there. Define or import it at module level of the op's file."
        )


_RUNNER_NAMES = frozenset({"_fp_runner", "_FP_SPEC", "_fp_main", "_FP_EMBEDDED", "_fp_Embedded", "_fp_unpickle"})


def _check_runner_names(text: str, op_name: str) -> None:
    """The runner's module-level names are bound once each, by the runner: no piece of the op's code rebinds one."""
    seen: set[str] = set()
    for node in ast.parse(text).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = [node.name]
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.asname or a.name.split(".")[0] for a in node.names]
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
        else:
            continue
        for name in names:
            if is_reserved(name) and (name in seen or name not in _RUNNER_NAMES):
                raise ScriptError(
                    f"op {op_name!r}: the step script binds {name!r} at line {node.lineno}, a name flowpack's "
                    f"runner keeps for itself. Rename it in the op's code (names beginning with '_fp_' are reserved).")
            seen.add(name)
