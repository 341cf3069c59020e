"""`@op`: a plain Python function that also knows how to be an Argo step (script + template)."""

from __future__ import annotations

import base64
import functools
import inspect
import sys
import types
from typing import Any, Callable, Generic, ParamSpec, Sequence, TypeVar, overload

from ._capture import Captured
from ._capture_facts import ImageFacts
from ._code_names import check_function_names
from ._context import current
from ._engine._expr import memo_expression
from ._errors import OpDefinitionError, WorkflowBuildError
from ._handle import Handle
from ._jinja import render_json
from ._names import k8s_name
from ._options import Options
from ._retry import Retry
from ._script import render_script
from ._signature import Interface, check_callable, describe
from ._types import MARKER, PARAM, PATHS, PICKLE, protect
from ._wire import DIGEST_PREFIX, INPUTS, OUTPUT_ARTIFACTS, OUTPUT_DIGESTS, OUTPUT_PARAMETERS, PARAMS, io_path

PROTECTED = MARKER  # marks a value that travels base64-encoded (see _types.protect)


def default_image() -> str:
    """The official Python image of this interpreter's minor version, so values pickled here load there."""
    return f"python:{sys.version_info[0]}.{sys.version_info[1]}-slim"


def script_source(script: str) -> str:
    """The text Argo gets as `script.source`. Argo substitutes `{{...}}` anywhere in a template, so a script that
    contains those braces itself travels base64-encoded behind a one-line loader and stays byte-exact."""
    if "{{" not in script:
        return script

    blob = base64.b64encode(script.encode("utf-8")).decode("ascii")
    return (
        "# flowpack: this step script contains '{{', Argo's substitution marker, so it is shipped base64-encoded.\n"
        "import base64\n"
        f"exec(compile(base64.b64decode({blob!r}).decode('utf-8'), 'step.py', 'exec'))\n"
    )


class Step:
    """What the workflow builder needs from anything callable as a step (`_steplike.StepLike`): a name, an interface,
    a template, and what it decodes and runs."""

    __flowpack_op__ = True
    decodes_protected = False  # True when the step script decodes '{{'-protected literals
    runs_script = False  # True for a Python op's step script
    batched = False  # only a batched map's form of an op is (_batch)
    options: Options | None = None  # a sub-workflow has none
    func: Callable[..., Any] | None = None  # whose return annotation types the outputs (a shell op has none)
    name: str
    raw_name: str
    image: str
    interface: Interface

    @property
    def op(self) -> Step:
        """The step itself (a map's form of it names the step it runs, see _steplike.StepForm)."""
        return self

    def decodes_input(self, name: str) -> bool:
        """Input `name` takes a tagged or encoded value, which the step decodes."""
        return self.decodes_protected

    def template(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def signature(self) -> inspect.Signature:  # pragma: no cover - abstract
        raise NotImplementedError

    def image_facts(self) -> ImageFacts | None:
        """What the step's image must provide beyond its base image; None: the step keeps its image as it is."""
        return None

    def map(self, *args, parallelism: int | None = None, tolerate: int | float | None = None,
            batch: int | None = None, **kwargs):
        """Fan out inside a workflow: list arguments are mapped (zipped), others broadcast to every item.

        `op.map(a=[1, 2, 3], b=x)` runs op(a=1, b=x), op(a=2, b=x)...; the result is a list handle (fan-in).
        `parallelism=k` bounds how many items run at once. `tolerate=2` lets the map succeed when at most 2 items
        failed (`tolerate=0.1`: a tenth of them); the steps after it get the outputs of the items that succeeded.
        `batch=50` runs up to 50 items per pod, in order, in one process; the result is the same flat list.
        """
        graph = current()
        if graph is None:
            raise WorkflowBuildError(f"{self.name}.map(...) builds a fan-out; call it inside an @fp.workflow body.")
        return graph.add_map(self, args, kwargs, parallelism, tolerate, batch)


P = ParamSpec("P")
R = TypeVar("R")


class Op(Step, Generic[P, R]):
    """A decorated function: called outside a workflow it is the plain function; inside one, it adds a task.

    To a type checker an op keeps its function's signature: `add(1, 2)` is an `int` (inside a workflow body the call
    returns a handle that stands for that int while the workflow runs)."""

    decodes_protected = True
    runs_script = True
    func: Callable[P, R]
    options: Options

    def __init__(self, func: Callable[P, R], *, name: str | None = None, image: str | None = None,
                 packages: Sequence[str] = (), **options):
        check_callable(func)
        assert isinstance(func, types.FunctionType)  # check_callable refused anything else
        functools.update_wrapper(self, func)
        self.func = func
        self.raw_name = name or func.__name__
        self.name = k8s_name(self.raw_name)
        check_function_names(func, self.name)
        self.image = image or default_image()
        self.packages = tuple(packages)
        self.options = Options.make(f"op {self.name!r}", **options)
        self.interface = describe(func, self.name)
        check_cacheable(self)
        self._rendered: tuple[str, Captured] | None = None
        self._template: dict | None = None

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        graph = current()
        if graph is None:
            _refuse_handles(self.name, args, kwargs)
            return self.func(*args, **kwargs)
        return graph.add_call(self, args, kwargs)

    def signature(self) -> inspect.Signature:
        return inspect.signature(self.func)

    def __get__(self, obj, objtype=None):  # keep plain-function behaviour as a class attribute
        return self if obj is None else functools.partial(self.__call__, obj)

    def __repr__(self) -> str:
        return f"<flowpack op {self.name!r} of {self.func.__module__}.{self.func.__qualname__}>"

    def script(self) -> str:
        """The self-contained step script (rendered once, then cached)."""
        return self._render()[0]

    def image_facts(self) -> ImageFacts:
        """What capture found that the step's image must provide: imported modules, pickles, declared packages."""
        captured = self._render()[1]
        kinds = [i.kind for i in self.interface.inputs.values()] + list(self.interface.outputs.values())
        pickles = captured.needs_cloudpickle or any(k.how == PICKLE for k in kinds)
        return ImageFacts.found(captured.modules, pickles, self.packages)

    def _render(self) -> tuple[str, Captured]:
        rendered = self._rendered
        if rendered is None:
            rendered = self._rendered = render_script(self.func, self.name, self.interface)
        return rendered

    def template(self) -> dict:
        """The Argo `script` template of this op (one per op, however often it is called)."""
        if self._template is None:
            inputs = self.interface.inputs.values()
            params = [i for i in inputs if i.kind.how in (PARAM, PATHS)]  # list[Path]: its files' names (_fanin)
            # Parameter values reach the script as files (raw artifacts Argo fills in), not environment
            # variables: no size limit of one variable, NUL bytes and newlines arrive exactly.
            param_files = [{"name": f"param-{i.name}", "path": io_path(PARAMS, i.name), "optional": False,
                            "raw": "{{inputs.parameters.%s}}" % i.name} for i in params]
            self._template = render_json(
                "op-template.json.j2",
                name=self.name,
                inputs={
                    "parameters": [{"name": i.name, "default": protect(i.default_text, i.kind.codec)} for i in params],
                    "artifacts": param_files + [
                        {"name": i.name, "path": io_path(INPUTS, i.name),
                         "optional": i.has_default or i.kind.how == PATHS, "raw": None}
                        for i in inputs if i.kind.how != PARAM
                    ],
                },
                outputs={
                    "parameters": [
                        {"name": n, "path": io_path(OUTPUT_PARAMETERS, n)}
                        for n, k in self.interface.outputs.items() if k.how == PARAM
                    ] + [
                        {"name": DIGEST_PREFIX + n, "path": io_path(OUTPUT_DIGESTS, n)}
                        for n, k in self.interface.outputs.items() if k.how == PICKLE
                    ],
                    "artifacts": [
                        {"name": n, "path": io_path(OUTPUT_ARTIFACTS, n), "raw": k.how == PICKLE}
                        for n, k in self.interface.outputs.items() if k.how != PARAM
                    ],
                },
                extra=self.options.template_fields(),
                image=self.image,
                command=["python"],
                source=script_source(self.script()),
                resources=self.options.resources(),
                env=self.options.env_entries(),
                **memoize_context(self.options.cache, [i.name for i in params]),
            )
        return self._template


def _refuse_handles(name: str, args: tuple, kwargs: dict) -> None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, Handle):
            raise WorkflowBuildError(
                f"op {name!r} got a workflow handle ({value!r}) outside a workflow body. Handles stand for values that "
                f"exist only while a workflow runs: call the op inside a function decorated with @fp.workflow."
            )


def memoize_context(cache: bool | str, params: list[str]) -> dict[str, bool | str | None]:
    """What op-template.json.j2 needs for Argo memoization: `cache` (False, True or a max age such as '1h') and the
    Argo expression hashing the input parameters, whose values the key covers beside the template itself.

    Input values are hashed (see `memo_expression`): raw values could break a ConfigMap key (only `[-._a-zA-Z0-9]`,
    at most 253 characters) and, joined by dashes, two calls could share one key.
    """
    return {"cache": cache, "memo_inputs": memo_expression(params) if params else None}


def check_cacheable(step) -> None:
    """Argo's memoization keys see input parameters only: an op with file or pickled inputs can't be cached."""
    if not step.options.cache:
        return
    arts = [n for n, i in step.interface.inputs.items() if i.kind.how != PARAM]
    if arts:
        raise OpDefinitionError(
            f"op {step.name!r}: cache=True, but inputs {arts} are files or pickled values, which Argo's memoization "
            f"key can't see (a changed value would return a stale result). Annotate them with JSON types or drop cache."
        )


@overload
def op(func: Callable[P, R], *, name: str | None = None, image: str | None = None,
       packages: Sequence[str] = (), retries: int | Retry = 0, backoff: float | None = None,
       timeout: float | None = None, cpu: str | float | None = None, memory: str | None = None, gpu: int = 0,
       env: dict | None = None, secret_env: dict | None = None, node_selector: dict | None = None,
       tolerations: Sequence[dict] = (), cache: bool | str = False) -> Op[P, R]: ...


@overload
def op(func: None = None, *, name: str | None = None, image: str | None = None,
       packages: Sequence[str] = (), retries: int | Retry = 0, backoff: float | None = None,
       timeout: float | None = None, cpu: str | float | None = None, memory: str | None = None, gpu: int = 0,
       env: dict | None = None, secret_env: dict | None = None, node_selector: dict | None = None,
       tolerations: Sequence[dict] = (), cache: bool | str = False) -> Callable[[Callable[P, R]], Op[P, R]]: ...


def op(func: Callable | None = None, *, name: str | None = None, image: str | None = None,
       packages: Sequence[str] = (), retries: int | Retry = 0, backoff: float | None = None,
       timeout: float | None = None, cpu: str | float | None = None, memory: str | None = None, gpu: int = 0,
       env: dict | None = None, secret_env: dict | None = None, node_selector: dict | None = None,
       tolerations: Sequence[dict] = (), cache: bool | str = False) -> Op | Callable[[Callable], Op]:
    """Turn a function into an op: `@op` bare, or `@op(image=..., retries=2, timeout=60, cpu=2, ...)` with options.

    retries/backoff: retry a failed step (backoff seconds, doubling); timeout: seconds before the step is killed;
    cpu/memory/gpu: resource requests; env/secret_env: environment (secret_env maps VAR -> (secret, key));
    node_selector/tolerations: placement on a cluster; cache: reuse results of identical steps across runs.
    """
    options = dict(retries=retries, backoff=backoff, timeout=timeout, cpu=cpu, memory=memory, gpu=gpu, env=env,
                   secret_env=secret_env, node_selector=node_selector, tolerations=tolerations, cache=cache)
    if func is None:
        return lambda f: Op(f, name=name, image=image, packages=packages, **options)
    return Op(func, name=name, image=image, packages=packages, **options)
