"""The calls users make: submit a workflow, register it as a template or a cron workflow, lint, list, get."""

from __future__ import annotations

from pathlib import Path

from . import _prepare, _status
from ._client import ArgoClient
from ._config import ArgoConfig
from ._errors import ArgoConfigError, ArgoConflictError
from ._handle import ArgoRun

# Keywords of submit()/register() that are not workflow parameters (a parameter with one of these names goes
# through params={...}).
SUBMIT_OPTIONS = ("argo", "store", "namespace", "artifact_repository", "labels", "service_account",
                  "generate_name", "params", "download_dir")


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
                    token_guard: list[str] | None = None, params: dict | None = None, **kwparams) -> dict:
    """The manifest exactly as it would be sent: built, inputs uploaded (unless upload=False), locations filled."""
    built = workflow.build(**_params(params, kwparams))
    if upload:
        _prepare.upload_inputs(built, store)
    manifest = _prepare.locate(built.manifest, store=store, repository=artifact_repository)
    manifest = _prepare.decorate(manifest, labels=labels, service_account=service_account,
                                 generate_name=generate_name)
    manifest = _prepare.as_kind(manifest, kind, name=name or (workflow.name if kind != "Workflow" else None),
                                schedule=schedule, timezone=timezone)
    _prepare.assert_no_secret(manifest, (token_guard or []) + _store_secrets(store), f"the {kind} manifest")
    return manifest


def submit(workflow, *, argo=None, store=None, namespace: str | None = None, artifact_repository=None,
           labels: dict | None = None, service_account: str | None = None, generate_name: str | None = None,
           params: dict | None = None, download_dir: str | Path | None = None, **kwparams) -> ArgoRun:
    """Build, upload local input files, create the Workflow on the Argo Server; returns its ArgoRun handle."""
    client = client_for(argo, namespace=namespace)
    manifest = render_for_argo(workflow, store=store, artifact_repository=artifact_repository, labels=labels,
                               service_account=service_account, generate_name=generate_name,
                               token_guard=_token(client), params=params, **kwparams)
    created = client.create(manifest)
    return ArgoRun(client, created["metadata"]["name"], namespace=client.namespace, store=store, workflow=created,
                   download_dir=download_dir)


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
                               **kwparams)
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
