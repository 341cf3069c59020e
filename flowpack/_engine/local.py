"""The embedded local engine: executes a rendered Argo manifest with each step as a local subprocess.

It reads the same manifest Argo reads and applies the same rules: `{{...}}` substitution, `depends`, input
defaults, output parameters read from files, artifacts passed by reference. Independent steps run in parallel
(one per core by default); scheduling does constant work per finished step, so long chains cost no more per
step than short ones.
"""

from __future__ import annotations

import os
import queue
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Callable

from .._errors import ManifestError, RecordError
from .._exit import local_exit_values
from .._phase import Phase
from .._records import RunOutputs, RunRecord, StepRecord
from .._store import ArtifactRef, LocalStore, Store
from ._dag import Dag
from ._duration import seconds
from ._expr import DONE_OK, references, substitute
from ._handoff import completed
from ._keyed import KeyedOutputs, pod_name
from ._procs import owner, settle_abandoned
from ._record import new_run_id, now, overwrite_json, write_json
from ._resources import check_resources
from ._step import StepJob, StepResult, StepRunner


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
            self._store = LocalStore(self.run_dir.parent / "store")
        return self._store

    def make_runner(self, run_dir: Path, run_id: str) -> StepRunner:
        """What runs each leaf step: a subprocess here; other engines return their own runner."""
        return StepRunner(run_dir, run_id, self.store, self.python)

    def execute(self, manifest: dict, *, uploads: dict | None = None, run_id: str | None = None,
                resume: str | None = None) -> RunRecord:
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
            settle_abandoned(old, RunRecord.read(old / "run.json"))  # a run whose engine was killed is marked so
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
        self.steps: dict[str, StepRecord] = {}  # node -> step, shared with self.record (written to run.json)
        self.record = RunRecord(run_id, Phase.RUNNING, steps=self.steps)
        self.values = {"workflow.name": run_id, "workflow.namespace": "local", "workflow.uid": run_id}
        self.keyed = KeyedOutputs()  # artifacts steps put under keys of their own (_keyed)
        self.resumed_from: str | None = None

    # -- the loop --------------------------------------------------------------------------------
    def run(self, uploads: dict) -> RunRecord:
        self.uploads = uploads
        args = self.spec.get("arguments") or {}
        for p in args.get("parameters") or []:
            self.values["workflow.parameters." + p["name"]] = p.get("value", "")
        self.record = RunRecord(
            self.run_id, Phase.RUNNING, workflow=self.manifest.get("metadata", {}).get("generateName", "").rstrip("-"),
            engine=self.engine.name, started_at=now(),
            parameters={p["name"]: p.get("value") for p in args.get("parameters") or []},
            store=self.store.describe(), steps=self.steps, resumed_from=self.resumed_from, owner=owner())
        write_json(self.run_dir / "run.json", self.record.to_json())
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
            if phase in Phase.FAILED_LIKE and result.get("phase") == "Succeeded":
                result.update(phase="Failed", message=f"the exit handler failed: {message}")

        def done(phase: str, outputs: dict, message: str = "") -> None:
            result.update(phase=phase, outputs=outputs, message=message)
            handler = self.templates.get(self.spec.get("onExit"))
            if handler is not None:
                self.values.update(local_exit_values(self.steps, self.manifest, self.run_id, phase,
                                                     self.record.started_at or now(), now()))
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

    def _finish(self, phase: str, outputs: dict, message: str) -> RunRecord:
        outputs = completed(outputs, self.runner.handoff.settle())  # the digests of outputs moved in during the run
        if phase == "Stopped":
            t = now()
            for node, step in list(self.steps.items()):
                if step.phase in Phase.UNFINISHED:
                    self.steps[node] = replace(step, phase=Phase.STOPPED, finished_at=t, message="stopped by the user")
        self.record = replace(self.record, phase=Phase(phase), finished_at=now(), message=message,
                              outputs=RunOutputs.from_json(_jsonable(outputs)))
        try:
            write_json(self.run_dir / "run.json", self.record.to_json())
        except RecordError as exc:  # e.g. a full disk: a short last word in place, so run.json doesn't stay Running
            self.record = replace(self.record, phase=Phase.ERROR, message=f"{exc} (the run ended {phase})")
            last = {k: v for k, v in self.record.to_json().items()
                    if k in ("id", "workflow", "engine", "phase", "startedAt", "finishedAt", "message")}
            try:
                overwrite_json(self.run_dir / "run.json", last)
            except RecordError:
                pass
            raise exc from None
        return self.record

    def submit(self, job: StepJob, display: str, on_done: Callable[[StepResult], None]) -> None:
        self.pending += 1
        self.steps[job.node] = StepRecord(display, Phase.PENDING, job.template.get("name"))
        self._notify(job.node)

        def work() -> StepResult:
            self.steps[job.node] = replace(self.steps[job.node], phase=Phase.RUNNING, started_at=now())
            self._notify(job.node)
            return self.runner.run(job)

        def finished(res: StepResult) -> None:
            self.steps[job.node] = replace(
                self.steps[job.node], phase=Phase(res.phase), started_at=res.started, finished_at=res.finished,
                exit_code=res.exit_code, message=res.message,
                stderr_tail=res.stderr_tail if res.phase in Phase.FAILED_LIKE else "", attempts=res.attempts)
            self._notify(job.node)
            on_done(res)

        future = self.pool.submit(work)
        future.add_done_callback(lambda f: self.events.put((finished, _result_or_error(f, job.node))))

    def _notify(self, node: str) -> None:
        if self.engine.progress is not None:
            self.engine.progress({"run": self.run_id, "node": node, **self.steps[node].to_json()})

    # -- templates -------------------------------------------------------------------------------
    def start(self, tpl: dict, node: str, display: str, params: dict, artifacts: dict,
              on_done: Callable[..., None]) -> None:
        """Start any template; `on_done(phase, outputs, message)` is called on the loop thread when it ends."""
        if "dag" in tpl:
            Dag(self, tpl, node, params, artifacts, on_done).start()
            return
        if "suspend" in tpl:
            self.suspend(tpl, node or tpl["name"], display or tpl["name"], on_done)
            return
        job = StepJob(node or tpl["name"], tpl, params, artifacts,
                      {**self.values, "pod.name": pod_name(tpl["name"], node or tpl["name"])})

        def leaf_done(res: StepResult) -> None:
            if res.phase == Phase.SUCCEEDED:
                self.keyed.record(tpl, job.values, params, res.artifacts)
            for p in (tpl.get("outputs") or {}).get("parameters") or []:  # a global output (fp.exit_with), as Argo
                if p.get("globalName"):
                    self.values["workflow.outputs.parameters." + p["globalName"]] = res.parameters.get(p["name"], "")
            outputs = {"parameters": res.parameters, "artifacts": res.artifacts, "result": res.result}
            message = res.message
            if res.phase in Phase.FAILED_LIKE and res.stderr_tail:
                message += "\n" + res.stderr_tail
            on_done(res.phase, outputs, message)

        self.submit(job, display or tpl["name"], leaf_done)

    def suspend(self, tpl: dict, node: str, display: str, on_done: Callable[..., None]) -> None:
        """A `suspend` template with a duration: no process; it succeeds once the duration has passed."""
        duration = (tpl.get("suspend") or {}).get("duration")
        if duration in (None, ""):
            why = "a suspend template without a duration waits for a manual resume"
            self.steps[node] = StepRecord(display, Phase.ERROR, tpl["name"], message=why)
            on_done("Error", {}, why)
            return
        self.pending += 1
        self.steps[node] = StepRecord(display, Phase.RUNNING, tpl["name"], started_at=now())

        def resumed(_value) -> None:
            self.steps[node] = replace(self.steps[node], phase=Phase.SUCCEEDED, finished_at=now())
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
            key = substitute(key, values, f"artifact {spec['name']!r}")
            if key in uploads:
                return _loaded_as_argo(uploads[key], spec, self.store)
            found = self.keyed.find(key)  # an object a step put under its own key, or the folder below the key
            if found is not None:
                return found
            raise ManifestError(f"artifact {spec['name']!r}: no object has the key {key!r} or lies below it")
        raise ManifestError(f"artifact {spec['name']!r}: the local engine reads `from`, `raw` and s3 `key` sources")


def _loaded_as_argo(ref: ArtifactRef, spec: dict, store: Store) -> ArtifactRef:
    """An input file as Argo's executor (loadArtifact) places it: the argument's `archive` decides, since the
    controller replaces the template's input by the argument; `none` keeps the bytes, `tar` or (without an archive)
    a gzip-compressed tar is extracted, its single top entry or the whole folder becoming the input."""
    archive = spec.get("archive") or {}
    if ref.kind != "file" or "none" in archive:
        return ref
    if "zip" in archive:
        raise ManifestError(f"artifact {spec['name']!r}: the local engine doesn't unzip (archive: zip); store the "
                            f"input as it is (archive: none) or as a tar.gz")
    return replace(ref, kind="dir") if "tar" in archive or store.is_tarball(ref) else ref


def _stop_on_sigterm() -> Callable[[], None]:
    """While a run executes on the main thread, a stop request (SIGTERM) stops it as Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


def _result_or_error(future, node: str) -> StepResult:
    try:
        return future.result()
    except Exception as exc:  # a bug in the runner must fail the step, not hang the loop
        return StepResult(node, "Error", message=f"internal error: {type(exc).__name__}: {exc}")


def _jsonable(outputs: dict) -> dict:
    arts = {k: (v.to_dict() if hasattr(v, "to_dict") else {"raw": v[1]})
            for k, v in (outputs.get("artifacts") or {}).items()}
    return {"parameters": dict(outputs.get("parameters") or {}), "artifacts": arts}


__all__ = ["LocalEngine", "DONE_OK"]
