"""A small client for the Argo Server REST API (the `/api/v1/...` endpoints of Argo's OpenAPI spec).

Every call goes through `ArgoClient.request`, which turns transport failures and error responses into
ArgoError subclasses naming the fix. The bearer token lives only in the session's Authorization header:
it is never logged, never put in a message, and never part of repr().
"""

from __future__ import annotations

import json
import logging
import re
from typing import Iterator
from urllib.parse import quote

from .._engine._stamps import split_time
from .._errors import UsageError
from ._config import ArgoConfig
from ._errors import (
    ArgoAuthError,
    ArgoConfigError,
    ArgoConflictError,
    ArgoError,
    ArgoForbiddenError,
    ArgoManifestRejected,
    ArgoNamespaceError,
    ArgoNotFoundError,
    ArgoUnreachableError,
)

log = logging.getLogger("flowpack.argo")

DEFAULT_TIMEOUT = 30.0  # seconds to connect and to wait for each response chunk
KINDS = {  # kind -> (collection path, create-request body key)
    "Workflow": ("workflows", "workflow"),
    "WorkflowTemplate": ("workflow-templates", "template"),
    "CronWorkflow": ("cron-workflows", "cronWorkflow"),
}


class ArgoClient:
    """Talks to one Argo Server. `ArgoClient()` reads ARGO_* variables and the config file; keywords override."""

    def __init__(self, config: ArgoConfig | None = None, *, timeout: float = DEFAULT_TIMEOUT, **settings):
        self.config = config.with_(**settings) if config is not None else ArgoConfig.resolve(**settings)
        self.timeout = timeout
        self._session = None

    def __repr__(self) -> str:
        return f"<flowpack ArgoClient {self.config.base_url if self.config.server else '(no server)'} " \
               f"namespace={self.config.namespace!r}>"

    @property
    def namespace(self) -> str:
        return self.config.namespace

    def _ns(self, namespace: str | None) -> str:
        return namespace or self.config.namespace

    @property
    def session(self):
        if self._session is None:
            import requests  # lazy: the HTTP client loads only when a server is reached

            s = requests.Session()
            s.verify = self.config.verify
            s.trust_env = True  # proxies from the environment, as requests does by default
            s.headers["Accept"] = "application/json"
            auth = self.config.authorization()
            if auth:
                s.headers["Authorization"] = auth
            self._session = s
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    # -- the one place requests are made --------------------------------------------------------
    def request(self, method: str, path: str, *, body: dict | None = None, params: dict | None = None,
                stream: bool = False, what: str = "", namespace: str | None = None, manifest: bool = False):
        """Send one request; return the requests.Response (2xx) or raise the ArgoError that says what to do."""
        import requests  # lazy: the HTTP client loads only when a server is reached

        url = self.config.base_url + path
        log.debug("argo %s %s", method, path)
        try:
            # verify per request: a session's verify loses to REQUESTS_CA_BUNDLE in requests' settings merge
            resp = self.session.request(method, url, json=body, params=_clean(params), stream=stream,
                                        verify=self.config.verify,
                                        timeout=(self.timeout, None if stream else self.timeout))
        except requests.exceptions.SSLError as exc:
            raise ArgoUnreachableError(_tls_message(self.config, url, exc)) from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            raise ArgoUnreachableError(
                f"{what or method + ' ' + path}: can't reach the Argo Server at {self.config.base_url} "
                f"({_reason(exc)}). Check ARGO_SERVER (host:port, from {self.config.source}), that the server runs, "
                f"and "
                f"that its port is reachable (e.g. `kubectl -n argo port-forward svc/argo-server 2746:2746`)."
            ) from None
        if resp.status_code >= 400:
            raise self._error(resp, what or f"{method} {path}", namespace, manifest)
        return resp

    def json(self, method: str, path: str, **kw) -> dict:
        resp = self.request(method, path, **kw)
        try:
            return resp.json()
        except ValueError:
            raise ArgoError(
                f"{kw.get('what') or method + ' ' + path}: the server at {self.config.base_url} answered HTTP "
                f"{resp.status_code} with a body that is not JSON ({resp.text[:200]!r}). Is ARGO_SERVER/ARGO_BASE_HREF "
                f"pointing at the Argo Server and not at another web service?"
            ) from None

    def _error(self, resp, what: str, namespace: str | None, manifest: bool = False) -> ArgoError:
        message = _server_message(resp)
        ns = namespace or self.config.namespace
        code = resp.status_code
        if code == 401:
            if self.config.token is None:
                hint = "No token was sent: set ARGO_TOKEN (`argo auth token` prints one) or pass token=..."
            else:
                hint = ("The token was not accepted: check that ARGO_TOKEN is current and complete (it starts with "
                        "'Bearer '), and that the server's --auth-mode includes 'client'.")
            return ArgoAuthError(f"{what}: 401 Unauthorized from {self.config.base_url}. {hint} Server said: {message}")
        if code == 403:
            return ArgoForbiddenError(
                f"{what}: 403 Forbidden in namespace {ns!r}. The token is valid but its service account lacks "
                f"permission: check its Role/RoleBinding in {ns!r} (verbs create/get/list/watch/update/delete on "
                f"argoproj.io workflows, workflowtemplates, cronworkflows; pods/log for logs). Server said: {message}"
            )
        m = re.search(r'namespaces? "([^"]+)" not found', message)
        if m:
            return ArgoNamespaceError(
                f"{what}: namespace {m.group(1)!r} does not exist on the cluster. Set ARGO_NAMESPACE or "
                f"namespace=... to an existing one (`kubectl get namespaces`). Server said: {message}"
            )
        if code == 404:
            if not _is_api_error(resp) or message.lower() in ("not found", ""):
                return ArgoNotFoundError(
                    f"{what}: {self.config.base_url} answered 404 Not Found ({message or 'no message'}). If this is "
                    f"not the Argo Server's API, check ARGO_BASE_HREF and ARGO_SERVER."
                )
            return ArgoNotFoundError(f"{what}: not found in namespace {ns!r}. Server said: {message}")
        if code == 409:
            return ArgoConflictError(f"{what}: already exists or changed meanwhile (409). Server said: {message}")
        if code in (400, 422) and manifest:
            field = offending_field(message)
            where = f" (field {field})" if field else ""
            return ArgoManifestRejected(f"{what}: the Argo Server rejected the manifest{where}: {message}",
                                        server_message=message, field=field)
        return ArgoError(f"{what}: the Argo Server answered HTTP {code}: {message or resp.reason}")

    # -- endpoints -------------------------------------------------------------------------------
    def create(self, manifest: dict, *, namespace: str | None = None, dry_run: bool = False) -> dict:
        """Create a Workflow, WorkflowTemplate or CronWorkflow (by manifest kind); returns the stored object."""
        kind = manifest.get("kind", "Workflow")
        coll, key = _kind(kind)
        ns = self._ns(namespace)
        body: dict[str, object] = {"namespace": ns, key: manifest}
        if dry_run and kind == "Workflow":
            body["serverDryRun"] = True
        return self.json("POST", f"/api/v1/{coll}/{_q(ns)}", body=body, what=f"create {kind}", namespace=ns,
                         manifest=True)

    def update(self, manifest: dict, *, namespace: str | None = None) -> dict:
        """Replace a WorkflowTemplate or CronWorkflow (metadata.resourceVersion must be the current one)."""
        kind = manifest.get("kind")
        coll, key = _kind(kind)
        ns = self._ns(namespace)
        name = manifest["metadata"]["name"]
        body = {"namespace": ns, "name": name, key: manifest}
        return self.json("PUT", f"/api/v1/{coll}/{_q(ns)}/{_q(name)}", body=body, what=f"update {kind} {name!r}",
                         namespace=ns, manifest=True)

    def lint(self, manifest: dict, *, namespace: str | None = None) -> dict:
        """Ask the server to validate a manifest without creating it; raises ArgoManifestRejected when invalid."""
        kind = manifest.get("kind", "Workflow")
        coll, key = _kind(kind)
        ns = self._ns(namespace)
        return self.json("POST", f"/api/v1/{coll}/{_q(ns)}/lint", body={"namespace": ns, key: manifest},
                         what=f"lint {kind}", namespace=ns, manifest=True)

    def get(self, name: str, *, kind: str = "Workflow", namespace: str | None = None) -> dict:
        coll, _ = _kind(kind)
        ns = self._ns(namespace)
        return self.json("GET", f"/api/v1/{coll}/{_q(ns)}/{_q(name)}", what=f"get {kind} {name!r}", namespace=ns)

    def list(self, *, kind: str = "Workflow", namespace: str | None = None, labels: str | None = None) -> list[dict]:
        coll, _ = _kind(kind)
        ns = self._ns(namespace)
        data = self.json("GET", f"/api/v1/{coll}/{_q(ns)}", params={"listOptions.labelSelector": labels},
                         what=f"list {kind}s", namespace=ns)
        return data.get("items") or []

    def delete(self, name: str, *, kind: str = "Workflow", namespace: str | None = None) -> None:
        coll, _ = _kind(kind)
        ns = self._ns(namespace)
        self.json("DELETE", f"/api/v1/{coll}/{_q(ns)}/{_q(name)}", what=f"delete {kind} {name!r}", namespace=ns)

    def action(self, name: str, verb: str, *, namespace: str | None = None, **fields) -> dict:
        """PUT /api/v1/workflows/{ns}/{name}/{verb} for stop, terminate, retry, resubmit, suspend, resume."""
        ns = self._ns(namespace)
        body = {"name": name, "namespace": ns, **{k: v for k, v in fields.items() if v is not None}}
        return self.json("PUT", f"/api/v1/workflows/{_q(ns)}/{_q(name)}/{verb}", body=body,
                         what=f"{verb} workflow {name!r}", namespace=ns)

    def log_stream(self, name: str, *, namespace: str | None = None, pod: str | None = None,
                   container: str = "main", follow: bool = False, grep: str | None = None,
                   executor: bool = False) -> Iterator[dict]:
        """Yield Argo LogEntry dicts ({content, podName}) from the line-delimited JSON log stream, each with `time`:
        when the line was written (Unix time), or None for a line that came without one.

        The server is asked for timestamps: it then puts Kubernetes' time of each line and a space before its
        content, which is split off here. `grep` is a Python regular expression, as for a local run's logs, applied
        here to the content (the server would match it against the line with its time in front).
        A main container's log also holds the lines Argo's executor (argoexec emissary, which runs the step's
        command) logs itself, marked `argo=true`; they are left out unless executor=True."""
        ns = self._ns(namespace)
        try:
            pattern = re.compile(grep) if grep is not None else None
        except re.error as exc:
            raise UsageError(f"logs of workflow {name!r}: grep={grep!r} is not a regular expression ({exc}); "
                             f"escape its special characters with re.escape(...) to match the text itself") from None
        params = {"podName": pod, "logOptions.container": container,
                  "logOptions.follow": "true" if follow else None, "logOptions.timestamps": "true"}
        what = f"logs of workflow {name!r}"
        resp = self.request("GET", f"/api/v1/workflows/{_q(ns)}/{_q(name)}/log", params=params, stream=True,
                            what=what, namespace=ns)
        with resp:
            for raw in _lines(resp):
                if not raw.strip():
                    continue
                try:
                    item = json.loads(raw)
                except ValueError:
                    raise ArgoError(f"{what}: a line of the log stream is not JSON: {raw[:200]!r}") from None
                if item.get("error"):
                    err = item["error"]
                    raise ArgoError(f"{what}: the server ended the log stream with an error: "
                                    f"{err.get('message') or err}")
                if "result" not in item:
                    continue
                entry = dict(item["result"] or {})
                entry["time"], entry["content"] = _split_time(entry.get("content"))
                if (executor or not is_executor_line(entry["content"])) and (
                        pattern is None or pattern.search(entry["content"])):
                    yield entry

    def version(self) -> dict:
        return self.json("GET", "/api/v1/version", what="get server version")


# A line Argo's executor logs in a pod's container: text (`time=... level=info msg="..." ... argo=true`, quoted time
# on v3) or JSON ({"argo": true, "level": ..., "msg": ...}), as cmd/argoexec's logger marks every line it writes; on
# v3 also the one line its archive package logs unmarked while the emissary tars an output (`msg="Taring /path"`).
_EXECUTOR_TEXT = re.compile(r'^time="?[0-9][^ ]*"? level=[A-Za-z]+ msg=.* argo=true( |$)'
                            r'|^time="[0-9][^"]*" level=info msg="Taring /[^"]*"$')


def is_executor_line(content: object) -> bool:
    """Whether a log line was written by Argo's executor rather than by the step's own command."""
    if not isinstance(content, str):
        return False
    if content.startswith("{"):
        try:
            entry = json.loads(content)
        except ValueError:
            return False
        return isinstance(entry, dict) and entry.get("argo") is True and "msg" in entry and "level" in entry
    return bool(_EXECUTOR_TEXT.match(content))


def _split_time(content: object) -> tuple[float | None, str]:
    """(Unix time, content) of a line the server sent with its time in front; (None, content) without one."""
    text = content if isinstance(content, str) else ""
    when, rest = split_time(text.encode("utf-8", errors="surrogatepass"))
    return (None, text) if when is None else (when, rest.decode("utf-8", errors="surrogatepass"))


def _lines(resp) -> Iterator[bytes]:
    """Lines of a streamed body as they arrive (iter_lines would wait for a full read buffer)."""
    buf = b""
    for chunk in resp.iter_content(chunk_size=None):
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            yield line
    if buf:
        yield buf


def offending_field(message: str) -> str | None:
    """The field path a server error message names, e.g. 'spec.templates[0].name' or 'templates.main.steps'."""
    patterns = (
        r"(?:is invalid|Invalid value|Required value|Unsupported value)[^:]*:\s*([A-Za-z][\w\-\[\]\.]*)",
        r'unknown field "([^"]+)"',
        r"\b((?:spec|metadata|templates|arguments|workflowSpec|schedules?)\.[\w\-\[\]\.]+)",
        r"\b((?:spec|metadata|entrypoint|templates|arguments)\b)",
    )
    for pat in patterns:
        m = re.search(pat, message)
        if m:
            return m.group(1).rstrip(".:")
    return None


def _kind(kind: str | None) -> tuple[str, str]:
    if kind not in KINDS:
        raise ArgoError(f"manifest kind {kind!r} is not one flowpack sends to Argo; expected one of {sorted(KINDS)}")
    return KINDS[kind]


def _q(part: str) -> str:
    return quote(str(part), safe="")


def _clean(params: dict | None) -> dict | None:
    if not params:
        return None
    return {k: v for k, v in params.items() if v is not None}


def _server_message(resp) -> str:
    """The message of a grpc-gateway error body ({code, message, details}), or the start of the raw body."""
    try:
        data = resp.json()
    except ValueError:
        return (resp.text or "").strip()[:500]
    if isinstance(data, dict):
        return str(data.get("message") or data.get("error") or "").strip() or json.dumps(data)[:500]
    return str(data)[:500]


def _is_api_error(resp) -> bool:
    """True when the body is a grpc-gateway error ({code, message}), i.e. the Argo Server's API answered."""
    try:
        data = resp.json()
    except ValueError:
        return False
    return isinstance(data, dict) and "code" in data and "message" in data


def _reason(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "Temporary failure in name resolution",
                   "timed out", "No route to host", "Connection reset", "RemoteDisconnected"):
        if marker in text:
            return marker.lower()
    return type(exc).__name__


def _tls_message(cfg: ArgoConfig, url: str, exc: Exception) -> str:
    text = str(exc)
    if "WRONG_VERSION_NUMBER" in text or "wrong version number" in text:
        return (f"TLS handshake with {cfg.base_url} failed: the server seems to speak plain HTTP. "
                f"If it runs with --secure=false, set ARGO_SECURE=false (or secure=False).")
    return (f"TLS certificate verification failed for {cfg.base_url} ({_reason(exc)}: "
            f"{'certificate verify failed' if 'CERTIFICATE_VERIFY_FAILED' in text else 'handshake failed'}). "
            f"Give the server's CA with ca_cert=... (or `ca_cert` in the config file). Only for a self-signed "
            f"development server: ARGO_INSECURE_SKIP_VERIFY=true.")


def client_for(argo=None, *, namespace: str | None = None) -> ArgoClient:
    """An ArgoClient from None (environment and config file), a client, an ArgoConfig, a dict of settings, or
    'host:port'."""
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
