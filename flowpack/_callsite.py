"""Where in the user's workflow body an op is called: `pipeline.py:14: total = add_all(squares)`.

The graph records it for each task while the body runs (the first frame outside flowpack), the manifest carries it
as an annotation, and a failed run's message names the line that uses a value that could not be resolved.
`source_label` names a file of the user's the same way from whatever folder flowpack runs in: what is rendered (this
annotation, a step script's traceback line map) must not depend on the working directory.
"""

from __future__ import annotations

import json
import linecache
import os
import re
import sys
from functools import lru_cache
from pathlib import PurePath
from types import FrameType
from typing import Iterable, Mapping, NamedTuple

# workflow annotation: JSON {"file:line: code": "the tasks called there"}, the tasks as space-separated names (a
# sub-workflow's as template/task), a run of one base name's numbered tasks as one range: "inc inc-2..10000"
CALL_SITES = "flowpack.io/call-sites"
OLD_LINES = "flowpack.io/lines"  # written before: JSON {task name: "file:line: code"}, still read
_RUN = re.compile(r"^(?P<base>.+)-(?P<first>[0-9]+)\.\.(?P<last>[0-9]+)$")  # task names hold no "." (_names.VALID)
_NUMBERED = re.compile(r"^(?P<base>.+)-(?P<n>[1-9][0-9]*)$")
_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
_IPYTHON_CELL = re.compile(r"^<ipython-input-[0-9]+-(?P<hash>[0-9a-f]+)>$")  # terminal IPython: number, hash of text
_KERNEL_FOLDER = "ipykernel_"  # a Jupyter kernel's cells: <tmp>/ipykernel_<pid>/<hash of the cell's text>.py


class CallSite(NamedTuple):
    """A line of the user's code: shown as `pipeline.py:14: total = add_all(squares)`."""

    filename: str  # the real file (a warning about the line points there)
    lineno: int
    code: str
    module: str | None = None  # the module the line is in (its `__name__`)

    def __str__(self) -> str:
        """As a manifest carries it: the file named by `source_label`, the same from every working directory."""
        return f"{source_label(self.filename, self.module)}:{self.lineno}" + (f": {self.code}" if self.code else "")


def call_site() -> CallSite | None:
    """The first caller outside flowpack (its code, and wrappers flowpack compiles), or None when there is none."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and (frame.f_code.co_filename.startswith(_PACKAGE)
                                 or str(frame.f_globals.get("__name__", "")).split(".")[0] == "flowpack"):
        frame = frame.f_back
    if frame is None:
        return None
    filename, lineno = frame.f_code.co_filename, frame.f_lineno
    module = frame.f_globals.get("__name__")
    return CallSite(filename, lineno, linecache.getline(filename, lineno).strip(),
                    module if isinstance(module, str) else None)


@lru_cache(maxsize=1024)
def source_label(filename: str, module: str | None = None) -> str:
    """How what flowpack renders names the user's source file `filename` (the code of module `module`, when known):
    never through the working directory, so a manifest is the same from every folder, and as a traceback reads well.

    - a module's file: its path below the import root it is imported from, `shop/flow.py`, `shop/__init__.py`. The
      root is the first folder up without an __init__.py, so a package's file is named the same however it was
      imported (`import shop.flow`, `python -m shop.flow`, `python shop/flow.py`, `flowpack run shop/flow.py:WF`);
      below a namespace package (folders without __init__.py), the module's dotted name says how far up it is;
    - any other file (a plain module, a script): its file name, `flow.py`;
    - a notebook cell: `<cell HASH>`, IPython's hash of the cell's text (the kernel's folder changes with each kernel);
    - a name in angle brackets (`<string>`): as it is.
    """
    cell = _IPYTHON_CELL.match(filename)
    if cell:
        return f"<cell {cell['hash']}>"
    path = PurePath(filename)
    if filename.startswith("<") or not path.name:
        return filename
    if path.parent.name.startswith(_KERNEL_FOLDER):
        return f"<cell {path.stem}>"
    root = path.parent
    while root.name and os.path.isfile(os.path.join(root, "__init__.py")):
        root = root.parent
    below = path.relative_to(root).parts
    if module == "__main__":  # run as a script; `python -m ns.flow` keeps the module's own name in its spec
        module = getattr(getattr(sys.modules.get("__main__"), "__spec__", None), "name", None)
    dotted = (module.split(".") + (["__init__"] if path.stem == "__init__" else [])) if module else []
    if len(below) < len(dotted) < len(path.parts) and list(path.with_suffix("").parts[-len(dotted):]) == dotted:
        below = path.parts[-len(dotted):]
    return "/".join(below)


def display_path(filename: str) -> str:
    """A file relative to the working directory when it lies below it, else as it is (how users refer to it): for
    messages shown while building, on the user's own machine, never for what is rendered (see `source_label`)."""
    try:
        rel = os.path.relpath(filename)
    except ValueError:
        return filename
    return filename if rel.startswith("..") else rel


def lines_annotation(tasks: Iterable, nested: Mapping[str, Iterable] | None = None) -> dict[str, str]:
    """The workflow annotation holding each task's call site (empty when none is known); `nested` gives the tasks of
    each sub-workflow's DAG template, keyed `<template>/<task>`. A loop calling one op 10,000 times adds one line
    and one range, not 10,000 entries."""
    by_site: dict[str, list[str]] = {}
    for name, line in [*((t.name, t.line) for t in tasks),
                       *((f"{tpl}/{t.name}", t.line) for tpl, inner in (nested or {}).items() for t in inner)]:
        if line is not None:
            by_site.setdefault(str(line), []).append(name)
    sites = {site: " ".join(_ranges(names)) for site, names in by_site.items()}
    return {CALL_SITES: json.dumps(sites, sort_keys=True, ensure_ascii=False)} if sites else {}


def _ranges(names: list[str]) -> list[str]:
    """Names with each run of consecutively numbered ones (`inc-2`, `inc-3`, ... `inc-9`) as one `inc-2..9`."""
    out: list[str] = []
    run: tuple[str, int, int] | None = None  # base, first, last

    def close() -> None:
        if run is not None:
            base, first, last = run
            out.append(f"{base}-{first}" if first == last else f"{base}-{first}..{last}")

    for name in names:
        m = _NUMBERED.match(name)
        if m and run is not None and m["base"] == run[0] and int(m["n"]) == run[2] + 1:
            run = (run[0], run[1], run[2] + 1)
            continue
        close()
        run = (m["base"], int(m["n"]), int(m["n"])) if m else None
        if m is None:
            out.append(name)
    close()
    return out


def _names(listed: str) -> list[str]:
    """The task names of one call site's entry (ranges expanded)."""
    names: list[str] = []
    for item in listed.split():
        m = _RUN.match(item)
        names += ([f"{m['base']}-{n}" for n in range(int(m["first"]), int(m["last"]) + 1)] if m else [item])
    return names


def node_line(manifest: dict, node: str, lines: Mapping[str, str]) -> str | None:
    """The call site of the step at `node` (`train`, `sub/train`, a map's item `square/0`), following its path
    through the manifest's DAG templates: the innermost task on it whose call site is known. None when the path's
    first task is not one of the entrypoint's."""
    spec = manifest.get("spec") or {}
    templates = {t.get("name"): t for t in spec.get("templates") or []}
    template = templates.get(spec.get("entrypoint")) or {}
    found: str | None = None
    for depth, part in enumerate(p for p in node.split("/") if not p.isdigit()):  # digits: a loop's item
        name = part.split("(", 1)[0]
        tasks = {t.get("name"): t for t in (template.get("dag") or {}).get("tasks") or []}
        if name not in tasks:
            break
        found = lines.get(f"{template.get('name')}/{name}") or (lines.get(name) if depth == 0 else None) or found
        template = templates.get(tasks[name].get("template")) or {}
    return found


def lines_of(manifest: dict) -> dict[str, str]:
    """Task name -> call site, from a manifest's annotation ({} when absent or unreadable; the older per-task form
    too)."""
    annotations = (manifest.get("metadata") or {}).get("annotations") or {}
    for key in (CALL_SITES, OLD_LINES):
        try:
            found = json.loads(annotations[key]) if key in annotations else None
        except (TypeError, ValueError):
            return {}
        if isinstance(found, dict):
            if key == OLD_LINES:
                return {str(k): str(v) for k, v in found.items()}
            return {name: str(site) for site, listed in found.items() if isinstance(listed, str)
                    for name in _names(listed)}
    return {}
