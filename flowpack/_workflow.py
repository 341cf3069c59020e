"""`@workflow`: a function whose body wires op calls into a DAG; render it, or run it on an engine."""

from __future__ import annotations

import functools
import gc
import inspect
import json
import typing
from pathlib import Path
from typing import Callable

from . import _manifest
from ._arguments import ParameterArgument
from ._bigflow import settle as settle_big_values
from ._callsite import lines_annotation
from ._context import building, current
from ._errors import OpDefinitionError, WorkflowBuildError
from ._exit import check_exit_op, exit_handler
from ._exit_with import bind_exit_values
from ._given_files import given_files_annotation
from ._graph import Graph, _content_key, upload_argument
from ._handle import Finish, Handle, Returned, ReturnForm, item_codec, workflow_param
from ._names import PARAM_NAME, UniqueNames, k8s_name
from ._op import protect
from ._param_items import item_protected
from ._signature import check_callable, describe
from ._skip_warning import warn_skippable
from ._steplike import StepLike
from ._subworkflow import SubWorkflow, check_protected_crossings
from ._subworkflow import call as subworkflow_call
from ._types import PARAM, PARAM_JSON, PATHS, encode, is_json_value
from ._values import check as check_value
from ._values import check_env_text
from ._yaml import dump

RUN_OPTIONS = ("engine", "run_dir", "store", "workers", "python", "progress", "run_id", "resume", "wait")


class Built:
    """The result of running a workflow body once: its graph, its manifest, and the files to upload."""

    def __init__(self, manifest: dict, uploads: dict[str, Path], shape: dict, result_type: type | None = None,
                 steps: dict | None = None):
        self.steps = steps or {}  # template name -> op (for image building)
        self.manifest = manifest
        self.uploads = uploads
        self.shape = shape
        self.result_type = result_type  # the NamedTuple the body's return value is rebuilt as, if any


class Workflow:
    """A workflow: calling it runs the body as plain Python; `render`/`run` build the DAG from it."""

    def __init__(self, func: Callable, *, name: str | None = None, parallelism: int | None = None,
                 on_exit=None):
        check_callable(func, "@fp.workflow")
        functools.update_wrapper(self, func)
        self.func = func
        self.name = k8s_name(name or func.__name__)
        if parallelism is not None and (not isinstance(parallelism, int) or parallelism < 1):
            raise OpDefinitionError(f"workflow {self.name!r}: parallelism={parallelism!r} must be a whole number >= 1.")
        self.parallelism = parallelism
        if on_exit is not None:
            check_exit_op(on_exit, self.name)
        self.on_exit = on_exit
        self._images: dict[str, str] = {}  # template -> image built for it (set by build_images)
        self.interface = describe(func, self.name)
        for name in self.interface.inputs:
            if not PARAM_NAME.match(name):
                raise OpDefinitionError(f"workflow {self.name!r}: parameter {name!r} can't be an Argo parameter name "
                                        f"(only ASCII letters, digits, '_' and '-'). Rename it.")
        self.signature = inspect.signature(func)
        clash = [n for n in self.interface.inputs if n in RUN_OPTIONS]
        if clash:
            raise OpDefinitionError(
                f"workflow {self.name!r}: parameter {clash[0]!r} has the name of a run option "
                f"({', '.join(RUN_OPTIONS)}). Rename the parameter."
            )

    def __call__(self, *args, **kwargs):
        """Outside a build, the workflow is its plain function: every op in it runs in-process. Inside another
        workflow's body, a task running this workflow as a DAG template of its own (see _subworkflow)."""
        graph = current()
        if graph is None:
            return self.func(*args, **kwargs)
        return subworkflow_call(graph, self, args, kwargs, _outputs)

    def map(self, *args, parallelism: int | None = None, **kwargs):
        """Inside another workflow's body: run this workflow once per item, as `op.map(...)` runs an op."""
        graph = current()
        if graph is None:
            raise WorkflowBuildError(f"{self.name}.map(...) builds a fan-out; call it inside an @fp.workflow body.")
        return subworkflow_call(graph, self, args, kwargs, _outputs, mapped=True, parallelism=parallelism)

    def __repr__(self) -> str:
        return f"<flowpack workflow {self.name!r}>"

    def _repr_html_(self) -> str | None:
        """In a notebook: the signature and a picture of the DAG (built with the default parameter values)."""
        from ._view import workflow_html  # lazy: the views load on the first display (import time)

        return workflow_html(self)

    # -- building --------------------------------------------------------------------------------
    def build(self, **params) -> Built:
        """Run the body with handles for its parameters and assemble the manifest (validated)."""
        with _no_gc():  # a build allocates many small objects that all stay alive: collecting them is wasted time
            return self._build(**params)

    def _build(self, **params) -> Built:
        from ._validate import check_manifest  # lazy: the manifest checks load on the first render (import time)

        try:
            bound = self.signature.bind(**params)
        except TypeError as exc:
            raise WorkflowBuildError(
                f"workflow {self.name!r}: {exc}. Its signature is {self.name}{self.signature}.") from None
        bound.apply_defaults()
        graph = Graph(self.name)
        handles: dict[str, Handle | list[Path]] = {}
        parameters: list[ParameterArgument] = []
        artifacts: list[dict] = []
        texts: dict[str, str] = {}  # parameter -> its value as Argo text
        protected: set[str] = set()
        given: dict[str, list[Path]] = {}  # list[Path] parameter -> its local files and folders
        for name, inp in self.interface.inputs.items():
            if name not in bound.arguments:
                raise WorkflowBuildError(f"workflow {self.name!r}: parameter {name!r} needs a value (no default).")
            value = bound.arguments[name]
            if inp.kind.how == PATHS:  # local files: the body gets the paths; each uploaded, its key recorded
                paths = _local_files(value, self.name, name)
                handles[name], given[name] = paths, list(paths)  # as given, whatever the body does with its list
                continue
            kind = inp.kind if inp.kind.how != "pickle" else _param_kind(value, self.name, name)
            handles[name] = workflow_param(name, kind)
            graph.param_types[name] = inp.annotation
            if kind.how == PARAM:
                check_value(value, inp.annotation, f"workflow {self.name!r}: parameter {name!r}")
                text = encode(value, kind)
                texts[name] = text
                sent = protect(text, kind.codec)
                if sent != text:  # Argo can't carry it as it is ('{{', control bytes): it travels base64-encoded
                    protected.add(name)
                parameters.append(ParameterArgument(name, sent))
            else:
                key = _upload_key(graph, Path(value), self.name, name)
                artifacts.append(upload_argument(name, key, Path(value)))
        with building(graph):
            returned = self.func(**handles)
        if protected:
            _check_protected_uses(graph, protected, self.name)
            check_protected_crossings(graph, protected, self.name)
        _check_shell_uses(graph, texts, self.name)
        for i, param in enumerate(parameters):  # a list's items as a loop hands them to Python ops exactly
            name = param.name
            items = None if name in protected else item_protected(graph, name, bound.arguments[name],
                                                                  self.interface.inputs[name].annotation)
            if items is not None:
                parameters[i] = ParameterArgument(name, items)
        outputs, shape = _outputs(returned, self.name)
        warn_skippable(graph, outputs, self.name)
        spec_extra: dict = {}
        extra_templates: list[dict] = []
        if self.parallelism:
            spec_extra["parallelism"] = self.parallelism
        exit_template = graph.register(self.on_exit) if self.on_exit is not None else None  # before naming the rest
        subflows = [s for s in graph.steps.values() if isinstance(s, SubWorkflow)]
        every_task = graph.tasks + [t for s in subflows for t in s.graph.tasks]
        names = UniqueNames(set(graph.steps) | {t.loop_template for t in every_task if t.loop_template})
        own = graph.subworkflows.get(id(self))  # the body calls this workflow itself: its template is the entry
        entry = graph.template_of[id(own)] if own is not None else names.take(self.name)
        if exit_template is not None:
            exit_name = names.take(self.name + "-exit")
            handler = exit_handler(self.on_exit, exit_template, exit_name)
            bind_exit_values(graph, self.on_exit, handler, self.name)  # fp.exit_with(...): step outputs (_exit_with)
            extra_templates.append(handler)
            spec_extra["onExit"] = exit_name
        else:
            bind_exit_values(graph, None, {}, self.name)
        finish = None
        if own is None and _manifest.needs_finish(graph):
            finish = Finish(graph.task_name(_manifest.FINISH), names.take(self.name + "-" + _manifest.FINISH))
        for sub in subflows:  # a sub-workflow's DAG closes with its own finish task when it needs one
            if _manifest.needs_finish(sub.graph):
                sub.finish = Finish(sub.graph.task_name(_manifest.FINISH),
                                    names.take(sub.name + "-" + _manifest.FINISH))
        manifest = _manifest.build(graph, name=self.name, entrypoint=entry, parameters=parameters,
                                   artifacts=artifacts, outputs=outputs, shape=shape, spec_extra=spec_extra,
                                   extra_templates=extra_templates, finish=finish, own_entry=own is not None)
        graph.uploads.update(settle_big_values(manifest, graph.steps, self.name))  # twins of big values (_bigflow)
        nested = {graph.template_of[id(s)]: s.graph.tasks for s in subflows}  # a sub-workflow's lines, by template
        manifest["metadata"].setdefault("annotations", {}).update(lines_annotation(graph.tasks, nested))
        manifest["metadata"]["annotations"].update(  # for --params-from (_cli_target)
            given_files_annotation({name: graph.given_files(paths) for name, paths in given.items()}))
        if self._images:
            from ._images_build import apply_images  # lazy: image building loads only when images are built

            manifest = apply_images(manifest, self._images)
        check_manifest(manifest)
        result_type = None
        if shape.form == ReturnForm.FIELDS and isinstance(returned, Handle) and returned.task is not None:
            result_type = _return_annotation(returned.task.step)
        return Built(manifest, dict(graph.uploads), shape.to_json(), result_type, dict(graph.steps))

    def render(self, **params) -> dict:
        """The Argo Workflow manifest (a dict) for these parameter values."""
        return self.build(**params).manifest

    def to_json(self, **params) -> str:
        return json.dumps(self.render(**params), indent=1, ensure_ascii=False)

    def to_yaml(self, **params) -> str:
        manifest = self.render(**params)
        with _no_gc():
            return dump(manifest)

    # -- running ---------------------------------------------------------------------------------
    def run(self, *, engine: str | object = "local", run_dir: str | Path = ".flowpack/runs", store=None,
            workers: int | None = None, python: str | None = None, progress=None, run_id: str | None = None,
            resume: str | None = None, wait: bool = True, **params):
        """Run on an engine (the embedded local engine by default) and return the finished Run.

        `resume=RUN_ID` reuses the steps that succeeded in that earlier run (same script, image and inputs).
        `wait=False` returns at once; the Run follows the steps as they go and `run.wait()` blocks.
        Raises RunError naming the failed step, its exit code and stderr tail when the run does not succeed.
        """
        from ._run import execute  # lazy: the engines load on the first run (import time)

        built = self.build(**params)
        return execute(built, engine=engine, run_dir=run_dir, store=store, workers=workers, python=python,
                       progress=progress, run_id=run_id, resume=resume, wait=wait, workflow=self)

    def build_images(self, *, registry: str | None = None, push: bool = False, progress=None) -> dict[str, str]:
        """Build (and with push=True, push to `registry`) one image per distinct set of base image and packages of
        this workflow's ops; from then on render/submit/run name those images. Returns template -> image."""
        from ._images_build import build_images  # lazy: image building loads only when images are built

        self._images = build_images(self, registry=registry, push=push, progress=progress)
        return dict(self._images)

    # -- Argo ------------------------------------------------------------------------------------
    def submit(self, **kwargs):
        """Send to Argo Workflows (ARGO_SERVER, ARGO_TOKEN... or argo=) and return an ArgoRun handle.

        Options: argo, store, namespace, artifact_repository, labels, service_account, generate_name; every other
        keyword is a workflow parameter.
        """
        from . import _argo  # lazy: the Argo package loads only when Argo is used (import time)

        return _argo.submit(self, **kwargs)

    def register(self, **kwargs) -> dict:
        """Publish as an Argo WorkflowTemplate (or a CronWorkflow with schedule="0 * * * *")."""
        from . import _argo  # lazy: the Argo package loads only when Argo is used (import time)

        return _argo.register(self, **kwargs)

    def schedule(self, cron, **kwargs) -> dict:
        """Publish as an Argo CronWorkflow running on `cron`."""
        from . import _argo  # lazy: the Argo package loads only when Argo is used (import time)

        return _argo.schedule(self, cron, **kwargs)

    def lint(self, **kwargs) -> dict:
        """Ask the Argo Server to lint this workflow's manifest."""
        from . import _argo  # lazy: the Argo package loads only when Argo is used (import time)

        return _argo.lint(self, **kwargs)


class _no_gc:
    """Pause the cyclic garbage collector for a block (builds allocate much and free little)."""

    def __enter__(self):
        self._was = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc):
        if self._was:
            gc.enable()
        return False


def _return_annotation(step: StepLike) -> type | None:
    if isinstance(step, SubWorkflow):  # the NamedTuple of the op whose result it returns, or its own annotation
        return step.result_type
    func = step.func
    try:
        return typing.get_type_hints(func).get("return") if func is not None else None
    except Exception:
        return None


def _param_kind(value, wf: str, name: str):
    """An unannotated workflow parameter travels as JSON when its value is JSON."""
    if is_json_value(value):
        return PARAM_JSON
    raise WorkflowBuildError(
        f"workflow {wf!r}: parameter {name!r} got {type(value).__name__} {value!r}, which is not JSON. Workflow "
        f"parameters are Argo parameters (JSON) or files (annotate with pathlib.Path)."
    )


def _local_files(value, wf: str, name: str) -> list[Path]:
    """A `list[Path]` workflow parameter: a list of existing local files or folders."""
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, (str, Path)) and Path(v).exists() for v in value):
        raise WorkflowBuildError(f"workflow {wf!r}: parameter {name!r} takes a list of existing files or folders, e.g. "
                                 f"[Path('a.csv'), Path('b.csv')]; got {value!r}.")
    return [Path(v) for v in value]


def _upload_key(graph: Graph, path: Path, wf: str, name: str) -> str:
    if not path.exists():
        raise WorkflowBuildError(f"workflow {wf!r}: parameter {name!r}: the path {str(path)!r} does not exist.")
    key = _content_key(path)
    graph.uploads[key] = path
    return key


def _check_protected_uses(graph: Graph, names: set[str], wf: str) -> None:
    """A parameter value Argo can't carry as it is ('{{', control bytes) reaches steps base64-encoded: only Python
    steps' inputs can decode it; a condition or a map would see the encoded text."""
    for task in graph.tasks:
        control = (task.when or "") + json.dumps(task.extra)  # the condition and the map's items
        for name in sorted(names):
            ref = "{{workflow.parameters.%s}}" % name
            where = (f"workflow {wf!r}: parameter {name!r} holds text Argo can't carry as it is ('{{{{' or control "
                     f"characters), so it travels encoded")
            if ref in control or "workflow.parameters['%s']" % name in control:
                raise WorkflowBuildError(f"{where}, so task {task.name!r} can't test it in a condition or map over "
                                         f"it. Pass such text to a Python op as an argument instead.")
            if not task.step.decodes_protected and any(ref in p.value for p in task.parameters):
                raise WorkflowBuildError(f"{where}, and the shell step {task.name!r} can't decode it. "
                                         f"Pass it through a file (a Path parameter) instead.")


def _check_shell_uses(graph: Graph, texts: dict[str, str], wf: str) -> None:
    """A parameter reaching a shell step becomes an environment variable: it must be one an environment can hold."""
    for task in graph.tasks:
        if task.step.decodes_protected:
            continue
        for name, text in texts.items():
            if any("{{workflow.parameters.%s}}" % name in p.value for p in task.parameters):
                check_env_text(text, f"workflow {wf!r}: parameter {name!r} (an input of the shell step {task.name!r})")


def _outputs(returned, wf: str) -> tuple[dict[str, Handle], Returned]:
    """Map the body's return value to named outputs, remembering its shape for run.result()."""
    def check(h, label):
        if not isinstance(h, Handle) or h.kind is None:
            raise WorkflowBuildError(
                f"workflow {wf!r}: {label} must be the output of an op call (a handle); got {h!r}. "
                f"Return handles, a tuple or dict of handles, or nothing."
            )
        if h.kind.how == PATHS:
            raise WorkflowBuildError(
                f"workflow {wf!r}: {label} is the files of map {h.task.name!r}, which a workflow can't return yet. "
                f"Return the result of an op that takes them (files: list[Path]), e.g. one that packs them into a "
                f"folder it returns as a Path.")
        return h

    if returned is None:
        return {}, Returned(ReturnForm.NONE, {})
    if isinstance(returned, Handle) and returned.kind is None and returned.task is not None:
        fields = returned.task.step.interface.fields
        if fields:
            outs = {f: returned.task.handle(f) for f in fields}
            return outs, _returned(ReturnForm.FIELDS, outs, tuple(fields))
    if isinstance(returned, Handle):
        outs = {"return": check(returned, "the return value")}
        return outs, _returned(ReturnForm.SINGLE, outs)
    if isinstance(returned, (tuple, list)):
        outs = {f"return-{i}": check(h, f"item {i} of the returned tuple") for i, h in enumerate(returned)}
        return outs, _returned(ReturnForm.TUPLE, outs)
    if isinstance(returned, dict):
        outs = {}
        for k, h in returned.items():
            if not isinstance(k, str) or not PARAM_NAME.match(k):
                raise WorkflowBuildError(f"workflow {wf!r}: returned dict key {k!r} must be an Argo output name "
                                         f"(ASCII letters, digits, '_' and '-').")
            outs[k] = check(h, f"returned dict value {k!r}")
        return outs, _returned(ReturnForm.DICT, outs)
    check(returned, "the return value")
    raise AssertionError("unreachable")


def _returned(form: ReturnForm, outs: dict[str, Handle], fields: tuple[str, ...] | None = None) -> Returned:
    return Returned(form, {n: _kind_record(h) for n, h in outs.items()}, fields)


def _kind_record(h: Handle) -> dict:
    """How an output decodes. A map's gathered output also records its items' codec (`each`): Argo gathers
    numbers, booleans and null as a list of their texts (["1","4"]), which are decoded one by one."""
    if h.kind is None:  # _outputs takes only handles of values
        raise WorkflowBuildError(f"{h!r} has no value to return")
    record: dict[str, str] = {"how": h.kind.how, "codec": h.kind.codec}
    each = item_codec(h)
    if each is not None:
        record["each"] = each
    return record


def workflow(func: Callable | None = None, *, name: str | None = None, parallelism: int | None = None,
             on_exit=None):
    """Turn a function into a workflow: `@workflow` bare, or `@workflow(name=..., parallelism=4, on_exit=op)`.

    parallelism bounds the steps running at once; on_exit is an op run after the workflow, on success or failure
    (it receives the workflow's phase as its `status` argument when it has one).
    """
    if func is None:
        return lambda f: Workflow(f, name=name, parallelism=parallelism, on_exit=on_exit)
    return Workflow(func, name=name, parallelism=parallelism, on_exit=on_exit)
