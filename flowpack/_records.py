"""Run and step records: what a run did, as typed values, and their JSON form (run.json and its steps, and each
step folder's step.json).

The engines write them (run.json, steps/<node>/step.json), the Argo package reads Argo's workflow status into them,
and `Run`, `ArgoRun`, the viewer and the CLI read their attributes. The JSON keys are the ones the files have always
had (`startedAt`, `exitCode`, ...), so every run folder written before these types still reads; a key this module
does not know is kept in `extra` and written back, so nothing recorded is lost. Times are epoch seconds.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ._phase import Phase


def _phase(value: object, where: str) -> Phase:
    try:
        return Phase(value)
    except ValueError:
        raise ValueError(f"{where}: phase {value!r} is not one of {[p.value for p in Phase]}") from None


def _seconds(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# field name -> JSON key, in the order run.json writes them
_STEP_KEYS = {"name": "name", "template": "template", "phase": "phase", "started_at": "startedAt",
              "finished_at": "finishedAt", "exit_code": "exitCode", "message": "message", "stderr_tail": "stderrTail",
              "attempts": "attempts", "type": "type", "node_id": "id", "pod": "pod"}
_STEP_ALWAYS = ("name", "template", "phase", "startedAt", "finishedAt")  # written even when None


@dataclass(frozen=True)
class StepRecord:
    """One step of a run: a leaf node (a pod, a skipped or omitted task), as run.json and Argo's status hold it."""

    name: str  # as shown: "square(1)", "add-2"
    phase: Phase
    template: str | None = None
    started_at: float | None = None  # epoch seconds
    finished_at: float | None = None
    exit_code: int | None = None
    message: str | None = None  # why it failed, was skipped or omitted ("" when it said nothing)
    stderr_tail: str | None = None  # a failed step's last stderr lines (local engines)
    attempts: int | None = None  # attempts made (retries + 1; local engines)
    type: str | None = None  # Argo's node type ("Pod", "Skipped", ...)
    node_id: str | None = None  # Argo's node id
    pod: str | None = None  # the pod that ran it (Argo)
    extra: dict[str, Any] = field(default_factory=dict, compare=False)  # keys this module does not know, kept

    @property
    def failed(self) -> bool:
        return self.phase in Phase.FAILED_LIKE

    @property
    def ended(self) -> bool:
        return self.phase in Phase.ENDED

    @classmethod
    def from_json(cls, data: dict, *, name: str = "", where: str = "a step record") -> StepRecord:
        """A step from its JSON object (a run.json step, or a node of Argo's status)."""
        known = set(_STEP_KEYS.values())
        return cls(name=_text(data.get("name")) or name, phase=_phase(data.get("phase"), where),
                   template=_text(data.get("template")), started_at=_seconds(data.get("startedAt")),
                   finished_at=_seconds(data.get("finishedAt")), exit_code=_int(data.get("exitCode")),
                   message=_text(data.get("message")), stderr_tail=_text(data.get("stderrTail")),
                   attempts=_int(data.get("attempts")), type=_text(data.get("type")), node_id=_text(data.get("id")),
                   pod=_text(data.get("pod")), extra={k: v for k, v in data.items() if k not in known})

    def to_json(self) -> dict:
        """The JSON object run.json holds (optional keys only when known)."""
        out = dict(self.extra)
        for f in fields(self):
            key = _STEP_KEYS.get(f.name)
            if key is None:
                continue
            value = getattr(self, f.name)
            if value is not None or key in _STEP_ALWAYS:
                out[key] = value.value if isinstance(value, Phase) else value
        return out


@dataclass(frozen=True)
class NamedValues:
    """Named values: parameters as their text, artifacts as their JSON (a store reference or Argo's; a step input
    from the template's own `raw` data is {"raw": true}). A run's outputs, or a step's inputs or outputs."""

    parameters: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: object) -> NamedValues:
        data = data if isinstance(data, dict) else {}
        params, arts = data.get("parameters"), data.get("artifacts")
        return cls(dict(params) if isinstance(params, dict) else {}, dict(arts) if isinstance(arts, dict) else {})

    def to_json(self) -> dict:
        return {"parameters": dict(self.parameters), "artifacts": dict(self.artifacts)}


RunOutputs = NamedValues  # a run's outputs, by the name its readers use


_RUN_KEYS = {"id": "id", "workflow": "workflow", "engine": "engine", "phase": "phase", "started_at": "startedAt",
             "finished_at": "finishedAt", "parameters": "parameters", "store": "store", "steps": "steps",
             "outputs": "outputs", "message": "message", "resumed_from": "resumedFrom", "owner": "owner"}


@dataclass(frozen=True)
class RunRecord:
    """A run (run.json): its phase, times, parameters, steps by node path and outputs.

    A record cut short (the last word an engine writes on a full disk) reads with no steps and no outputs."""

    id: str
    phase: Phase
    workflow: str | None = None
    engine: str | None = None  # "local", "docker", "argo"
    started_at: float | None = None
    finished_at: float | None = None
    parameters: dict[str, Any] = field(default_factory=dict)  # the workflow's arguments, as text
    store: dict | None = None  # where the artifacts are (the store's describe(); never a credential)
    steps: dict[str, StepRecord] = field(default_factory=dict)  # node path -> step, in start order
    outputs: RunOutputs = field(default_factory=RunOutputs)
    message: str = ""
    resumed_from: str | None = None  # the run whose succeeded steps this one reused
    owner: dict | None = None  # the engine process running it (pid, start, host; see _engine._procs)
    extra: dict[str, Any] = field(default_factory=dict, compare=False)  # keys this module does not know, kept

    @property
    def done(self) -> bool:
        """Ended: it will not change any more (Succeeded, Failed, Error or Stopped)."""
        return self.phase in Phase.DONE

    def failures(self) -> dict[str, StepRecord]:
        """The steps that failed or errored, by node path."""
        return {node: s for node, s in list(self.steps.items()) if s.failed}

    @classmethod
    def from_json(cls, data: object, *, where: str = "run.json") -> RunRecord:
        """A run from its JSON object; ValueError naming `where` when it isn't one."""
        if not isinstance(data, dict):
            raise ValueError(f"{where}: it holds a JSON {type(data).__name__}, not an object")
        steps = data.get("steps") or {}
        if not isinstance(steps, dict):
            raise ValueError(f"{where}: its steps are not an object")
        params, store, owner = data.get("parameters"), data.get("store"), data.get("owner")
        return cls(
            id=str(data.get("id") or ""), phase=_phase(data.get("phase"), where),
            workflow=_text(data.get("workflow")), engine=_text(data.get("engine")),
            started_at=_seconds(data.get("startedAt")), finished_at=_seconds(data.get("finishedAt")),
            parameters=dict(params) if isinstance(params, dict) else {},
            store=store if isinstance(store, dict) else None,
            steps={node: StepRecord.from_json(s, name=node, where=f"{where}: step {node}")
                   for node, s in steps.items() if isinstance(s, dict)},  # anything else is no step: not read
            outputs=RunOutputs.from_json(data.get("outputs")), message=_text(data.get("message")) or "",
            resumed_from=_text(data.get("resumedFrom")), owner=owner if isinstance(owner, dict) else None,
            extra={k: v for k, v in data.items() if k not in _RUN_KEYS.values()})

    @classmethod
    def read(cls, path: Path) -> RunRecord:
        """A run.json file (OSError when it can't be read, ValueError when it holds no run record)."""
        with open(path, encoding="utf-8") as f:
            return cls.from_json(json.load(f), where=str(path))

    def to_json(self) -> dict:
        """The JSON object run.json holds."""
        steps = list(self.steps.items())  # a copy first: the engine of a running run may add a step meanwhile
        return {**self.extra, "id": self.id, "workflow": self.workflow, "engine": self.engine,
                "phase": self.phase.value, "startedAt": self.started_at, "finishedAt": self.finished_at,
                "parameters": dict(self.parameters), "store": self.store,
                "steps": {node: s.to_json() for node, s in steps}, "outputs": self.outputs.to_json(),
                "message": self.message, "resumedFrom": self.resumed_from, "owner": self.owner}


# field name -> JSON key, in the order the engine writes step.json
_FOLDER_KEYS = {"node": "node", "template": "template", "inputs": "inputs", "command": "command", "cwd": "cwd",
                "phase": "phase", "exit_code": "exitCode", "message": "message", "started_at": "startedAt",
                "finished_at": "finishedAt", "outputs": "outputs", "cache_key": "cacheKey", "result": "result",
                "reused_from": "reusedFrom"}


@dataclass(frozen=True, kw_only=True)
class StepFolderRecord:
    """One step folder's record (steps/<node>/step.json): what one attempt of a step ran on a local or Docker engine
    and what came of it. A cache entry (cache/<key>.json) is a record of the same form holding fewer keys.

    None is a key the record does not hold, with two exceptions, each held as null: the exit code of a step that
    never started (`exitCode` is held by every record of a step the engine ran, the ones with `inputs`; a record
    reused from the cache has neither), and the result of a step whose stdout was too big to keep (`result` is held
    whenever `cacheKey` is)."""

    node: str | None = None  # the step's node path ("square/2"); a cache entry names none
    template: str | None = None
    inputs: NamedValues | None = None  # what it was given
    command: list[str] | None = None  # the argv it ran; None when it never started
    cwd: str | None = None  # the working folder it ran in
    phase: Phase
    exit_code: int | None = None
    message: str | None = None  # why it failed, or where its outputs were reused from
    started_at: float | None = None  # epoch seconds
    finished_at: float | None = None
    outputs: NamedValues | None = None
    cache_key: str | None = None  # a succeeded step's: a resumed run or the cache finds it by this key
    result: str | None = None  # a script's stdout as Argo keeps it (None when too big to keep)
    reused_from: str | None = None  # the earlier run a resumed run reused this step's outputs from
    extra: dict[str, Any] = field(default_factory=dict, compare=False)  # keys not known or not read, kept as read

    @classmethod
    def from_json(cls, data: object, *, where: str = "step.json") -> StepFolderRecord:
        """A step from its JSON object; ValueError naming `where` when it isn't one. A value this module can't read
        as its type (which no engine wrote) is kept as it was, in `extra`."""
        if not isinstance(data, dict):
            raise ValueError(f"{where}: it holds a JSON {type(data).__name__}, not an object")
        inputs, outputs, command = data.get("inputs"), data.get("outputs"), data.get("command")
        record = cls(
            node=_text(data.get("node")), template=_text(data.get("template")),
            inputs=NamedValues.from_json(inputs) if isinstance(inputs, dict) else None,
            command=list(command) if isinstance(command, list) and all(isinstance(c, str) for c in command) else None,
            cwd=_text(data.get("cwd")), phase=_phase(data.get("phase"), where), exit_code=_int(data.get("exitCode")),
            message=_text(data.get("message")), started_at=_seconds(data.get("startedAt")),
            finished_at=_seconds(data.get("finishedAt")),
            outputs=NamedValues.from_json(outputs) if isinstance(outputs, dict) else None,
            cache_key=_text(data.get("cacheKey")), result=_text(data.get("result")),
            reused_from=_text(data.get("reusedFrom")))
        held = record.to_json()
        kept = {k: v for k, v in data.items() if k not in held or held[k] is None and v is not None}
        return replace(record, extra=kept) if kept else record

    @classmethod
    def read(cls, path: Path) -> StepFolderRecord:
        """A step.json file, never through a link (a step may have planted one). OSError when it can't be read,
        ValueError (naming the file) when it holds no step record."""
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), encoding="utf-8") as f:
            try:
                data = json.load(f)
            except ValueError as exc:
                raise ValueError(f"{path}: not JSON ({exc})") from None
        return cls.from_json(data, where=str(path))

    def to_json(self) -> dict:
        """The JSON object step.json holds: the keys the record holds, in the order the engine writes them."""
        out: dict[str, Any] = {}
        for name, key in _FOLDER_KEYS.items():
            value = getattr(self, name)
            if isinstance(value, (Phase, NamedValues)):
                out[key] = value.value if isinstance(value, Phase) else value.to_json()
            elif value is not None:
                out[key] = list(value) if isinstance(value, list) else value
            elif key not in self.extra and (key == "exitCode" and self.inputs is not None
                                            or key == "result" and self.cache_key is not None):
                out[key] = None
        for key, value in self.extra.items():  # unknown keys, and values read that were not of their type
            out.setdefault(key, value)
        return out
