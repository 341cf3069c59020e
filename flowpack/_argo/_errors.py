"""Argo errors a user can act on: each names what failed and what to check. All are flowpack ArgoErrors."""

from __future__ import annotations

from .._errors import ArgoError


class ArgoConfigError(ArgoError, ValueError):
    """The connection settings are missing or malformed (no server, a bad boolean, an unreadable token file)."""

    other_server: bool = False  # the settings name another server than the one a workflow was submitted to


class ArgoUnreachableError(ArgoError, ConnectionError):
    """No answer from the Argo Server: wrong address, server down, port not forwarded, or TLS mismatch."""


class ArgoAuthError(ArgoError, PermissionError):
    """401: the server did not accept the token (missing, expired, or the server's auth mode rejects it)."""


class ArgoForbiddenError(ArgoAuthError):
    """403: the token is valid but its service account may not do this in this namespace."""


class ArgoNotFoundError(ArgoError, LookupError):
    """The workflow, template or cron workflow does not exist (or was deleted)."""


class ArgoNamespaceError(ArgoNotFoundError):
    """The namespace does not exist on the cluster."""


class ArgoManifestRejected(ArgoError):
    """The server refused a manifest; `field` is the offending field when the message names one."""

    def __init__(self, message: str, *, server_message: str = "", field: str | None = None):
        super().__init__(message)
        self.server_message = server_message
        self.field = field


class ArgoConflictError(ArgoError):
    """The object already exists (409) or changed since it was read."""


class ArgoTimeoutError(ArgoError, TimeoutError):
    """wait(timeout=...) ran out before the workflow reached a terminal phase; the workflow keeps running."""


class ArgoArtifactError(ArgoError):
    """A workflow output can't be fetched: no store given, or the output is missing from the workflow status."""


__all__ = [
    "ArgoError", "ArgoConfigError", "ArgoUnreachableError", "ArgoAuthError", "ArgoForbiddenError",
    "ArgoNotFoundError", "ArgoNamespaceError", "ArgoManifestRejected", "ArgoConflictError", "ArgoTimeoutError",
    "ArgoArtifactError",
]
