"""Submit records: a note per workflow created on Argo (where it is, never how to log in), read by `flowpack ui`.

Kept apart from submit so ArgoRun.resubmit and the viewer can write and find records without importing submit.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .._manifest import OUTPUTS_ANNOTATION
from . import _prepare
from ._client import ArgoClient
from ._errors import ArgoConfigError

DEFAULT_RUN_DIR = ".flowpack/runs"  # as Workflow.run() and `flowpack ui`: submit records go next to it, in ../argo
_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


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
    record = {
        "kind": "flowpack/argo-submitted", "version": 1, "name": name, "namespace": namespace,
        "server": server_url(client), "baseHref": client.config.base_href or "",
        "submittedAt": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "workflow": (meta.get("labels") or {}).get("flowpack.io/workflow"), "uid": meta.get("uid"),
        "outputsAnnotation": outputs,
    }
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
