"""What a step's image must provide, as capture found it (`ImageFacts`), and the manifest annotation carrying them.

An op hands its facts to image building directly. A rendered manifest carries every op's facts in its
`flowpack.io/images` annotation (written when it is rendered), so the images of a manifest alone (a bare manifest given
to the Docker engine, a stored run) come from the same facts: a step script is never read back to find them.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Iterable, Mapping

from ._errors import ImageBuildError

IMAGES_ANNOTATION = "flowpack.io/images"  # workflow annotation: JSON {template name: ImageFacts.to_json()}


@dataclass(frozen=True)
class ImageFacts:
    """What an op's step needs beyond its base image: the modules its code imports (top-level names, neither the
    standard library nor the project modules the script carries as source), whether it loads or writes pickles
    (then the image needs cloudpickle), and the requirements the op declares (`packages=`)."""

    modules: tuple[str, ...] = ()
    pickles: bool = False
    packages: tuple[str, ...] = ()

    @classmethod
    def found(cls, modules: Iterable[str], pickles: bool, packages: Iterable[str]) -> ImageFacts:
        """The facts of a capture: `modules` as it lists them (the standard library and flowpack are dropped)."""
        tops = {m.split(".", 1)[0] for m in modules}
        return cls(tuple(sorted(t for t in tops if t and t not in sys.stdlib_module_names and t != "flowpack")),
                   pickles, tuple(packages))

    def to_json(self) -> dict[str, object]:
        return {"modules": list(self.modules), "pickles": self.pickles, "packages": list(self.packages)}

    @classmethod
    def from_json(cls, data: object, where: str) -> ImageFacts:
        """Read facts back from a manifest's annotation; raise naming `where` when they are not what flowpack wrote."""
        if isinstance(data, dict) and set(data) == {"modules", "pickles", "packages"}:
            modules, pickles, packages = data["modules"], data["pickles"], data["packages"]
            if _strings(modules) and isinstance(pickles, bool) and _strings(packages):
                return cls(tuple(modules), pickles, tuple(packages))
        raise ImageBuildError(
            f"{where}: the {IMAGES_ANNOTATION} annotation holds {data!r}, not the image facts flowpack writes "
            f"({{'modules': [...], 'pickles': true|false, 'packages': [...]}}); render the manifest again")


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def images_annotation(facts: Mapping[str, ImageFacts | None]) -> str:
    """The annotation's text: template name -> facts, for every template that has them (Python ops)."""
    return json.dumps({name: f.to_json() for name, f in sorted(facts.items()) if f is not None},
                      separators=(",", ":"))


def read_images_annotation(annotations: Mapping[str, str]) -> dict[str, ImageFacts]:
    """Template name -> facts from a manifest's annotations ({} without one: a manifest flowpack did not render)."""
    text = annotations.get(IMAGES_ANNOTATION)
    if text is None:
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ImageBuildError(f"the manifest's {IMAGES_ANNOTATION} annotation is not JSON ({exc}): render the "
                              f"manifest again") from None
    if not isinstance(data, dict):
        raise ImageBuildError(f"the manifest's {IMAGES_ANNOTATION} annotation is {data!r}, not a JSON object of "
                              f"template name -> image facts: render the manifest again")
    return {str(name): ImageFacts.from_json(value, f"template {name!r}") for name, value in data.items()}
