"""Where in the user's workflow body an op is called: `pipeline.py:14: total = add_all(squares)`.

The graph records it for each task while the body runs (the first frame outside flowpack), the manifest carries it
as an annotation, and a failed run's message names the line that uses a value that could not be resolved.
"""

from __future__ import annotations

import json
import linecache
import os
import sys
from types import FrameType
from typing import Iterable, Mapping, NamedTuple

# workflow annotation: JSON {task name (a sub-workflow's: template/task): "file:line: code"}
LINES = "flowpack.io/lines"
_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


class CallSite(NamedTuple):
    """A line of the user's code: shown as `pipeline.py:14: total = add_all(squares)`."""

    filename: str
    lineno: int
    code: str

    def __str__(self) -> str:
        return f"{display_path(self.filename)}:{self.lineno}" + (f": {self.code}" if self.code else "")


def call_site() -> CallSite | None:
    """The first caller outside flowpack (its code, and wrappers flowpack compiles), or None when there is none."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and (frame.f_code.co_filename.startswith(_PACKAGE)
                                 or str(frame.f_globals.get("__name__", "")).split(".")[0] == "flowpack"):
        frame = frame.f_back
    if frame is None:
        return None
    filename, lineno = frame.f_code.co_filename, frame.f_lineno
    return CallSite(filename, lineno, linecache.getline(filename, lineno).strip())


def display_path(filename: str) -> str:
    """A file relative to the working directory when it lies below it, else as it is (how users refer to it)."""
    try:
        rel = os.path.relpath(filename)
    except ValueError:
        return filename
    return filename if rel.startswith("..") else rel


def lines_annotation(tasks: Iterable, nested: Mapping[str, Iterable] | None = None) -> dict[str, str]:
    """The workflow annotation holding each task's call site (empty when none is known); `nested` gives the tasks of
    each sub-workflow's DAG template, keyed `<template>/<task>`."""
    lines = {t.name: str(t.line) for t in tasks if t.line is not None}
    lines.update({f"{tpl}/{t.name}": str(t.line) for tpl, inner in (nested or {}).items() for t in inner
                  if t.line is not None})
    return {LINES: json.dumps(lines, sort_keys=True, ensure_ascii=False)} if lines else {}


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
    """Task name -> call site, from a manifest's annotation ({} when absent or unreadable)."""
    text = ((manifest.get("metadata") or {}).get("annotations") or {}).get(LINES)
    try:
        lines = json.loads(text) if text else {}
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in lines.items()} if isinstance(lines, dict) else {}
