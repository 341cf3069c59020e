"""The calls users make: submit a workflow, register it as a template or a cron workflow, lint, list, get."""

from __future__ import annotations

import json
import os
import re
import warnings
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .._validate import check_argo_limits
from . import _prepare, _status
from ._client import ArgoClient
from ._config import ArgoConfig
from ._errors import ArgoConfigError, ArgoConflictError
from ._handle import ArgoRun

# Keywords of submit()/register() that are not workflow parameters (a parameter with one of these names goes
# through params={...}).
SUBMIT_OPTIONS = ("argo", "store", "namespace", "artifact_repository", "labels", "service_account",
                  "generate_name", "params", "download_dir", "run_dir")
DEFAULT_RUN_DIR = ".flowpack/runs"  # as Workflow.run() and `flowpack ui`: submit records go next to it, in ../argo
_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def client_for(argo=None, *, namespace: str | None = None) -> ArgoClient:
    """An ArgoClient from None (environment and config file), a client, an ArgoConfig, a dict of settings, or 'host:port'."""
    if isinstance(argo, ArgoClient):
        client = argo
    elif isinstance(argo, ArgoConfig):
        client = ArgoClient(argo)
    elif isinstance(argo, dict):
        client = ArgoClient(**argo)
    elif isinstance(argo, str):
        client = ArgoClient(server=argo)
    elif argo is None:
        client = ArgoClient()
    else:
        raise ArgoConfigError(f"argo={type(argo).__name__}: pass an ArgoClient, an ArgoConfig, a dict of settings "
                              f"(server=..., token=...), or 'host:port'")
    if namespace and namespace != client.namespace:
        client = ArgoClient(client.config.with_(namespace=namespace), timeout=client.timeout)
    return client


def _params(params: dict | None, kwparams: dict) -> dict:
    merged = dict(params or {})
    clash = sorted(set(merged) & set(kwparams))
    if clash:
        raise ArgoConfigError(f"parameter(s) {clash} given both as keywords and in params=")
    merged.update(kwparams)
    return merged


def render_for_argo(workflow, *, store=None, artifact_repository=None, kind: str = "Workflow",
                    name: str | None = None, schedule=None, timezone: str | None = None, labels: dict | None = None,
                    service_account: str | None = None, generate_name: str | None = None, upload: bool = True,
                    token_guard: list[str] | None = None, params: dict | None = None,
                    server_version: str | None = None, **kwparams) -> dict:
    """The manifest exactly as it would be sent: built, inputs uploaded (unless upload=False), locations filled."""
    built = workflow.build(**_params(params, kwparams))
    if upload:
        _prepare.upload_inputs(built, store)
    manifest = _prepare.locate(built.manifest, store=store, repository=artifact_repository)
    manifest = _prepare.decorate(manifest, labels=labels, service_account=service_account,
                                 generate_name=generate_name)
    manifest = _prepare.as_kind(manifest, kind, name=name or (workflow.name if kind != "Workflow" else None),
                                schedule=schedule, timezone=timezone, server_version=server_version)
    _prepare.assert_no_secret(manifest, (token_guard or []) + _store_secrets(store), f"the {kind} manifest")
    check_argo_limits(manifest)
    return manifest


def submit(workflow, *, argo=None, store=None, namespace: str | None = None, artifact_repository=None,
           labels: dict | None = None, service_account: str | None = None, generate_name: str | None = None,
           params: dict | None = None, download_dir: str | Path | None = None,
           run_dir: str | Path | None = DEFAULT_RUN_DIR, **kwparams) -> ArgoRun:
    """Build, upload local input files, create the Workflow on the Argo Server; returns its ArgoRun handle.

    The submission is noted in <run_dir>/../argo/<namespace>/<name>/submitted.json (no credentials) so that
    `flowpack ui --run-dir <run_dir>` lists it; run_dir=None writes no note.
    """
    client = client_for(argo, namespace=namespace)
    manifest = render_for_argo(workflow, store=store, artifact_repository=artifact_repository, labels=labels,
                               service_account=service_account, generate_name=generate_name,
                               token_guard=_token(client), params=params, **kwparams)
    created = client.create(manifest)
    record_submitted(client, created, run_dir=run_dir)
    return ArgoRun(client, created["metadata"]["name"], namespace=client.namespace, store=store, workflow=created,
                   download_dir=download_dir)


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

    from .._manifest import OUTPUTS_ANNOTATION

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
        _prepare.assert_no_secret(record, _token(client), "the submit record")
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


def resubmit(run: ArgoRun, *, run_dir: str | Path | None = DEFAULT_RUN_DIR, memoized: bool = False,
             parameters: dict | None = None) -> ArgoRun:
    """ArgoRun.resubmit, plus the submit record of the new workflow (see record_submitted)."""
    new = run.resubmit(memoized=memoized, parameters=parameters)
    record_submitted(new.client, new.workflow, run_dir=run_dir)
    return new


def register(workflow, *, name: str | None = None, schedule=None, timezone: str | None = None, argo=None,
             store=None, namespace: str | None = None, artifact_repository=None, labels: dict | None = None,
             service_account: str | None = None, update: bool = True, params: dict | None = None,
             **kwparams) -> dict:
    """Publish as a WorkflowTemplate, or as a CronWorkflow when `schedule` (cron text or a list) is given.

    Parameter values given here become the template's defaults. An existing object of that name is replaced
    when update=True (the default), else ArgoConflictError. Returns the object the server stored.
    """
    kind = "CronWorkflow" if schedule else "WorkflowTemplate"
    client = client_for(argo, namespace=namespace)
    manifest = render_for_argo(workflow, store=store, artifact_repository=artifact_repository, kind=kind,
                               name=name, schedule=schedule, timezone=timezone, labels=labels,
                               service_account=service_account, token_guard=_token(client), params=params,
                               server_version=_server_version(client) if schedule else None, **kwparams)
    try:
        return client.create(manifest)
    except ArgoConflictError:
        if not update:
            raise
    current = client.get(manifest["metadata"]["name"], kind=kind)
    manifest["metadata"]["resourceVersion"] = (current.get("metadata") or {}).get("resourceVersion")
    return client.update(manifest)


def schedule(workflow, cron, **kwargs) -> dict:
    """Publish a CronWorkflow that runs the workflow on `cron` (e.g. '0 * * * *'); see register()."""
    return register(workflow, schedule=cron, **kwargs)


def lint(target, *, argo=None, namespace: str | None = None, store=None, artifact_repository=None,
         params: dict | None = None, **kwparams) -> dict:
    """Ask the Argo Server to validate a workflow (or a manifest dict); raises ArgoManifestRejected when invalid."""
    client = client_for(argo, namespace=namespace)
    if isinstance(target, dict):
        manifest = target
    else:
        manifest = render_for_argo(target, store=store, artifact_repository=artifact_repository, upload=False,
                                   token_guard=_token(client), params=params, **kwparams)
    return client.lint(manifest)


def get(name: str, *, argo=None, namespace: str | None = None, store=None,
        download_dir: str | Path | None = None) -> ArgoRun:
    """A handle on an existing workflow by name (raises ArgoNotFoundError when there is none)."""
    client = client_for(argo, namespace=namespace)
    wf = client.get(name)
    return ArgoRun(client, name, namespace=client.namespace, store=store, workflow=wf, download_dir=download_dir)


def list_runs(*, argo=None, namespace: str | None = None, labels: str | None = None) -> list[dict]:
    """Summaries {name, namespace, phase, startedAt, finishedAt, message, progress} of the namespace's workflows."""
    client = client_for(argo, namespace=namespace)
    out = []
    for wf in client.list(labels=labels):
        s = _status.summary(wf)
        s.pop("steps", None)
        out.append(s)
    return sorted(out, key=lambda s: s.get("startedAt") or "~", reverse=True)


def _server_version(client: ArgoClient) -> str | None:
    """The Argo Server's version ("v3.6.5"), or None when it does not say (then the v3.6+ form is used)."""
    from ._errors import ArgoError

    try:
        version = client.version().get("version")
    except ArgoError:
        return None
    return version if isinstance(version, str) else None


def _token(client: ArgoClient) -> list[str]:
    tok = client.config.token
    if tok is None:
        return []
    raw = tok.reveal().strip()
    bare = raw.split(" ", 1)[1] if raw.startswith(("Bearer ", "Basic ")) else raw
    return [raw, bare]


def _store_secrets(store) -> list[str]:
    """Credential values a store holds (so none of them can end up in a manifest)."""
    found = []
    for attr in ("access_key", "secret_key", "session_token", "_access_key", "_secret_key", "_session_token"):
        value = getattr(store, attr, None) if store is not None else None
        if hasattr(value, "reveal"):
            value = value.reveal()
        if isinstance(value, str) and value:
            found.append(value)
    return found
