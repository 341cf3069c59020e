"""An Argo Server test double: answers flowpack's REST calls as Argo's OpenAPI spec (tests/data/argo-swagger.json)
describes them, and runs submitted workflows with flowpack's LocalEngine so their status, logs and outputs evolve.

Strict by design: a request the spec does not describe, a query parameter it does not declare, a request body or
one of the double's own responses that does not match the spec's schema (with unknown fields refused) is recorded
in `double.violations`; the `argo_server` fixture fails the test at teardown when there are any. Every request
needs `Authorization: Bearer <token>` (401 otherwise), as an Argo Server in client auth mode does.

What it imitates (from Argo's docs and spec, not from a live server): node names `<wf>.<task>`, node ids
`<wf>-<fnv32a(node name)>`, v2 pod names `<wf>-<template>-<fnv32a(node name)>`, output artifacts archived as
tar.gz under `<wf>/<pod>/<name>.tgz` (or the file itself with `archive: none`), stop/terminate ending the
workflow Failed with "Stopped with strategy '...'", grpc-gateway error bodies {code, message, details}.
Where it is simpler than Argo: retry re-runs every step; server-side validation checks entrypoint and template
references and names only; messages are the double's own words.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import shutil
import tarfile
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import jsonschema

DATA = Path(__file__).parent / "data"
GRPC = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 500: 13}
NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


# -- the spec ------------------------------------------------------------------------------------
class Spec:
    """Routes and schemas from Argo's swagger 2.0 file, made strict (unknown properties are errors)."""

    def __init__(self, path: Path = DATA / "argo-swagger.json"):
        raw = json.loads(path.read_text())
        self.definitions = {k: _strict(copy.deepcopy(v)) for k, v in raw["definitions"].items()}
        # Kubernetes decodes these from a JSON number as well as from text
        self.definitions["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = {"type": ["string", "integer"]}
        self.definitions["io.k8s.apimachinery.pkg.api.resource.Quantity"] = {"type": ["string", "number"]}
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
def fnv32a(text: str) -> int:
    h = 0x811C9DC5
    for b in text.encode():
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


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
                 base_href: str = "", forbidden: tuple[str, ...] = (), tls: tuple[str, str] | None = None):
        self.token = token
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
        self.version = "v4.1.2"  # what GET /api/v1/version reports (a test may set another)
        self.requests: list[tuple[str, str]] = []
        self.objects: dict[tuple[str, str, str], dict] = {}  # (collection, namespace, name) -> object
        self.runs: dict[tuple[str, str], "_Run"] = {}
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
        for run in list(self.runs.values()):
            run.shutdown("Terminate")
        for run in list(self.runs.values()):
            run.join(30)
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
                    run.shutdown("Terminate")
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
        """The server-side checks the double makes (Argo makes many more): names, entrypoint, template references."""
        meta = obj.get("metadata") or {}
        label = meta.get("name") or (meta.get("generateName") or "").rstrip("-") or "x"
        if not NAME_RE.match(label) or len(label) > 253:
            raise HTTPError(400, f"metadata.name: Invalid value: {label!r}: a lowercase RFC 1123 subdomain must "
                                 f"consist of lower case alphanumeric characters, '-' or '.'")
        spec = obj.get("spec") or {}
        where = "spec"
        if coll == "cron-workflows":
            spec, where = spec.get("workflowSpec") or {}, "spec.workflowSpec"
            for s in obj["spec"].get("schedules") or []:
                if len(s.split()) not in (5, 6) and not s.startswith("@"):
                    raise HTTPError(400, f"spec.schedules: invalid cron schedule {s!r}")
        templates = {t.get("name") for t in spec.get("templates") or []}
        if spec.get("entrypoint") not in templates:
            raise HTTPError(400, f"{where}.entrypoint: template {spec.get('entrypoint')!r} is not defined")
        for t in spec.get("templates") or []:
            for task in (t.get("dag") or {}).get("tasks") or []:
                if task.get("template") not in templates:
                    raise HTTPError(400, f"templates.{t['name']}.tasks.{task.get('name')}: template "
                                         f"{task.get('template')!r} is not defined")

    def create(self, coll: str, ns: str, body: dict):
        key = {"workflows": "workflow", "workflow-templates": "template", "cron-workflows": "cronWorkflow"}[coll]
        obj = copy.deepcopy(body.get(key) or {})
        if body.get("namespace") not in (None, ns):
            raise HTTPError(400, f"namespace in body {body.get('namespace')!r} differs from the path's {ns!r}")
        self._need_namespace(ns)
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
                meta.setdefault("labels", {})["workflows.argoproj.io/phase"] = "Pending"
                meta.setdefault("annotations", {})["workflows.argoproj.io/pod-name-format"] = "v2"
                obj["status"] = {"phase": "Pending", "startedAt": iso(), "progress": "0/0"}
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
        run = self.runs_for(ns, name)
        wf = run.wf
        phase = wf["status"].get("phase")
        if verb in ("stop", "terminate"):
            if phase in ("Succeeded", "Failed", "Error"):
                raise HTTPError(400, f"cannot shutdown a completed workflow {name!r}")
            run.shutdown("Stop" if verb == "stop" else "Terminate")
            return self.view("workflows", wf)
        if verb == "retry":
            if phase not in ("Failed", "Error"):
                raise HTTPError(400, f"workflow must be Failed/Error to retry (it is {phase})")
            run.join(30)
            new = _Run(self, wf, parameters=body.get("parameters"))
            self.runs[(ns, name)] = new
            new.start()
            return self.view("workflows", wf)
        if verb == "resubmit":
            if phase not in ("Succeeded", "Failed", "Error"):
                raise HTTPError(400, f"workflow must be completed to resubmit (it is {phase})")
            spec = copy.deepcopy(wf["spec"])
            spec.pop("shutdown", None)
            _override(spec, body.get("parameters"))
            meta = {"generateName": name + "-", "labels": {k: v for k, v in (wf["metadata"].get("labels") or {}).items()
                                                           if not k.startswith("workflows.argoproj.io/")},
                    "annotations": {k: v for k, v in (wf["metadata"].get("annotations") or {}).items()
                                    if not k.startswith("workflows.argoproj.io/")}}
            return self.create("workflows", ns, {"namespace": ns, "workflow": {
                "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": meta, "spec": spec}})
        raise HTTPError(400, f"the double does not implement {verb}")


def _override(spec: dict, parameters: list[str] | None) -> None:
    for item in parameters or []:
        k, _, v = item.partition("=")
        for p in (spec.get("arguments") or {}).get("parameters") or []:
            if p["name"] == k:
                p["value"] = v


# -- one execution -------------------------------------------------------------------------------
class _Run:
    """Executes one workflow with LocalEngine on a thread and keeps its Argo status current."""

    def __init__(self, double: ArgoDouble, wf: dict, parameters: list[str] | None = None):
        self.double = double
        self.wf = wf
        self.name = wf["metadata"]["name"]
        self.ns = wf["metadata"]["namespace"]
        self.run_id = f"{self.name}-{secrets.token_hex(3)}"
        self.run_dir = double.workdir / "runs" / self.run_id
        self.key_map: dict[str, dict] = {}  # engine store key -> Argo status artifact
        self.paths: dict[str, str] = {}  # Argo node id -> the engine's step path (its folder under steps/)
        self.execution = None
        self.strategy: str | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._main, name=f"argo-double-{self.name}", daemon=True)
        with double.lock:
            wf["spec"].pop("shutdown", None)
            _override(wf["spec"], parameters)
            wf["status"] = {"phase": "Pending", "startedAt": iso(), "progress": "0/0", "nodes": {},
                            "artifactRepositoryRef": self._repo_ref()}
            wf["metadata"]["labels"]["workflows.argoproj.io/phase"] = "Pending"
            wf["metadata"]["labels"].pop("workflows.argoproj.io/completed", None)

    def start(self) -> None:
        self.thread.start()

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)

    def shutdown(self, strategy: str) -> None:
        with self.double.lock:
            self.strategy = strategy
            self.wf["spec"]["shutdown"] = strategy
        ex = self.execution
        if ex is not None:
            ex.runner.stop_all()

    def _repo_ref(self) -> dict:
        ref = dict(self.wf["spec"].get("artifactRepositoryRef") or {})
        return {"configMap": ref.get("configMap", "artifact-repositories"), "key": ref.get("key", "default-v1"),
                "namespace": self.ns, "default": not ref, "artifactRepository": copy.deepcopy(self.double.repository)}

    # status updates
    def _set(self, **status) -> None:
        with self.double.lock:
            self.wf["status"].update(status)
            if "phase" in status:
                self.wf["metadata"]["labels"]["workflows.argoproj.io/phase"] = status["phase"]
            self.wf["metadata"]["resourceVersion"] = str(int(self.wf["metadata"]["resourceVersion"]) + 1)

    def _node(self, path: str) -> dict:
        """The Argo node of an engine step path ('add', 'inner/add', 'square/0'), creating its parents."""
        nodes = self.wf["status"]["nodes"]
        parent = None
        for name, display, kind in self._segments(path):
            nid = self.name if name == self.name else f"{self.name}-{fnv32a(name)}"
            if nid not in nodes:
                nodes[nid] = {"id": nid, "name": name, "displayName": display, "type": kind, "phase": "Running",
                              "startedAt": iso(), "templateScope": f"local/{self.name}"}
                if parent is not None:
                    nodes[nid]["boundaryID"] = parent["id"] if parent["type"] == "DAG" else parent.get("boundaryID")
                    parent.setdefault("children", []).append(nid)
            parent = nodes[nid]
        return parent

    def _segments(self, path: str) -> list[tuple[str, str, str]]:
        """(node name, display name, type) from the root down: DAG tasks are '<dag>.<task>'; a mapped task is a
        TaskGroup '<dag>.<task>' whose items are '<dag>.<task>(<i>:<item>)', as Argo names them."""
        templates = {t["name"]: t for t in self.wf["spec"]["templates"]}
        tpl = templates.get(self.wf["spec"]["entrypoint"], {})
        out = [(self.name, self.name, "DAG")]
        prefix = self.name
        parts = path.split("/") if path else []
        i = 0
        while i < len(parts):
            task = next((t for t in (tpl.get("dag") or {}).get("tasks") or [] if t["name"] == parts[i]), None)
            sub = templates.get((task or {}).get("template"), {})
            kind = "DAG" if "dag" in sub else "Pod"
            if task and ("withItems" in task or "withParam" in task) and i + 1 < len(parts) and parts[i + 1].isdigit():
                out.append((f"{prefix}.{parts[i]}", parts[i], "TaskGroup"))
                idx = int(parts[i + 1])
                item = self._item(task, prefix, idx)
                display = f"{parts[i]}({idx}:{item})"
                out.append((f"{prefix}.{display}", display, kind))
                prefix = f"{prefix}.{display}"
                i += 2
            else:
                out.append((f"{prefix}.{parts[i]}", parts[i], kind))
                prefix = f"{prefix}.{parts[i]}"
                i += 1
            tpl = sub
        return out

    def _item(self, task: dict, prefix: str, idx: int) -> str:
        """The idx-th item of a mapped task, printed as Argo prints items ('?' when the double can't resolve it)."""
        items = task.get("withItems")
        if items is None:
            expr = task["withParam"].strip()
            m = re.fullmatch(r"\{\{workflow\.parameters\.([\w-]+)\}\}", expr)
            t = re.fullmatch(r"\{\{tasks\.([\w-]+)\.outputs\.parameters\.([\w-]+)\}\}", expr)
            text = None
            if m:
                text = next((p.get("value") for p in (self.wf["spec"].get("arguments") or {}).get("parameters") or []
                             if p["name"] == m.group(1)), None)
            elif t:
                node = self.wf["status"]["nodes"].get(f"{self.name}-{fnv32a(prefix + '.' + t.group(1))}") or {}
                text = next((p.get("value") for p in (node.get("outputs") or {}).get("parameters") or []
                             if p["name"] == t.group(2)), None)
            try:
                items = json.loads(text) if text is not None else None
            except ValueError:
                items = None
        if not isinstance(items, list) or idx >= len(items):
            return "?"
        item = items[idx]
        return item if isinstance(item, str) else json.dumps(item, separators=(",", ":"))

    def progress(self, event: dict) -> None:
        path, phase = event["node"], event["phase"]
        with self.double.lock:
            node = self._node(path)
            self.paths[node["id"]] = path
            node.update(type="Skipped" if phase == "Omitted" else "Pod", templateName=event.get("template"),
                        phase=phase)
            self._close_groups()
            if event.get("startedAt"):
                node["startedAt"] = iso(event["startedAt"])
            if phase in ("Succeeded", "Failed", "Error", "Omitted"):
                node["finishedAt"] = iso(event.get("finishedAt") or time.time())
                msg = event.get("message") or ""
                if self.strategy and phase == "Failed":
                    msg = f"Stopped with strategy '{self.strategy}'"
                if msg:
                    node["message"] = msg.splitlines()[0][:200]
                self._collect(path, node)
            pods = [n for n in self.wf["status"]["nodes"].values() if n["type"] == "Pod"]
            finished = sum(1 for n in pods if n["phase"] in ("Succeeded", "Failed", "Error"))
            self._set(progress=f"{finished}/{len(pods)}")

    def _close_groups(self) -> None:
        """A DAG or TaskGroup node ends when all its children have ended (Failed if any child failed)."""
        nodes = self.wf["status"]["nodes"]
        for node in sorted(nodes.values(), key=lambda n: -n["name"].count(".")):
            if node["type"] not in ("DAG", "TaskGroup") or node["id"] == self.name or not node.get("children"):
                continue
            kids = [nodes[c]["phase"] for c in node["children"]]
            if all(k in ("Succeeded", "Failed", "Error", "Omitted", "Skipped") for k in kids):
                node["phase"] = "Failed" if any(k in ("Failed", "Error") for k in kids) else "Succeeded"
                node.setdefault("finishedAt", iso())

    def pod(self, node: dict) -> str:
        return f"{self.name}-{node['templateName']}-{fnv32a(node['name'])}"

    def _collect(self, path: str, node: dict) -> None:
        """Outputs of a finished step, with its artifacts re-stored the way Argo's executor stores them."""
        step_json = self.run_dir / "steps" / path / "step.json"
        if not step_json.is_file():
            return
        rec = json.loads(step_json.read_text())
        outs: dict = {}
        if rec.get("exitCode") is not None:
            outs["exitCode"] = str(rec["exitCode"])
        params = [{"name": k, "value": v} for k, v in (rec.get("outputs") or {}).get("parameters", {}).items()]
        if params:
            outs["parameters"] = params
        tpl = next((t for t in self.wf["spec"]["templates"] if t["name"] == node["templateName"]), {})
        specs = {a["name"]: a for a in (tpl.get("outputs") or {}).get("artifacts") or []}
        arts = []
        for name, ref in ((rec.get("outputs") or {}).get("artifacts") or {}).items():
            spec = specs.get(name, {})
            art = {"name": name, "path": spec.get("path"), "s3": {"key": self._argo_store(ref, spec, node)}}
            if "archive" in spec:
                art["archive"] = spec["archive"]
            self.key_map[ref["key"]] = art
            arts.append(art)
        if arts:
            outs["artifacts"] = arts
        if outs:
            node["outputs"] = outs

    def _argo_store(self, ref: dict, spec: dict, node: dict) -> str:
        from flowpack._store import ArtifactRef

        pod = self.pod(node)
        none = "none" in (spec.get("archive") or {})
        explicit = (spec.get("s3") or {}).get("key")
        if explicit:
            key = explicit.replace("{{workflow.name}}", self.name).replace("{{pod.name}}", pod)
        else:
            key = f"{self.name}/{pod}/{spec.get('name', 'artifact')}" + ("" if none else ".tgz")
        aref = ArtifactRef.from_dict(ref)
        with tempfile.TemporaryDirectory(dir=self.double.workdir) as tmp:
            local = self.double.store.get(aref, Path(tmp) / Path(spec.get("path") or "artifact").name)
            if none and local.is_file():
                self.double.store.put(local, key)
            else:
                tgz = Path(tmp) / "argo.tgz"
                with tarfile.open(tgz, "w:gz") as tar:
                    tar.add(local, arcname=local.name)
                self.double.store.put(tgz, key)
        return key

    # the run
    def _main(self) -> None:
        try:
            self._execute()
        except Exception as exc:  # noqa: BLE001 - a bug in the double must fail the test, not hang it
            import traceback

            self.double.violation(f"the double crashed running {self.name}: {traceback.format_exc()}")
            self._finish("Error", f"{type(exc).__name__}: {exc}")

    def _execute(self) -> None:
        from flowpack._engine.local import LocalEngine, _Execution

        try:
            uploads = self._inputs()
        except HTTPError as exc:
            self._finish("Error", exc.message)
            return
        engine = LocalEngine(run_dir=self.run_dir.parent, store=self.double.store, workers=2, progress=self.progress)
        manifest = copy.deepcopy(self.wf)
        manifest["metadata"]["generateName"] = self.name + "-"
        self.run_dir.joinpath("steps").mkdir(parents=True)
        self.execution = _Execution(engine, manifest, self.run_id, self.run_dir)
        self._set(phase="Running")
        with self.double.lock:
            self._node("")["templateName"] = self.wf["spec"]["entrypoint"]
        if self.strategy:
            self.execution.runner.stop_all()
        try:
            record = self.execution.run(uploads)
        except Exception as exc:  # noqa: BLE001 - a crash of the engine is the workflow's Error
            self._finish("Error", f"{type(exc).__name__}: {exc}")
            return
        outs = record.get("outputs") or {}
        root = {}
        if outs.get("parameters"):
            root["parameters"] = [{"name": k, "value": v} for k, v in outs["parameters"].items()]
        arts = []
        for name, ref in (outs.get("artifacts") or {}).items():
            src = self.key_map.get(ref.get("key"))
            if src:
                arts.append({"name": name, "s3": dict(src["s3"]), **({"archive": src["archive"]}
                                                                    if "archive" in src else {})})
        if arts:
            root["artifacts"] = arts
        phase = record["phase"] if record["phase"] in ("Succeeded", "Failed", "Error") else "Failed"
        message = record.get("message", "").splitlines()[0][:300] if record.get("message") else ""
        if self.strategy:
            phase, message = "Failed", f"Stopped with strategy '{self.strategy}'"
        with self.double.lock:
            rootnode = self._node("")
            if root and phase == "Succeeded":
                rootnode["outputs"] = root
        self._finish(phase, message)

    def _finish(self, phase: str, message: str) -> None:
        with self.double.lock:
            root = self._node("")
            root.update(phase=phase, finishedAt=iso())
            root.setdefault("templateName", self.wf["spec"]["entrypoint"])
            if message:
                root["message"] = message
                self.wf["status"]["message"] = message
            self.wf["metadata"]["labels"]["workflows.argoproj.io/completed"] = "true"
            self._set(phase=phase, finishedAt=iso())
        self.done.set()

    def _inputs(self) -> dict:
        """Input artifacts: the location must be the repository, its secrets must exist, the object must exist."""
        from flowpack._store import ArtifactRef

        uploads = {}
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
            key = s3["key"]
            if not self.double.store.exists(key):
                raise HTTPError(400, f"artifact {art['name']}: key {key!r} does not exist in the repository")
            import hashlib

            from flowpack._argo._fetch import open_object

            h, size = hashlib.sha256(), 0
            with tempfile.NamedTemporaryFile(dir=self.double.workdir) as tmp:
                with open_object(self.double.store, key) as stream:
                    while chunk := stream.read(1 << 20):
                        h.update(chunk)
                        size += len(chunk)
                        tmp.write(chunk)
                tmp.flush()
                kind = "dir" if tarfile.is_tarfile(tmp.name) else "file"
            uploads[key] = ArtifactRef(key, h.hexdigest(), size, kind)
        return uploads

    # logs
    def log_lines(self, pod: str | None, follow: bool):
        """(podName, line) for each Pod node in start order; with follow, tail running steps until the run ends."""
        sent: dict[str, int] = {}
        while True:
            finished_run = self.done.is_set()  # read before the files: one more full pass after the end
            with self.double.lock:
                nodes = sorted((n for n in self.wf["status"]["nodes"].values() if n["type"] == "Pod"),
                               key=lambda n: n.get("startedAt") or "")
                nodes = [(self.pod(n), self.paths[n["id"]], n["phase"]) for n in nodes]
            for pod_name, path, phase in nodes:
                if pod is not None and pod_name != pod:
                    continue
                text = b""
                for stream in ("stdout", "stderr"):
                    f = self.run_dir / "steps" / path / stream
                    if f.is_file():
                        text += f.read_bytes()
                lines = text.decode("utf-8", "replace").splitlines()
                complete = phase in ("Succeeded", "Failed", "Error") or not follow or text.endswith(b"\n")
                upto = len(lines) if complete else max(0, len(lines) - 1)  # hold back a half-written line
                for line in lines[sent.get(pod_name, 0):upto]:
                    yield pod_name, line
                sent[pod_name] = max(sent.get(pod_name, 0), upto)
            if not follow or finished_run:
                return
            time.sleep(0.05)


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
                for pod_name, line in run.log_lines(pod, follow):
                    if grep and grep not in line:
                        continue
                    item = {"result": {"content": line, "podName": pod_name}}
                    for err in self.double.spec.errors(item, schema):
                        self.double.violation(f"the double's own log line breaks the spec: {err}")
                    chunk(json.dumps(item).encode() + b"\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


# -- pytest fixtures -----------------------------------------------------------------------------
import pytest  # noqa: E402

TOKEN = "v2:fp-test-" + secrets.token_urlsafe(24)  # what the double accepts; must never leak anywhere


@pytest.fixture
def argo_store(request):
    """The artifact repository's bucket: a flowpack S3 store on a real SeaweedFS (fixtures_s3)."""
    return request.getfixturevalue("s3_store")


@pytest.fixture
def argo_server(tmp_path, argo_store):
    """A started ArgoDouble whose repository is `argo_store`; fails the test if any request broke the spec."""
    repo = None
    if hasattr(argo_store, "to_argo"):
        loc = argo_store.to_argo("x")["s3"]
        repo = {"s3": {k: v for k, v in loc.items() if k != "key"}}
        secret = loc["accessKeySecret"]["name"]
        secrets_ = {ns: {secret: {"accesskey", "secretkey"}} for ns in ("default", "argo")}
    else:
        secrets_ = None
    double = ArgoDouble(token=TOKEN, store=argo_store, workdir=tmp_path / "argo-double", repository=repo,
                        secrets_=secrets_).start()
    try:
        yield double
    finally:
        double.close()
    assert not double.violations, "requests or replies outside Argo's API spec:\n" + "\n".join(double.violations)


@pytest.fixture
def argo(argo_server):
    """An ArgoClient for the double (plain HTTP on 127.0.0.1, the test token)."""
    from flowpack._argo import ArgoClient

    return ArgoClient(server=argo_server.address, secure=False, token=f"Bearer {TOKEN}", namespace="argo")
