"""Submit records: a note per workflow created on Argo (where it is, never how to log in), read by `flowpack ui`.

Kept apart from submit so ArgoRun.resubmit and the viewer can write and find records without importing submit.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .._manifest import OUTPUTS_ANNOTATION
from . import _prepare
from ._client import ArgoClient
from ._errors import ArgoConfigError

DEFAULT_RUN_DIR = ".flowpack/runs"  # as Workflow.run() and `flowpack ui`: submit records go next to it, in ../argo
_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
KIND = "flowpack/argo-submitted"


@dataclass(frozen=True)
class SubmitRecord:
    """submitted.json: a workflow created on Argo from here: where it is (never how to log in) and when."""

    name: str
    namespace: str
    server: str = ""  # scheme://host:port/base-href, without any user:password@
    base_href: str = ""
    submitted_at: str = ""  # RFC 3339, UTC
    workflow: str | None = None  # the flowpack workflow's name (its label)
    uid: str | None = None
    outputs_annotation: dict | None = None  # the manifest's outputs annotation: how to read the outputs back
    version: int = 1
    extra: dict[str, Any] = field(default_factory=dict, compare=False)  # keys this module does not know, kept

    _KEYS = ("kind", "version", "name", "namespace", "server", "baseHref", "submittedAt", "workflow", "uid",
             "outputsAnnotation")

    @classmethod
    def from_json(cls, data: object) -> SubmitRecord | None:
        """A submit record from its JSON, or None when it is not one (no name or namespace)."""
        if not isinstance(data, dict) or not isinstance(data.get("name"), str) \
                or not isinstance(data.get("namespace"), str):
            return None

        def text(key: str) -> str:
            value = data.get(key)
            return value if isinstance(value, str) else ""

        outputs, version = data.get("outputsAnnotation"), data.get("version")
        return cls(data["name"], data["namespace"], text("server"), text("baseHref"), text("submittedAt"),
                   data.get("workflow") if isinstance(data.get("workflow"), str) else None,
                   data.get("uid") if isinstance(data.get("uid"), str) else None,
                   outputs if isinstance(outputs, dict) else None, version if isinstance(version, int) else 1,
                   {k: v for k, v in data.items() if k not in cls._KEYS})

    def to_json(self) -> dict:
        return {**self.extra, "kind": KIND, "version": self.version, "name": self.name, "namespace": self.namespace,
                "server": self.server, "baseHref": self.base_href, "submittedAt": self.submitted_at,
                "workflow": self.workflow, "uid": self.uid, "outputsAnnotation": self.outputs_annotation}


def record_path(run_dir: str | Path, namespace: str, name: str) -> Path:
    """Where the submit record of namespace/name lives: <run_dir>/../argo/<namespace>/<name>/submitted.json."""
    return Path(run_dir).parent / "argo" / namespace / name / "submitted.json"


def record_submitted(client: ArgoClient, workflow: dict, *,
                     run_dir: str | Path | None = DEFAULT_RUN_DIR) -> Path | None:
    """Note a workflow just created (by submit or resubmit) for `flowpack ui`: where it is, never how to log in.

    Holds name, namespace, server URL, base href, submittedAt, the flowpack workflow name and the outputs
    annotation. A note that can't be written only warns: the workflow already runs. Returns the file written.
    """
    if run_dir is None:
        return None
    meta = workflow.get("metadata") or {}
    name, namespace = meta.get("name") or "", meta.get("namespace") or client.namespace
    if not (_K8S_NAME.match(name) and _K8S_NAME.match(namespace)):  # names become folders: only Kubernetes names
        warnings.warn(f"submit: not recording workflow {name!r} in namespace {namespace!r} for `flowpack ui`: "
                      f"not Kubernetes names", RuntimeWarning, stacklevel=3)
        return None

    annotation = (meta.get("annotations") or {}).get(OUTPUTS_ANNOTATION)
    try:
        outputs = json.loads(annotation) if annotation else None
    except ValueError:
        outputs = None
    record = SubmitRecord(
        name, namespace, server_url(client), client.config.base_href or "",
        datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        (meta.get("labels") or {}).get("flowpack.io/workflow"), meta.get("uid"),
        outputs if isinstance(outputs, dict) else None).to_json()
    try:
        _prepare.assert_no_secret(record, token_values(client), "the submit record")
    except ArgoConfigError:
        warnings.warn(f"submit: not recording workflow {namespace}/{name} for `flowpack ui`: the record would "
                      f"contain the Argo token", RuntimeWarning, stacklevel=3)
        return None
    path = record_path(run_dir, namespace, name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(record, indent=1, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        warnings.warn(f"submit: workflow {namespace}/{name} was created, but its record for `flowpack ui` could not "
                      f"be written to {path} ({exc.strerror or exc}); pass run_dir= a writable folder",
                      RuntimeWarning, stacklevel=3)
        return None
    return path


def server_url(client: ArgoClient) -> str:
    """The client's scheme://host:port/base-href with any user:password@ part removed (for records and displays)."""
    parts = urlsplit(client.config.base_url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def token_values(client: ArgoClient) -> list[str]:
    """The client's token as sent and without its scheme (what must never appear in a manifest or a record)."""
    tok = client.config.token
    if tok is None:
        return []
    raw = tok.reveal().strip()
    bare = raw.split(" ", 1)[1] if raw.startswith(("Bearer ", "Basic ")) else raw
    return [raw, bare]
