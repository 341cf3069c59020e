"""What a local run (`Run`) and an Argo workflow (`ArgoRun`) share: reading outputs, the failure report, the result.

Each subclass says where its facts come from (a run record, Argo's workflow status); the messages a user reads are
written here once, so the two can't drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ._callsite import lines_of, node_line
from ._errors import RunError, StepFailed
from ._phase import Phase
from ._results import output_kind, rebuild
from ._types import Kind

STDERR_LINES = 15  # lines of a failed step's stderr tail shown in the error
_REFERENCED = re.compile(r"tasks\.([A-Za-z0-9][-A-Za-z0-9]*)\.")  # a task an unresolved reference names
_ACCEPTED = re.compile(r"(?<![\w-])([A-Za-z0-9][-A-Za-z0-9]*)\.(?:Failed|Errored|AnyFailed|AllFailed)\b")


def allowed_to_fail(manifest: dict) -> set[str]:
    """The tasks another task's `depends` runs after on failure: the workflow goes on past their failure."""
    return {name for tpl in (manifest.get("spec") or {}).get("templates") or []
            for task in (tpl.get("dag") or {}).get("tasks") or []
            for name in _ACCEPTED.findall(task.get("depends") or "")}


def _task_of(node: str, names: set[str]) -> str | None:
    """The task among `names` a node path stands for (`sub/x`, a map's item `square(0:1)` under its map)."""
    for part in reversed(node.split("/")):
        name = part.split("(", 1)[0]
        if name in names:
            return name
    return None


@dataclass
class Outcome:
    """How a run ended, as the failure report needs it."""

    phase: str
    failures: list[dict]  # node, template, message, and where known exitCode and stderrTail
    message: str = ""  # the run's own message (shown when no step failed)
    detail: str = ""  # said after the phase, e.g. " (stopped: by the user)"
    hints: list[str] = field(default_factory=list)  # closing lines: where to look next


class RunBase:
    """The shared half of Run and ArgoRun. A subclass provides `label`, `shape`, `outcome()`, `_ready()` (wait or
    check that the run ended) and `_read_output(name, kind)`."""

    result_type: type | None = None
    _shape: dict
    _cache: dict[str, object]

    @property
    def shape(self) -> dict:
        """What the workflow returns and how each output travels (see _results.shape_of)."""
        return self._shape

    @property
    def label(self) -> str:  # pragma: no cover - abstract
        """How messages name this run: "run <id>" or "workflow <namespace>/<name>"."""
        raise NotImplementedError

    def outcome(self) -> Outcome:  # pragma: no cover - abstract
        raise NotImplementedError

    def _ready(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _read_output(self, name: str, kind: Kind) -> object:  # pragma: no cover - abstract
        raise NotImplementedError

    def check(self) -> None:
        """Raise StepFailed naming the failed steps (message, exit code, stderr tail, the workflow line calling each),
        unless the run succeeded. A step allowed to fail is never blamed: when only such steps failed, the run's
        own message names the cause (e.g. an output that could not be resolved) and the workflow line using it."""
        out = self.outcome()
        if out.phase == Phase.SUCCEEDED:
            return
        head = f"{self.label} {out.phase}{out.detail}"
        manifest = getattr(self, "manifest", None) or {}
        lines = lines_of(manifest)
        allowed = allowed_to_fail(manifest)
        failures = [f for f in out.failures if _task_of(f["node"], allowed) is None]
        if not failures:
            message = out.message.strip()
            used = [lines[t] for t in dict.fromkeys(_REFERENCED.findall(message)) if t in lines]
            summary = f"{head}: {message}" + "".join(f"\n  used at {line}" for line in used)
            raise RunError("\n".join([summary] + out.hints), out.failures, self)
        lines_by_node = {f["node"]: node_line(manifest, f["node"], lines) or lines.get(_task_of(f["node"], set(lines))
                                                                                 or "") for f in failures}
        text = [f"{head}: step {failures[0]['node']} failed"]
        for f in failures:
            code = f.get("exitCode")
            message = f.get("message") or ""
            exit_note = f" (exit code {code})" if code not in (None, 0) and "exit code" not in message else ""
            text.append(f"- step {f['node']} (template {f.get('template')}): {message}{exit_note}")
            if lines_by_node[f["node"]]:
                text.append(f"  called at {lines_by_node[f['node']]}")
            tail = (f.get("stderrTail") or "").strip()
            if tail:
                text += ["  stderr (tail):"] + ["    " + ln for ln in tail.splitlines()[-STDERR_LINES:]]
        text += out.hints
        raise StepFailed("\n".join(text), failures, self)

    @property
    def outputs(self) -> dict:
        """Every named output, decoded: parameters as values, Paths downloaded, pickles loaded (on first access)."""
        return {name: self.output(name) for name in self.shape.get("kinds", {})}

    def output(self, name: str):
        """One named output of the workflow (read once, then kept)."""
        if name in self._cache:
            return self._cache[name]
        value = self._read_output(name, output_kind(self.shape, name, self.label))
        self._cache[name] = value
        return value

    def result(self):
        """The workflow's return value, rebuilt in the shape the body returned it."""
        self._ready()
        return rebuild(self.shape, self.output, self.result_type)
