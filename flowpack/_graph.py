"""The DAG a workflow body builds (Graph): how each op call or map becomes a task and how each argument is wired;
the handles and tasks themselves are _handle's."""

from __future__ import annotations

import base64
import json
import re
import sys
import sysconfig
import unicodedata
from pathlib import Path

from ._arguments import ParameterArgument
from ._batch import batch_task, batched_step, check_batch
from ._bigvalue import UPLOAD_PREFIX, is_big, twin_literal, warn_kept
from ._capture import _pickle_b64
from ._digest import path_digest
from ._engine._zip import text_items_expression, zip_expression
from ._errors import WorkflowBuildError
from ._fanin import FANIN_PARAM, fanin_step, gathered_input, has_files, item_artifact, prefix
from ._given_files import GivenFile
from ._handle import (
    Fallback,
    Handle,
    Task,
    UploadedItems,
    _HandleInside,
    item_codec,
    result_handle,
)
from ._names import PARAM_NAME, UniqueNames, k8s_name
from ._rows import RowField, spread
from ._sequence import Sequence
from ._status_deps import wire_one_of
from ._steplike import StepLike
from ._text import _value_type, argo_text, check_no_placeholders, has_placeholders
from ._tolerate import Tolerance, check_tolerate, counted_step
from ._types import (
    ARTIFACT_PATH,
    ARTIFACT_PATHS,
    ITEM_ESCAPED,
    JSON,
    MARKER,
    PARAM,
    PATH,
    PATHS,
    PICKLE,
    TEXT,
    Kind,
    encode,
    is_json_value,
    needs_marker,
    protect,
    reads_as_json,
    value_shape,
    wire_tag,
)
from ._values import check as check_value
from ._values import check_env_text
from ._wire import RAW_JSON, RAW_PICKLE


def check_argo_names(step: StepLike) -> None:
    """Argo refuses parameter and artifact names outside `[-a-zA-Z0-9_]` (e.g. a NamedTuple field `größe`)."""
    for what, names in (("argument", step.interface.inputs), ("output", step.interface.outputs)):
        for name in names:
            if not PARAM_NAME.match(name):
                raise WorkflowBuildError(
                    f"op {step.name!r}: {what} {name!r} can't be an Argo parameter or artifact name (only ASCII "
                    f"letters, digits, '_' and '-'). Rename it, e.g. {_ascii_hint(name)!r}.")


def _ascii_hint(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^-a-zA-Z0-9_]", "_", text) or "value"


def task_base(name: str) -> str:
    """A DAG task's name: Argo refuses task names starting with a digit in a DAG that uses `depends`."""
    return "t-" + name if name[:1].isdigit() else name


class Graph:
    """Collects tasks while a workflow body runs."""

    def __init__(self, workflow_name: str):
        self.workflow_name = workflow_name
        self.tasks: list[Task] = []
        self.steps: dict[str, StepLike] = {}  # template name -> step
        self.template_of: dict[int, str] = {}  # id(step) -> template name
        self._templates = UniqueNames()
        self.uploads: dict[str, Path] = {}  # store key -> local file given as an input artifact
        self._names = UniqueNames()
        self._signatures: dict[int, tuple] = {}  # id(step) -> (signature, positional names, required, all)
        self.text_refs: list = []  # handles put into text (f-strings, +), by placeholder number (see _text)
        self.param_types: dict = {}  # workflow parameter -> its annotation
        self.subworkflows: dict[int, object] = {}  # id(workflow) -> its step, for workflows called in the body

    def nested(self, workflow_name: str) -> "Graph":
        """The graph of a sub-workflow's body: its own tasks and task names; this graph's templates and uploads."""
        child = Graph(workflow_name)
        child.steps, child.template_of, child._templates = self.steps, self.template_of, self._templates
        child.uploads, child._signatures, child.subworkflows = self.uploads, self._signatures, self.subworkflows
        return child

    def register(self, step: StepLike) -> str:
        """The step's template name in this workflow: its own name, made unique when two names sanitise alike."""
        name = self.template_of.get(id(step))
        if name is not None:
            return name
        raw = step.raw_name
        for other in self.steps.values():
            if other.raw_name == raw:
                raise WorkflowBuildError(
                    f"workflow {self.workflow_name!r} uses two different ops named {raw!r} "
                    f"({other!r} and {step!r}). Give one of them another name with @fp.op(name=...)."
                )
        check_argo_names(step)
        name = self._templates.take(step.name)
        self.template_of[id(step)] = name
        self.steps[name] = step
        return name

    def task_name(self, base: str) -> str:
        """A task name no other task of this graph has."""
        return self._names.take(task_base(base))

    def add_call(self, step: StepLike, args: tuple, kwargs: dict) -> Handle:
        self.register(step)
        chosen = self._chosen_name(step, kwargs)
        bound = self._bind(step, args, kwargs)
        task = Task(chosen or self._names.take(task_base(step.name)), step, order=len(self.tasks))
        for name, value in bound.items():
            self._wire(task, step.interface.inputs[name], value)
        self.tasks.append(task)
        return result_handle(task)

    def add_map(self, step: StepLike, args: tuple, kwargs: dict, parallelism: int | None = None,
                tolerate: int | float | None = None, batch: int | None = None) -> Handle:
        """A fan-out: list arguments are mapped (zipped), the others broadcast; renders to withItems/withParam."""
        where = f"{step.name}.map(...)"
        if batch is not None:  # its pods run the op on several items each (_batch)
            batch = check_batch(batch, where, tolerate, step)
            step = batched_step(step)
        fanin = has_files(step)  # its items' files are gathered for the steps after it (_fanin)
        if fanin:
            step = fanin_step(step, where)
        if tolerate is not None:  # its items count themselves for the check after them (_tolerate)
            tolerate = check_tolerate(tolerate, where)
            step = counted_step(step)
        self.register(step)
        chosen = self._chosen_name(step, kwargs)
        args, kwargs = spread(step, args, kwargs, where)  # fp.rows(...): each dict's keys onto the arguments
        bound = self._bind(step, args, kwargs)
        literal = {n: list(v) for n, v in bound.items() if isinstance(v, (list, tuple)) and not _contains_handle(v)}
        dynamic = {n: v for n, v in bound.items() if isinstance(v, Handle) and v.kind is not None and v.kind.is_list
                   and not (v.kind.how == PATHS and step.interface.inputs[n].kind.how == PATHS)}  # files: broadcast
        files = {n: self._upload_items(v, where, n) for n, v in literal.items()
                 if step.interface.inputs[n].kind.how == PATH}  # local files: their upload keys are the items
        literal.update({n: uploaded.keys for n, uploaded in files.items()})
        sequences = {n: v for n, v in bound.items() if isinstance(v, Sequence)}  # fp.sequence(...): withSequence
        fields = {n: v for n, v in bound.items() if isinstance(v, RowField)}  # fp.rows(run-time list)
        if sequences and (len(sequences) > 1 or literal or dynamic):
            raise WorkflowBuildError(f"{where}: an fp.sequence(...) is mapped alone; it can't be zipped with "
                                     f"other lists ({sorted(set(literal) | set(dynamic) | set(sequences))}).")
        if fields and (literal or dynamic or sequences):
            raise WorkflowBuildError(f"{where}: fp.rows(...) over a run-time list is mapped alone; it can't be "
                                     f"zipped with other lists ({sorted(set(literal) | set(dynamic))}).")
        if not literal and not dynamic and not sequences and not fields:
            folders = [n for n, v in bound.items() if isinstance(v, Handle) and v.kind == ARTIFACT_PATH]
            if folders:  # one file or folder made at run time: nothing to count its items by before it exists
                raise WorkflowBuildError(
                    f"{where}: argument {folders[0]!r} is one file or folder made while the workflow runs, not a list, "
                    f"so there is nothing to map over. Make the files with a map of an op returning Path (its result "
                    f"is a list of files to map over), or pass the folder whole to an op that walks it.")
            raise WorkflowBuildError(
                f"{where}: no argument to map over. Pass a list, a list-typed workflow parameter, or the result of "
                f"another map, e.g. {step.name}.map(x=[1, 2, 3])."
            )
        if dynamic and literal:
            raise WorkflowBuildError(
                f"{where}: maps over {sorted(literal)} (lists written in the workflow) and {sorted(dynamic)} (lists "
                f"known at run time) together. Pass the written lists as list-typed workflow parameters, so all are "
                f"zipped at run time.")
        if len(dynamic) > 1:  # several run-time lists, zipped by one Argo expression (_engine/_zip)
            _check_zip(step, dynamic, where)
        if parallelism is not None and (not isinstance(parallelism, int) or parallelism < 1):
            raise WorkflowBuildError(f"{where}: parallelism={parallelism!r} must be a whole number >= 1.")
        task = Task(chosen or self._names.take(task_base(step.op.name)), step,
                    order=len(self.tasks), is_map=True, parallelism=parallelism)
        task.loop_template = self._templates.take(task.name + "-loop")  # used when the map runs in a DAG of its own
        if fanin:
            task.parameters.append(ParameterArgument(FANIN_PARAM, prefix(task.name)))
        if tolerate is not None:
            task.tolerance = Tolerance(tolerate, self._templates.take(task.name + "-tolerate"))
        mapped = list(literal or dynamic or sequences or fields)
        task.mapped, task.dict_items = tuple(mapped), len(mapped) > 1 or bool(fields)
        encoded_items = False  # one run-time list of text, each item encoded by the loop's expression (_engine/_zip)
        for name, value in bound.items():
            inp = step.interface.inputs[name]
            if name not in mapped:
                self._wire(task, inp, value)
                continue
            item = "{{item}}" if len(mapped) == 1 and not fields else "{{item.%s}}" % name
            text_items = name in dynamic and self._text_items(value)  # Argo pastes them bare: say they are text
            of_files = getattr(value, "kind", None) == ARTIFACT_PATHS  # a map's files (_fanin)
            decodes = step.decodes_protected
            from_shell = (name in dynamic and value.task is not None and not value.task.is_map
                          and not value.task.step.decodes_protected)  # writes no marker itself
            encoded_items = ((text_items or (from_shell and value_shape(inp.annotation).text))
                             and len(dynamic) == 1 and batch is None and not of_files
                             and step.decodes_input(name))  # a sub-workflow: ops alone decode
            if inp.kind.how == PARAM and not of_files:
                tag = wire_tag(TEXT, False, inp.kind.codec) if text_items and decodes else ""
                task.parameters.append(ParameterArgument(name, tag + item))
            elif inp.kind.how == PICKLE and not of_files:
                task.artifacts.append({"name": name, "raw": {"data": (wire_tag(TEXT, False) if text_items else
                                                                      RAW_JSON) + item}})
            elif inp.kind.how == PATH and (name in files or of_files):
                task.artifacts.append(item_artifact(name, dynamic.get(name), item,
                                                    files[name].files if name in files else True))
            else:
                raise WorkflowBuildError(
                    f"{where}: argument {name!r} is {_describe(inp.kind)}, but the mapped list holds "
                    f"{'files' if of_files or inp.kind.how == PATH else 'values'}. Map files over a Path argument "
                    f"(a list of local files, or the result of a map of an op returning Path), values over the others.")
        if literal:
            lengths = {len(v) for v in literal.values()}
            if len(lengths) > 1:
                raise WorkflowBuildError(f"{where}: the mapped lists have different lengths {sorted(lengths)}.")
            for name, values in literal.items():
                for v in values:
                    check_no_placeholders(v, where)
                    if not is_json_value(v):
                        raise WorkflowBuildError(f"{where}: item {v!r} of {name!r} is not JSON; map over JSON values.")
            for name, values in literal.items():
                literal[name] = [_item_value(v, step, name, len(mapped) > 1, where) for v in values]
            if len(mapped) == 1:
                items = literal[mapped[0]]
            else:
                items = [dict(zip(mapped, row)) for row in zip(*(literal[n] for n in mapped))]
            if items:
                task.extra["withItems"] = items
            else:  # Argo reads `withItems: []` as no loop at all; an empty withParam list runs no item
                task.extra["withParam"] = "[]"
        elif fields:
            table = fields[mapped[0]].ref
            task.extra["withParam"] = table.ref
            if table.task is not None:
                task.deps.add(table.task)
        elif sequences:
            task.extra["withSequence"] = sequences[mapped[0]].spec()
            task.deps |= sequences[mapped[0]].tasks()
        elif len(dynamic) > 1:
            sources: dict[str, str] = {}
            for n in mapped:
                ref = dynamic[n].ref
                if ref is None:  # a list of a step's output always has its reference
                    raise WorkflowBuildError(f"{where}: {dynamic[n]!r} has no value to map over")
                sources[n] = ref
            task.extra["withParam"] = zip_expression(sources)
            task.deps |= {h.task for h in dynamic.values() if h.task is not None}
        else:
            handle = dynamic[mapped[0]]
            if handle.problem:
                raise WorkflowBuildError(handle.problem)
            task.extra["withParam"] = text_items_expression(handle.ref) if encoded_items and handle.ref else handle.ref
            if handle.task is not None:
                task.deps.add(handle.task)
        if batch is not None:
            batch_task(task, batch, where)
        self.tasks.append(task)
        return result_handle(task)

    def _upload_items(self, values: list, where: str, name: str) -> UploadedItems:
        """A literal list of local files or folders mapped over a Path argument: each is uploaded by content, its key
        the loop's item."""
        keys, kinds = [], set()
        for v in values:
            if not isinstance(v, (str, Path)) or not Path(v).exists():
                raise WorkflowBuildError(f"{where}: item {v!r} of {name!r} is not an existing file or folder; map a "
                                         f"Path argument over existing files (or folders).")
            path = Path(v)
            kinds.add(path.is_dir())
            key = _content_key(path)
            self.uploads[key] = path
            keys.append(key)
        if len(kinds) > 1:
            raise WorkflowBuildError(f"{where}: the items of {name!r} mix files and folders; map over files only or "
                                     f"folders only (Argo unpacks a folder's upload, and must keep a file as it is).")
        return UploadedItems(keys, kinds != {True})

    def given_files(self, paths: list[Path]) -> list[GivenFile]:
        """A list[Path] workflow parameter's files and folders by their upload keys; each is uploaded, whether or not
        the body used it (by content: once), so a later run can be given it back."""
        known = {path: key for key, path in self.uploads.items()}  # what the body used is hashed already
        given = []
        for path in paths:
            key = known.get(path) or _content_key(path)
            self.uploads[key] = path
            given.append(GivenFile(key, path.is_dir()))
        return given

    def _text_items(self, handle: Handle) -> bool:
        """The list `handle` holds only text, by its annotation (`list[str]`, or the items of a map of a `-> str`
        op): its items, which Argo pastes bare into a loop, are text even when they read as JSON (`"123"`)."""
        shape = value_shape(_value_type(handle, self))
        items = shape if handle.task is not None and handle.task.is_map else shape.items
        return items is not None and items.text and not items.other

    def _chosen_name(self, step, kwargs: dict) -> str | None:
        """`op(x, name="train-lr-0.1")`: the step's own name in the manifest, the viewer and the run record (taken
        out of `kwargs`). An op with an argument called `name` receives it as that argument instead."""
        if "name" not in kwargs or "name" in step.interface.inputs:
            return None
        raw = kwargs.pop("name")
        if not isinstance(raw, str) or not raw.strip():
            raise WorkflowBuildError(f"op {step.name!r}: name={raw!r} must be a non-empty string, e.g. "
                                     f"name=\"{step.name}-1\".")
        wanted = task_base(k8s_name(raw))
        taken = self._names.take(wanted)
        if taken != wanted:
            raise WorkflowBuildError(f"op {step.name!r}: name={raw!r} (as a step name: {wanted!r}) is already the "
                                     f"name of another step of workflow {self.workflow_name!r}; give each a "
                                     f"different name.")
        return taken

    def _bind(self, step, args: tuple, kwargs: dict) -> dict:
        entry = self._signatures.get(id(step))
        if entry is None:
            sig = step.signature()
            positional = [p.name for p in sig.parameters.values() if p.kind is p.POSITIONAL_OR_KEYWORD]
            required = {p.name for p in sig.parameters.values() if p.default is p.empty}
            entry = self._signatures[id(step)] = (sig, positional, required, set(sig.parameters))
        sig, positional, required, known = entry
        # The common case, checked directly (inspect's bind costs more than the rest of a call).
        if len(args) <= len(positional):
            bound = dict(zip(positional, args))
            if not (kwargs.keys() - known) and not (kwargs.keys() & bound.keys()):
                bound.update(kwargs)
                if required <= bound.keys():
                    return {n: bound[n] for n in sig.parameters if n in bound}
        try:  # something is wrong: let inspect say what, in its words
            return sig.bind(*args, **kwargs).arguments
        except TypeError as exc:
            raise WorkflowBuildError(
                f"op {step.name!r} called with the wrong arguments: {exc}. Its signature is {step.name}{sig}."
            ) from None

    def _wire(self, task: Task, inp, value) -> None:
        where = f"op {task.step.name!r} argument {inp.name!r}"
        if isinstance(value, str) and has_placeholders(value):  # f"...{h}...": Argo substitutes the references
            text, used = argo_text(self, value, where, inp.kind.codec if inp.kind.how == PARAM else "")
            task.deps |= {h.task for h in used if h.task is not None}
            task.parameters.append(ParameterArgument(inp.name, text))
            return
        if isinstance(value, Handle):
            self._wire_handle(task, inp, value, where)
            return
        if isinstance(value, (list, tuple, dict, set, frozenset)) and _contains_handle(value):
            raise WorkflowBuildError(
                f"{where}: a list, tuple, set or dict holding handles can't be passed yet; pass each handle as its "
                f"own argument."
            )
        how = inp.kind.how
        if how == PARAM:
            if not (is_json_value(value) or (inp.kind.codec == TEXT and isinstance(value, str))):
                raise WorkflowBuildError(
                    f"{where} is a parameter, but {value!r} is not JSON-representable. Pass JSON data, or annotate "
                    f"the argument with a non-JSON type so it travels as a pickled artifact."
                )
            check_value(value, inp.annotation, where)
            text = encode(value, inp.kind)
            if not task.step.decodes_protected:
                check_env_text(text, where)
            if "{{" in text and not task.step.decodes_protected:
                raise WorkflowBuildError(
                    f"{where}: the value contains '{{{{', which Argo would read as a template expression, and a "
                    f"shell script can't decode it. Pass it through a file artifact instead.")
            decodes = task.step.decodes_protected  # a shell step gets the text as it is
            sent = protect(text, inp.kind.codec) if decodes else text
            if decodes and is_big(sent) and task.step.runs_script:  # over BIG_VALUE: as its twin (_bigvalue)
                big = twin_literal(sent, inp.name, where)
                sent = big.marker
                self.uploads[big.stashed.key] = big.stashed.path
                task.artifacts.append(big.artifact)
            elif decodes and is_big(sent):
                warn_kept(where, sent, f"sub-workflow {task.step.name!r} takes it as a parameter")
            task.parameters.append(ParameterArgument(inp.name, sent))
        elif how == PICKLE:
            try:
                raw = protect(_raw_value(value))
            except _HandleInside as exc:
                raise WorkflowBuildError(
                    f"{where}: the value holds {exc.args[0]}, which has no value while the workflow is being built. "
                    f"Pass the handle as its own argument and build the object inside the op."
                ) from None
            if is_big(raw) and task.step.runs_script:  # the raw artifact's text, uploaded instead (_bigvalue)
                big = twin_literal(raw, inp.name, where)
                self.uploads[big.stashed.key] = big.stashed.path
                task.artifacts.append({**big.artifact, "name": inp.name})
                return
            task.artifacts.append({"name": inp.name, "raw": {"data": raw}})
        elif how == PATHS:
            raise WorkflowBuildError(
                f"{where} takes a list of files (list[Path]): pass the result of a map of an op returning Path. A list "
                f"of local files can't be passed yet; pass their folder to a Path argument instead.")
        else:  # PATH: a local file or directory, uploaded by content before the run
            path = Path(value)
            if not path.exists():
                raise WorkflowBuildError(
                    f"{where}: the path {str(path)!r} does not exist. Pass an existing file or folder.")
            key = _content_key(path)
            self.uploads[key] = path
            task.artifacts.append(upload_argument(inp.name, key, path))

    def _wire_handle(self, task: Task, inp, value: Handle, where: str) -> None:
        if value.problem:
            raise WorkflowBuildError(f"{where}: {value.problem}")
        if value.kind is None:
            outs = sorted(value.task.step.interface.outputs)
            raise WorkflowBuildError(
                f"{where}: {value!r} has {'several outputs ' + str(outs) if outs else 'no output'}; "
                f"pass one of them, e.g. h.{outs[0] if outs else 'x'}." if outs else
                f"{where}: op {value.task.step.name!r} returns nothing, so there is no value to pass. "
                f"Use .after() for order."
            )
        ref = value.ref
        if ref is None:  # a handle of a value always has its reference
            raise WorkflowBuildError(f"{where}: {value!r} has no value to pass")
        if value.branches:
            wire_one_of(task, value.branches)
        src, dst = value.kind.how, inp.kind.how
        if value.task is not None:
            task.deps.add(value.task)
        if src == dst == PATHS:  # a map's files: the names in item order, and the folder holding them (_fanin)
            if value.task is None or value.output is None:
                raise WorkflowBuildError(f"{where}: {value!r} is not the files of a map")
            param, art = gathered_input(inp.name, value.task.name, value.output)
            task.parameters.append(param)
            task.artifacts.append(art)
            return
        each = item_codec(value)  # Argo's list of the items' texts or values: the items' codec
        gathered = each is not None
        codec = each if each is not None else value.kind.codec
        decodes = task.step.decodes_protected
        if src == PARAM and dst == PARAM:
            tag = wire_tag(codec, gathered, inp.kind.codec) if decodes else ""
            task.parameters.append(ParameterArgument(inp.name, tag + ref))
            if inp.has_default and inp.default_text is not None and value.task is not None \
                    and value.output is not None:
                # May fall back to the default if that step is skipped (decided when the manifest is assembled).
                # The default is the consumer's own codec: after the wire's tag it carries its own tag.
                default = inp.default_text
                if decodes:
                    default = (wire_tag(inp.kind.codec, False) if tag else "") + protect(default, inp.kind.codec)
                task.fallbacks[inp.name] = Fallback(value.task, value.output, default)
        elif src == PARAM and dst == PICKLE:
            task.artifacts.append({"name": inp.name, "raw": {"data": wire_tag(codec, gathered) + ref}})
        elif src == dst:
            task.artifacts.append({"name": inp.name, "from": ref})
        else:
            raise WorkflowBuildError(
                f"{where} expects {_describe(inp.kind)}, but {value!r} is {_describe(value.kind)}. "
                f"Make the annotations of the two functions agree."
            )


def encode_protected(text: str) -> str:
    """`text` base64-encoded behind the protected-value marker, which a Python step decodes (see _op.protect).
    For a loop item Argo would paste bare or change (`"123"`, a field holding quotes): the step reads text behind
    the marker as a string, whatever its input's codec."""
    return MARKER + base64.b64encode(text.encode("utf-8")).decode("ascii")


_ITEM_ESCAPED = re.compile(ITEM_ESCAPED)


def _item_value(value, step: StepLike, name: str, in_dict: bool, where: str):
    """A literal map item as it goes into `withItems`. Argo substitutes '{{' inside items, so such items are
    refused. Argo pastes text holding quotes, backslashes or control characters into `{{item.key}}` (several mapped
    lists) with its JSON escapes, and on v3 into `{{item}}` too (Item.String). Text Argo would change reaches a
    Python op base64-encoded (it decodes it); a shell step can't decode, so it is refused.
    So does a string that an input taking more than text would read as JSON (`"123"`, `"null"`), or that begins
    with flowpack's marker or a codec tag."""
    if "{{" in json.dumps(value, ensure_ascii=False):
        raise WorkflowBuildError(
            f"{where}: item {value!r} of {name!r} contains '{{{{', which Argo would read as a template expression "
            f"inside a map's items. Pass such text to the op as a plain argument (not mapped), or in a file.")
    if not isinstance(value, str):
        return value
    kind = step.interface.inputs[name].kind
    decodes = step.decodes_protected
    if decodes and kind.codec != TEXT and (reads_as_json(value) or needs_marker(value)):
        # Argo substitutes a string item bare: "123" would reach an input taking more than text as 123. It goes
        # encoded, which the step decodes to the same string (text behind the marker is always a string).
        return encode_protected(value)
    if decodes and kind.codec == TEXT and needs_marker(value):  # e.g. text beginning with a codec tag: encoded too
        return encode_protected(value)
    changed = _ITEM_ESCAPED.search(value)
    if not changed:
        return value
    if decodes:
        return encode_protected(value)
    raise WorkflowBuildError(
        f"{where}: item {value!r} of {name!r} holds {changed.group(0)!r}, which Argo would not pass on exactly to "
        f"a shell step's loop item (it pastes it with its JSON escape: into {{{{item.key}}}} on every version, into "
        f"{{{{item}}}} on v3). Map a Python op over such text, or pass it in a file.")


def _check_zip(step: StepLike, lists: dict, where: str) -> None:
    """Lists zipped at run time: JSON lists (not a map's files), mapped over a Python op, which decodes the
    encoded text of the items' strings (see _engine/_zip)."""
    for name, handle in lists.items():
        if handle.problem or handle.kind.how != PARAM:
            raise WorkflowBuildError(f"{where}: {name}={handle!r} can't be zipped with other lists at run time; zip "
                                     f"lists of values (a map's files are mapped alone).")
    if not step.decodes_protected:
        raise WorkflowBuildError(f"{where}: a shell step can't map over several lists known at run time (Argo would "
                                 f"pass their text escaped); map a Python op over them, or zip them in an op first.")


def _describe(kind: Kind) -> str:
    return {PARAM: "a JSON parameter" if kind.codec == JSON else "a text parameter",
            PATH: "a file or folder (Path) artifact", PICKLE: "a pickled Python value",
            PATHS: "a list of files (list[Path])"}[kind.how]


def _contains_handle(value) -> bool:
    items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
    return any(isinstance(v, Handle) or (isinstance(v, (list, tuple, dict, set, frozenset)) and _contains_handle(v))
               for v in items)


def _raw_value(value: object) -> str:
    """A literal handed to a pickled input travels inside the manifest: JSON text, or a base64 pickle
    (objects of the user's own modules by value, since a step can't import those modules)."""
    if is_json_value(value):
        return RAW_JSON + json.dumps(value, ensure_ascii=False)

    module = type(value).__module__
    return RAW_PICKLE + _pickle_b64(value, {module} if _is_user_module(module) else set())[0]


def _is_user_module(name: str) -> bool:
    """A module of the user's own files: neither the standard library nor an installed distribution."""
    module = sys.modules.get(name)
    path = getattr(module, "__file__", None)
    if name == "__main__" or path is None:
        return name == "__main__"
    installed = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    return not any(str(path).startswith(p) for p in installed) and "site-packages" not in str(path)


def upload_argument(name: str, key: str, path: Path) -> dict:
    """The artifact argument for a local file or folder uploaded under `key`. Argo's executor extracts any input
    that looks like a tarball unless its archive is `none`: a file arrives exactly as it is (a folder is stored
    as a tarball, which Argo unpacks)."""
    art: dict = {"name": name, "s3": {"key": key}}
    if not path.is_dir():
        art["archive"] = {"none": {}}
    return art


def _content_key(path: Path) -> str:
    return f"{UPLOAD_PREFIX}/{path_digest(path)}"
