"""What a local run (`Run`) and an Argo workflow (`ArgoRun`) share: waiting with the progress display, reading
outputs, the failure report, the result.

Each subclass says where its facts come from (a run record, Argo's workflow status) and how to wait for the next
look; the loop, the display and the messages a user reads are written here once, so the two can't drift apart.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol, Self

from ._callsite import lines_of, node_line
from ._errors import RunError, StepFailed
from ._phase import Phase
from ._records import StepRecord
from ._results import output_kind, rebuild
from ._types import Kind


class Display(Protocol):
    """What wait() draws with: the views' ProgressBar (which sits above runs, so it is not imported here)."""

    def __call__(self, event: dict) -> None: ...

    def close(self, phase: str | None = None, steps: dict | None = None) -> None: ...

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


@dataclass(frozen=True)
class Snapshot:
    """A run as it stands at one look: its phase, its steps by node path, and whether it has ended."""

    phase: Phase
    steps: dict[str, StepRecord]
    done: bool


@dataclass
class Outcome:
    """How a run ended, as the failure report needs it."""

    phase: Phase
    failures: dict[str, StepRecord]  # the failed steps by node path
    message: str = ""  # the run's own message (shown when no step failed)
    detail: str = ""  # said after the phase, e.g. " (stopped: by the user)"
    hints: list[str] = field(default_factory=list)  # closing lines: where to look next


class RunBase:
    """The shared half of Run and ArgoRun. A subclass provides `label`, `shape`, `outcome()`, `_ready()` (wait or
    check that the run ended), `_read_output(name, kind)`, and for wait(): `_look()` (the run as it stands now),
    `_pause(seconds)` (until the next look), `_progress_bar(first)` (the display, or None), `_waited()` (what ends
    a wait that saw the run end) and `_stop_hint` (how to stop it, said when a wait times out)."""

    result_type: type | None = None
    poll_interval = 0.5  # seconds between looks while waiting
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

    def _look(self) -> Snapshot:  # pragma: no cover - abstract
        raise NotImplementedError

    def _pause(self, seconds: float) -> None:
        time.sleep(seconds)

    def _progress_bar(self, first: Snapshot) -> Display | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _waited(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def wait(self, timeout: float | None = None, progress: bool | Callable[[dict], None] = True, *,
             interval: float | None = None) -> Self:
        """Look at the run every `interval` seconds until it ends, then return it (a local run first raises
        StepFailed when it did not succeed; call check() or result() on an Argo workflow).

        `progress=True` shows the progress display (a terminal line, log lines or a Jupyter block); a callable gets
        an event for each step whose phase changed ({run, node, name, template, phase, message, ...}), as an
        engine's progress does. Raises TimeoutError after `timeout` seconds (the run keeps running)."""
        every = self.poll_interval if interval is None else interval
        deadline = None if timeout is None else time.monotonic() + timeout
        shown: Display | None = None
        report = progress if callable(progress) else None
        seen: dict[str, str] = {}
        first = True
        while True:
            now = self._look()
            if first and progress is True:
                report = shown = self._progress_bar(now)
            first = False
            if report is not None:
                for node, step in now.steps.items():
                    if seen.get(node) != step.phase:
                        seen[node] = step.phase
                        report({"run": self.run_name, "node": node, **step.to_json()})
            if now.done:
                if shown is not None:
                    shown.close(now.phase, {node: s.to_json() for node, s in now.steps.items()})
                self._waited()
                return self
            if deadline is not None and time.monotonic() >= deadline:
                if shown is not None:
                    shown.close()
                raise self._timeout(f"{self.label} is still {now.phase} after {timeout} s; it keeps running. "
                                    f"Wait again{self._stop_hint}.")
            self._pause(every if deadline is None else max(0.0, min(every, deadline - time.monotonic())))

    @property
    def run_name(self) -> str:  # pragma: no cover - abstract
        """The run's id (local) or the workflow's name (Argo), as progress events name it."""
        raise NotImplementedError

    @property
    def _stop_hint(self) -> str:
        """How to stop the run, said after "Wait again" when a wait times out ("" when there is no handy way)."""
        return ""

    def _timeout(self, message: str) -> TimeoutError:
        return TimeoutError(message)

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
        everyone = [{"node": node, **step.to_json()} for node, step in out.failures.items()]
        failures = {node: step for node, step in out.failures.items() if _task_of(node, allowed) is None}
        if not failures:
            message = out.message.strip()
            used = [lines[t] for t in dict.fromkeys(_REFERENCED.findall(message)) if t in lines]
            summary = f"{head}: {message}" + "".join(f"\n  used at {line}" for line in used)
            raise RunError("\n".join([summary] + out.hints), everyone, self)
        text = [f"{head}: step {next(iter(failures))} failed"]
        for node, step in failures.items():
            message = step.message or ""
            code = step.exit_code
            exit_note = f" (exit code {code})" if code not in (None, 0) and "exit code" not in message else ""
            text.append(f"- step {node} (template {step.template}): {message}{exit_note}")
            line = node_line(manifest, node, lines) or lines.get(_task_of(node, set(lines)) or "")
            if line:
                text.append(f"  called at {line}")
            tail = (step.stderr_tail or "").strip()
            if tail:
                text += ["  stderr (tail):"] + ["    " + ln for ln in tail.splitlines()[-STDERR_LINES:]]
        text += out.hints
        raise StepFailed("\n".join(text), [f for f in everyone if f["node"] in failures], self)

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
