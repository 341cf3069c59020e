"""Files through maps (issue 16.4): a map whose op returns `Path` hands the next step a list of paths, and a map runs
over a list of files, rendered as Argo's key-only artifacts (the construct of Argo's own map-reduce example).

- The map runs the op's template with its file outputs keyed, `fanin_step(op)`: each item uploads its output to
  `<prefix>/<output>/{{pod.name}}` (`archive: none`, so a file stays that file and a folder that folder), and reports
  its pod's name as the output parameter `fp-key-<output>`, read from a path the step never writes, so Argo takes the
  parameter's default `{{pod.name}}`. Argo gathers those names in item order (a failed or skipped item gives none).
- A step taking `list[Path]` gets the key prefix as one input artifact (Argo loads a prefix as a folder holding every
  object below it) and the gathered names as a parameter: the step script lists `folder/<name>` in that order, so
  objects left under the prefix by other runs of the same DAG template (a sub-workflow called twice, a retry) are
  never handed on.
- A map over the files (`op.map(p=files)`) is `withParam` over the names, each item's artifact keyed
  `<prefix>/<output>/{{item}}`; a map over a literal list of local files is `withItems` over their upload keys, each
  item's artifact keyed `{{item}}`.
"""

from __future__ import annotations

import weakref

from ._arguments import ParameterArgument
from ._errors import WorkflowBuildError
from ._steplike import StepForm, StepLike, caches
from ._types import PATH
from ._wire import io_path

FANIN_PARAM = "fp-fanin"  # the map template's input: the key prefix its items upload their files under
KEY_PREFIX = "fp-key-"  # output parameter fp-key-<output>: the item's pod name, the last part of its file's key
UNWRITTEN = "outputs/keys"  # the folder of fp-key-<output>'s path: no step writes there, so Argo takes the default
POD_NAME = "{{pod.name}}"
NONE: dict[str, dict] = {"none": {}}

_variants: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def has_files(step: StepLike) -> bool:
    """The op returns at least one file or folder (`Path`)."""
    return any(k.how == PATH for k in step.interface.outputs.values())


def prefix(task: str) -> str:
    """The key prefix of a map's files: under the workflow's name, one folder per map."""
    return "{{workflow.name}}/flowpack-fanin/%s" % task


def output_prefix(task: str, output: str) -> str:
    """Where the items of map `task` put their output `output`, each under its pod's name."""
    return f"{prefix(task)}/{output}"


def names_ref(task: str, output: str) -> str:
    """The gathered pod names of map `task`'s items that made `output`, in item order."""
    return "{{tasks.%s.outputs.parameters.%s%s}}" % (task, KEY_PREFIX, output)


class FanInStep(StepForm):
    """The op as a map of files runs it: its template with every file output keyed under the map's prefix. Anything
    else (interface, image, options, script) is the op's own."""

    def __init__(self, step: StepLike) -> None:
        super().__init__(step, "-fanin")

    def __repr__(self) -> str:
        return f"<files of {self.inner!r} as a map runs it>"

    def adapt(self, template: dict) -> None:
        inputs = template.setdefault("inputs", {})
        inputs["parameters"] = [*(inputs.get("parameters") or []), {"name": FANIN_PARAM}]
        outputs = template.setdefault("outputs", {})
        keys = []
        for art in outputs.get("artifacts") or []:
            if self.inner.interface.outputs.get(art["name"]) is None or \
                    self.inner.interface.outputs[art["name"]].how != PATH:
                continue
            art["s3"] = {"key": "{{inputs.parameters.%s}}/%s/%s" % (FANIN_PARAM, art["name"], POD_NAME)}
            art["archive"] = NONE
            keys.append({"name": KEY_PREFIX + art["name"],
                         "valueFrom": {"path": io_path(UNWRITTEN, art["name"]), "default": POD_NAME}})
        outputs["parameters"] = [*(outputs.get("parameters") or []), *keys]


def fanin_step(step: StepLike, where: str) -> FanInStep:
    """The op's map-of-files form (one per op)."""
    if caches(step):
        raise WorkflowBuildError(
            f"{where}: op {step.name!r} has cache=True and returns files; a map of it can't be cached (Argo's cache "
            f"would hand back files of another run's items). Drop cache=True, or return a JSON value.")
    variant = _variants.get(step)
    if variant is None:
        variant = _variants[step] = FanInStep(step)
    return variant


def gathered_input(name: str, task: str, output: str) -> tuple[ParameterArgument, dict]:
    """A `list[Path]` input fed by a map's files: the names parameter and the key-prefix artifact (optional: a map
    that ran no item left no object under it)."""
    names = ParameterArgument(name, names_ref(task, output))
    return names, {"name": name, "optional": True, "s3": {"key": output_prefix(task, output)}}


def item_artifact(name: str, source, item: str, files: bool) -> dict:
    """The artifact argument of one item of a map over files: a file of a map's fan-in (`source` is its handle), or a
    local file or folder uploaded under the key the item names (`files`: files, not folders)."""
    if source is None:  # a local file keeps its bytes (`archive: none`); a folder's upload is a tarball Argo unpacks
        return {"name": name, "s3": {"key": item}, **({"archive": NONE} if files else {})}
    return {"name": name, "archive": NONE, "s3": {"key": f"{output_prefix(source.task.name, source.output)}/{item}"}}
