"""Images for a whole workflow: one image per distinct (base image, Python packages, local packages) of its ops.

An op's image spec comes from what capture found (`ImageFacts`: the modules its code imports, whether it pickles, the
packages it declares), never from its script: code travels in the manifest, so changing a function's body never
rebuilds an image. A manifest alone carries its ops' facts in an annotation written when it was rendered. Specs are
content-tagged by `flowpack._images`, so an unchanged spec is recognised (and not rebuilt) in a few milliseconds.
"""

from __future__ import annotations

import copy
import json
from importlib.metadata import PackageNotFoundError, distribution, version
from typing import Any, Callable, Iterable, Protocol, runtime_checkable
from urllib.parse import unquote, urlparse

from ._capture_facts import ImageFacts, read_images_annotation
from ._context import building
from ._errors import ImageBuildError
from ._graph import Graph
from ._handle import workflow_param
from ._images import ImageSpec, _client, build, is_managed, pinned_packages
from ._images import push as push_image
from ._op import Step
from ._signature import Interface
from ._types import PARAM_JSON, PICKLE

__all__ = ["build_images", "apply_images", "image_specs", "spec_for_step", "workflow_steps"]

Progress = Callable[[str], None]


# ----------------------------------------------------------------------------------------------------- steps
@runtime_checkable
class WorkflowBody(Protocol):
    """What image building needs of a Workflow (which sits above the engines): its name, body and parameters."""

    name: str
    func: Callable
    interface: Interface


@runtime_checkable
class HasManifest(Protocol):
    """A built workflow (or anything else holding a rendered manifest)."""

    manifest: dict


def workflow_steps(wf: WorkflowBody) -> dict[str, Step]:
    """Template name -> step (Op/ShellOp) of a workflow, found by running its body once with placeholder handles.

    No parameter values are needed: handles stand for every parameter, as in `Workflow.build`.
    """
    graph = Graph(wf.name)
    handles = {name: workflow_param(name, inp.kind if inp.kind.how != PICKLE else PARAM_JSON)
               for name, inp in wf.interface.inputs.items()}
    with building(graph):
        wf.func(**handles)
    steps: dict[str, Step] = {}
    for name, step in graph.steps.items():
        own = step if isinstance(step, Step) else step.op  # a map's form of its op (batched, tolerant, of files)
        if isinstance(own, Step):
            steps[name] = own
    return steps


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
            raise ImageBuildError(
                f"op packages=[...]: {req!r} is not a pip requirement such as 'six==1.17.0'") from None
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


def _spec(base: str, facts: ImageFacts) -> ImageSpec | None:
    """ImageSpec of a base image and a step's facts; None when the base image already has everything."""
    found: list[str] = []
    local: list[str] = []
    for pin in pinned_packages(facts.modules) if facts.modules else ():  # the first call scans site-packages
        project = _local_project(pin)
        (local if project else found).append(project or pin)
    if facts.pickles and not any(_req_name(p) == "cloudpickle" for p in found):
        found.append(_cloudpickle_pin())
    packages = _merge(facts.packages, found)
    if not packages and not local:
        return None
    return ImageSpec(base, packages, tuple(sorted(set(local))))


def spec_for_step(step: Step) -> ImageSpec | None:
    """The ImageSpec of an op (None when its base image already has everything); shell ops keep their image."""
    facts = step.image_facts()
    return None if facts is None else _spec(step.image, facts)


def _leaf_templates(manifest: dict) -> dict[str, dict]:
    return {t["name"]: t for t in (manifest.get("spec") or {}).get("templates") or []
            if "script" in t or "container" in t}


def _image_of(template: dict) -> str:
    return (template.get("script") or template.get("container") or {}).get("image", "")


def image_specs(target: WorkflowBody | dict | HasManifest) -> tuple[dict[str, ImageSpec | None], dict[str, str]]:
    """(template name -> ImageSpec or None, template name -> current image) for a Workflow, a Built or a manifest.

    A workflow's ops hand over their facts; a manifest's come from its `flowpack.io/images` annotation, written when
    it was rendered (templates without facts keep their image).
    """
    if isinstance(target, WorkflowBody):
        steps = workflow_steps(target)
        return {n: spec_for_step(s) for n, s in steps.items()}, {n: s.image for n, s in steps.items()}
    manifest = target.manifest if isinstance(target, HasManifest) else target
    if not isinstance(manifest, dict):
        raise ImageBuildError(f"build_images({target!r}): give a workflow, a built workflow or a manifest dict")
    facts = read_images_annotation((manifest.get("metadata") or {}).get("annotations") or {})
    specs: dict[str, ImageSpec | None] = {}
    images: dict[str, str] = {}
    for name, tpl in _leaf_templates(manifest).items():
        images[name] = _image_of(tpl)
        specs[name] = _spec(images[name], facts[name]) if name in facts else None
    return specs, images


# ----------------------------------------------------------------------------------------------------- build
def build_images(target, *, registry: str | None = None, push: bool = False, progress: Progress | None = None,
                 client: Any = None, managed: Callable[[str], bool] | None = None) -> dict[str, str]:
    """Build (or find) the images a workflow's ops need; return template name -> image tag for every leaf template.

    `target` is a Workflow, a Built (`Workflow.build(...)`) or a rendered manifest. Ops with nothing to add keep
    their image, as do those whose image flowpack built already (`managed(image)`; by default its label says so).
    With `registry`, tags are '<registry>/flowpack/step:<digest>'; `push=True` pushes them there.
    """
    if push and not registry:
        raise ImageBuildError("build_images(push=True) needs registry='host:port' to push to")
    say = progress or (lambda _line: None)
    specs, images = image_specs(target)
    own = client is None
    tags: dict = {}
    mapping: dict[str, str] = {}
    try:
        for name in sorted(specs):
            spec = specs[name]
            if spec is None:
                mapping[name] = images[name]
                continue
            client = client or _client()
            if managed(spec.base) if managed else is_managed(client, spec.base):
                mapping[name] = images[name]
                continue
            if spec not in tags:
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
