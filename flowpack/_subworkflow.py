"""A workflow called inside another: its own DAG template (never inlined), called, mapped and recursed like an op.

Its body is built once per manifest, on the first call, into a graph of its own (sharing the caller's templates);
its parameters become the DAG template's inputs (`{{inputs.parameters.x}}`, `{{inputs.artifacts.x}}`) and its
returned handles the template's outputs. A call inside its own body (or a body it calls) refers to the template
being built, so recursion ends the build; at run time a condition must be able to stop it.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from typing import Callable, Protocol

from ._context import building
from ._errors import WorkflowBuildError
from ._graph import Graph
from ._handle import Finish, Handle, Returned, ReturnForm, Task, item_codec
from ._op import Op, Step
from ._signature import Input, Interface, _hints
from ._status_deps import may_not_run
from ._types import PARAM, PARAM_JSON, PATH, PICKLE, Kind, encode, is_json_value, is_namedtuple, protect

Outputs = Callable[[object, str], "tuple[dict[str, Handle], Returned]"]  # the body's return value -> named outputs


class WorkflowLike(Protocol):
    """What a sub-workflow needs of the `@fp.workflow` it stands for (flowpack/_workflow.Workflow)."""

    name: str
    func: Callable
    interface: Interface
    signature: inspect.Signature
    parallelism: int | None
    on_exit: object


@dataclass(frozen=True, eq=False)  # not compared: a handle's == builds a condition
class DeferredArgument:
    """An argument of a call made while the sub-workflow's body was being built (it calls itself), checked once the
    body is known: the input's name, the value given, and the call's description for errors."""

    name: str
    value: object
    where: str


class SubWorkflow(Step):
    """The step a `@fp.workflow` is inside another workflow: a DAG template with its body's tasks."""

    # Text Argo can't carry as it is crosses the boundary as the ops inside read it (base64 behind the marker);
    # handles cross untagged (see _check_crossing), so the ops inside see the text their producers wrote.
    decodes_protected = True

    def __init__(self, workflow: WorkflowLike, root: Graph):
        self.workflow = workflow
        self.func = workflow.func  # its return annotation rebuilds a NamedTuple result (see _workflow)
        self.name = self.raw_name = workflow.name
        self.image = ""
        self.parallelism = workflow.parallelism
        self.graph = root.nested(workflow.name)
        declared = workflow.interface  # from the return annotation, when there is one
        annotated = workflow.signature.return_annotation is not inspect.Signature.empty
        self.declared = dict(declared.outputs) if annotated else None
        fields = declared.fields if annotated else None
        self.interface = Interface(_inputs(workflow), dict(self.declared or {}), fields)
        self.outputs: dict[str, Handle] = {}
        self.building = True
        self.recursive = False  # a call of it was made while its body was being built
        self.finish: Finish | None = None  # the task closing its DAG, set when the manifest is named
        self.op_inputs: set[str] = set()  # parameters the body only hands to Python ops as they are (see build)
        self.deferred: list[DeferredArgument] = []  # arguments of calls made while the body was being built
        self.result_type: type | None = None  # the NamedTuple its fields rebuild as (see build)

    def signature(self) -> inspect.Signature:
        return self.workflow.signature

    def decodes_input(self, name: str) -> bool:
        """Only a parameter its body hands to Python ops alone, as it is, takes a tagged or encoded value."""
        return name in self.op_inputs

    def template(self) -> dict:
        raise AssertionError("a sub-workflow is rendered as a DAG template by flowpack/_manifest.py")

    def __repr__(self) -> str:
        return f"<flowpack sub-workflow {self.name!r}>"

    def build(self, outputs_of: Outputs) -> None:
        """Run the body once with handles for the template's inputs; its returned handles become the outputs."""
        handles = {}
        for name, inp in self.interface.inputs.items():
            section = "parameters" if inp.kind.how == PARAM else "artifacts"
            handles[name] = Handle(None, name, inp.kind, "{{inputs.%s.%s}}" % (section, name))
            self.graph.param_types[name] = inp.annotation
        with building(self.graph):
            returned = self.workflow.func(**handles)
        outputs, shape = outputs_of(returned, self.name)
        where = f"sub-workflow {self.name!r}"
        if shape.form == ReturnForm.TUPLE:
            raise WorkflowBuildError(f"{where} returns a tuple; a sub-workflow's outputs are named, as an op's are. "
                                     f"Return one handle, a NamedTuple-returning op's result, or a dict of handles.")
        kinds = {n: h.kind for n, h in outputs.items() if h.kind is not None}  # a returned handle has a kind
        gathered = {n: c for n, c in ((n, item_codec(h)) for n, h in outputs.items()) if c is not None}
        fields = tuple(outputs) if shape.form in (ReturnForm.FIELDS, ReturnForm.DICT) else None
        if self.recursive and self.declared is None and outputs:
            raise WorkflowBuildError(f"{where} calls itself and returns {sorted(outputs)}, but its outputs can't be "
                                     f"known at the call inside its own body. Annotate its return type (e.g. "
                                     f"-> int, or a NamedTuple).")
        if self.recursive and self.declared is not None and kinds != self.declared:
            raise WorkflowBuildError(f"{where} calls itself, so its outputs come from its return annotation "
                                     f"({_describe(self.declared)}), but its body returns {_describe(kinds)}. "
                                     f"Make the annotation and the returned handles agree.")
        self.outputs = outputs
        self.interface = Interface(self.interface.inputs, kinds, fields, None, gathered)
        self.result_type = _fields_type(self, returned) if shape.form == ReturnForm.FIELDS else None
        self.building = False
        self.op_inputs = {n for n in self.interface.inputs if _only_op_inputs(self, n)}
        _check_recursion_stops(self)
        for arg in self.deferred:
            _check_crossing(self, arg.name, arg.value, arg.where)


def _fields_type(step: SubWorkflow, returned: object) -> type | None:
    """The NamedTuple a call's fields rebuild as: its return annotation, or that of the op (or sub-workflow) whose
    result it returns, so `run.result()` gives the same value as when that op's result is returned directly."""
    own = _hints(step.func).get("return")
    if is_namedtuple(own):
        return own
    inner = returned.task.step if isinstance(returned, Handle) and returned.task is not None else None
    if isinstance(inner, SubWorkflow):
        return inner.result_type
    found = _hints(inner.func).get("return") if isinstance(inner, Op) else None
    return found if is_namedtuple(found) else None


def _inputs(workflow: WorkflowLike) -> dict[str, Input]:
    """The template's inputs: a parameter without annotation is a JSON parameter, as a workflow's is by value."""
    inputs = {}
    for name, inp in workflow.interface.inputs.items():
        where = f"sub-workflow {workflow.name!r}: parameter {name!r}"
        if inp.kind.how not in (PARAM, PATH, PICKLE):  # e.g. a list of files (list[Path])
            raise WorkflowBuildError(f"{where} takes {inp.annotation}, which can't cross a template's boundary yet. "
                                     f"Take one folder (a Path) instead.")
        if inp.annotation is inspect.Parameter.empty:
            if inp.has_default and not is_json_value(inp.default):
                raise WorkflowBuildError(f"{where} has no annotation and its default {inp.default!r} is not JSON; "
                                         f"annotate it with its type so it travels as a pickled artifact.")
            inp = Input(name, PARAM_JSON, inp.has_default, inp.default, inp.annotation)
        inputs[name] = inp
    return inputs


def _describe(kinds: dict[str, Kind]) -> str:
    how = {PARAM: "a parameter", PATH: "a file", PICKLE: "a pickled value"}
    return ", ".join(f"{n}: {how.get(k.how, k.how)}{' (list)' if k.is_list else ''}" for n, k in kinds.items()) \
        or "nothing"


def _check_recursion_stops(step: SubWorkflow) -> None:
    """Every way the sub-workflow's body calls it again, directly or through other sub-workflows (`a` calls `b`,
    which calls `a`), must be able not to run: one call on the way under a `when`, a status clause, a map over a
    list known only at run time (which may be empty), or below such a step in its own body."""
    guarded: dict[int, bool] = {}

    def can_stop(task: Task) -> bool:
        if id(task) not in guarded:
            guarded[id(task)] = False  # the graph is acyclic; this only guards against surprises
            dynamic = task.is_map and ("withParam" in task.extra or "withSequence" in task.extra)
            guarded[id(task)] = (task.when is not None or may_not_run(task) or dynamic
                                 or any(can_stop(d) for d in task.deps))
        return guarded[id(task)]

    def unguarded_path(body: SubWorkflow, path: list[Task], seen: set[int]) -> list[Task] | None:
        """The call tasks of an unconditional way from `body` back to `step`, or None when there is none."""
        for task in body.graph.tasks:
            if not isinstance(task.step, SubWorkflow) or can_stop(task):
                continue
            if task.step is step:
                return [*path, task]
            if id(task.step) not in seen:
                seen.add(id(task.step))
                found = unguarded_path(task.step, [*path, task], seen)
                if found is not None:
                    return found
        return None

    path = unguarded_path(step, [], {id(step)})
    if path is None:
        return
    if len(path) == 1:
        raise WorkflowBuildError(
            f"workflow {step.name!r} calls itself (task {path[0].name!r}) unconditionally, so it would never end. "
            f"Guard the call with .when(condition), e.g. {step.name}(...).when(flip == \"tails\").")
    callers = [step.name] + [task.step.name for task in path[:-1]]
    way = ", ".join(f"{caller} calls {task.step.name} (task {task.name!r})" for caller, task in zip(callers, path))
    raise WorkflowBuildError(
        f"workflow {step.name!r} calls itself through other workflows unconditionally ({way}), so it would never "
        f"end. Guard one of these calls with .when(condition), e.g. {path[0].step.name}(...).when(flip == "
        f"\"tails\").")


def call(graph: Graph, workflow: WorkflowLike, args: tuple, kwargs: dict, outputs_of: Outputs,
         mapped: bool = False, parallelism: int | None = None) -> Handle:
    """`sub(...)` or `sub.map(...)` inside a workflow body: a task running the sub-workflow's DAG template."""
    where = f"sub-workflow {workflow.name!r}"
    if workflow.on_exit is not None:
        raise WorkflowBuildError(f"{where} has on_exit, which applies to a whole run. Put the exit op on the call "
                                 f"instead: {workflow.name}(...).on_exit(op).")
    found = graph.subworkflows.get(id(workflow))
    step = found if isinstance(found, SubWorkflow) else None
    if step is None:
        step = SubWorkflow(workflow, graph)
        graph.subworkflows[id(workflow)] = step
        graph.register(step)
        step.build(outputs_of)
    elif step.building:
        step.recursive = True
        if step.declared is None:
            step.interface = Interface(step.interface.inputs, {}, None)  # checked once the body returned
    bound = _bound(step, args, kwargs, where)
    for name, value in bound.items():
        if step.building:  # a call inside its own body: checked once the body is known
            step.deferred.append(DeferredArgument(name, value, where))
        else:
            _check_crossing(step, name, value, where)
    if not mapped:
        return graph.add_call(step, (), bound)
    if any(k.how != PARAM for k in step.interface.outputs.values()) or step.interface.gathered:
        raise WorkflowBuildError(f"{where}: {workflow.name}.map(...) gathers the items' outputs as Argo does, "
                                 f"which works for single parameters only; its outputs are "
                                 f"{_describe(step.interface.outputs)}"
                                 f"{' (a gathered list)' if step.interface.gathered else ''}. "
                                 f"Return JSON values from it, or map an op inside it instead.")
    return graph.add_map(step, (), bound, parallelism)


def _bound(step: SubWorkflow, args: tuple, kwargs: dict, where: str) -> dict:
    """The call's arguments by name, defaults filled in (a DAG template's inputs carry no defaults here)."""
    name = kwargs.pop("name", None) if "name" not in step.interface.inputs else None
    try:
        bound = step.signature().bind(*args, **kwargs)
    except TypeError as exc:
        raise WorkflowBuildError(f"{where} called with the wrong arguments: {exc}. Its signature is "
                                 f"{step.name}{step.signature()}.") from None
    bound.apply_defaults()
    arguments = dict(bound.arguments)
    if name is not None:
        arguments["name"] = name  # taken out again by the graph as the task's own name
    return arguments


def _only_op_inputs(step: SubWorkflow, name: str) -> bool:
    """Whether the body hands the parameter only to Python ops' inputs, as it is: then it may arrive tagged (Argo's
    list gathered from a map's items, or text into a JSON parameter), which the ops decode. A map over it, a
    condition on it, text built from it, a sub-workflow or a shell step taking it, or returning it see the text."""
    ref = "{{inputs.parameters.%s}}" % name
    for task in step.graph.tasks:
        plain = isinstance(task.step, Step) and task.step.decodes_protected and not isinstance(task.step, SubWorkflow)
        if any(ref in p.value and not (plain and p.value == ref) for p in task.parameters):
            return False
        control = json.dumps([task.artifacts, task.extra, task.when])
        if ref in control or "inputs.parameters['%s']" % name in control:  # a condition reads it as a variable
            return False
    return not any(h.ref is not None and ref in h.ref for h in step.outputs.values())


def check_protected_crossings(graph: Graph, names: set[str], wf: str) -> None:
    """A workflow parameter Argo can't carry as it is travels encoded (see _workflow): a sub-workflow's call may hand
    it only to a parameter the body gives to Python ops alone."""
    for task in graph.tasks:
        step = task.step
        if not isinstance(step, SubWorkflow):
            continue
        for arg in task.parameters:
            used = [p for p in sorted(names) if "{{workflow.parameters.%s}}" % p in arg.value]
            if used and arg.name not in step.op_inputs:
                raise WorkflowBuildError(
                    f"workflow {wf!r}: parameter {used[0]!r} holds text Argo can't carry as it is ('{{{{' or control "
                    f"characters), so it travels encoded, and sub-workflow {step.name!r} does more with its "
                    f"argument {arg.name!r} than hand it to Python ops. Pass such text in a file (a Path parameter).")


def _check_crossing(step: SubWorkflow, name: str, value: object, where: str) -> None:
    """A handle reaches the template's input as the text it is, or tagged as an op's input would be (Argo's list
    gathered from a map's items, text into a JSON parameter or the reverse): only ops decode a tag, so a tagged
    value may cross only into a parameter the body hands to ops alone."""
    inp = step.interface.inputs.get(name)
    if inp is not None and inp.kind.how == PARAM and name not in step.op_inputs and is_json_value(value) \
            and protect(encode(value, inp.kind), inp.kind.codec) != encode(value, inp.kind):
        raise WorkflowBuildError(
            f"{where}: argument {name!r} holds text Argo can't carry as it is ('{{{{' or control characters), which "
            f"crosses encoded; only Python ops decode it, and {step.name} does more with {name!r} (maps over it, tests "
            f"it, builds text from it, passes it to a sub-workflow or shell step, or returns it). Pass it in a file.")
    if inp is None or not isinstance(value, Handle) or value.kind is None or value.kind.how != PARAM:
        return
    if inp.kind.how != PARAM or name in step.op_inputs:
        return  # a pickled input, or one only ops read, takes the value tagged (the graph's wiring), as an op does
    if item_codec(value) is not None:
        raise WorkflowBuildError(
            f"{where}: argument {name!r} gets {value!r}, the list gathered from a map's items, which Argo hands on as "
            f"the items' texts; only an op decodes them, and {step.name} does more with {name!r} (maps over it, tests "
            f"it, builds text from it, passes it to a sub-workflow or shell step, or returns it). Pass it through an "
            f"op that returns it (-> list) first.")
    if value.kind.codec != inp.kind.codec:
        theirs = "text (str)" if value.kind.codec == "text" else "JSON"
        ours = "text (str)" if inp.kind.codec == "text" else "JSON"
        raise WorkflowBuildError(
            f"{where}: argument {name!r} is {ours}, but {value!r} is {theirs}, and {step.name} does more with "
            f"{name!r} than hand it to ops, so it must arrive as it is. Make the two annotations agree.")
