"""An Argo Server test double: answers flowpack's REST calls as Argo's OpenAPI spec (tests/data/argo-swagger.json)
describes them, with Argo's own code behind them (the Argo harness, conformance/): create and lint go through
Argo's validator and v4's CRD rules (`argo-harness validate`), and every submitted workflow is run by Argo's own
workflow controller (`argo-harness run --stream`, one process per workflow), its pods executed for real, so the
client's round trips see Argo's node names, phases, messages, outputs and artifact keys. Stop, terminate, suspend,
resume, retry and resubmit are applied with the functions Argo's workflow server calls. The double's own parts:
the HTTP layer, the namespaces, secrets and artifact repository a cluster would have (a real S3 bucket, SeaweedFS,
whose objects are copied to and from the harness's store folder), and the log endpoint, which streams each pod's
main container log as Argo's does (pods in start order; with follow until the workflow completes; with
`logOptions.timestamps` each line after the time the harness's container runtime received it, as the kubelet gives).

Strict by design: a request the spec does not describe, a query parameter it does not declare, a request body or
one of the double's own responses that does not match the spec's schema (with unknown fields refused) is recorded
in `double.violations`; the `argo_server` fixture fails the test at teardown when there are any (so does a
workflow on which Argo's controller stops making progress). Every request needs `Authorization: Bearer <token>`
(401 otherwise), as an Argo Server in client auth mode does. Errors have grpc-gateway's body {code, message, details}.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import shutil
import subprocess
import threading
import time
import uuid
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator
from urllib.parse import parse_qs, unquote, urlsplit

import jsonschema

import argo_harness
from flowpack._argo._fetch import open_object
from flowpack._argo._status import pod_name

DATA = Path(__file__).parent / "data"
GRPC = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 500: 13}


# -- the spec ------------------------------------------------------------------------------------
class Spec:
    """Routes and schemas from Argo's swagger 2.0 file, made strict (unknown properties are errors)."""

    def __init__(self, path: Path = DATA / "argo-swagger.json"):
        raw = json.loads(path.read_text())
        self.definitions = {k: _strict(copy.deepcopy(v)) for k, v in raw["definitions"].items()}
        # Kubernetes decodes these from a JSON number as well as from text
        self.definitions["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = {"type": ["string", "integer"]}
        self.definitions["io.k8s.apimachinery.pkg.api.resource.Quantity"] = {"type": ["string", "number"]}
        # a zero metav1.Time marshals as null (Argo's server writes its Go objects with encoding/json)
        self.definitions["io.k8s.apimachinery.pkg.apis.meta.v1.Time"] = {"type": ["string", "null"]}
        self.routes = []
        for template, ops in raw["paths"].items():
            parts = template.strip("/").split("/")
            literal = sum(1 for p in parts if not p.startswith("{"))
            regex = re.compile("^/" + "/".join("(?P<%s>[^/]+)" % p[1:-1].replace(".", "_") if p.startswith("{")
                                               else re.escape(p) for p in parts) + "$")
            for method, op in ops.items():
                if method == "parameters":
                    continue
                self.routes.append((literal, method.upper(), regex, template, op))
        self.routes.sort(key=lambda r: -r[0])

    def match(self, method: str, path: str):
        for _, m, regex, template, op in self.routes:
            if m == method:
                found = regex.match(path)
                if found:
                    return template, op, {k: unquote(v) for k, v in found.groupdict().items()}
        return None

    def errors(self, instance, schema: dict) -> list[str]:
        wrapped = dict(_strict(copy.deepcopy(schema)), definitions=self.definitions)
        validator = jsonschema.Draft4Validator(wrapped)
        return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:300]}"
                for e in validator.iter_errors(instance)]


def _strict(schema):
    """additionalProperties: false on every object schema that lists its properties (recursively)."""
    if isinstance(schema, dict):
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        for key in ("properties",):
            for v in (schema.get(key) or {}).values():
                _strict(v)
        for key in ("items", "additionalProperties"):
            if isinstance(schema.get(key), dict):
                _strict(schema[key])
    return schema


# -- helpers -------------------------------------------------------------------------------------
def iso(t: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t if t is not None else time.time()))


class HTTPError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


# -- the server ----------------------------------------------------------------------------------
class ArgoDouble:
    """The double's state: namespaces, secrets, the artifact repository (a flowpack Store) and stored objects."""

    def __init__(self, *, token: str, store, workdir: Path, namespaces=("default", "argo"),
                 repository: dict | None = None, secrets_: dict | None = None, spec: Spec | None = None,
                 base_href: str = "", forbidden: tuple[str, ...] = (), tls: tuple[str, str] | None = None,
                 argo_version: str | None = None):
        self.token = token
        self.argo_version = argo_version  # the pinned Argo release whose harness runs behind it (None: the default)
        self.store = store
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.namespaces = set(namespaces)
        self.repository = repository or {"s3": {"bucket": "flowpack", "endpoint": "127.0.0.1:8333", "insecure": True,
                                                "accessKeySecret": {"name": "s3-cred", "key": "accesskey"},
                                                "secretKeySecret": {"name": "s3-cred", "key": "secretkey"}}}
        self.secrets = secrets_ if secrets_ is not None else {ns: {"s3-cred": {"accesskey", "secretkey"}}
                                                               for ns in self.namespaces}
        self.spec = spec or Spec()
        self.base_href = "/" + base_href.strip("/") if base_href.strip("/") else ""
        self.forbidden = set(forbidden)  # namespaces where the token's service account has no permissions
        self.tls = tls  # (certfile, keyfile): serve HTTPS
        self.violations: list[str] = []
        # what GET /api/v1/version reports: the Argo release whose code runs behind the double (a test may set another)
        self.version = subprocess.run([str(argo_harness.harness_binary(argo_version)), "version"],
                                      capture_output=True, text=True, check=True).stdout.strip()
        self.requests: list[tuple[str, str]] = []
        self.objects: dict[tuple[str, str, str], dict] = {}  # (collection, namespace, name) -> object
        self.runs: dict[tuple[str, str], "_Run"] = {}
        self.deleted: list["_Run"] = []  # runs of deleted workflows, ended at close
        self.lock = threading.RLock()
        self.httpd: ThreadingHTTPServer | None = None

    # lifecycle
    def start(self) -> "ArgoDouble":
        double = self

        class Handler(_Handler):
            pass

        Handler.double = double
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if self.tls:
            import ssl

            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self.tls)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        threading.Thread(target=self.httpd.serve_forever, name="argo-double", daemon=True).start()
        return self

    def close(self) -> None:
        for run in list(self.runs.values()) + self.deleted:
            run.close()
        for run in list(self.runs.values()) + self.deleted:
            run.join(60)
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.httpd.server_address[1]}"

    def violation(self, text: str) -> None:
        with self.lock:
            self.violations.append(text)

    # dispatch
    def handle(self, method: str, path: str, query: dict, body, params: dict, template: str):
        if template == "/api/v1/version":  # the server's version, as Argo's reply reports it
            return {"version": self.version, "buildDate": "2026-01-01T00:00:00Z", "gitCommit": "0" * 40,
                    "gitTag": self.version, "gitTreeState": "clean", "goVersion": "go1.24", "compiler": "gc",
                    "platform": "linux/amd64"}
        coll = path.split("/")[3]
        ns = params.get("namespace")
        name = params.get("name")
        if template.endswith("/lint"):
            obj = body.get({"workflows": "workflow", "workflow-templates": "template",
                            "cron-workflows": "cronWorkflow"}[coll]) or {}
            self._need_namespace(ns)
            self._validate_object(coll, obj)
            return obj
        if method == "POST" and template == f"/api/v1/{coll}/{{namespace}}":
            return self.create(coll, ns, body)
        if method == "GET" and name is None:
            items = [o for (c, n, _), o in sorted(self.objects.items()) if c == coll and n == ns]
            selector = query.get("listOptions.labelSelector", [None])[0]
            if selector:
                want = dict(p.split("=", 1) for p in selector.split(",") if "=" in p)
                items = [o for o in items if all((o["metadata"].get("labels") or {}).get(k) == v
                                                 for k, v in want.items())]
            return {"metadata": {"resourceVersion": str(len(self.requests))}, "items": [self.view(coll, o)
                                                                                         for o in items]}
        if template.endswith("/log"):
            return self.runs_for(ns, name)
        obj = self.objects.get((coll, ns, name))
        if obj is None:
            self._need_namespace(ns)
            raise HTTPError(404, f'{coll.replace("-", "")}.argoproj.io "{name}" not found')
        if method == "GET":
            return self.view(coll, obj)
        if method == "DELETE":
            if coll == "workflows":
                run = self.runs.pop((ns, name), None)
                if run:
                    run.close()  # the pods go with the workflow
                    self.deleted.append(run)
            del self.objects[(coll, ns, name)]
            return {}
        if method == "PUT" and template == f"/api/v1/{coll}/{{namespace}}/{{name}}":
            new = body.get({"workflow-templates": "template", "cron-workflows": "cronWorkflow"}[coll])
            if (new.get("metadata") or {}).get("resourceVersion") != obj["metadata"]["resourceVersion"]:
                raise HTTPError(409, f'Operation cannot be fulfilled on {coll}: the object has been modified')
            self._validate_object(coll, new)
            new = copy.deepcopy(new)
            new["metadata"].update(namespace=ns, uid=obj["metadata"]["uid"],
                                   creationTimestamp=obj["metadata"]["creationTimestamp"],
                                   resourceVersion=str(int(obj["metadata"]["resourceVersion"]) + 1))
            self.objects[(coll, ns, name)] = new
            return new
        verb = path.rsplit("/", 1)[1]
        return self.action(ns, name, verb, body)

    def _need_namespace(self, ns: str) -> None:
        if ns not in self.namespaces:
            raise HTTPError(404, f'namespaces "{ns}" not found')

    def _validate_object(self, coll: str, obj: dict) -> None:
        """What the Argo Server checks on create and lint, by Argo's own code: the harness's `validate` (Argo's
        validator, then v4's full CRD as the API server applies it); a refusal is a 400 with Argo's message."""
        kind = {"workflows": "Workflow", "workflow-templates": "WorkflowTemplate", "cron-workflows": "CronWorkflow"}
        doc = dict(obj, kind=obj.get("kind") or kind[coll], apiVersion=obj.get("apiVersion") or "argoproj.io/v1alpha1")
        for verdict in argo_harness.validate(doc, version=self.argo_version):
            if not verdict.ok:
                raise HTTPError(400, verdict.message)

    def create(self, coll: str, ns: str, body: dict):
        key = {"workflows": "workflow", "workflow-templates": "template", "cron-workflows": "cronWorkflow"}[coll]
        obj = copy.deepcopy(body.get(key) or {})
        if body.get("namespace") not in (None, ns):
            raise HTTPError(400, f"namespace in body {body.get('namespace')!r} differs from the path's {ns!r}")
        self._need_namespace(ns)
        obj.setdefault("apiVersion", "argoproj.io/v1alpha1")  # the API server stores the object with its kind
        obj.setdefault("kind", {"workflows": "Workflow", "workflow-templates": "WorkflowTemplate",
                                "cron-workflows": "CronWorkflow"}[coll])
        self._validate_object(coll, obj)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise HTTPError(400, "metadata.name: Required value: name or generateName is required")
            meta["name"] = meta.pop("generateName") + secrets.token_hex(3)[:5]
        meta.pop("generateName", None)
        with self.lock:
            if (coll, ns, meta["name"]) in self.objects:
                raise HTTPError(409, f'{coll.replace("-", "")}.argoproj.io "{meta["name"]}" already exists')
            meta.update(namespace=ns, uid=str(uuid.uuid4()), resourceVersion="1", creationTimestamp=iso())
            if coll == "workflows":
                if body.get("serverDryRun"):
                    return obj
                self.objects[(coll, ns, meta["name"])] = obj
                run = _Run(self, obj)
                self.runs[(ns, meta["name"])] = run
                run.start()
            else:
                self.objects[(coll, ns, meta["name"])] = obj
        return self.view(coll, obj)

    def view(self, coll: str, obj: dict) -> dict:
        with self.lock:
            return copy.deepcopy(obj)

    def runs_for(self, ns: str, name: str) -> "_Run":
        run = self.runs.get((ns, name))
        if run is None:
            self._need_namespace(ns)
            raise HTTPError(404, f'workflows.argoproj.io "{name}" not found')
        return run

    def action(self, ns: str, name: str, verb: str, body: dict) -> dict:
        """A workflow action, applied by the workflow's controller with Argo's own functions (see _Run)."""
        run = self.runs_for(ns, name)
        if verb not in ("stop", "terminate", "suspend", "resume", "retry", "resubmit"):
            raise HTTPError(400, f"the double does not implement {verb}")
        fields = {"stop": ("message", "nodeFieldSelector"), "resume": ("nodeFieldSelector",),
                  "retry": ("restartSuccessful", "nodeFieldSelector", "parameters"),
                  "resubmit": ("memoized", "parameters")}.get(verb, ())
        reply = run.command(verb, **{f: body.get(f) for f in fields})
        if not reply.get("ok"):
            raise HTTPError(reply.get("code") or 500, reply.get("error") or f"{verb} failed")
        if verb != "resubmit":
            return self.view("workflows", run.wf)
        new = reply["workflow"]
        new.pop("status", None)
        meta = new.setdefault("metadata", {})
        for k in ("creationTimestamp", "uid", "resourceVersion", "name"):
            meta.pop(k, None)
        return self.create("workflows", ns, {"namespace": ns, "workflow": new})


# -- one execution -------------------------------------------------------------------------------
HARNESS_TIMEOUT = 900  # seconds a workflow may run in the harness before it reports Stuck
HARNESS_STUCK_AFTER = 20  # seconds without any progress before the harness reports Stuck
_EXECUTOR_LINE = re.compile(r"^time=\S+ level=\w+ msg=")  # a log line of Argo's code, not of the step
_LINE = re.compile(rb"[^\n]*\n|[^\n]+\Z")  # a line with its newline, or a last one that never ended


class _Run:
    """One workflow, run by Argo's own controller: an `argo-harness run --stream` process (conformance/stream.go).

    Its stdout says every change of the Workflow object, which becomes the double's object (status, labels, spec);
    the server's actions (stop, terminate, suspend, resume, retry, resubmit) go to its stdin and are applied with
    Argo's own functions. Artifacts move between the double's S3 bucket and the harness's --store folder: input
    objects the manifest names are copied in before the run, every object the pods write is uploaded before the
    status naming it is shown. Pod logs are each pod's main container log (<podDir>/<pod>/main.log)."""

    def __init__(self, double: ArgoDouble, wf: dict):
        self.double = double
        self.wf = wf
        self.name = wf["metadata"]["name"]
        self.ns = wf["metadata"]["namespace"]
        self.dir = double.workdir / "runs" / f"{self.name}-{secrets.token_hex(3)}"
        self.store_dir = self.dir / "store"
        self.pod_dir: Path | None = None
        self.proc: subprocess.Popen | None = None
        self.record: dict | None = None  # the harness's run record, once it ended
        self.done = threading.Event()  # the workflow is completed (cleared again by a retry)
        self.ended = threading.Event()  # the harness process has ended
        self.replies: dict[int, dict] = {}
        self.replied = threading.Condition()
        self.next_id = 0
        self.uploaded: dict[str, tuple[int, int]] = {}  # store key -> (size, mtime_ns) already in the bucket
        self.thread = threading.Thread(target=self._main, name=f"argo-double-{self.name}", daemon=True)
        with double.lock:
            wf["status"] = {}

    def start(self) -> None:
        self.thread.start()

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)

    def close(self) -> None:
        """End the harness: its stdin closes, it kills the pods still running and exits."""
        proc = self.proc
        if proc is not None and proc.stdin is not None and not proc.stdin.closed:
            try:
                proc.stdin.close()
            except OSError:
                pass

    # the harness's side
    def command(self, op: str, **fields) -> dict:
        """Send one action to the harness and wait for its reply ({ok, workflow} or {ok: false, code, error})."""
        with self.replied:
            self.next_id += 1
            ident = self.next_id
        proc = self.proc
        if proc is None or self.ended.is_set() or proc.stdin is None or proc.stdin.closed:
            raise HTTPError(500, f"workflow {self.name!r} is not held by a controller any more")
        line = json.dumps({"id": ident, "op": op, **{k: v for k, v in fields.items() if v not in (None, "", [])}})
        try:
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
        except OSError as exc:
            raise HTTPError(500, f"workflow {self.name!r}: the controller is gone ({exc})") from None
        deadline = time.monotonic() + 60
        with self.replied:
            while ident not in self.replies:
                if self.ended.is_set() or time.monotonic() > deadline:
                    raise HTTPError(500, f"workflow {self.name!r}: no answer from the controller to {op}")
                self.replied.wait(0.1)
            return self.replies.pop(ident)

    def _main(self) -> None:
        try:
            self._execute()
        except Exception:  # noqa: BLE001 - a bug in the double must fail the test, not hang it
            import traceback

            self.double.violation(f"the double crashed running {self.name}: {traceback.format_exc()}")
        finally:
            self.ended.set()
            self.done.set()
            with self.replied:
                self.replied.notify_all()

    def _execute(self) -> None:
        self.store_dir.mkdir(parents=True)
        try:
            self._stage_inputs()
        except HTTPError as exc:  # the cluster can't give the pods their inputs: the workflow errors
            self._error(exc.message)
            return
        manifest = copy.deepcopy(self.wf)
        manifest.pop("status", None)
        path = self.dir / "workflow.json"
        path.write_text(json.dumps(manifest), encoding="utf-8")
        stderr = open(self.dir / "harness.stderr", "wb")
        self.proc = subprocess.Popen(
            [str(argo_harness.harness_binary(self.double.argo_version)), "run", str(path), "--store",
             str(self.store_dir), "--stream", "--timeout", str(HARNESS_TIMEOUT), "--stuck-after",
             str(HARNESS_STUCK_AFTER)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True, encoding="utf-8")
        assert self.proc.stdout is not None
        with stderr:
            for raw in self.proc.stdout:
                line = json.loads(raw)
                event = line.get("event")
                if event == "started":
                    self.pod_dir = Path(line["podDir"])
                elif event == "workflow":
                    self._show(line["workflow"])
                elif event == "reply":
                    if line.get("ok") and (line.get("workflow") or {}).get("metadata", {}).get("name") == self.name:
                        self._show(line["workflow"])
                    with self.replied:
                        self.replies[line["id"]] = line
                        self.replied.notify_all()
                elif event is None:
                    self.record = line
                else:
                    self.double.violation(f"argo-harness for {self.name}: {line}")
            code = self.proc.wait()
        if self.record is None or code not in (0, 1):
            err = (self.dir / "harness.stderr").read_text(errors="replace")[-2000:]
            self.double.violation(f"argo-harness run --stream for {self.name} failed (exit {code}): {err}")
        elif self.record["phase"] == "Refused":
            self._error(self.record.get("message", ""))
        elif self.record["phase"] == "Stuck":
            self.double.violation(f"Argo's controller made no progress on {self.name}: {self.record.get('message')}")

    def _show(self, wf: dict) -> None:
        """The controller's Workflow becomes the double's object (the double keeps its uid and versions); objects
        the pods wrote are in the bucket before a status naming them is shown."""
        self._upload_outputs()
        meta = wf.get("metadata") or {}
        with self.double.lock:
            mine = self.wf["metadata"]
            for key in ("labels", "annotations"):
                if meta.get(key):
                    mine[key] = meta[key]
                else:
                    mine.pop(key, None)
            self.wf["spec"] = wf["spec"]
            self.wf["status"] = wf.get("status") or {}
            mine["resourceVersion"] = str(int(mine["resourceVersion"]) + 1)
            completed = (mine.get("labels") or {}).get("workflows.argoproj.io/completed") == "true"
        if completed:
            self.done.set()
        else:
            self.done.clear()

    def _error(self, message: str) -> None:
        """The workflow ends in Error before any pod ran (as the controller reports a workflow it can't start)."""
        now = iso()
        with self.double.lock:
            self.wf["status"] = {"phase": "Error", "message": message, "startedAt": now, "finishedAt": now,
                                 "progress": "0/0"}
            labels = self.wf["metadata"].setdefault("labels", {})
            labels.update({"workflows.argoproj.io/phase": "Error", "workflows.argoproj.io/completed": "true"})
            self.wf["metadata"]["resourceVersion"] = str(int(self.wf["metadata"]["resourceVersion"]) + 1)
        self.done.set()

    # artifacts
    def _stage_inputs(self) -> None:
        """Check the inputs as the cluster would (the repository named, its secrets, the objects) and copy every
        object the manifest names by key from the bucket into the harness's store."""
        repo = self.double.repository["s3"]
        ref = self.wf["spec"].get("artifactRepositoryRef")
        if ref and (ref.get("configMap", "artifact-repositories"), ref.get("key")) != ("artifact-repositories",
                                                                                        "default-v1"):
            raise HTTPError(400, f"artifact repository {ref} not found")
        for art in (self.wf["spec"].get("arguments") or {}).get("artifacts") or []:
            s3 = art.get("s3")
            if not s3:
                continue
            for field in ("bucket", "endpoint"):
                if field in s3 and s3[field] != repo[field]:
                    raise HTTPError(400, f"artifact {art['name']}: {field} {s3[field]!r} is not reachable here")
            for field in ("accessKeySecret", "secretKeySecret"):
                if field in s3:
                    sel = s3[field]
                    if sel.get("key") not in self.double.secrets.get(self.ns, {}).get(sel.get("name"), set()):
                        raise HTTPError(400, f"artifact {art['name']}: secret {sel.get('name')!r} key "
                                             f"{sel.get('key')!r} not found in namespace {self.ns!r}")
            if not self.double.store.exists(s3["key"]):
                raise HTTPError(400, f"artifact {art['name']}: key {s3['key']!r} does not exist in the repository")
        for key in sorted(_literal_keys(self.wf["spec"])):
            dest = self.store_dir / key
            if not self.double.store.exists(key):
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            with open_object(self.double.store, key) as stream, open(dest, "wb") as out:
                shutil.copyfileobj(stream, out, 1 << 20)
            st = dest.stat()
            self.uploaded[key] = (st.st_size, st.st_mtime_ns)

    def _upload_outputs(self) -> None:
        """Every object the pods wrote to the harness's store, put into the bucket under the same key."""
        for path in sorted(self.store_dir.rglob("*")):
            if not path.is_file():
                continue
            key = path.relative_to(self.store_dir).as_posix()
            st = path.stat()
            if self.uploaded.get(key) == (st.st_size, st.st_mtime_ns):
                continue
            _put_object(self.double.store, key, path)
            self.uploaded[key] = (st.st_size, st.st_mtime_ns)

    # logs
    def log_lines(self, pod: str | None, follow: bool) -> Iterator[tuple[str, str, str | None]]:
        """(podName, line, time) of each pod's main container in start order, as Argo's log endpoint streams them;
        with follow, running pods are tailed until the workflow completes. `time`: when the line reached the
        harness's container runtime, in Kubernetes' form (<podDir>/<pod>/main.log.times), None without one."""
        sent: dict[str, int] = {}  # pod -> bytes of its log already sent
        stamps: dict[str, dict[int, str]] = {}  # pod -> {offset just past a line: its time}
        stamps_read: dict[str, int] = {}  # pod -> bytes of its main.log.times already read
        started: set[str] = set()  # pods whose executor has started (lines before it are the harness's own)
        while True:
            finished_run = self.done.is_set()  # read before the files: one more full pass after the end
            with self.double.lock:
                nodes = sorted((n for n in (self.wf.get("status") or {}).get("nodes", {}).values()
                                if n.get("type") == "Pod"), key=lambda n: n.get("startedAt") or "~")
                pods = [(pod_name(self.wf, n), n.get("phase") in ("Succeeded", "Failed", "Error")) for n in nodes]
            for name, pod_done in pods:
                if (pod is not None and name != pod) or self.pod_dir is None:
                    continue
                start = sent.get(name, 0)
                try:
                    with open(self.pod_dir / name / "main.log", "rb") as f:
                        f.seek(start)
                        data = f.read()
                except OSError:
                    continue
                if not (pod_done or finished_run or not follow):
                    data = data[:data.rfind(b"\n") + 1]  # hold back a half-written line
                sent[name] = start + len(data)
                if data:  # the harness writes a line's time before the line: read after it, every line's is there
                    stamps_read[name] = _read_times(self.pod_dir / name / "main.log.times", stamps_read.get(name, 0),
                                                    stamps.setdefault(name, {}))
                end = start
                for piece in _LINE.findall(data):  # lines end at a newline only, as the kubelet's and Argo's scanner
                    end += len(piece)
                    line = piece.removesuffix(b"\n").removesuffix(b"\r").decode("utf-8", "replace")  # bufio.ScanLines
                    if name not in started:
                        if "argo=true" not in line and _EXECUTOR_LINE.match(line):
                            continue  # the harness binary's own start-up lines: no pod of Argo prints them
                        started.add(name)
                    yield name, line, stamps.get(name, {}).get(end)
            if not follow or finished_run:
                return
            time.sleep(0.05)


def _read_times(path: Path, start: int, into: dict[int, str]) -> int:
    """Adds the complete rows of a pod's main.log.times from byte `start` ("OFFSET\tTIME\n") to `into`; returns
    the bytes read up to the last complete row."""
    try:
        with open(path, "rb") as f:
            f.seek(start)
            data = f.read()
    except OSError:
        return start
    data = data[:data.rfind(b"\n") + 1]
    for row in data.decode("ascii").splitlines():
        offset, _, when = row.partition("\t")
        into[int(offset)] = when
    return start + len(data)


def _literal_keys(spec: dict) -> set[str]:
    """Every s3 key in the spec that names an object outright (no {{...}} in it)."""
    found: set[str] = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            s3 = node.get("s3")
            if isinstance(s3, dict) and isinstance(s3.get("key"), str) and "{{" not in s3["key"]:
                found.add(s3["key"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)
    return found


def _put_object(store, key: str, src: Path) -> None:
    """Write the file at the bucket key itself (as Argo's executor does: no digest, no prefix of the store's)."""
    client = getattr(store, "_client", None)
    if client is not None:
        client.fput_object(store.bucket, key, str(src))
        return
    dest = Path(store.path(key))
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)


# -- HTTP ----------------------------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    double: ArgoDouble
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def do_PUT(self):
        self._serve("PUT")

    def do_DELETE(self):
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        d = self.double
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = url.path
        d.requests.append((method, path))
        if d.base_href:
            if not path.startswith(d.base_href + "/"):
                d.violation(f"{method} {path}: outside the server's base href {d.base_href}")
                return self._plain(404, b"404 page not found\n")
            path = path[len(d.base_href):]
        found = d.spec.match(method, path)
        if found is None:
            d.violation(f"{method} {path}: not an endpoint of Argo's API spec")
            return self._reply(404, {"code": 5, "message": "Not Found"}, None)
        template, op, params = found
        responses = op.get("responses") or {}
        declared = {p["name"]: p for p in op.get("parameters") or []}
        for q, values in query.items():
            p = declared.get(q)
            if p is None or p["in"] != "query":
                d.violation(f"{method} {template}: query parameter {q!r} is not in the spec")
            elif p.get("type") == "boolean" and any(v not in ("true", "false") for v in values):
                d.violation(f"{method} {template}: query parameter {q}={values} is not a boolean")
        body_param = next((p for p in op.get("parameters") or [] if p["in"] == "body"), None)
        body = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                d.violation(f"{method} {template}: request body is not JSON")
                return self._reply(400, {"code": 3, "message": "body is not JSON"}, responses)
            if body_param is None:
                d.violation(f"{method} {template}: sends a body, but the spec takes none")
        if body_param is not None:
            if body is None:
                d.violation(f"{method} {template}: the spec requires a body, none was sent")
                body = {}
            for err in d.spec.errors(body, body_param["schema"]):
                d.violation(f"{method} {template}: request body: {err}")
        auth = self.headers.get("Authorization")
        if auth != f"Bearer {d.token}":
            return self._reply(401, {"code": 16, "message": "token not valid. see https://argo-workflows."
                                                             "readthedocs.io/en/latest/faq/"}, responses)
        ns = params.get("namespace")
        if ns in d.forbidden:
            verb = {"GET": "get", "POST": "create", "PUT": "update", "DELETE": "delete"}[method]
            return self._reply(403, {"code": 7, "message": f'{template.split("/")[3]}.argoproj.io is forbidden: User '
                                     f'"system:serviceaccount:argo:flowpack" cannot {verb} resource '
                                     f'"{template.split("/")[3]}" in API group "argoproj.io" in the namespace "{ns}"',
                                     "details": []}, responses)
        try:
            result = d.handle(method, path, query, body or {}, params, template)
        except HTTPError as exc:
            return self._reply(exc.status, {"code": GRPC.get(exc.status, 2), "message": exc.message,
                                            "details": []}, responses)
        if isinstance(result, _Run):
            return self._stream_logs(result, query, responses)
        return self._reply(200, result, responses)

    def _plain(self, status: int, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _reply(self, status: int, data: dict, responses: dict | None) -> None:
        if responses is not None:
            schema = (responses.get(str(status)) or responses.get("default") or {}).get("schema")
            if schema is None:
                self.double.violation(f"reply {status}: no response schema in the spec")
            else:
                for err in self.double.spec.errors(data, schema):
                    self.double.violation(f"the double's own {status} reply breaks the spec: {err}")
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _stream_logs(self, run: _Run, query: dict, responses: dict) -> None:
        pod = query.get("podName", [None])[0]
        follow = query.get("logOptions.follow", ["false"])[0] == "true"
        container = query.get("logOptions.container", ["main"])[0]
        grep = query.get("grep", [None])[0]
        timestamps = query.get("logOptions.timestamps", ["false"])[0] == "true"
        schema = responses["200"]["schema"]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")  # as grpc-gateway streams over HTTP/1.1
        self.end_headers()

        def chunk(data: bytes) -> None:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        try:
            if container == "main":
                for pod_name, line, when in run.log_lines(pod, follow):
                    if timestamps and when is not None:  # the kubelet's time and a space before the line
                        line = f"{when} {line}"
                    if grep and not re.search(grep, line):  # the server filters with the regular expression
                        continue
                    item = {"result": {"content": line, "podName": pod_name}}
                    for err in self.double.spec.errors(item, schema):
                        self.double.violation(f"the double's own log line breaks the spec: {err}")
                    chunk(json.dumps(item).encode() + b"\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


# -- pytest fixtures -----------------------------------------------------------------------------
import pytest  # noqa: E402

TOKEN = "v2:fp-test-" + secrets.token_urlsafe(24)  # what the double accepts; must never leak anywhere


@pytest.fixture
def argo_store(request):
    """The artifact repository's bucket: a flowpack S3 store on a real SeaweedFS (fixtures_s3)."""
    return request.getfixturevalue("s3_store")


@contextmanager
def serving(store, workdir: Path, argo_version: str | None = None) -> Iterator[ArgoDouble]:
    """A started ArgoDouble whose repository is `store` (Argo `argo_version`'s code behind it); at the end it is
    closed, and any request or reply outside the spec fails the test."""
    repo = None
    if hasattr(store, "to_argo"):
        loc = store.to_argo("x")["s3"]
        repo = {"s3": {k: v for k, v in loc.items() if k != "key"}}
        secret = loc["accessKeySecret"]["name"]
        secrets_ = {ns: {secret: {"accesskey", "secretkey"}} for ns in ("default", "argo")}
    else:
        secrets_ = None
    double = ArgoDouble(token=TOKEN, store=store, workdir=workdir, repository=repo, secrets_=secrets_,
                        argo_version=argo_version).start()
    try:
        yield double
    finally:
        double.close()
    assert not double.violations, "requests or replies outside Argo's API spec:\n" + "\n".join(double.violations)


@pytest.fixture
def argo_server(tmp_path, argo_store):
    """A started ArgoDouble whose repository is `argo_store`; fails the test if any request broke the spec."""
    with serving(argo_store, tmp_path / "argo-double") as double:
        yield double


class StepSignal:
    """A URL a workflow's steps can poll: it answers "closed" until `open()`, then "open". Steps on Argo run in pods
    that see the network, not the test's files, so a test that must hold or release a running step does it here."""

    def __init__(self) -> None:
        signal = self
        self.state = b"closed"

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(signal.state)))
                self.end_headers()
                self.wfile.write(signal.state)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, name="step-signal", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def open(self) -> None:
        self.state = b"open"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# The start of a user module of workflows for the double (tests/test_argo, test_ui_argo): ops that print (add, square)
# and gate, a step that waits until step_signal is set (a test decides when it ends); a test's source goes on from here.
DOUBLE_OPS = '''
import time
import urllib.request
import flowpack as fp


@fp.op
def add(a: int, b: int = 1) -> int:
    print("adding", a, b)
    return a + b


@fp.op
def square(x: int) -> int:
    print("square of", x)
    return x * x


@fp.op
def total(xs: list) -> int:
    return sum(xs)


def is_open(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.read() == b"open"


@fp.op
def gate(url: str) -> str:
    print("waiting for the signal", flush=True)
    for _ in range(1200):
        if is_open(url):
            print("released", flush=True)
            return "open"
        time.sleep(0.05)
    raise TimeoutError("never released")


@fp.workflow
def gated(url: str) -> str:
    return gate(url)
'''


@pytest.fixture
def step_signal():
    """A StepSignal for the test's steps to poll."""
    signal = StepSignal()
    try:
        yield signal
    finally:
        signal.stop()


@pytest.fixture
def argo(argo_server):
    """An ArgoClient for the double (plain HTTP on 127.0.0.1, the test token)."""
    from flowpack._argo import ArgoClient

    return ArgoClient(server=argo_server.address, secure=False, token=f"Bearer {TOKEN}", namespace="argo")


def use_argo_double(monkeypatch: pytest.MonkeyPatch, server: ArgoDouble, config: Path, token: str = TOKEN) -> None:
    """Point the ARGO_* variables the command line (and a notebook's kernel) reads at the double: plain HTTP, the
    test token, namespace argo, and `config` (a file that need not exist) as flowpack's Argo config file."""
    monkeypatch.setenv("ARGO_SERVER", server.address)
    monkeypatch.setenv("ARGO_SECURE", "false")
    monkeypatch.setenv("ARGO_TOKEN", token)
    monkeypatch.setenv("ARGO_NAMESPACE", "argo")
    monkeypatch.setenv("FLOWPACK_ARGO_CONFIG", str(config))
