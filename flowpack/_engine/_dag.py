"""One running DAG template of the local engine: its tasks, loops, phase and outputs, with Argo's rules.

Tasks start when their `depends` can be decided, as Argo's executeDAGTask; a loop's items are expanded as Argo's
expandTask and processItem; a loop's outputs are gathered as processAggregateNodeOutputs; when every task has
ended, the DAG's phase is Argo's assessDAGPhase (see _assess) and its outputs are resolved, a `default` standing in
for an output that can't be. Finishing a task costs O(its dependents).
"""

from __future__ import annotations

import functools
import json
import re
from typing import Callable

from .._errors import ManifestError
from .._phase import Phase
from .._records import StepRecord
from ._assess import assess, targets
from ._batch import parse_flatten
from ._choice import parse_choice, resolve_choice
from ._expr import evaluate_depends, parse_depends, references, substitute
from ._gojson import GoJSONError, ItemOutputs, aggregate, decode_raw, item_values
from ._sequence import sequence_items
from ._when import evaluate_when


class Dag:
    """One running DAG template: counts unfinished dependencies so each finished task costs O(its children)."""

    def __init__(self, ex, tpl: dict, node: str, params: dict, artifacts: dict, on_done):
        self.ex, self.tpl, self.on_done = ex, tpl, on_done
        self.prefix = node + "/" if node else ""
        self.values = dict(ex.values)
        for p in (tpl.get("inputs") or {}).get("parameters") or []:
            value = params.get(p["name"], p.get("value", p.get("default")))
            if value is None:
                raise ManifestError(f"template {tpl['name']!r}: input parameter {p['name']!r} has no value")
            self.values["inputs.parameters." + p["name"]] = value
        self.artifacts = {"inputs.artifacts." + k: v for k, v in artifacts.items()}
        self.tasks = {t["name"]: t for t in tpl["dag"].get("tasks") or []}
        self.phases: dict[str, str] = {}
        self.item_phases: dict[str, list[str]] = {}  # a loop task -> its items' phases (AnySucceeded, AllFailed)
        self.tokens: dict[str, list] = {}
        self.waiting: dict[str, int] = {}
        self.children: dict[str, list[str]] = {name: [] for name in self.tasks}
        for name, t in self.tasks.items():
            if t.get("depends"):
                tokens, deps = parse_depends(t["depends"])
            else:
                deps = set(t.get("dependencies") or [])
                tokens, _ = parse_depends(" && ".join(sorted(deps))) if deps else ([], set())
            unknown = deps - self.tasks.keys()
            if unknown:
                raise ManifestError(f"task {name!r} depends on unknown task(s) {sorted(unknown)}")
            self.tokens[name] = tokens
            self.waiting[name] = len(deps)
            for d in deps:
                self.children[d].append(name)
        self.remaining = len(self.tasks)
        self.deps: dict[str, set[str]] = {name: set() for name in self.tasks}
        for parent, kids in self.children.items():
            for kid in kids:
                self.deps[kid].add(parent)
        self.messages: dict[str, str] = {}
        self._json: str | None = None  # the template as JSON, for result_referenced
        self.limit = int(tpl["parallelism"]) if tpl.get("parallelism") else None
        self.running = 0
        self.queued: list = []

    def start(self) -> None:
        if not self.tasks:
            self.finish()
            return
        for name, count in list(self.waiting.items()):
            if count == 0:
                self.launch(name)

    def launch(self, name: str) -> None:
        task = self.tasks[name]
        if not evaluate_depends(self.tokens[name], self.phases, self.item_phases):
            causes = ", ".join(f"{d} {self.phases[d]}" for d in sorted(self.deps[name]))
            self.task_done(name, "Omitted", {}, f"omitted: depends condition not met ({causes})")
            return
        try:
            tpl = self.ex.templates.get(task.get("template"))
            if tpl is None:
                raise ManifestError(f"task {name!r}: template {task.get('template')!r} does not exist")
            if "withItems" in task or "withParam" in task or "withSequence" in task:
                self.launch_loop(name, task, tpl)
            else:
                self.run_task(name, task, tpl, self.values)
        except ManifestError as exc:
            self.task_done(name, "Error", {}, str(exc))

    def run_task(self, name: str, task: dict, tpl: dict, values: dict) -> None:
        """A task without a loop: its `when`, then its template (raises ManifestError when it can't start)."""
        if task.get("when") and not evaluate_when(substitute(task["when"], values, f"task {name!r}")):
            self.task_done(name, "Skipped", {}, f"when '{task['when']}' evaluated false")
            return
        params, artifacts = self.arguments(task, values)
        self.schedule(lambda: self.ex.start(
            tpl, self.prefix + name, name, params, artifacts,
            lambda phase, outputs, message="": self.child_done(lambda: self.task_done(name, phase, outputs, message))))

    def arguments(self, task: dict, values: dict) -> tuple[dict, dict]:
        where = f"task {task['name']!r}"
        args = task.get("arguments") or {}
        params = {p["name"]: substitute(p.get("value", ""), values, where) for p in args.get("parameters") or []}
        artifacts = {}
        for a in args.get("artifacts") or []:
            try:
                artifacts[a["name"]] = self.ex._artifact_source(a, self.ex.uploads, values, self.artifacts)
            except ManifestError:
                if not a.get("optional"):  # as Argo: an optional artifact that can't be resolved is left out
                    raise
        return params, artifacts

    # -- bounded concurrency (a template's `parallelism`) -----------------------------------------
    def schedule(self, start: Callable[[], None]) -> None:
        if self.limit is not None and self.running >= self.limit:
            self.queued.append(start)
            return
        self.running += 1
        start()

    def child_done(self, then: Callable[[], None]) -> None:
        self.running -= 1
        while self.queued and (self.limit is None or self.running < self.limit):
            self.running += 1
            self.queued.pop(0)()
        then()

    # -- loops: withItems / withParam ------------------------------------------------------------
    def launch_loop(self, name: str, task: dict, tpl: dict) -> None:
        """Expand a loop as Argo's expandTask: `withItems: []` is no loop at all (the task runs once, `{{item}}`
        left as it is); an empty `withParam` list makes the task Skipped with no item."""
        where = f"task {name!r}"
        if "withItems" in task:
            items = task["withItems"]
            if not items:
                self.run_task(name, task, tpl, dict(self.values, item="{{item}}"))
                return
        elif "withSequence" in task:
            items = sequence_items(task["withSequence"], self.values, where)
            if not items:
                self.task_done(name, "Skipped", {}, "Skipped, empty params")
                return
        else:
            text = substitute(task["withParam"], self.values, where)
            try:
                items = decode_raw(text)
            except GoJSONError:
                items = None
            if not isinstance(items, list):
                raise ManifestError(f"{where}: withParam value could not be parsed as a JSON list: {text[:200]!r}")
            if not items:
                self.task_done(name, "Skipped", {}, "Skipped, empty params")
                return
        loop = _Loop(self, name, task, len(items))
        for i, item in enumerate(items):
            values = dict(self.values)
            values.update(item_values(item))
            try:
                if task.get("when") and not evaluate_when(substitute(task["when"], values, where)):
                    node = f"{self.prefix}{name}/{i}"  # as Argo, a Skipped node of its own for the item
                    self.ex.steps[node] = StepRecord(f"{name}({i})", Phase.SKIPPED, task.get("template"),
                                                     message="when evaluated false")
                    self.ex._notify(node)
                    loop.child_done(i, "Skipped", {}, "when evaluated false")
                    continue
                params, artifacts = self.arguments(task, values)
            except ManifestError as exc:
                loop.child_done(i, "Error", {}, str(exc))
                continue
            node = f"{self.prefix}{name}/{i}"
            self.schedule(functools.partial(self.ex.start, tpl, node, f"{name}({i})", params, artifacts,
                                            functools.partial(self.item_done, loop, i)))

    def item_done(self, loop: _Loop, i: int, phase: str, outputs: dict, message: str = "") -> None:
        """Item `i` of a map ended: its slot frees up, then the map notes its result."""
        self.child_done(lambda: loop.child_done(i, phase, outputs, message))

    def task_done(self, name: str, phase: str, outputs: dict, message: str = "") -> None:
        self.phases[name] = phase
        self.messages[name] = message
        base = "tasks." + name + ".outputs."
        for k, v in (outputs.get("parameters") or {}).items():
            self.values[base + "parameters." + k] = v
        for k, v in (outputs.get("artifacts") or {}).items():
            self.artifacts[base + "artifacts." + k] = v
        if outputs.get("result") is not None:
            self.values[base + "result"] = outputs["result"]
        self.values["tasks." + name + ".status"] = phase
        node = self.prefix + name
        if phase in ("Omitted", "Skipped") or (phase == "Error" and node not in self.ex.steps):
            self.ex.steps.setdefault(node, StepRecord(name, Phase(phase), self.tasks[name].get("template"),
                                                      message=message))
            self.ex._notify(node)
        hook = (self.tasks[name].get("hooks") or {}).get("exit")
        if hook is not None and phase in Phase.COMPLETED:
            self.run_exit_hook(name, hook)
            return
        self.release(name)

    def run_exit_hook(self, name: str, hook: dict) -> None:
        """A task's exit hook (Argo's runOnExitNode): its arguments see the task's status and outputs; the task's
        dependents start once it ended, whatever its phase (a hook does not decide the DAG's phase)."""
        node = f"{self.prefix}{name}.onExit"
        try:
            tpl = self.ex.templates.get(hook.get("template"))
            if tpl is None:
                raise ManifestError(f"task {name!r}: exit hook template {hook.get('template')!r} does not exist")
            params, artifacts = self.arguments({"name": name + ".onExit", "arguments": hook.get("arguments")},
                                               self.values)
        except ManifestError as exc:
            self.ex.steps[node] = StepRecord(name + ".onExit", Phase.ERROR, hook.get("template"), message=str(exc))
            self.release(name)
            return
        self.ex.start(tpl, node, name + ".onExit", params, artifacts,
                      lambda phase, outputs, message="": self.release(name))

    def release(self, name: str) -> None:
        """The task ended (with its exit hook, if any): its dependents may start."""
        for child in self.children[name]:
            self.waiting[child] -= 1
            if self.waiting[child] == 0:
                self.launch(child)
        self.remaining -= 1
        if self.remaining == 0:
            self.finish()

    def finish(self) -> None:
        """Every task ended: the DAG's phase is Argo's assessment; then its outputs are resolved."""
        order = _topological(self.deps, self.children)
        dag = self.tpl["dag"]
        verdict = assess(order, self.deps, self.phases, targets(self.deps, dag.get("target")),
                         {n: t.get("continueOn") for n, t in self.tasks.items() if t.get("continueOn")})
        if verdict.phase in Phase.FAILED_LIKE:
            origin = self.real_failure(order) or verdict.origin
            self.on_done(verdict.phase, {}, f"step {self.prefix}{origin} {verdict.phase.lower()}: "
                                            f"{self.messages.get(origin or '', '')}".rstrip(": "))
            return
        outputs: dict[str, dict] = {"parameters": {}, "artifacts": {}}
        spec = self.tpl.get("outputs") or {}
        where = f"outputs of template {self.tpl['name']!r}"
        for p in spec.get("parameters") or []:
            source = p.get("valueFrom") or {}
            expr = source.get("parameter", p.get("value", ""))
            try:
                if "expression" in source:  # the valueFrom.expressions flowpack writes: fp.one_of, batched maps
                    expr = source["expression"]
                    flat = parse_flatten(expr)
                    if flat is not None:  # a batched map's flat list (_batch)
                        outputs["parameters"][p["name"]] = flat.value(self.values)
                        continue
                    branches = parse_choice(expr)
                    if branches is None:
                        raise ManifestError(f"{where}: the local engine reads only fp.one_of's expressions: {expr}")
                    outputs["parameters"][p["name"]] = resolve_choice(branches, self.values, where)
                    continue
                outputs["parameters"][p["name"]] = substitute(expr, self.values, where)
            except ManifestError:
                if "default" in source:  # as Argo: a DAG output's default stands in for what can't be resolved
                    outputs["parameters"][p["name"]] = source["default"]
                    continue
                self.on_done("Error", {}, self.unresolved(p["name"], expr))
                return
        for a in spec.get("artifacts") or []:
            try:
                outputs["artifacts"][a["name"]] = self.ex._artifact_source(a, {}, self.values, self.artifacts)
            except ManifestError:
                self.on_done("Error", {}, self.unresolved(a["name"], a.get("from", "")))
                return
        self.on_done("Succeeded", outputs)

    def real_failure(self, order: list[str]) -> str | None:
        """The first failed task whose failure no other task's `depends` accepts (so not one allowed to fail)."""
        depends = " ".join(t.get("depends") or "" for t in self.tasks.values())
        accepted = set(re.findall(r"(?<![\w-])([A-Za-z0-9][-A-Za-z0-9]*)\.(?:Failed|Errored)", depends))
        return next((n for n in order if self.phases.get(n) in Phase.FAILED_LIKE and n not in accepted), None)

    def result_referenced(self, task: str) -> bool:
        """Argo's hasOutputResultRef: this DAG template's JSON mentions the task's `outputs.result`."""
        if self._json is None:
            self._json = json.dumps(self.tpl)
        name = re.escape(task)
        return re.search(r"tasks\.%s\.outputs\.result|tasks\[['\"]%s['\"]\]\.outputs.result" % (name, name),
                         self._json) is not None

    def unresolved(self, output: str, expr: str) -> str:
        """Why an output can't be resolved: the task it comes from, its phase, and the cause of that phase."""
        task = next((r.split(".")[1] for r in references(expr) if r.startswith("tasks.")), None)
        head = f"output {output!r} of template {self.tpl['name']!r} can't be resolved: {expr}"
        if task is None or task not in self.phases:
            return head
        return f"{head} comes from step {self.prefix}{task}, which ended {self.phases[task]}" + \
            (f" ({self.cause(task)})" if self.phases[task] != "Succeeded" else " without that output")

    def cause(self, task: str) -> str:
        """The task's own message, followed up its Omitted ancestors to the step that did not succeed."""
        seen: set = set()
        while self.phases.get(task) == "Omitted" and task not in seen:
            seen.add(task)
            up = [d for d in sorted(self.deps[task]) if self.phases.get(d) not in ("Succeeded", None)]
            if not up:
                break
            task = up[0]
        first = (self.messages.get(task) or "").strip().split("\n", 1)[0]  # not the stderr tail that follows
        return f"{self.prefix}{task} {self.phases.get(task)}: {first}".rstrip(": ")


class _Loop:
    """The children of one withItems/withParam task; when all end, the task ends with gathered outputs."""

    def __init__(self, dag: Dag, name: str, task: dict, count: int):
        self.dag, self.name, self.task = dag, name, task
        self.count = count
        self.results: list = [None] * count
        self.left = count

    def child_done(self, i: int, phase: str, outputs: dict, message: str) -> None:
        self.results[i] = (phase, outputs, message)
        self.left -= 1
        if self.left == 0:
            self.finish()

    def finish(self) -> None:
        """As Argo's task group: Failed or Error when an item was (the last such item's phase), else Succeeded,
        even when every item was skipped; outputs gathered by processAggregateNodeOutputs' rules."""
        phase, message = "Succeeded", ""
        for i, (p, _, m) in enumerate(self.results):
            if p in Phase.FAILED_LIKE:
                phase, message = p, f"item {i} {p.lower()}: {m}"
        self.dag.item_phases[self.name] = [p for p, _, _ in self.results]
        captured = self.dag.result_referenced(self.name)  # Argo captures a step's stdout only then
        done = [ItemOutputs(dict(o.get("parameters") or {}), o.get("result") if captured else None)
                for p, o, _ in self.results if p == "Succeeded"]
        gathered: dict = {"parameters": {}, "artifacts": {}}
        try:
            gathered["parameters"], gathered["result"] = aggregate(done)
        except GoJSONError as exc:
            phase, message = "Error", f"the items' results can't be gathered: a result is not JSON ({exc})"
        self.dag.task_done(self.name, phase, gathered, message)


def _topological(deps: dict[str, set[str]], children: dict[str, list[str]]) -> list[str]:
    """Task names with every task after its dependencies (Kahn's algorithm; the manifest is acyclic)."""
    waiting = {n: len(d) for n, d in deps.items()}
    ready = sorted(n for n, c in waiting.items() if c == 0)
    order = []
    while ready:
        name = ready.pop()
        order.append(name)
        for child in children[name]:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    return order
