"""A run's progress counted against its plan: every step in DAG order, maps counted as their item totals once known.

    rows = step_rows(manifest, steps, read_step)   # one row per planned step (pending ones too), DAG order
    t = tally(manifest, steps, read_step)          # done/total, running steps by name, skipped, allowed failures

`steps` is what an engine reports ({node: {phase, startedAt, ...}} or {node: phase}); Argo's item names
('square(0:1)') are read as the DAG names them ('square/0'). A withParam map's total is known from the manifest (a
workflow parameter's list) or once the step producing its list has ended (`read_step(node)` gives that step's
record, its step.json, or None); until then the map counts the items seen so far and the total is marked open.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Callable

from .._phase import Phase
from .._records import StepFolderRecord
from ._graph import Node, build, summarise
from ._runs import dag_key

_TASK_OUT = re.compile(r"^\{\{tasks\.([A-Za-z0-9][-A-Za-z0-9_]*)\.outputs\."
                       r"(?:parameters\.([A-Za-z0-9_-]+)|result)\}\}$")
_WF_PARAM = re.compile(r"^\{\{workflow\.parameters\.([A-Za-z0-9_.-]+)\}\}$")
_ITEM = re.compile(r"^(.*)/(\d+)(?:/.*)?$")

ReadStep = Callable[[str], "StepFolderRecord | None"]


@dataclass
class Row:
    """One planned step of a run as lists show it: a single step, or a map with its item counts."""

    node: str
    label: str
    phase: str  # the step's phase, a map's summed-up phase, "Pending" before it starts
    loop: bool = False
    done: int = 0  # a map's ended items (a single step: 1 once ended)
    total: int | None = 1  # a map's item total, None while not known
    seen: int = 0  # a map's items started so far
    succeeded: int = 0  # a map's items (a single step: 1) that succeeded
    when: str = ""
    allowed: bool = False
    started: float | None = None
    finished: float | None = None  # a map's last item's end, once the map has ended
    step: dict = field(default_factory=dict)  # the single step's reported entry

    @property
    def detail(self) -> str:
        """'3/12' items done for a map ('3/?' while its total is unknown), '' for a single step."""
        if not self.loop:
            return ""
        return f"{self.done}/{self.total if self.total is not None else '?'}"


@dataclass
class Tally:
    """Numbers for a progress line."""

    done: int = 0
    total: int = 0
    open: bool = False  # some map's total is not known yet: `total` counts only its items seen so far
    running: list[tuple[str, float | None]] = field(default_factory=list)  # (name, startedAt) of running steps
    skipped: list[str] = field(default_factory=list)  # `when` was false (or nothing to do)
    omitted: list[str] = field(default_factory=list)  # not run: what it depends on failed
    failed: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)  # failed, but allowed to (continueOn)
    counts: dict[str, int] = field(default_factory=dict)  # phase (or "failed (allowed)") -> steps

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0


def _phase(entry) -> str:
    return str((entry.get("phase") if isinstance(entry, dict) else entry) or "")


def _count_of(value) -> int | None:
    try:
        items = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return None
    return len(items) if isinstance(items, list) else None


def _summed(phases: list[str]) -> str:
    return summarise(phases) if phases else "Pending"


class Plan:
    """A manifest's steps in DAG order (nested DAGs expanded), built once and matched against reported steps."""

    def __init__(self, manifest: dict):
        self.manifest = manifest or {}
        dag = build(self.manifest)
        self.nodes: list[Node] = sorted(dag.nodes.values(), key=lambda n: (n.layer, n.order))
        self.by_id = {n.id: n for n in self.nodes}
        self.maps = {n.id for n in self.nodes if n.loop}
        self.aliases = dag.aliases  # a map wrapper's inner task ("square/square") -> the map ("square")

    def owner(self, key: str) -> tuple[str, str] | None:
        """(map node, item index) when `key` is an item of a planned map (or a step inside such an item)."""
        m = _ITEM.match(key)
        while m:
            head = self.aliases.get(m.group(1), m.group(1))
            if head in self.maps:
                return head, m.group(2)
            m = _ITEM.match(m.group(1))
        return None

    def node_of(self, key: str) -> str | None:
        """The planned node a reported step belongs to: itself, or the map it is an item of."""
        key = dag_key(key)
        key = self.aliases.get(key, key)
        if key in self.by_id:
            return key
        owner = self.owner(key)
        return owner[0] if owner else None

    def allowed(self, key: str) -> bool:
        """Whether the step `key` (or the map it is an item of) may fail without failing the run."""
        node = self.node_of(key)
        return bool(node and self.by_id[node].allowed)

    def map_total(self, node: Node, rows: dict[str, Row], read_step: ReadStep | None) -> int | None:
        """A map's item total: withItems' length, a workflow parameter's list, or the producing step's output."""
        if node.items is not None:
            return node.items
        m = _WF_PARAM.match(node.source)
        if m:
            for p in ((self.manifest.get("spec") or {}).get("arguments") or {}).get("parameters") or []:
                if p.get("name") == m.group(1):
                    return _count_of(p.get("value"))
            return None
        m = _TASK_OUT.match(node.source)
        if not m:
            return None
        producer = rows.get(node.scope + m.group(1))
        if producer is None:
            return None
        if producer.loop:  # a map's gathered outputs: one per item that succeeded, once every item ended
            ended = producer.total is not None and producer.done == producer.total
            return producer.succeeded if ended else None
        if read_step is None or producer.phase != "Succeeded":
            return None
        rec = read_step(producer.node)
        if rec is None:
            return None
        if not m.group(2):
            return _count_of(rec.result)
        return _count_of(rec.outputs.parameters.get(m.group(2))) if rec.outputs is not None else None

    def rows(self, steps: dict, read_step: ReadStep | None = None) -> list[Row]:
        """Every planned step in DAG order with its phase (Pending before it starts), maps with done/total; then any
        reported step the plan doesn't name."""
        reported = {self.aliases.get(k, k): v for k, v in _normalise(steps).items()}
        items: dict[str, dict[str, list[dict]]] = {}  # map node -> item index -> entries
        claimed: set[str] = set()
        for key, entry in reported.items():
            owner = self.owner(key) if key not in self.by_id else None
            if owner:
                items.setdefault(owner[0], {}).setdefault(owner[1], []).append(entry)
                claimed.add(key)
        rows: dict[str, Row] = {}
        for n in self.nodes:
            own = reported.get(n.id)
            claimed.add(n.id)
            caller = None if own else _not_run_above(n.id, reported)
            if caller is not None:  # a step of a sub-workflow whose call was skipped or omitted: so is the step
                own = {"phase": _phase(reported[caller])}
                claimed.add(caller)
            if not n.loop:
                phase = _phase(own) if own else "Pending"
                rows[n.id] = Row(n.id, n.label, phase, done=int(phase in Phase.ENDED),
                                 succeeded=int(phase == "Succeeded"), when=n.when, allowed=n.allowed,
                                 started=(own or {}).get("startedAt"), step=own or {})
                continue
            got = items.get(n.id, {})
            item_phases = [_summed([_phase(e) for e in entries]) for entries in got.values()]
            row = Row(n.id, n.label, "Pending", loop=True, done=sum(p in Phase.ENDED for p in item_phases),
                      succeeded=item_phases.count("Succeeded"), seen=len(got), when=n.when, allowed=n.allowed,
                      step=own or {})
            row.total = self.map_total(n, rows, read_step)
            if own and _phase(own) in Phase.ENDED and not got:  # the map as a whole was skipped, omitted or refused
                row.phase, row.total, row.done = _phase(own), 1, 1
            elif got:
                row.phase = _summed(item_phases)
                if row.phase not in ("Running", "Pending") and (row.total is None or row.done < row.total) \
                        and not (own and _phase(own) in Phase.ENDED):
                    row.phase = "Running"  # items still to start
            starts = [e["startedAt"] for es in got.values() for e in es if e.get("startedAt")]
            row.started = min(starts) if starts else None
            ends = [e["finishedAt"] for es in got.values() for e in es if e.get("finishedAt")]
            if ends and row.phase not in ("Running", "Pending"):
                row.finished = max(ends)
            rows[n.id] = row
        out = list(rows.values())
        for key, entry in reported.items():
            if key not in claimed:
                phase = _phase(entry)
                out.append(Row(key, key, phase, done=int(phase in Phase.ENDED), succeeded=int(phase == "Succeeded"),
                               started=entry.get("startedAt"), step=entry))
        return out

    def tally(self, steps: dict, read_step: ReadStep | None = None, *, final_phase: str | None = None) -> Tally:
        """done/total over the plan (a map counts its items), running steps by name, skipped, failed and allowed.

        With `final_phase` (the run has ended) nothing runs any more: a step still reported running or pending is
        counted as stopped, and a map whose total was never learnt counts the items it started."""
        reported = _normalise(steps)
        if final_phase is not None:
            reported = {k: ({**v, "phase": "Stopped"} if _phase(v) in ("Running", "Pending") else v)
                        for k, v in reported.items()}
        t = Tally()
        for row in self.rows(reported, read_step):
            if row.total is None:
                t.open = t.open or final_phase is None
                total = max(row.seen, 1) if final_phase is None else max(row.seen, row.done)
            else:
                total = row.total
            t.total += total
            t.done += min(row.done, total)
            if row.phase == "Skipped":
                t.skipped.append(row.node)
            elif row.phase == "Omitted":
                t.omitted.append(row.node)
        for key, entry in reported.items():
            phase = _phase(entry)
            allowed = phase in Phase.FAILED_LIKE and self.allowed(key)
            counted = "failed (allowed)" if allowed else phase  # told apart from a failure that fails the run
            t.counts[counted] = t.counts.get(counted, 0) + 1
            if phase == "Running":
                t.running.append((key, entry.get("startedAt")))
            elif phase in Phase.FAILED_LIKE:
                (t.allowed if allowed else t.failed).append(key)
        return t


def _not_run_above(node: str, reported: dict[str, dict]) -> str | None:
    """The reported call above a nested step (`sub` above `sub/train`) that was skipped or omitted, so that nothing
    inside it ran; None when there is none."""
    parts = node.split("/")
    for i in range(len(parts) - 1, 0, -1):
        above = "/".join(parts[:i])
        if _phase(reported.get(above) or {}) in ("Skipped", "Omitted"):
            return above
    return None


def _normalise(steps: dict) -> dict[str, dict]:
    return {dag_key(k): (v if isinstance(v, dict) else {"phase": v}) for k, v in (steps or {}).items()}


def step_rows(manifest: dict, steps: dict, read_step: ReadStep | None = None) -> list[Row]:
    """Plan(manifest).rows(...): every planned step in DAG order, pending ones too."""
    return Plan(manifest).rows(steps, read_step)


def tally(manifest: dict, steps: dict, read_step: ReadStep | None = None, *, final_phase: str | None = None) -> Tally:
    """Plan(manifest).tally(...)."""
    return Plan(manifest).tally(steps, read_step, final_phase=final_phase)
