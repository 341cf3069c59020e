"""The embedded local engine: executes a rendered Argo manifest with each step as a local subprocess.

It reads the same manifest Argo reads and applies the same rules: `{{...}}` substitution, `depends`, input
defaults, output parameters read from files, artifacts passed by reference. Independent steps run in parallel
(one per core by default); scheduling does constant work per finished step, so long chains cost no more per
step than short ones.
"""

from __future__ import annotations

import os
import queue
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from .._errors import ManifestError
from ._expr import DONE_OK, evaluate_depends, parse_depends, references, substitute
from ._record import new_run_id, now, write_json
from ._step import StepJob, StepResult, StepRunner

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

    def execute(self, manifest: dict, *, uploads: dict | None = None, run_id: str | None = None) -> dict:
        """Run a manifest to the end and return its run record (also written to run.json)."""
        name = (manifest.get("metadata") or {}).get("generateName", "workflow-").rstrip("-") or "workflow"
        run_id = run_id or new_run_id(name)
        run_dir = self.run_dir / run_id
        (run_dir / "steps").mkdir(parents=True, exist_ok=False)
        write_json(run_dir / "manifest.json", manifest)
        execution = _Execution(self, manifest, run_id, run_dir)
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
        self.runner = StepRunner(run_dir, run_id, self.store, engine.python)
        self.events: queue.Queue = queue.Queue()
        self.pending = 0
        self.steps: dict[str, dict] = {}
        self.record: dict = {}
        self.values = {"workflow.name": run_id, "workflow.namespace": "local", "workflow.uid": run_id}

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
        }
        write_json(self.run_dir / "run.json", self.record)
        entry = self.templates.get(self.spec.get("entrypoint"))
        if entry is None:
            raise ManifestError(f"entrypoint {self.spec.get('entrypoint')!r} is not a template of this workflow")
        artifacts = {a["name"]: self._artifact_source(a, uploads, self.values, {}) for a in args.get("artifacts") or []}
        params = {p["name"]: p.get("value", "") for p in args.get("parameters") or []}
        self.pool = ThreadPoolExecutor(max_workers=self.engine.workers, thread_name_prefix="flowpack-step")
        result: dict = {}

        def done(phase: str, outputs: dict, message: str = "") -> None:
            result.update(phase=phase, outputs=outputs, message=message)

        try:
            self.start(entry, "", "", params, artifacts, done)
            while self.pending:
                callback, value = self.events.get()
                self.pending -= 1
                callback(value)
        except KeyboardInterrupt:
            self.runner.stop_all()
            self.pool.shutdown(wait=True, cancel_futures=True)
            self._finish("Stopped", {}, "stopped by the user (Ctrl-C)")
            raise
        self.pool.shutdown(wait=True)
        return self._finish(result.get("phase", "Error"), result.get("outputs", {}), result.get("message", ""))

    def _finish(self, phase: str, outputs: dict, message: str) -> dict:
        self.record.update(phase=phase, finishedAt=now(), message=message, outputs=_jsonable(outputs))
        write_json(self.run_dir / "run.json", self.record)
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
                message=res.message, stderrTail=res.stderr_tail if res.phase in FAILED else "")
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
        job = StepJob(node or tpl["name"], tpl, params, artifacts, self.values)

        def leaf_done(res: StepResult) -> None:
            outputs = {"parameters": res.parameters, "artifacts": res.artifacts, "result": res.result}
            message = res.message
            if res.phase in FAILED and res.stderr_tail:
                message += "\n" + res.stderr_tail
            on_done(res.phase, outputs, message)

        self.submit(job, display or tpl["name"], leaf_done)

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
        self.failed = False

    def start(self) -> None:
        if not self.tasks:
            self.finish()
            return
        for name, count in list(self.waiting.items()):
            if count == 0:
                self.launch(name)

    def launch(self, name: str) -> None:
        task = self.tasks[name]
        if self.failed and self.tpl["dag"].get("failFast", True):
            self.task_done(name, "Omitted", {}, "not started: an earlier task failed")
            return
        if not evaluate_depends(self.tokens[name], self.phases):
            self.task_done(name, "Omitted", {}, "its dependencies did not succeed")
            return
        try:
            tpl = self.ex.templates.get(task.get("template"))
            if tpl is None:
                raise ManifestError(f"task {name!r}: template {task.get('template')!r} does not exist")
            where = f"task {name!r}"
            args = task.get("arguments") or {}
            params = {p["name"]: substitute(p.get("value", ""), self.values, where)
                      for p in args.get("parameters") or []}
            artifacts = {a["name"]: self.ex._artifact_source(a, self.ex.uploads, self.values, self.artifacts)
                         for a in args.get("artifacts") or []}
        except ManifestError as exc:
            self.task_done(name, "Error", {}, str(exc))
            return
        self.ex.start(tpl, self.prefix + name, name, params, artifacts,
                      lambda phase, outputs, message="": self.task_done(name, phase, outputs, message))

    def task_done(self, name: str, phase: str, outputs: dict, message: str = "") -> None:
        self.phases[name] = phase
        if phase in FAILED and not _continues(self.tasks[name], phase):
            self.failed = True
            self.failure = (self.prefix + name, message)
        base = "tasks." + name + ".outputs."
        for k, v in (outputs.get("parameters") or {}).items():
            self.values[base + "parameters." + k] = v
        for k, v in (outputs.get("artifacts") or {}).items():
            self.artifacts[base + "artifacts." + k] = v
        if outputs.get("result") is not None:
            self.values[base + "result"] = outputs["result"]
        self.values["tasks." + name + ".status"] = phase
        if phase == "Omitted":
            self.ex.steps.setdefault(self.prefix + name, {"name": name, "template": self.tasks[name].get("template"),
                                                          "phase": "Omitted", "message": message})
        for child in self.children[name]:
            self.waiting[child] -= 1
            if self.waiting[child] == 0:
                self.launch(child)
        self.remaining -= 1
        if self.remaining == 0:
            self.finish()

    def finish(self) -> None:
        if self.failed:
            node, message = self.failure
            self.on_done("Failed", {}, f"step {node} failed: {message}")
            return
        outputs = {"parameters": {}, "artifacts": {}}
        spec = self.tpl.get("outputs") or {}
        where = f"outputs of template {self.tpl['name']!r}"
        try:
            for p in spec.get("parameters") or []:
                expr = (p.get("valueFrom") or {}).get("parameter", p.get("value", ""))
                outputs["parameters"][p["name"]] = substitute(expr, self.values, where)
            for a in spec.get("artifacts") or []:
                outputs["artifacts"][a["name"]] = self.ex._artifact_source(a, {}, self.values, self.artifacts)
        except ManifestError as exc:  # e.g. the output came from a task that was skipped
            self.on_done("Failed", {}, str(exc))
            return
        self.on_done("Succeeded", outputs)


def _continues(task: dict, phase: str) -> bool:
    cont = task.get("continueOn") or {}
    return bool(cont.get("failed") if phase == "Failed" else cont.get("error"))


def _result_or_error(future, node: str) -> StepResult:
    try:
        return future.result()
    except Exception as exc:  # a bug in the runner must fail the step, not hang the loop
        return StepResult(node, "Error", message=f"internal error: {type(exc).__name__}: {exc}")


def _jsonable(outputs: dict) -> dict:
    arts = {k: (v.to_dict() if hasattr(v, "to_dict") else {"raw": v[1]}) for k, v in (outputs.get("artifacts") or {}).items()}
    return {"parameters": dict(outputs.get("parameters") or {}), "artifacts": arts}


__all__ = ["LocalEngine", "DONE_OK"]
