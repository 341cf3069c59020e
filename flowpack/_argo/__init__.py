"""Send flowpack workflows to Argo Workflows through the Argo Server's REST API, with Argo's CLI semantics.

    run = pipeline.submit(n=5, store=s3)     # -> ArgoRun (Workflow.submit calls flowpack._argo.submit)
    run.wait(timeout=600).result()
    for line in run.logs(step="add"): print(line)
    pipeline.register()                      # a WorkflowTemplate
    pipeline.register(schedule="0 * * * *")  # a CronWorkflow

Connection settings: arguments, else ARGO_SERVER / ARGO_TOKEN / ARGO_NAMESPACE / ARGO_SECURE /
ARGO_INSECURE_SKIP_VERIFY / ARGO_BASE_HREF, else the config file (see _config). TLS is verified by default.
"""

from __future__ import annotations

from ._client import ArgoClient, client_for
from ._config import ArgoConfig, Secret
from ._errors import (
    ArgoArtifactError,
    ArgoAuthError,
    ArgoConfigError,
    ArgoConflictError,
    ArgoError,
    ArgoForbiddenError,
    ArgoManifestRejected,
    ArgoNamespaceError,
    ArgoNotFoundError,
    ArgoTimeoutError,
    ArgoUnreachableError,
)
from ._handle import ArgoRun, LogLine
from ._submit import SUBMIT_OPTIONS, get, lint, list_runs, register, render_for_argo, schedule, submit

__all__ = [
    "submit", "register", "schedule", "lint", "get", "list_runs", "render_for_argo", "client_for", "SUBMIT_OPTIONS",
    "ArgoClient", "ArgoConfig", "ArgoRun", "LogLine", "Secret",
    "ArgoError", "ArgoConfigError", "ArgoUnreachableError", "ArgoAuthError", "ArgoForbiddenError",
    "ArgoNotFoundError", "ArgoNamespaceError", "ArgoManifestRejected", "ArgoConflictError", "ArgoTimeoutError",
    "ArgoArtifactError",
]
