"""Handles inside text: `f"hello {name}"` or `"model-" + h` in a workflow body becomes Argo's own substitution,
`hello {{tasks.x.outputs.result}}`, in the argument of the step that takes it.

While the body runs, formatting a handle gives a placeholder (two private-use characters around a number); when
text holding placeholders is passed to a step, each is replaced by the handle's `{{...}}` reference and the step
depends on the handle's step. Argo pastes an output's text as it is, which is what Python's formatting gives only
for text, whole numbers and floats (`True` would arrive as `true`, a list as JSON): other values, format specs
(`{x:.2f}`) and text for a non-`str` argument are build errors.
"""

from __future__ import annotations

import json
import re
import typing

from ._context import current
from ._errors import WorkflowBuildError
from ._steplike import StepLike
from ._types import MARKER, PARAM, TAGS, TEXT

_OPEN, _CLOSE = "\ue000", "\ue001"
_TOKEN = re.compile(_OPEN + r"fp(\d+)" + _CLOSE)
_PLAIN = (str, int, float)


def placeholder(handle, spec: str = "") -> str:
    """The text standing for `handle` inside a string while the workflow body runs."""
    graph = current()
    if graph is None:
        raise WorkflowBuildError(f"{handle!r} can be put into text only inside a workflow body.")
    if spec:
        raise WorkflowBuildError(f"f-string format spec {spec!r} on {handle!r}: Argo pastes the value as it is; "
                                 f"format it inside an op instead.")
    if handle.kind is None or handle.kind.how != PARAM or handle.problem:
        raise WorkflowBuildError(f"{handle!r} can't be put into text: only single parameter outputs (text or numbers) "
                                 f"and workflow parameters can.")
    kind = _value_type(handle, graph)
    if kind not in _PLAIN:
        raise WorkflowBuildError(
            f"{handle!r} is {getattr(kind, '__name__', kind)!s}, and Argo would paste its JSON text, not what Python "
            f"formatting gives (only str, int and float read the same). Convert it to text inside an op.")
    graph.text_refs.append(handle)
    return f"{_OPEN}fp{len(graph.text_refs) - 1}{_CLOSE}"


def concat(handle, other, handle_first: bool) -> str:
    """`h + "text"` / `"text" + h`: text with a placeholder (other operands are arithmetic, refused)."""
    if not isinstance(other, str):
        raise WorkflowBuildError(
            f"{handle!r} has no value while the workflow is being built, so arithmetic on it can't be done here. "
            f"Do the computation inside an op and pass the handle to it.")
    token = placeholder(handle)
    return token + other if handle_first else other + token


def has_placeholders(text: str) -> bool:
    return _OPEN in text


def argo_text(graph, text: str, where: str, codec: str) -> tuple[str, list]:
    """The text with each placeholder replaced by its reference, and the handles it uses."""
    if codec != TEXT:
        raise WorkflowBuildError(f"{where}: text built from handles (an f-string or '+') goes to `str` arguments; "
                                 f"this one is not text.")
    literal = _TOKEN.sub("", text)
    if "{{" in literal or _OPEN in literal or _CLOSE in literal:
        raise WorkflowBuildError(f"{where}: the text around the handles holds '{{{{' (Argo would read it as a "
                                 f"template expression) or a placeholder of another workflow.")
    if text.startswith((MARKER, *TAGS)):
        raise WorkflowBuildError(f"{where}: text starting with {text.split(':')[0]!r}: is reserved by flowpack.")
    used = []

    def repl(m: re.Match) -> str:
        index = int(m.group(1))
        if index >= len(graph.text_refs):
            raise WorkflowBuildError(f"{where}: the text was built in another workflow body.")
        used.append(graph.text_refs[index])
        return graph.text_refs[index].ref

    return _TOKEN.sub(repl, text), used


def check_no_placeholders(value, where: str) -> None:
    """Map items and conditions can't hold text built from handles."""
    if has_placeholders(json.dumps(value, ensure_ascii=False)):
        raise WorkflowBuildError(f"{where}: text built from handles can't be a map item or a condition literal; "
                                 f"pass it as an argument of a step.")


def _value_type(handle, graph):
    """The Python type of a handle's value: the op's return annotation (or NamedTuple field), a shell output's
    `type`, or the workflow parameter's annotation; text for a text output whose type is not known."""
    task = handle.task
    if task is None:
        found = graph.param_types.get(handle.output)
    else:
        found = _output_annotation(task.step, handle.output)
    if found is None and handle.kind.codec == TEXT:
        return str
    return found


def _output_annotation(step: StepLike, output: str):
    fields = step.interface.fields
    func = step.func
    if func is not None:
        try:
            ret = typing.get_type_hints(func).get("return")
        except Exception:  # an annotation that can't be resolved: its type is not known
            return None
        if fields:
            try:
                return typing.get_type_hints(ret).get(output)
            except Exception:
                return None
        return ret
    return None  # a shell step's output: its type is not kept (text outputs are known by their codec)
