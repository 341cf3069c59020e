"""Key-only artifacts on the local and Docker engines, as Argo's executor and S3 driver treat them (flowpack/_fanin.py).

An output artifact with an `s3.key` is kept under that key (substituted as Argo substitutes the template: with the
step's inputs and `{{pod.name}}`); an input artifact with an `s3.key` reads the object of that key, or, as Argo's S3
driver does when no object has it, every object below `key/` as one folder (`Folder`). Locally a step's pod name is
its template and a digest of its node path: unique in a run, and the same when a run is resumed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .._store import ArtifactRef
from ._expr import substitute


def pod_name(template: str, node: str) -> str:
    """The `{{pod.name}}` of a local step: like Argo's (template, then a hash of the node), stable across resumes."""
    return f"{template}-{int(hashlib.sha256(node.encode()).hexdigest()[:8], 16)}"


@dataclass(frozen=True)
class Folder:
    """An input artifact made of every object below a key prefix: (relative name, object) pairs."""

    key: str
    entries: tuple[tuple[str, ArtifactRef], ...]

    def to_dict(self) -> dict:
        return {"key": self.key, "entries": {name: ref.to_dict() for name, ref in self.entries}}


class KeyedOutputs:
    """The objects a run's steps put under keys of their own, by key."""

    def __init__(self) -> None:
        self.objects: dict[str, ArtifactRef] = {}

    def record(self, template: dict, values: dict, parameters: dict, artifacts: dict) -> None:
        """A succeeded step's keyed output artifacts, under their keys as its template's substitution gives them."""
        scope = dict(values)
        scope.update({"inputs.parameters." + k: v for k, v in parameters.items()})
        for a in (template.get("outputs") or {}).get("artifacts") or []:
            key = (a.get("s3") or {}).get("key")
            if key is not None and a["name"] in artifacts:
                self.objects[substitute(key, scope, f"output artifact {a['name']!r}")] = artifacts[a["name"]]

    def find(self, key: str) -> ArtifactRef | Folder | None:
        """The object of `key`, else the folder of the objects below `key/`, else None."""
        if key in self.objects:
            return self.objects[key]
        below = key.rstrip("/") + "/"
        entries = tuple(sorted((k[len(below):], ref) for k, ref in self.objects.items() if k.startswith(below)))
        return Folder(key, entries) if entries else None


def outputs_substituted(template: dict, values: dict) -> dict:
    """The template with its output parameters' defaults substituted, as Argo substitutes a whole template before
    the pod runs (a default may read `{{pod.name}}` or an input)."""
    params = (template.get("outputs") or {}).get("parameters") or []
    if not any("{{" in str((p.get("valueFrom") or {}).get("default", "")) for p in params):
        return template
    where = f"outputs of template {template.get('name', '?')!r}"
    out = [{**p, "valueFrom": {**p["valueFrom"], "default": substitute(p["valueFrom"]["default"], values, where)}}
           if "{{" in str((p.get("valueFrom") or {}).get("default", "")) else p for p in params]
    return {**template, "outputs": {**template["outputs"], "parameters": out}}
