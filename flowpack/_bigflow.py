"""Where big values may travel as artifacts in a built manifest: the twins of parameters (see _bigvalue).

A parameter's text reaches a Python op's step twice when it may be big: as the parameter (a marker when it is big)
and as the optional input artifact `fp-big-<input>` (its text then). That is safe only where every reader of the
value is such a step, so this pass looks at the finished manifest and adds the twins there and nowhere else:

- A step's output (a Python op's value output, a task without a loop or cache): when every reference to the task's
  outputs in its DAG is a Python op's argument that is exactly the output (`{{tasks.T.outputs.parameters.o}}`,
  after a codec tag), the task gets the raw input `fp-big` naming those outputs, which lets its step write an
  output over BIG_VALUE as the optional output artifact `fp-big-o` (a marker in the parameter); each reader gets
  `fp-big-<input>` from it, optional, which Argo leaves out when the step did not write it (dag.go,
  resolveDependencyReferences, the same in v3.6, v3.7 and v4.0). A value the workflow returns, tests, maps over,
  pastes into text, hands to a shell step, a sub-workflow, a hook or a pickled input stays a parameter: the step
  warns when it is big.
- A workflow parameter's value over BIG_VALUE: when every reference to it is such an argument, the value is
  uploaded like an input file (by content), each reader gets its twin from the store and the workflow's argument
  holds the marker; otherwise it stays in the workflow and BigValueWarning says why.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from ._bigvalue import is_big, twin_literal, warn_kept
from ._steplike import StepLike
from ._types import TAGS
from ._wire import (
    ALLOWED_ARTIFACT,
    BIG_ALLOWED,
    BIG_INPUTS,
    BIG_OUTPUTS,
    DIGEST_PREFIX,
    IO_ROOT,
    TWIN_PREFIX,
    twin,
)

_LOOPS = ("withItems", "withParam", "withSequence")
_TAG = "(?:" + "|".join(re.escape(t) for t in TAGS) + ")?"
# a reference to a task's outputs other than its files, in a DAG's JSON text: tasks.NAME.outputs, tasks['NAME'].outputs
_OUTPUT_REF = re.compile(r"tasks(?:\.(?P<dot>[^.\s\[\]'\"{}]+)\.|\[['\"](?P<key>[^'\"\]]+)['\"]\]\.?)"
                         r"outputs(?!\.artifacts)")
# an argument that is exactly one output parameter of a task
_EXACT_OUTPUT = re.compile(_TAG + r"\{\{tasks\.(?P<task>[^.\s{}]+)\.outputs\.parameters\.(?P<output>[-\w]+)\}\}")


@dataclass
class _Use:
    """A Python op's argument that is exactly a value: the task, the argument, and the output it reads (if any)."""

    task: dict
    name: str
    output: str = ""
    task_read: str = ""  # the task whose output it reads


@dataclass
class _Declared:
    """The twins a template gets: inputs it may read, outputs it may write."""

    inputs: set[str] = field(default_factory=set)
    outputs: set[str] = field(default_factory=set)


def settle(manifest: dict, steps: Mapping[str, StepLike], workflow: str) -> dict[str, Path]:
    """Add the twins to `manifest` (in place) where every reader can take them; returns the big workflow parameter
    values to upload (store key -> file)."""
    spec = manifest.get("spec") or {}
    templates = {t["name"]: t for t in spec.get("templates") or []}
    readers = {name for name, t in templates.items() if _reads_twins(steps.get(name), t)}
    declared: dict[str, _Declared] = {}
    for dag in templates.values():
        tasks = (dag.get("dag") or {}).get("tasks") or []
        for task in tasks:  # big literals, given their twins as the graph wired them (_graph)
            for art in (task.get("arguments") or {}).get("artifacts") or []:
                if art["name"].startswith(TWIN_PREFIX) and task.get("template") in readers:
                    declared.setdefault(task["template"], _Declared()).inputs.add(art["name"][len(TWIN_PREFIX):])
        if tasks:
            _settle_outputs(dag, tasks, templates, readers, declared)
    uploads = _settle_parameters(manifest, templates, readers, declared, workflow)
    for name, wanted in declared.items():
        _declare(templates[name], wanted)
    return uploads


def _reads_twins(step: StepLike | None, template: dict) -> bool:
    """A Python op's own template (its step script reads twins), not a shell step's or a sub-workflow's (nor a
    template of no step, e.g. the exit handler's)."""
    return "script" in template and step is not None and step.decodes_protected and step.runs_script


def _uses(tasks: list[dict], readers: set[str], exact: re.Pattern[str]) -> list[_Use]:
    """The arguments of Python ops (tasks without a loop) that are exactly a reference `exact` matches in full (after a
    codec tag); its groups `task` and `output` name the task and output read, when it reads one."""
    found = []
    for task in tasks:
        if task.get("template") not in readers or any(k in task for k in _LOOPS):
            continue
        for p in (task.get("arguments") or {}).get("parameters") or []:
            match = exact.fullmatch(str(p.get("value", "")))
            if match:
                groups = match.groupdict()
                found.append(_Use(task, p["name"], groups.get("output") or "", groups.get("task") or ""))
    return found


def _settle_outputs(dag: dict, tasks: list[dict], templates: dict, readers: set[str],
                    declared: dict[str, _Declared]) -> None:
    every = Counter(m["dot"] or m["key"] for m in _OUTPUT_REF.finditer(_text(dag)))  # its files are artifacts anyway
    exact: dict[str, list[_Use]] = {}
    for use in _uses(tasks, readers, _EXACT_OUTPUT):
        exact.setdefault(use.task_read, []).append(use)
    for producer in tasks:
        name, tpl = producer["name"], templates.get(producer.get("template", ""))
        if tpl is None or producer.get("template") not in readers or any(k in producer for k in _LOOPS) \
                or "memoize" in tpl:
            continue
        exported = {p["name"] for p in (tpl.get("outputs") or {}).get("parameters") or [] if "globalName" in p}
        uses = exact.get(name, [])
        if not uses or len(uses) != every[name] or any(u.output in exported or u.output.startswith(DIGEST_PREFIX)
                                                       for u in uses):
            continue
        outputs = sorted({u.output for u in uses})
        args = producer.setdefault("arguments", {})
        args["artifacts"] = [*(args.get("artifacts") or []),
                             {"name": ALLOWED_ARTIFACT, "raw": {"data": "\n".join(outputs)}}]
        declared.setdefault(producer["template"], _Declared()).outputs.update(outputs)
        for use in uses:
            _add_artifact(use, {"name": twin(use.name), "from": "{{tasks.%s.outputs.artifacts.%s}}" % (
                name, twin(use.output)), "optional": True})
            declared.setdefault(use.task["template"], _Declared()).inputs.add(use.name)


def _settle_parameters(manifest: dict, templates: dict, readers: set[str], declared: dict[str, _Declared],
                       workflow: str) -> dict[str, Path]:
    spec = manifest["spec"]
    text = _text(manifest)
    uploads: dict[str, Path] = {}
    for param in (spec.get("arguments") or {}).get("parameters") or []:
        value = param.get("value")
        if not isinstance(value, str) or not is_big(value):
            continue
        name = param["name"]
        ref = re.compile(_TAG + r"\{\{workflow\.parameters\." + re.escape(name) + r"\}\}")
        every = len(re.findall(r"workflow\.parameters(?:\." + re.escape(name) + r"(?![-\w])|\[['\"]"
                               + re.escape(name) + r"['\"]\])", text))
        uses = [u for t in templates.values() for u in _uses((t.get("dag") or {}).get("tasks") or [], readers, ref)]
        where = f"workflow {workflow!r}: parameter {name!r}"
        if len(uses) != every:
            warn_kept(where, value, "a condition, a map, text, a shell step or a sub-workflow reads it")
            continue
        big = twin_literal(value, name, where)
        param["value"] = big.marker
        uploads[big.stashed.key] = big.stashed.path
        for use in uses:
            _add_artifact(use, big.artifact)
            declared.setdefault(use.task["template"], _Declared()).inputs.add(use.name)
    return uploads


def _add_artifact(use: _Use, art: dict) -> None:
    args = use.task.setdefault("arguments", {})
    args["artifacts"] = [*(args.get("artifacts") or []), {**art, "name": twin(use.name)}]


def _declare(tpl: dict, wanted: _Declared) -> None:
    """The template's optional twin inputs and outputs (and the input naming the outputs it may send so)."""
    inputs = tpl.setdefault("inputs", {})
    have = {a["name"] for a in inputs.get("artifacts") or []}
    add = [{"name": twin(n), "path": f"{IO_ROOT}/{BIG_INPUTS}/{n}", "optional": True}
           for n in sorted(wanted.inputs) if twin(n) not in have]
    if wanted.outputs and ALLOWED_ARTIFACT not in have:
        add.append({"name": ALLOWED_ARTIFACT, "path": f"{IO_ROOT}/{BIG_ALLOWED}", "optional": True})
    if add:
        inputs["artifacts"] = [*(inputs.get("artifacts") or []), *add]
    outputs = tpl.setdefault("outputs", {})
    have = {a["name"] for a in outputs.get("artifacts") or []}
    made = [{"name": twin(n), "path": f"{IO_ROOT}/{BIG_OUTPUTS}/{n}", "optional": True, "archive": {"none": {}}}
            for n in sorted(wanted.outputs) if twin(n) not in have]
    if made:
        outputs["artifacts"] = [*(outputs.get("artifacts") or []), *made]


def _text(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False)
