"""A finished (or failed) run as users see it: phase, steps, and outputs fetched lazily from the store."""

from __future__ import annotations

import inspect
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Iterator

from ._engine._record import new_run_id
from ._errors import StoreError
from ._logs import LogLine, local_logs
from ._phase import Phase
from ._records import RunRecord, StepRecord
from ._results import decode_parameter, load_pickled, shape_of, step_digest
from ._runbase import Display, Outcome, RunBase, Snapshot
from ._store import ArtifactRef, run_store
from ._types import PARAM, PATH, Kind


def engine_for(engine, *, run_dir, store, workers, python, progress):
    """An engine object from a name ("local", "docker") or an engine instance."""
    if not isinstance(engine, str):
        if progress is not None and getattr(engine, "progress", None) is None:
            engine.progress = progress
        return engine
    if engine == "local":
        from ._engine.local import LocalEngine  # lazy: the engines load on the first run (import time)

        return LocalEngine(run_dir=run_dir, store=store, workers=workers, python=python, progress=progress)
    if engine == "docker":
        from ._engine.docker import DockerEngine  # lazy: the Docker engine loads only when it is used

        return DockerEngine(run_dir=run_dir, store=store, workers=workers, python=python, progress=progress)
    raise ValueError(f"unknown engine {engine!r}; available: 'local', 'docker'")


def execute(built, *, engine="local", run_dir=".flowpack/runs", store=None, workers=None, python=None,
            progress=None, run_id=None, resume=None, wait=True, workflow=None) -> "Run":
    """Run a built workflow; with wait=False return at once a Run that follows the steps as they go.

    `workflow` (the Workflow built) lets the run record the file it came from, so `flowpack ui` can resume it. A
    resumed run (`resume=`) without a `store` uses the store the run it resumes recorded."""
    source = _source_of(workflow)
    if source:
        built.manifest.setdefault("metadata", {}).setdefault("annotations", {})["flowpack.io/source"] = source

    live: dict[str, StepRecord] = {}
    shown = None
    if progress is True:  # the display of flowpack._view: a terminal line, log lines or a notebook block
        from ._view import ProgressBar  # lazy: the views sit above runs: a run draws itself with them when shown

        progress = shown = ProgressBar(run_dir=getattr(engine, "run_dir", run_dir))

    def follow(event: dict) -> None:
        live[event["node"]] = StepRecord.from_json({k: v for k, v in event.items() if k not in ("run", "node")},
                                                   name=event["node"])
        if callable(progress):
            progress(event)

    if resume and store is None and isinstance(engine, str):  # the steps it reuses keep their outputs there
        try:
            store = run_store(Path(run_dir) / resume)
        except StoreError as exc:
            raise StoreError(f"resume={resume!r}: {exc}; pass the run's store with store=...") from None
    eng = engine_for(engine, run_dir=run_dir, store=store, workers=workers, python=python, progress=follow)
    prepare = getattr(eng, "prepare", None)  # e.g. the Docker engine builds each op's image first
    if prepare is not None:
        built.manifest = prepare(built)
    uploads = {}
    for key, path in built.uploads.items():
        uploads[key] = _upload(eng.store, key, Path(path))
    run_id = run_id or new_run_id(built.manifest["metadata"]["generateName"].rstrip("-"))
    run = Run(RunRecord(run_id, Phase.RUNNING, steps=live), eng.run_dir / run_id, eng.store, built.manifest,
              built.result_type)

    def work() -> None:
        try:
            run.run_record = eng.execute(built.manifest, uploads=uploads, run_id=run_id, resume=resume)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller of wait()
            run.run_record = replace(run.run_record, phase=Phase.ERROR, message=f"{type(exc).__name__}: {exc}")
            run._error = exc
        finally:
            if shown is not None:
                shown.close(run.phase, run.steps)

    if wait:
        work()
        if run._error is not None:
            raise run._error
        run.check()
        return run
    run._thread = threading.Thread(target=work, name=f"flowpack-run-{run_id}", daemon=True)
    run._thread.start()
    return run


def _source_of(workflow) -> str | None:
    """"/abs/file.py:name" for a workflow defined in a Python file (None in a notebook, a REPL or python -c)."""
    if workflow is None:
        return None
    try:
        file = inspect.getsourcefile(workflow.func)
    except TypeError:
        return None
    if not file or not file.endswith(".py") or not Path(file).is_file() or "ipykernel_" in file:
        return None
    name = workflow.func.__name__
    module = sys.modules.get(workflow.func.__module__)
    if module is None or getattr(module, name, None) is not workflow:
        return None  # not reachable by name in its file (defined in a function, renamed): can't be run again
    return f"{Path(file).absolute()}:{name}"


def _upload(store, key: str, path: Path):
    """Input files go to the store once, keyed by their content."""
    if path.is_dir():
        return store.put(path, key)
    ref = store.put_content(path, prefix=key.rsplit("/", 1)[0])
    if ref.key != key:  # the store's own content key agrees with the manifest's: both are the file's sha256
        raise RuntimeError(f"content key mismatch for {path}: {ref.key} != {key}")
    return ref


class Run(RunBase):
    """What a run did. `result()` gives the workflow's return value; `outputs` each named output."""

    def __init__(self, record: RunRecord, path: Path, store, manifest: dict, result_type: type | None = None):
        self.result_type = result_type
        self.run_record = record
        self.path = path
        self.store = store
        self.manifest = manifest
        self._shape = shape_of(manifest)
        self._cache: dict[str, object] = {}
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def done(self) -> bool:
        return self._thread is None or not self._thread.is_alive()

    @property
    def record(self) -> dict:
        """The run record as run.json holds it (see run_record for its typed form)."""
        return self.run_record.to_json()

    @property
    def id(self) -> str:
        return self.run_record.id

    @property
    def phase(self) -> Phase:
        return self.run_record.phase

    @property
    def steps(self) -> dict[str, dict]:
        """node -> {name, template, phase, startedAt, finishedAt, exitCode, message}."""
        return {node: step.to_json() for node, step in list(self.run_record.steps.items())}

    def __repr__(self) -> str:
        return f"<flowpack run {self.id} {self.phase}, {len(self.run_record.steps)} steps>"

    def _repr_html_(self) -> str:
        """In a notebook: the run's phase, its DAG coloured by phase and a table of its steps."""
        from ._view import run_html  # lazy: the views sit above runs: a run draws itself with them when shown

        return run_html(self)

    def logs(self, step: str | None = None, *, follow: bool = False, container: str = "main",
             grep: str | None = None) -> Iterator[LogLine]:
        """The log lines of one step (by node path or name) or of every step in the order they started, as
        `ArgoRun.logs` gives them: what the step printed (stderr), then its stdout. `follow=True` follows a run
        started with wait=False until it ends; `grep` keeps lines matching a regular expression."""
        return local_logs(lambda: self.steps, self.path / "steps", self.id, lambda: self.done, step,
                          follow=follow, container=container, grep=grep)

    def failures(self) -> list[dict]:
        return [{"node": node, **step.to_json()} for node, step in self.run_record.failures().items()]

    # -- what RunBase reads (wait, check, outputs, output, result) -------------------------------------------
    @property
    def label(self) -> str:
        return f"run {self.id}"

    @property
    def run_name(self) -> str:
        return self.id

    def _look(self) -> Snapshot:
        done = self.done
        return Snapshot(self.phase if done else Phase.RUNNING, dict(self.run_record.steps), done)

    def _pause(self, seconds: float) -> None:
        if self._thread is not None:
            self._thread.join(seconds)  # wakes up as soon as the run ends

    def _progress_bar(self, first: Snapshot) -> Display | None:
        if first.done:
            return None  # an ended run has nothing to show
        from ._view import ProgressBar  # lazy: the views sit above runs: a run draws itself with them when shown

        return ProgressBar(manifest=self.manifest, run_path=self.path)

    def _waited(self) -> None:
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        self.check()

    def outcome(self) -> Outcome:
        return Outcome(self.phase, self.run_record.failures(), self.run_record.message,
                       hints=[f"  step folders: {self.path / 'steps'}"])

    def _ready(self) -> None:
        self.wait()  # a running run is waited for

    def _read_output(self, name: str, kind: Kind) -> object:
        outs = self.run_record.outputs
        if kind.how == PARAM:
            return decode_parameter(self.shape, name, outs.parameters[name], kind)
        ref = ArtifactRef.from_dict(outs.artifacts[name])
        if kind.how == PATH:
            return self.store.get(ref, self.path / "outputs" / name)
        return load_pickled(self.store.load_bytes(ref), step_digest(self.path, ref.key),
                            f"output {name!r} of run {self.id}")
