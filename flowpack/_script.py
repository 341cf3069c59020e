"""Render an op's self-contained step script from its captured source (templates/step.py.j2) and check it."""

from __future__ import annotations

from ._errors import ScriptError
from ._signature import Interface

SCRIPT_TEMPLATE = "step.py.j2"


def spec_of(interface: Interface, is_async: bool) -> dict:
    """The literal data the script's runner reads: how each input and output travels."""
    return {
        "inputs": {n: {"how": i.kind.how, "codec": i.kind.codec} for n, i in interface.inputs.items()},
        "outputs": {n: {"how": k.how, "codec": k.codec} for n, k in interface.outputs.items()},
        "fields": list(interface.fields) if interface.fields else None,
        "result": interface.result,
        "is_async": is_async,
    }


def render_script(func, op_name: str, interface: Interface) -> tuple[str, "object"]:
    """The step script text and the capture it came from (the capture also lists the modules to install)."""
    from . import _capture, _jinja

    cap = _capture.capture(func, op_name)
    text = _jinja.render(
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
        spec=spec_of(interface, cap.is_async),
        embedded={name: (is_package, source) for name, is_package, source in cap.embedded},
    )
    check_script(text, op_name)
    return text, cap


def check_script(text: str, op_name: str) -> None:
    """Compile the script and look for names it uses but never defines or imports: fail now, not in a pod."""
    from ._capture import undefined_names

    try:
        compile(text, f"<step script of op {op_name}>", "exec")
    except SyntaxError as exc:
        raise ScriptError(f"op {op_name!r}: the rendered step script does not compile: {exc}") from None
    missing = undefined_names(text)
    if missing:
        name, line = missing[0]
        raise ScriptError(
            f"op {op_name!r}: name {name!r} is used at line {line} of the step script but neither defined nor "
            f"imported there. Define or import it at module level of the op's file."
        )
