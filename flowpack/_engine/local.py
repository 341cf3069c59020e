"""The embedded local engine: executes a rendered Argo manifest with each step as a local subprocess.

It reads the same manifest Argo reads and applies the same rules: `{{...}}` substitution, `depends`, input
defaults, output parameters read from files, artifacts passed by reference. Independent steps run in parallel
(one per core by default); scheduling does constant work per finished step, so long chains cost no more per
step than short ones.
"""

from __future__ import annotations

import json
import os
import queue
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from .._errors import ManifestError, RecordError
from ._assess import assess, targets
from ._expr import DONE_OK, evaluate_depends, parse_depends, references, substitute
from ._gojson import GoJSONError, ItemOutputs, aggregate, decode_raw, item_values
from ._procs import owner, settle_abandoned
from ._record import new_run_id, now, overwrite_json, read_json, write_json
from ._resources import check_resources
from ._step import StepJob, StepResult, StepRunner, seconds
from ._when import evaluate_when

FAILED = ("Failed", "Error")


class LocalEngine:
    """Run manifests on this machine. `run_dir` keeps every run; `store` holds artifacts (a LocalStore by default)."""

    name = "local"

    def __init__(self, run_dir: str | Path = ".flowpack/runs", store=None, workers: int | None = None,
                 python: str | None = None, progress: Callable[[dict], None] | None = None):
        self.run_dir = Path(run_dir).absolute()
        self._store = store
        self.workers = workers or os.cpu_count() or 1
        self.python = python or sys.executable
        self.progress = progress

    @property
    def store(self):
        if self._store is None:
            from .._store import LocalStore

            self._store = LocalStore(self.run_dir.parent / "store")
        return self._store

    def make_runner(self, run_dir: Path, run_id: str) -> StepRunner:
        """What runs each leaf step: a subprocess here; other engines return their own runner."""
        return StepRunner(run_dir, run_id, self.store, self.python)

    def execute(self, manifest: dict, *, uploads: dict | None = None, run_id: str | None = None,
                resume: str | None = None) -> dict:
        """Run a manifest to the end and return its run record (also written to run.json).

        `resume` names an earlier run of this run_dir: its succeeded steps with the same cache key are reused.
        """
        name = (manifest.get("metadata") or {}).get("generateName", "workflow-").rstrip("-") or "workflow"
        check_resources(manifest)
        run_id = run_id or new_run_id(name)
        run_dir = self.run_dir / run_id
        (run_dir / "steps").mkdir(parents=True, exist_ok=False)
        write_json(run_dir / "manifest.json", manifest)
        execution = _Execution(self, manifest, run_id, run_dir)
        if resume:
            old = self.run_dir / resume
            if not (old / "run.json").is_file():
                raise ManifestError(f"can't resume {resume!r}: no such run in {self.run_dir}")
            settle_abandoned(old, read_json(old / "run.json"))  # a run whose engine was killed is marked so
            execution.runner.load_resume(old)
            execution.resumed_from = resume
        return execution.run(uploads or {})


class _Execution:
    """One run: the event loop on the calling thread, leaf steps on a thread pool."""

    def __init__(self, engine: LocalEngine, manifest: dict, run_id: str, run_dir: Path):
        self.engine = engine
        self.manifest = manifest
        self.spec = manifest.get("spec") or {}
        self.templates = {t["name"]: t for t in self.spec.get("templates") or []}
        self.run_id = run_id
        self.run_dir = run_dir
        self.store = engine.store
        self.runner = engine.make_runner(run_dir, run_id)
        self.events: queue.Queue = queue.Queue()
        self.pending = 0
        self.steps: dict[str, dict] = {}
        self.record: dict = {}
        self.values = {"workflow.name": run_id, "workflow.namespace": "local", "workflow.uid": run_id}
        self.resumed_from: str | None = None

    # -- the loop --------------------------------------------------------------------------------
    def run(self, uploads: dict) -> dict:
        self.uploads = uploads
        args = self.spec.get("arguments") or {}
        for p in args.get("parameters") or []:
            self.values["workflow.parameters." + p["name"]] = p.get("value", "")
        self.record = {
            "id": self.run_id, "workflow": self.manifest.get("metadata", {}).get("generateName", "").rstrip("-"),
            "engine": self.engine.name, "phase": "Running", "startedAt": now(), "finishedAt": None,
            "parameters": {p["name"]: p.get("value") for p in args.get("parameters") or []},
            "store": self.store.describe(), "steps": self.steps, "outputs": {}, "message": "",
            "resumedFrom": self.resumed_from, "owner": owner(),
        }
        write_json(self.run_dir / "run.json", self.record)
        entry = self.templates.get(self.spec.get("entrypoint"))
        if entry is None:
            raise ManifestError(f"entrypoint {self.spec.get('entrypoint')!r} is not a template of this workflow")
        artifacts = {a["name"]: self._artifact_source(a, uploads, self.values, {}) for a in args.get("artifacts") or []}
        params = {p["name"]: p.get("value", "") for p in args.get("parameters") or []}
        workers = self.engine.workers
        if self.spec.get("parallelism"):
            workers = min(workers, int(self.spec["parallelism"]))
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="flowpack-step")
        result: dict = {}

        def exit_done(phase: str, outputs: dict, message: str = "") -> None:
            if phase in FAILED and result.get("phase") == "Succeeded":
                result.update(phase="Failed", message=f"the exit handler failed: {message}")

        def done(phase: str, outputs: dict, message: str = "") -> None:
            result.update(phase=phase, outputs=outputs, message=message)
            handler = self.templates.get(self.spec.get("onExit"))
            if handler is not None:
                self.values["workflow.status"] = phase
                self.start(handler, "onexit", "onexit", {}, {}, exit_done)

        restore = _stop_on_sigterm()
        try:
            self.start(entry, "", "", params, artifacts, done)
            while self.pending:
                try:  # a timeout keeps the wait interruptible by Ctrl-C
                    callback, value = self.events.get(timeout=0.25)
                except queue.Empty:
                    continue
                self.pending -= 1
                callback(value)
        except KeyboardInterrupt:
            self.runner.stop_all()
            self.pool.shutdown(wait=True, cancel_futures=True)
            self._finish("Stopped", {}, "stopped by the user (Ctrl-C or a stop request)")
            raise
        finally:
            restore()
        self.pool.shutdown(wait=True)
        return self._finish(result.get("phase", "Error"), result.get("outputs", {}), result.get("message", ""))

    def _finish(self, phase: str, outputs: dict, message: str) -> dict:
        if phase == "Stopped":
            t = now()
            for step in self.steps.values():
                if step.get("phase") in ("Pending", "Running"):
                    step.update(phase="Stopped", finishedAt=t, message="stopped by the user")
        self.record.update(phase=phase, finishedAt=now(), message=message, outputs=_jsonable(outputs))
        try:
            write_json(self.run_dir / "run.json", self.record)
        except RecordError as exc:  # e.g. a full disk: a short last word in place, so run.json doesn't stay Running
            self.record.update(phase="Error", message=f"{exc} (the run ended {phase})")
            last = {k: self.record.get(k) for k in ("id", "workflow", "engine", "phase", "startedAt", "finishedAt",
                                                       "message")}
            try:
                overwrite_json(self.run_dir / "run.json", last)
            except RecordError:
                pass
            raise exc from None
        return self.record

    def submit(self, job: StepJob, display: str, on_done: Callable[[StepResult], None]) -> None:
        self.pending += 1
        self.steps[job.node] = {"name": display, "template": job.template.get("name"), "phase": "Pending",
                                "startedAt": None, "finishedAt": None}
        self._notify(job.node)

        def work() -> StepResult:
            entry = self.steps[job.node]
            entry["phase"], entry["startedAt"] = "Running", now()
            self._notify(job.node)
            return self.runner.run(job)

        def finished(res: StepResult) -> None:
            self.steps[job.node].update(
                phase=res.phase, startedAt=res.started, finishedAt=res.finished, exitCode=res.exit_code,
                message=res.message, stderrTail=res.stderr_tail if res.phase in FAILED else "",
                attempts=res.attempts)
            self._notify(job.node)
            on_done(res)

        future = self.pool.submit(work)
        future.add_done_callback(lambda f: self.events.put((finished, _result_or_error(f, job.node))))

    def _notify(self, node: str) -> None:
        if self.engine.progress is not None:
            self.engine.progress({"run": self.run_id, "node": node, **self.steps[node]})

    # -- templates -------------------------------------------------------------------------------
    def start(self, tpl: dict, node: str, display: str, params: dict, artifacts: dict,
              on_done: Callable[..., None]) -> None:
        """Start any template; `on_done(phase, outputs, message)` is called on the loop thread when it ends."""
        if "dag" in tpl:
            _Dag(self, tpl, node, params, artifacts, on_done).start()
            return
        if "suspend" in tpl:
            self.suspend(tpl, node or tpl["name"], display or tpl["name"], on_done)
            return
        job = StepJob(node or tpl["name"], tpl, params, artifacts, self.values)

        def leaf_done(res: StepResult) -> None:
            outputs = {"parameters": res.parameters, "artifacts": res.artifacts, "result": res.result}
            message = res.message
            if res.phase in FAILED and res.stderr_tail:
                message += "\n" + res.stderr_tail
            on_done(res.phase, outputs, message)

        self.submit(job, display or tpl["name"], leaf_done)

    def suspend(self, tpl: dict, node: str, display: str, on_done: Callable[..., None]) -> None:
        """A `suspend` template with a duration: no process; it succeeds once the duration has passed."""
        import threading

        duration = (tpl.get("suspend") or {}).get("duration")
        if duration in (None, ""):
            self.steps[node] = {"name": display, "template": tpl["name"], "phase": "Error",
                                "message": "a suspend template without a duration waits for a manual resume"}
            on_done("Error", {}, self.steps[node]["message"])
            return
        self.pending += 1
        self.steps[node] = {"name": display, "template": tpl["name"], "phase": "Running", "startedAt": now(),
                            "finishedAt": None}

        def resumed(_value) -> None:
            self.steps[node].update(phase="Succeeded", finishedAt=now())
            self._notify(node)
            on_done("Succeeded", {}, "")

        threading.Timer(seconds(duration), lambda: self.events.put((resumed, None))).start()

    def _artifact_source(self, spec: dict, uploads: dict, values: dict, artifacts: dict):
        """Where an artifact argument's bytes come from: another output, inline raw data, or the store."""
        if "from" in spec:
            refs = references(spec["from"])
            if len(refs) != 1 or refs[0] not in artifacts:
                raise ManifestError(f"artifact {spec['name']!r}: can't resolve from={spec['from']!r}")
            return artifacts[refs[0]]
        if "raw" in spec:
            return ("raw", substitute(spec["raw"].get("data", ""), values, f"artifact {spec['name']!r}"))
        key = (spec.get("s3") or {}).get("key")
        if key is not None:
            if key in uploads:
                return uploads[key]
            raise ManifestError(f"artifact {spec['name']!r}: key {key!r} was not uploaded to this run's store")
        raise ManifestError(f"artifact {spec['name']!r}: the local engine reads `from`, `raw` and s3 `key` sources")


def _stop_on_sigterm() -> Callable[[], None]:
    """While a run executes on the main thread, a stop request (SIGTERM) stops it as Ctrl-C does."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    return lambda: signal.signal(signal.SIGTERM, previous)


class _Dag:
    """One running DAG template: counts unfinished dependencies so each finished task costs O(its children)."""

    def __init__(self, ex: _Execution, tpl: dict, node: str, params: dict, artifacts: dict, on_done):
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
        self.deps = {name: set() for name in self.tasks}
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
        if not evaluate_depends(self.tokens[name], self.phases):
            causes = ", ".join(f"{d} {self.phases[d]}" for d in sorted(self.deps[name]))
            self.task_done(name, "Omitted", {}, f"omitted: depends condition not met ({causes})")
            return
        try:
            tpl = self.ex.templates.get(task.get("template"))
            if tpl is None:
                raise ManifestError(f"task {name!r}: template {task.get('template')!r} does not exist")
            if "withItems" in task or "withParam" in task:
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
                    loop.child_done(i, "Skipped", {}, "when evaluated false")
                    continue
                params, artifacts = self.arguments(task, values)
            except ManifestError as exc:
                loop.child_done(i, "Error", {}, str(exc))
                continue
            node = f"{self.prefix}{name}/{i}"
            self.schedule(lambda i=i, node=node, params=params, artifacts=artifacts: self.ex.start(
                tpl, node, f"{name}({i})", params, artifacts,
                lambda phase, outputs, message="", i=i: self.child_done(
                    lambda: loop.child_done(i, phase, outputs, message))))

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
            self.ex.steps.setdefault(node, {"name": name, "template": self.tasks[name].get("template"),
                                            "phase": phase, "message": message})
            self.ex._notify(node)
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
        if verdict.phase in FAILED:
            origin = self.real_failure(order) or verdict.origin
            self.on_done(verdict.phase, {}, f"step {self.prefix}{origin} {verdict.phase.lower()}: "
                                            f"{self.messages.get(origin, '')}".rstrip(": "))
            return
        outputs = {"parameters": {}, "artifacts": {}}
        spec = self.tpl.get("outputs") or {}
        where = f"outputs of template {self.tpl['name']!r}"
        for p in spec.get("parameters") or []:
            source = p.get("valueFrom") or {}
            expr = source.get("parameter", p.get("value", ""))
            try:
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
        return next((n for n in order if self.phases.get(n) in FAILED and n not in accepted), None)

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
        return f"{self.prefix}{task} {self.phases.get(task)}: {self.messages.get(task, '')}".rstrip(": ")


class _Loop:
    """The children of one withItems/withParam task; when all end, the task ends with gathered outputs."""

    def __init__(self, dag: _Dag, name: str, task: dict, count: int):
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
            if p in FAILED:
                phase, message = p, f"item {i} {p.lower()}: {m}"
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


def _result_or_error(future, node: str) -> StepResult:
    try:
        return future.result()
    except Exception as exc:  # a bug in the runner must fail the step, not hang the loop
        return StepResult(node, "Error", message=f"internal error: {type(exc).__name__}: {exc}")


def _jsonable(outputs: dict) -> dict:
    arts = {k: (v.to_dict() if hasattr(v, "to_dict") else {"raw": v[1]}) for k, v in (outputs.get("artifacts") or {}).items()}
    return {"parameters": dict(outputs.get("parameters") or {}), "artifacts": arts}


__all__ = ["LocalEngine", "DONE_OK"]
