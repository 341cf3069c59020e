"""What the command line's arguments name: `FILE.py:NAME` targets and `-p KEY=VALUE` workflow parameters.

A target that doesn't exist, or is an op where a workflow is wanted (or the reverse), is a UsageError naming what the
file does define, with the closest name when it looks like a typo. Parameters are checked against the workflow's
annotations before anything is built or run.
"""

from __future__ import annotations

import difflib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from ._errors import UsageError
from ._op import Step
from ._values import parse_text
from ._workflow import Workflow

WORKFLOW = "workflow"
OP = "op"


def load_module(file: str) -> ModuleType:
    """Import FILE.py as a user's script is imported (its folder goes on sys.path, as with `python FILE`)."""
    path = Path(file).resolve()
    if not path.is_file():
        raise UsageError(f"no such file {file!r}")
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    module_name = path.stem
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"{file} is not a Python file (expected FILE.py)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def split_target(target: str) -> tuple[str, str]:
    file, sep, name = target.rpartition(":")
    if not sep or not file or not name:
        raise UsageError(f"expected FILE.py:NAME, got {target!r}")
    return file, name


def kind_of(obj: object) -> str | None:
    """WORKFLOW, OP or None for anything else."""
    if isinstance(obj, Workflow):
        return WORKFLOW
    if isinstance(obj, Step):
        return OP
    return None


def defined(module: ModuleType, kind: str) -> list[str]:
    """The names under which the module holds workflows (or ops), in definition order."""
    return [n for n, v in vars(module).items() if not n.startswith("_") and kind_of(v) == kind]


def load_target(target: str, want: str | None = None):
    """`FILE.py:NAME` -> the object NAME of FILE.py; with `want`, it must be a workflow (or an op)."""
    file, name = split_target(target)
    module = load_module(file)
    names = defined(module, want) if want else [n for n in vars(module) if not n.startswith("_")]
    if not hasattr(module, name):
        close = difflib.get_close_matches(name, names, n=1) or difflib.get_close_matches(name, list(vars(module)), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        listing = f" {_plural(want).capitalize()} in it: {', '.join(names)}." if want and names else ""
        raise UsageError(f"{file} defines no {name!r}.{hint}{listing}")
    obj = getattr(module, name)
    kind = kind_of(obj)
    if want and kind != want:
        what = (kind and {WORKFLOW: "a workflow", OP: "an op"}.get(kind)) or f"a {type(obj).__name__}"
        wanted = {WORKFLOW: "a workflow (@fp.workflow)", OP: "an op (@fp.op or fp.shell)"}[want]
        listing = (f"{_plural(want).capitalize()} in {file}: {', '.join(names)}." if names
                   else f"{file} defines no {want}.")
        use = f" `flowpack script {target}` prints the op's step script." if kind == OP else ""
        raise UsageError(f"{target} is {what}, not {wanted}. {listing}{use}")
    return obj


def _plural(kind: str | None) -> str:
    return {WORKFLOW: "workflows", OP: "ops"}.get(kind or "", "names")


def parse_params(pairs: list[str] | None, wf) -> dict:
    """-p key=value pairs as the workflow's annotations ask: JSON for JSON types, the text itself for text, a path
    for a file. Unknown or repeated keys and values that don't fit their annotation are UsageErrors."""
    inputs = wf.interface.inputs
    params: dict = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise UsageError(f"-p expects KEY=VALUE, got {pair!r}")
        if key in params:
            raise UsageError(f"-p {key} is given twice; give each parameter once")
        inp = inputs.get(key)
        if inp is None:
            close = difflib.get_close_matches(key, list(inputs), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UsageError(f"workflow {wf.name!r} has no parameter {key!r}.{hint} "
                             f"Its parameters: {', '.join(inputs) or 'none'}.")
        if inp.kind.how == "path":
            params[key] = value
            continue
        try:
            params[key] = parse_text(value, inp.annotation, key)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    return params
