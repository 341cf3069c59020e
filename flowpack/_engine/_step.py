"""Run one leaf template (an Argo `script` or `container`) as a local subprocess, as Argo would run its pod.

Each step gets its own root folder: every declared absolute path (input and output artifacts, output parameter
files) lives under it, so two steps writing "/tmp/out.txt" at once never collide. Python step scripts read the
root from FLOWPACK_ROOT; in shell scripts the top folders of declared paths are pointed at the root.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from .._errors import ManifestError, StoreError
from .._phase import Phase
from .._records import NamedValues, StepFolderRecord
from .._store import ArtifactRef
from .._wire import DIGEST_PREFIX, ERROR, IO_ROOT
from . import _mountns as mountns
from . import _overlay as overlay
from ._cache import fresh as cache_fresh
from ._expr import substitute
from ._forkclient import contained, start_step_process
from ._handoff import Handoff
from ._keyed import Folder, outputs_substituted
from ._procs import STEP_ID, kill_group, kill_tagged, remember, step_id
from ._record import now, step_records, tail_text, write_json
from ._retry import decide
from ._stamps import Stamper

STDERR_TAIL = 2000
RESULT_LIMIT = 256 * 1024
_PYTHONS = {"python", "python3"}
_SAFE_ROOT = re.compile(r"^[A-Za-z0-9_./+-]+$")


@dataclass
class StepJob:
    node: str  # unique, path-safe node id within the run
    template: dict
    parameters: dict  # input parameter name -> text
    artifacts: dict  # input artifact name -> ArtifactRef, or ("raw", text)
    values: dict  # global substitution values (workflow.name, workflow.parameters.*)


@dataclass
class Launch:
    """Everything needed to start one step's process, whatever runs it (a subprocess, a container)."""

    node: str
    template: dict
    command: list  # the template's command, substituted (e.g. ["python"] or ["bash"])
    args: list
    source: str | None  # the script template's source, substituted; None for container templates
    env: dict  # the template's environment, substituted (the host's own environment is not included)
    root: Path  # the step's filesystem root: declared absolute paths live under it
    work: Path  # the step's empty working directory
    step_dir: Path  # stdout and stderr go here
    is_python: bool
    declared: list  # declared absolute paths (artifacts, output parameter files)
    timeout: float | None


@dataclass
class StepResult:
    node: str
    phase: str  # Succeeded | Failed | Error
    exit_code: int | None = None
    message: str = ""
    started: float = 0.0
    finished: float = 0.0
    parameters: dict = field(default_factory=dict)
    artifacts: dict = field(default_factory=dict)  # name -> ArtifactRef
    result: str | None = None
    stderr_tail: str = ""
    attempts: int = 1
    command: list[str] | None = None  # the argv it ran (None: it never started)
    cwd: str | None = None  # the folder it ran in


class StepRunner:
    """Runs leaf steps for one run; shared by the engine's worker threads."""

    views = True  # inputs may reach steps as copy-on-write views mounted by this process (see _overlay)

    def __init__(self, run_dir: Path, run_id: str, store, python: str):
        self.run_dir = run_dir
        self.run_id = run_id
        self.store = store
        self.handoff = Handoff(store)  # outputs into the store, inputs out of it (see _handoff)
        self.python = python
        self.scripts = run_dir / "scripts"
        self.scripts.mkdir(parents=True, exist_ok=True)
        self._written: dict[str, str] = {}  # template -> the source written to scripts/<template>
        self._scripts_lock = threading.Lock()
        self.procs: set = set()  # running step processes (subprocess.Popen or ForkedProcess)
        self._procs_lock = threading.Lock()
        self._template_texts: dict[int, tuple[dict, str]] = {}  # id -> (template, its canonical JSON)
        self.stopping = False
        self.reuse: dict[str, StepFolderRecord] = {}  # cache key -> step record of a resumed run
        self.cache_dir = run_dir.parent.parent / "cache"  # results of steps whose template asks for memoization

    def load_resume(self, old_run: Path) -> int:
        """Remember the succeeded steps of an earlier run, by cache key, so this run reuses them (a step whose
        record can't be read runs again)."""
        for _, rec in step_records(old_run):
            if rec.phase == Phase.SUCCEEDED and rec.cache_key:
                self.reuse[rec.cache_key] = replace(rec, reused_from=rec.reused_from or old_run.name)
        return len(self.reuse)

    def cache_key(self, job: StepJob) -> str:
        """Covers the rendered template (script, image, options), every input value and which stored object each
        artifact is: its key (an upload's key is its content's digest; an output's names the run and step that made
        it), so a resumed run's key doesn't wait for a digest the hand-off no longer computes."""
        arts = {}
        for name, src in job.artifacts.items():
            arts[name] = ["raw", src[1]] if isinstance(src, tuple) else ["key", src.key]
        text = self._template_texts.get(id(job.template))  # the items of a map share their template: once
        if text is None or text[0] is not job.template:
            text = self._template_texts[id(job.template)] = (job.template, _canonical(job.template))
        blob = (f'{{"artifacts":{_canonical(arts)},"parameters":{_canonical(job.parameters)},'
                f'"template":{text[1]}}}')  # json.dumps of the three, sort_keys: the same text, so the same key
        return hashlib.sha256(blob.encode()).hexdigest()

    def _reused(self, job: StepJob, key: str) -> StepResult | None:
        rec = self.reuse.get(key)
        source = f"run {rec.reused_from}" if rec else None
        if rec is None and "memoize" in job.template:
            path = self.cache_dir / f"{key}.json"
            if path.is_file() and cache_fresh(path, job.template):  # younger than memoize.maxAge
                try:
                    rec, source = StepFolderRecord.read(path), "the cache"
                except ValueError:  # an entry that can't be read: the step runs again and writes a new one
                    rec = None
        if rec is None:
            return None
        outs = rec.outputs or NamedValues()
        refs = {k: ArtifactRef.from_dict(v) for k, v in outs.artifacts.items()}
        if not all(self.store.exists(r.key) and not r.pending for r in refs.values()):
            return None  # an output is gone from the store, or its run ended before its digest: run the step again
        t = now()
        res = StepResult(job.node, "Succeeded", 0, f"reused from {source}", t, t, dict(outs.parameters), refs,
                         rec.result)
        step_dir = self.run_dir / "steps" / job.node
        step_dir.mkdir(parents=True, exist_ok=True)
        reused = replace(rec, node=job.node, cache_key=key, message=res.message, started_at=t, finished_at=t)
        write_json(step_dir / "step.json", reused.to_json(), compact=True)
        return res

    def run(self, job: StepJob) -> StepResult:
        """Run a step, retrying it as its retryStrategy says (each attempt in a folder of its own; see _retry)."""
        strategy = job.template.get("retryStrategy") or {}
        key = self.cache_key(job)
        reused = self._reused(job, key)
        if reused is not None:
            return reused
        attempt = 0
        started = now()
        while True:
            res = self.run_once(job, job.node if attempt == 0 else f"{job.node}-retry{attempt}", key)
            if not strategy or self.stopping:
                break
            decision = decide(strategy, res.phase, res.exit_code, attempt + 1, started, now(), f"step {job.node}")
            if not decision.retry:
                if decision.message and attempt:
                    res.message = (res.message + "; " if res.message else "") + decision.message
                break
            attempt += 1
            if decision.wait:
                time.sleep(decision.wait)
        if attempt:
            res.message = (res.message + " " if res.message else "") + f"(after {attempt + 1} attempts)"
            res.attempts = attempt + 1
        if res.phase == "Succeeded":
            self._remember(job, key, res)
        return res

    def _remember(self, job: StepJob, key: str, res: StepResult) -> None:
        if res.attempts > 1:  # a first attempt's record says so itself (see run_once)
            # the first attempt's folder is the step's (its result); the succeeded one's record, which holds the
            # outputs, gets the cache key too, so a resumed run reuses the step
            steps = self.run_dir / "steps"
            last = f"{job.node}-retry{res.attempts - 1}"
            for step_json in (steps / job.node / "step.json", steps / last / "step.json"):
                if step_json.is_file():
                    done = replace(StepFolderRecord.read(step_json), cache_key=key, result=res.result)
                    write_json(step_json, done.to_json(), compact=True)
        if "memoize" in job.template:
            entry = StepFolderRecord(template=job.template.get("name"), phase=Phase.SUCCEEDED,
                                     outputs=_outputs(res), cache_key=key, result=res.result).to_json()
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            write_json(self.cache_dir / f"{key}.json", entry, compact=True)
            self.handoff.note(self.cache_dir / f"{key}.json", entry)

    def run_once(self, job: StepJob, node: str, key: str) -> StepResult:
        """One attempt in the folder steps/NODE; a succeeded first attempt's step.json also holds the cache key and
        result (one write: a later attempt's success is added to the first attempt's record by _remember)."""
        res = StepResult(job.node, "Error", started=now())
        step_dir = self.run_dir / "steps" / node
        inputs = NamedValues()  # filled in as the inputs are placed
        views = overlay.Views(step_dir / "inputs-cow") if self.views and overlay.available() else None
        try:
            self._execute(job, step_dir, res, inputs, views)
        except (ManifestError, StoreError) as exc:  # e.g. a directory output holding a link that can't travel
            res.phase, res.message = "Error", str(exc)
        except OSError as exc:
            res.phase, res.message = "Error", f"{type(exc).__name__}: {exc}"
        finally:
            if views is not None:
                views.close()  # after the outputs were collected
        res.finished = now()
        cached = node == job.node and res.phase == "Succeeded"
        record = StepFolderRecord(
            node=job.node, template=job.template.get("name"), inputs=inputs, command=res.command, cwd=res.cwd,
            phase=Phase(res.phase), exit_code=res.exit_code, message=res.message, started_at=res.started,
            finished_at=res.finished, outputs=_outputs(res), cache_key=key if cached else None,
            result=res.result if cached else None).to_json()
        if step_dir.is_dir():
            write_json(step_dir / "step.json", record, compact=True)
            self.handoff.note(step_dir / "step.json", record)
        return res

    def _execute(self, job: StepJob, step_dir: Path, res: StepResult, given: NamedValues,
                 views: overlay.Views | None) -> None:
        tpl = job.template
        name = tpl.get("name", "?")
        root, work = step_dir / "root", step_dir / "work"
        try:
            os.mkdir(step_dir)
        except FileNotFoundError:  # a node in a nested DAG: its parent's folder comes first
            step_dir.mkdir(parents=True)
        except FileExistsError:
            pass
        os.mkdir(work)
        os.mkdir(root)
        made: set[str] = set()  # folders made under root (each made once: a step's declared paths share theirs)
        if not _SAFE_ROOT.match(str(root)):
            raise ManifestError(f"step {job.node}: the run folder {str(root)!r} has characters a shell would split; "
                                f"choose a run_dir without spaces or quotes")
        values = dict(job.values)
        inputs = tpl.get("inputs") or {}
        for p in inputs.get("parameters") or []:
            value = job.parameters.get(p["name"], p.get("value", p.get("default")))
            if value is None:
                raise ManifestError(f"template {name!r}: input parameter {p['name']!r} has no value")
            values["inputs.parameters." + p["name"]] = value
        given.parameters.update({k[len("inputs.parameters."):]: v for k, v in values.items()
                                 if k.startswith("inputs.parameters.")})
        for a in inputs.get("artifacts") or []:
            source = job.artifacts.get(a["name"])
            if source is None and "raw" in a:
                source = ("raw", a["raw"].get("data", ""))
            if source is None:
                if a.get("optional"):
                    continue
                raise ManifestError(f"template {name!r}: input artifact {a['name']!r} was not given")
            dest = _under(root, a["path"])
            values["inputs.artifacts." + a["name"] + ".path"] = a["path"]
            _make_folders(str(root), os.path.dirname(dest), made)
            if isinstance(source, tuple):
                dest.write_bytes(substitute(source[1], values, f"template {name!r}").encode("utf-8"))
                given.artifacts[a["name"]] = {"raw": True}
            elif isinstance(source, Folder):  # the objects below a key prefix, each a copy at its name (_keyed)
                for entry, ref in source.entries:
                    self.handoff.place_input(ref, dest / entry, None)
                given.artifacts[a["name"]] = source.to_dict()
            else:
                self.handoff.place_input(source, dest, views)
                given.artifacts[a["name"]] = source.to_dict()
        if views is not None:
            for stored, dest in views.mount():  # what could not be viewed is copied
                self.handoff.copy_stored(stored, dest)

        kind = "script" if "script" in tpl else "container"
        spec = tpl.get(kind)
        if spec is None:
            raise ManifestError(f"template {name!r} has neither a script, a container nor a dag")
        where = f"template {name!r}"
        command = [substitute(c, values, where) for c in spec.get("command") or []]
        args = [substitute(c, values, where) for c in spec.get("args") or []]
        if not command:
            raise ManifestError(f"{where}: no command (the local engine can't read an image's entrypoint)")
        is_python = os.path.basename(command[0]) in _PYTHONS
        declared = _declared_paths(tpl)
        for path in declared:  # as in an image, the folders around declared paths (e.g. /tmp) exist
            _make_folders(str(root), os.path.dirname(_under(root, path)), made)
        env = {}
        for e in spec.get("env") or []:
            if "value" in e:
                env[e["name"]] = substitute(e["value"], values, where)
            else:
                env[e["name"]] = self.secret_value(e, where)
        deadline = tpl.get("activeDeadlineSeconds")
        launch = Launch(
            node=job.node, template=tpl, command=command, args=args,
            source=substitute(spec.get("source", ""), values, where) if kind == "script" else None,
            env=env, root=root, work=work, step_dir=step_dir, is_python=is_python, declared=declared,
            timeout=float(deadline) if deadline not in (None, "") else None,
        )
        if self.stopping:
            res.phase, res.message = "Failed", "stopped before it started"
            return
        code, timed_out, argv = self.launch(launch)
        res.command, res.cwd = argv, str(work)
        res.exit_code = code
        if timed_out:
            res.phase = "Failed"
            res.message = f"timed out: still running after activeDeadlineSeconds={deadline}"
            res.stderr_tail = _tail(step_dir / "stderr")
            return
        if code != 0:
            res.phase = "Failed"
            res.stderr_tail = _tail(step_dir / "stderr")
            res.message = "stopped" if self.stopping else (_raised(root) or f"exit code {code}")
            return
        self._collect(outputs_substituted(tpl, values), root, job.node, res, step_dir, kind)

    def launch(self, launch: "Launch") -> tuple[int, bool, list[str]]:
        """Run the step's process to the end: (exit code, timed out, argv). Other engines override this."""
        command = list(launch.command)
        args = list(launch.args)
        if launch.is_python:
            command[0] = self.python
        name = launch.template.get("name", "step")
        if launch.source is not None:
            source = launch.source
            bound: list[str] = []  # top folders the shell sees as its own (a mount namespace), as a pod would
            if not launch.is_python:
                bound, rewritten = mountns.plan(launch.declared) if len(command) == 1 else ([], launch.declared)
                source = _point_paths_at(source, rewritten, launch.root)
            command.append(str(self._script_file(name, launch.node, source, launch.is_python)))
            if bound:
                command = mountns.wrap(command, str(launch.root), bound)
        elif not launch.is_python:
            args = [_point_paths_at(a, launch.declared, launch.root) for a in args]
        env = dict(os.environ)
        env.update(launch.env)
        env["FLOWPACK_ROOT"] = str(launch.root)
        env[STEP_ID] = step_id(self.run_id, launch.node)  # inherited by its children: found and stopped at its end
        argv = command + args
        with open(launch.step_dir / "stdout", "wb") as out, open(launch.step_dir / "stderr", "wb") as err, \
                Stamper(launch.step_dir, ("stderr", "stdout")):  # each line's time, as the step writes it
            proc = start_step_process(argv, cwd=launch.work, env=env, stdout=out, stderr=err,
                                      python_script=launch.is_python and launch.source is not None
                                      and len(launch.command) == 1)
            with self._procs_lock:  # a stop either sees this process or is seen here: none starts unstopped
                self.procs.add(proc)
                stopped = self.stopping
            try:
                remember(self.run_dir, proc.pid)
                if stopped:
                    kill_group(proc)
                try:
                    return proc.wait(timeout=launch.timeout), False, argv
                except subprocess.TimeoutExpired:
                    kill_group(proc)
                    return proc.wait(), True, argv
            finally:
                with self._procs_lock:
                    self.procs.discard(proc)
                kill_group(proc)  # what the step left running in its process group (the fork server stops the
                if not contained(proc):  # rest before it reports the end); without a server, the tagged ones
                    kill_tagged(env[STEP_ID])

    def secret_value(self, entry: dict, where: str) -> str:
        """Locally, an env var from a Kubernetes secret is read from this machine's environment variable of that
        name."""
        name = entry.get("name")
        ref = (entry.get("valueFrom") or {}).get("secretKeyRef")
        if ref is None:
            raise ManifestError(f"{where}: env {name!r} uses a valueFrom the local engine can't read")
        if name not in os.environ:
            raise ManifestError(
                f"{where}: env {name!r} comes from Kubernetes secret {ref.get('name')!r} (key {ref.get('key')!r}); "
                f"on this machine, set the environment variable {name} to its value before running."
            )
        return os.environ[str(name)]  # a name in the environment

    def _collect(self, tpl: dict, root: Path, node: str, res: StepResult, step_dir: Path, kind: str) -> None:
        outputs = tpl.get("outputs") or {}
        name = tpl.get("name", "?")
        for p in outputs.get("parameters") or []:
            vf = p.get("valueFrom") or {}
            if "path" not in vf:
                continue
            path = _under(root, vf["path"])
            try:
                text = path.read_bytes().decode("utf-8", errors="replace")
                res.parameters[p["name"]] = _argo_trimmed(text)
            except FileNotFoundError:
                if "default" in vf:
                    res.parameters[p["name"]] = vf["default"]
                else:
                    res.phase, res.message = "Error", (
                        f"template {name!r}: output parameter {p['name']!r}: the step did not write {vf['path']}")
                    return
        for a in outputs.get("artifacts") or []:
            if "path" not in a:
                continue
            src = _under(root, a["path"])
            if not src.exists():
                if a.get("optional"):
                    continue
                res.phase, res.message = "Error", (
                    f"template {name!r}: output artifact {a['name']!r}: the step did not create {a['path']}")
                return
            res.artifacts[a["name"]] = self.handoff.store_output(src, f"runs/{self.run_id}/{node}/{a['name']}",
                                                                 res.parameters.get(DIGEST_PREFIX + a["name"]))
        if kind == "script":
            stdout = step_dir / "stdout"
            if stdout.stat().st_size <= RESULT_LIMIT:
                res.result = _argo_trimmed(stdout.read_text(encoding="utf-8", errors="replace"))
        res.phase = "Succeeded"

    def _script_file(self, template: str, node: str, source: str, is_python: bool) -> Path:
        """Each template's script is written once per run; a step whose substituted source differs gets its own."""
        ext = ".py" if is_python else ".sh"
        with self._scripts_lock:  # parallel steps of one template must not read a half-written script
            written = self._written.get(template)
            if written is None:
                path = self.scripts / f"{template}{ext}"
                path.write_text(source, encoding="utf-8")
                self._written[template] = source
                return path
        if written == source:
            return self.scripts / f"{template}{ext}"
        path = self.run_dir / "steps" / node / f"script{ext}"
        path.write_text(source, encoding="utf-8")
        return path

    def stop_all(self) -> None:
        """Stop every running step and its children (used on Ctrl-C and on a stop request)."""
        with self._procs_lock:
            self.stopping = True
            procs = list(self.procs)
        for proc in procs:
            kill_group(proc)
        if not all(map(contained, procs)):
            kill_tagged(step_id(self.run_id, ""), prefix=True)


def _outputs(res: StepResult) -> NamedValues:
    return NamedValues(res.parameters, {k: v.to_dict() for k, v in res.artifacts.items()})


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _argo_trimmed(text: str) -> str:
    """An output parameter or result as Argo keeps it: one trailing newline removed."""
    return text[:-1] if text.endswith("\n") else text


def _under(root: Path, path: str) -> Path:
    if not path.startswith("/"):
        raise ManifestError(f"artifact and output paths must be absolute, got {path!r}")
    return Path(str(root) + os.path.normpath(path))


def _make_folders(root: str, folder: str, made: set[str]) -> None:
    """Make `folder` (below the step's root) and the folders above it, top down, as Path.mkdir(parents=True,
    exist_ok=True) would; a folder in `made` is known to exist, so each costs one system call per step."""
    if folder in made or len(folder) <= len(root):
        return
    _make_folders(root, os.path.dirname(folder), made)
    try:
        os.mkdir(folder)
    except FileExistsError:
        if not os.path.isdir(folder):
            raise
    made.add(folder)


def _declared_paths(tpl: dict) -> list[str]:
    paths = []
    for section in ("inputs", "outputs"):
        block = tpl.get(section) or {}
        paths += [a["path"] for a in block.get("artifacts") or [] if a.get("path")]
        paths += [(p.get("valueFrom") or {}).get("path") for p in block.get("parameters") or []]
    return [p for p in paths if p and p.startswith("/")]


def _point_paths_at(text: str, paths: list[str], root: Path) -> str:
    """In a shell script, send the top folders of the declared paths (e.g. /tmp) into the step's own root."""
    tops = sorted({"/" + p.strip("/").split("/")[0] for p in paths}, key=len, reverse=True)
    if not tops:
        return text
    pattern = r"(?<![\w./-])(?:" + "|".join(re.escape(t) for t in tops) + r")(?=/|\b)"
    return re.sub(pattern, lambda m: str(root) + m.group(0), text)  # one pass: inserted text is never rescanned


def _raised(root: Path) -> str:
    """The last line of the exception a flowpack step script raised (it leaves it in its error file), or ""."""
    try:
        text = (root / IO_ROOT.lstrip("/") / ERROR).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return text.strip()[:500]


def _tail(path: Path) -> str:
    return tail_text(path, STDERR_TAIL)
