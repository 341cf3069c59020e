"""A finished (or failed) run as users see it: phase, steps, and outputs fetched lazily from the store."""

from __future__ import annotations

import inspect
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

from ._engine._record import new_run_id
from ._errors import RunError
from ._logs import LogLine, local_logs
from ._phase import Phase
from ._results import decode_parameter, load_pickled, shape_of, step_digest
from ._runbase import Outcome, RunBase
from ._store import ArtifactRef
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

    `workflow` (the Workflow built) lets the run record the file it came from, so `flowpack ui` can resume it."""
    source = _source_of(workflow)
    if source:
        built.manifest.setdefault("metadata", {}).setdefault("annotations", {})["flowpack.io/source"] = source

    live: dict[str, dict] = {}
    shown = None
    if progress is True:  # the display of flowpack._view: a terminal line, log lines or a notebook block
        from ._view import ProgressBar  # lazy: the views sit above runs: a run draws itself with them when shown

        progress = shown = ProgressBar(run_dir=getattr(engine, "run_dir", run_dir))

    def follow(event: dict) -> None:
        live[event["node"]] = event
        if callable(progress):
            progress(event)

    eng = engine_for(engine, run_dir=run_dir, store=store, workers=workers, python=python, progress=follow)
    prepare = getattr(eng, "prepare", None)  # e.g. the Docker engine builds each op's image first
    if prepare is not None:
        built.manifest = prepare(built)
    uploads = {}
    for key, path in built.uploads.items():
        uploads[key] = _upload(eng.store, key, Path(path))
    run_id = run_id or new_run_id(built.manifest["metadata"]["generateName"].rstrip("-"))
    run = Run({"id": run_id, "phase": "Running", "steps": live}, eng.run_dir / run_id, eng.store,
              built.manifest, built.result_type)

    def work() -> None:
        try:
            run.record = eng.execute(built.manifest, uploads=uploads, run_id=run_id, resume=resume)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller of wait()
            run.record = {**run.record, "phase": "Error", "message": f"{type(exc).__name__}: {exc}"}
            run._error = exc
        finally:
            if shown is not None:
                shown.close(run.record.get("phase"), run.record.get("steps"))

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

    def __init__(self, record: dict, path: Path, store, manifest: dict, result_type: type | None = None):
        self.result_type = result_type
        self.record = record
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

    def wait(self, timeout: float | None = None, progress: bool = True) -> "Run":
        """Block until the run ends (or `timeout` seconds pass), showing a progress bar (terminal or notebook);
        raise StepFailed if it did not succeed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._thread is not None and self._thread.is_alive() and progress:
            from ._view import ProgressBar  # lazy: the views sit above runs: a run draws itself with them when shown
            from ._view import progress as show_progress

            bar = ProgressBar(manifest=self.manifest, run_path=self.path)
            try:
                show_progress(lambda: {"phase": "Running" if not self.done else self.phase,
                                       "steps": {n: dict(s) for n, s in list(self.steps.items())}},
                              timeout=timeout, bar=bar)
            except RunError:
                pass  # the display gave up at the deadline; the check below says so, the same way every time
        if self._thread is not None:
            self._thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if self._thread.is_alive():
                raise TimeoutError(f"run {self.id} still running after {timeout} s")
        if self._error is not None:
            raise self._error
        self.check()
        return self

    @property
    def id(self) -> str:
        return self.record["id"]

    @property
    def phase(self) -> str:
        return self.record["phase"]

    @property
    def steps(self) -> dict:
        """node -> {name, template, phase, startedAt, finishedAt, exitCode, message}."""
        return self.record["steps"]

    def __repr__(self) -> str:
        return f"<flowpack run {self.id} {self.phase}, {len(self.steps)} steps>"

    def _repr_html_(self) -> str:
        """In a notebook: the run's phase, its DAG coloured by phase and a table of its steps."""
        from ._view import run_html  # lazy: the views sit above runs: a run draws itself with them when shown

        return run_html(self)

    def logs(self, step: str | None = None, *, follow: bool = False, container: str = "main",
             grep: str | None = None) -> Iterator[LogLine]:
        """The log lines of one step (by node path or name) or of every step in the order they started, as
        `ArgoRun.logs` gives them: what the step printed (stderr), then its stdout. `follow=True` follows a run
        started with wait=False until it ends; `grep` keeps lines matching a regular expression."""
        return local_logs(lambda: dict(self.steps), self.path / "steps", self.id, lambda: self.done, step,
                          follow=follow, container=container, grep=grep)

    def failures(self) -> list[dict]:
        return [dict(node=n, **s) for n, s in self.steps.items() if s.get("phase") in Phase.FAILED_LIKE]

    # -- what RunBase reads (check, outputs, output, result) ------------------------------------------------
    @property
    def label(self) -> str:
        return f"run {self.id}"

    def outcome(self) -> Outcome:
        return Outcome(self.phase, self.failures(), self.record.get("message", ""),
                       hints=[f"  step folders: {self.path / 'steps'}"])

    def _ready(self) -> None:
        self.wait()  # a running run is waited for

    def _read_output(self, name: str, kind: Kind) -> object:
        outs = self.record.get("outputs") or {}
        if kind.how == PARAM:
            return decode_parameter(self.shape, name, outs["parameters"][name], kind)
        ref = ArtifactRef.from_dict(outs["artifacts"][name])
        if kind.how == PATH:
            return self.store.get(ref, self.path / "outputs" / name)
        return load_pickled(self.store.load_bytes(ref), step_digest(self.path, ref.key),
                            f"output {name!r} of run {self.id}")
