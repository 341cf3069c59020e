"""What a local run (`Run`) and an Argo workflow (`ArgoRun`) share: reading outputs, the failure report, the result.

Each subclass says where its facts come from (a run record, Argo's workflow status); the messages a user reads are
written here once, so the two can't drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._errors import RunError, StepFailed
from ._phase import Phase
from ._results import output_kind, rebuild
from ._types import Kind

STDERR_LINES = 15  # lines of a failed step's stderr tail shown in the error


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
        """Raise StepFailed naming the failed steps (message, exit code, stderr tail), unless the run succeeded."""
        out = self.outcome()
        if out.phase == Phase.SUCCEEDED:
            return
        head = f"{self.label} {out.phase}{out.detail}"
        if not out.failures:
            raise RunError(f"{head}: {out.message}", [], self)
        lines = [f"{head}: step {out.failures[0]['node']} failed"]
        for f in out.failures:
            code = f.get("exitCode")
            message = f.get("message") or ""
            exit_note = f" (exit code {code})" if code not in (None, 0) and "exit code" not in message else ""
            lines.append(f"- step {f['node']} (template {f.get('template')}): {message}{exit_note}")
            tail = (f.get("stderrTail") or "").strip()
            if tail:
                lines += ["  stderr (tail):"] + ["    " + ln for ln in tail.splitlines()[-STDERR_LINES:]]
        lines += out.hints
        raise StepFailed("\n".join(lines), out.failures, self)

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
