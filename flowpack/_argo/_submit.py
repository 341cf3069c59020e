"""The calls users make: submit a workflow, register it as a template or a cron workflow, lint, list, get."""

from __future__ import annotations

from pathlib import Path

from .._validate import check_argo_limits
from . import _prepare, _status
from ._client import ArgoClient, client_for
from ._errors import ArgoConfigError, ArgoConflictError, ArgoError
from ._handle import ArgoRun
from ._record import DEFAULT_RUN_DIR, record_submitted, token_values

# Keywords of submit()/register() that are not workflow parameters (a parameter with one of these names goes
# through params={...}).
SUBMIT_OPTIONS = ("argo", "store", "namespace", "artifact_repository", "labels", "service_account",
                  "generate_name", "params", "download_dir", "run_dir")


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
    return _render(workflow.build(**_params(params, kwparams)), workflow.name, store=store,
                   artifact_repository=artifact_repository, kind=kind, name=name, schedule=schedule,
                   timezone=timezone, labels=labels, service_account=service_account, generate_name=generate_name,
                   upload=upload, token_guard=token_guard, server_version=server_version)


def _render(built, workflow_name: str, *, store, artifact_repository, kind: str, name: str | None, schedule,
            timezone: str | None, labels: dict | None, service_account: str | None, generate_name: str | None,
            upload: bool, token_guard: list[str] | None, server_version: str | None) -> dict:
    """render_for_argo's work on a workflow already built."""
    if upload:
        _prepare.upload_inputs(built, store)
    manifest = _prepare.locate(built.manifest, store=store, repository=artifact_repository)
    manifest = _prepare.decorate(manifest, labels=labels, service_account=service_account,
                                 generate_name=generate_name)
    manifest = _prepare.as_kind(manifest, kind, name=name or (workflow_name if kind != "Workflow" else None),
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
    built = workflow.build(**_params(params, kwparams))
    manifest = _render(built, workflow.name, store=store, artifact_repository=artifact_repository, kind="Workflow",
                       name=None, schedule=None, timezone=None, labels=labels, service_account=service_account,
                       generate_name=generate_name, upload=True, token_guard=token_values(client),
                       server_version=None)
    created = client.create(manifest)
    record_submitted(client, created, run_dir=run_dir)
    return ArgoRun(client, created["metadata"]["name"], namespace=client.namespace, store=store, workflow=created,
                   download_dir=download_dir, result_type=built.result_type)


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
                               service_account=service_account, token_guard=token_values(client), params=params,
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
                                   token_guard=token_values(client), params=params, **kwparams)
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
    try:
        version = client.version().get("version")
    except ArgoError:
        return None
    return version if isinstance(version, str) else None


def _store_secrets(store) -> list[str]:
    """Credential values a store holds (so none of them can end up in a manifest)."""
    found = []
    for attr in ("access_key", "secret_key", "session_token", "_access_key", "_secret_key", "_session_token"):
        value = getattr(store, attr, None) if store is not None else None
        reveal = getattr(value, "reveal", None)
        if callable(reveal):
            value = reveal()
        if isinstance(value, str) and value:
            found.append(value)
    return found
