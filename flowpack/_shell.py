"""Shell steps, as dflow's ShellOPTemplate: a script with declared inputs and outputs at declared paths.

Inputs reach the script as environment variables (never spliced into its text); output parameters are read from
files; output artifacts are collected from declared paths.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from pathlib import PurePath

from ._context import current
from ._errors import OpDefinitionError
from ._jinja import render_json
from ._names import k8s_name
from ._op import Step, check_cacheable, default_image, memoize_context
from ._options import Options
from ._signature import Input, Interface
from ._types import ARTIFACT_PATH, PARAM, kind_of

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")  # input names (environment variables) and output names


@dataclass(frozen=True)
class Parameter:
    """An output parameter read from the file at `path` when the step ends (trailing newlines dropped)."""

    path: str
    type: type = str


@dataclass(frozen=True)
class Artifact:
    """A file or folder at `path`: an output collected when the step ends, or an input placed before it starts."""

    path: str


class ShellOp(Step):
    """A shell script as a step. Call it inside a workflow like an op; its outputs are attributes of the handle."""

    options: Options

    def __init__(self, script: str, *, name: str, inputs: dict | None = None, outputs: dict | None = None,
                 image: str | None = None, shell: str = "bash", **options):
        if not name:
            raise OpDefinitionError("fp.shell(...) needs name=, the step's name in the workflow.")
        self.name = self.raw_name = k8s_name(name)
        where = f"shell op {self.name!r}"
        if "{{" in script:
            raise OpDefinitionError(
                f"{where}: the script contains '{{{{', Argo's substitution marker. Read inputs from environment "
                f"variables ($name) instead of template expressions."
            )
        self.script = script
        self.image = image or default_image()
        self.options = Options.make(where, **options)
        self.shell = shell
        self._inputs: dict[str, object] = dict(inputs or {})
        self._outputs: dict[str, object] = dict(outputs or {})
        self._artifacts: dict[str, Artifact] = {}  # the inputs placed as files, by name
        ins: dict[str, Input] = {}
        for n, spec in self._inputs.items():
            if not isinstance(n, str) or not _NAME.match(n):
                raise OpDefinitionError(f"{where}: input name {n!r} must be a valid environment variable name.")
            if isinstance(spec, Artifact):
                _check_path(spec.path, where, n)
                ins[n] = Input(n, ARTIFACT_PATH)
                self._artifacts[n] = spec
            elif isinstance(spec, type) and issubclass(spec, PurePath):
                raise OpDefinitionError(
                    f"{where}: input {n!r} is a file; declare where it goes with fp.Artifact(path).")
            else:
                kind = kind_of(spec)
                if kind.how != PARAM:
                    raise OpDefinitionError(f"{where}: input {n!r} of type {spec!r} can't reach a shell script; use "
                                            f"str, int, float, bool, list or dict, or fp.Artifact(path).")
                ins[n] = Input(n, kind, annotation=spec)
        outs = {}
        for n, spec in self._outputs.items():
            if not isinstance(n, str) or not _NAME.match(n):
                raise OpDefinitionError(
                    f"{where}: output name {n!r} must be a Python identifier (letters, digits, '_'; not starting with "
                    f"a digit), e.g. 'out_file': it becomes an Argo output name and an attribute of the step's handle.")
            if isinstance(spec, Parameter):
                _check_path(spec.path, where, n)
                kind = kind_of(spec.type)
                if kind.how != PARAM:
                    raise OpDefinitionError(
                        f"{where}: output parameter {n!r} must have a JSON type, not {spec.type!r}.")
                outs[n] = kind
            elif isinstance(spec, Artifact):
                _check_path(spec.path, where, n)
                outs[n] = ARTIFACT_PATH
            else:
                raise OpDefinitionError(f"{where}: output {n!r} must be fp.Parameter(path) or fp.Artifact(path).")
        self.interface = Interface(ins, outs, tuple(outs) if len(outs) != 1 else None)
        check_cacheable(self)
        self._template: dict | None = None

    def __call__(self, **kwargs):
        graph = current()
        if graph is None:
            raise OpDefinitionError(f"shell op {self.name!r} runs only inside a workflow body (@fp.workflow).")
        return graph.add_call(self, (), kwargs)

    def __repr__(self) -> str:
        return f"<flowpack shell op {self.name!r}>"

    def signature(self) -> inspect.Signature:
        return inspect.Signature([inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY) for n in self._inputs])

    def template(self) -> dict:
        if self._template is None:
            ins = self.interface.inputs
            params = [n for n, i in ins.items() if i.kind.how == PARAM]
            env = [{"name": n, "value": "{{inputs.parameters.%s}}" % n} for n in params]
            env += [{"name": n, "value": a.path} for n, a in self._artifacts.items()]
            self._template = render_json(
                "op-template.json.j2",
                name=self.name,
                inputs={"parameters": [{"name": n, "default": None} for n in params],
                        "artifacts": [{"name": n, "path": a.path, "optional": False, "raw": None}
                                      for n, a in self._artifacts.items()]},
                outputs={
                    "parameters": [{"name": n, "path": s.path} for n, s in self._outputs.items()
                                   if isinstance(s, Parameter)],
                    "artifacts": [{"name": n, "path": s.path, "raw": False} for n, s in self._outputs.items()
                                  if isinstance(s, Artifact)],
                },
                extra=self.options.template_fields(),
                image=self.image,
                command=[self.shell],
                source=self.script,
                resources=self.options.resources(),
                env=env + self.options.env_entries(),
                **memoize_context(self.options.cache, params),
            )
        return self._template


def _check_path(path: str, where: str, name: str) -> None:
    if not isinstance(path, str) or not path.startswith("/") or path.rstrip("/") == "":
        raise OpDefinitionError(f"{where}: {name!r} needs an absolute path such as /tmp/{name}.txt, got {path!r}.")


def shell(script: str, *, name: str, inputs: dict | None = None, outputs: dict | None = None,
          image: str | None = None, shell: str = "bash", **options) -> ShellOp:
    """A shell step: `inputs` maps names to types (env vars) or fp.Artifact(path); `outputs` to fp.Parameter/Artifact.

    Takes the same options as @fp.op (retries, timeout, cpu, memory, gpu, env, secret_env, cache, ...).
    """
    return ShellOp(script, name=name, inputs=inputs, outputs=outputs, image=image, shell=shell, **options)
