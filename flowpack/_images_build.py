"""Images for a whole workflow: one image per distinct (base image, Python packages, local packages) of its ops.

An op's image spec comes from what it declares and what its script imports, never from the script itself: code
travels in the manifest, so changing a function's body never rebuilds an image. Specs are content-tagged by
`flowpack._images`, so an unchanged spec is recognised (and not rebuilt) in a few milliseconds.
"""

from __future__ import annotations

import ast
import base64
import copy
import json
import sys
from importlib.metadata import PackageNotFoundError, distribution, version
from typing import Any, Callable, Iterable, Protocol, runtime_checkable
from urllib.parse import unquote, urlparse

from ._capture_project import imported_tops
from ._context import building
from ._errors import ImageBuildError
from ._graph import Graph, workflow_param
from ._images import ImageSpec, _client, build, pinned_packages
from ._images import push as push_image
from ._signature import Interface
from ._types import PARAM_JSON

__all__ = ["build_images", "apply_images", "image_specs", "spec_for_step", "spec_for_template", "workflow_steps"]

Progress = Callable[[str], None]
_PICKLE = "pickle"
# Step scripts always carry a guarded `import cloudpickle` in their runtime; it runs only for pickled values (inputs,
# outputs: see _FP_SPEC) or when the function or its constants travel pickled (then the script defines this helper).
_UNPICKLE = "\ndef _fp_unpickle("


# ----------------------------------------------------------------------------------------------------- steps
@runtime_checkable
class WorkflowBody(Protocol):
    """What image building needs of a Workflow (which sits above the engines): its name, body and parameters."""

    name: str
    func: Callable
    interface: Interface


def workflow_steps(wf: WorkflowBody) -> dict[str, object]:
    """Template name -> step (Op/ShellOp) of a workflow, found by running its body once with placeholder handles.

    No parameter values are needed: handles stand for every parameter, as in `Workflow.build`.
    """
    graph = Graph(wf.name)
    handles = {name: workflow_param(name, inp.kind if inp.kind.how != _PICKLE else PARAM_JSON)
               for name, inp in wf.interface.inputs.items()}
    with building(graph):
        wf.func(**handles)
    return dict(graph.steps)


# ----------------------------------------------------------------------------------------------------- specs
def _req_name(req: str) -> str:
    from packaging.requirements import Requirement  # lazy: packaging loads only for image specs
    from packaging.utils import canonicalize_name

    return canonicalize_name(Requirement(req).name)


def _merge(user: Iterable[str], found: Iterable[str]) -> tuple[str, ...]:
    """User requirements first; a found pin is added only when the user did not name that distribution."""
    out, names = [], set()
    for req in user:
        try:
            name = _req_name(req)
        except Exception:
            raise ImageBuildError(f"op packages=[...]: {req!r} is not a pip requirement such as 'six==1.17.0'") from None
        if name not in names:
            names.add(name)
            out.append(req)
    for req in found:
        if _req_name(req) not in names:
            names.add(_req_name(req))
            out.append(req)
    return tuple(sorted(out, key=str.lower))


def _local_project(pin: str) -> str | None:
    """The project folder a pinned distribution was installed from (pip install PATH / -e PATH), else None."""
    try:
        text = distribution(pin.split("==", 1)[0]).read_text("direct_url.json")
    except PackageNotFoundError:
        return None
    if not text:
        return None
    try:
        info = json.loads(text)
    except ValueError:
        return None
    url = info.get("url", "")
    if "dir_info" not in info or not url.startswith("file://"):
        return None
    return unquote(urlparse(url).path)


def _cloudpickle_pin() -> str:
    """cloudpickle pinned to this interpreter's version, so values pickled here load in the step."""
    try:
        return f"cloudpickle=={version('cloudpickle')}"
    except PackageNotFoundError:
        return "cloudpickle"


def _spec(base: str, user: Iterable[str], modules: Iterable[str], pickled: bool):
    """ImageSpec from a base, the user's requirements and the imported modules; None when nothing is added."""
    found, local = [], []
    third_party = [m for m in modules if m.split(".", 1)[0] not in sys.stdlib_module_names
                   and m.split(".", 1)[0] != "flowpack"]
    for pin in pinned_packages(third_party) if third_party else ():  # the first call scans site-packages
        project = _local_project(pin)
        (local if project else found).append(project or pin)
    if pickled and not any(_req_name(p) == "cloudpickle" for p in found):
        found.append(_cloudpickle_pin())
    packages = _merge(user, found)
    if not packages and not local:
        return None
    return ImageSpec(base, packages, tuple(sorted(set(local))))


def _op_pickles(step) -> bool:
    interface = getattr(step, "interface", None)
    if interface is None:
        return False
    kinds = [i.kind for i in interface.inputs.values()] + list(interface.outputs.values())
    return any(k.how == _PICKLE for k in kinds)


def spec_for_step(step):
    """The ImageSpec of an op (None when its base image already has everything); shell ops keep their image."""
    if not hasattr(step, "modules"):  # a shell op (or another step without Python code)
        return None
    pickled = _op_pickles(step) or _UNPICKLE in step.script()
    return _spec(step.image, getattr(step, "packages", ()), step.modules(), pickled)


def _script_text(source: str) -> str:
    """A template's script source, unwrapped when it travels base64-encoded (see `_op.script_source`)."""
    if "b64decode(" not in source or "flowpack: this step script contains" not in source:
        return source
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "b64decode" and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                return base64.b64decode(arg.value).decode("utf-8")
    return source


def _source_facts(text: str) -> tuple[set[str], bool]:
    """Modules a step script imports at module level and whether it needs cloudpickle (pickled values)."""
    modules: set[str] = set()
    carried: set[str] = set()
    pickled = _UNPICKLE in text
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return modules, pickled
    for node in tree.body:  # the captured imports are module-level; the runtime's own imports are in functions
        if isinstance(node, ast.Import):
            modules |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            modules.add(node.module.split(".")[0])
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = getattr(node.targets[0], "id", "")
            if target == "_FP_EMBEDDED":  # project modules carried as source: what they import counts
                embedded = _literal_dict(node.value)
                for _, source in embedded.values():
                    modules |= imported_tops(source)
                carried |= {name.split(".")[0] for name in embedded}
            elif target == "_FP_SPEC":
                spec = _literal_dict(node.value)
                try:
                    kinds = list(spec.get("inputs", {}).values()) + list(spec.get("outputs", {}).values())
                    pickled = pickled or any(k.get("how") == _PICKLE for k in kinds)
                except AttributeError:
                    pass
    return modules - carried, pickled


def _literal_dict(node: ast.expr) -> dict:
    """A dict literal of the script, or {} for anything else."""
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError):
        return {}
    return value if isinstance(value, dict) else {}


def spec_for_template(template: dict):
    """The ImageSpec of a manifest's Python script template, from its imports alone (None: keep its image)."""
    script = template.get("script")
    if not script or (script.get("command") or [""])[0].rsplit("/", 1)[-1] not in ("python", "python3"):
        return None
    modules, pickled = _source_facts(_script_text(script.get("source", "")))
    return _spec(script["image"], (), modules, pickled)


def _leaf_templates(manifest: dict) -> dict[str, dict]:
    return {t["name"]: t for t in (manifest.get("spec") or {}).get("templates") or []
            if "script" in t or "container" in t}


def _image_of(template: dict) -> str:
    return (template.get("script") or template.get("container") or {}).get("image", "")


def image_specs(target, *, managed: Callable[[str], bool] | None = None) -> tuple[dict, dict]:
    """(template name -> ImageSpec or None, template name -> current image) for a Workflow, a Built or a manifest.

    `managed(image)` says an image was already built by flowpack: manifest templates using one are left alone.
    """
    if isinstance(target, WorkflowBody):
        steps = workflow_steps(target)
        return ({n: spec_for_step(s) for n, s in steps.items()},
                {n: getattr(s, "image", "") for n, s in steps.items()})
    steps = getattr(target, "steps", None)
    manifest = getattr(target, "manifest", target)
    if not isinstance(manifest, dict):
        raise ImageBuildError(f"build_images({target!r}): give a workflow, a built workflow or a manifest dict")
    leaves = _leaf_templates(manifest)
    specs, images = {}, {}
    for name, tpl in leaves.items():
        images[name] = _image_of(tpl)
        if steps and name in steps:
            specs[name] = spec_for_step(steps[name])
        elif managed is not None and managed(images[name]):
            specs[name] = None
        else:
            specs[name] = spec_for_template(tpl)
    return specs, images


# ----------------------------------------------------------------------------------------------------- build
def build_images(target, *, registry: str | None = None, push: bool = False, progress: Progress | None = None,
                 client: Any = None, managed: Callable[[str], bool] | None = None) -> dict[str, str]:
    """Build (or find) the images a workflow's ops need; return template name -> image tag for every leaf template.

    `target` is a Workflow, a Built (`Workflow.build(...)`) or a rendered manifest. Ops with nothing to add keep
    their image. With `registry`, tags are '<registry>/flowpack/step:<digest>'; `push=True` pushes them there.
    """
    if push and not registry:
        raise ImageBuildError("build_images(push=True) needs registry='host:port' to push to")
    say = progress or (lambda _line: None)
    specs, images = image_specs(target, managed=managed)
    own = client is None
    tags: dict = {}
    mapping: dict[str, str] = {}
    try:
        for name in sorted(specs):
            spec = specs[name]
            if spec is None:
                mapping[name] = images[name]
                continue
            if spec not in tags:
                client = client or _client()
                say(f"image for {name}: FROM {spec.base} + {', '.join(spec.packages + spec.local_packages)}")
                tag = build(spec, client=client, registry=registry, progress=say)
                if push:
                    say(f"pushing {tag}")
                    push_image(tag, client=client, progress=say)
                tags[spec] = tag
            mapping[name] = tags[spec]
    finally:
        if own and client is not None:
            client.close()
    return mapping


def apply_images(manifest: dict, mapping: dict[str, str]) -> dict:
    """A copy of `manifest` whose leaf templates use the images in `mapping` (template name -> tag)."""
    out = copy.deepcopy(manifest)
    for tpl in (out.get("spec") or {}).get("templates") or []:
        tag = mapping.get(tpl.get("name"))
        if not tag:
            continue
        for kind in ("script", "container"):
            if kind in tpl:
                tpl[kind]["image"] = tag
    return out
