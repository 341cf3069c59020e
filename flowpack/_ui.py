"""`flowpack ui`: a small local web page over a run folder, served on 127.0.0.1 only (stdlib http.server).

Routes: `/` the page; `/api/runs` the run list; `/api/runs/<id>` one run (record with live step phases, every planned
step in DAG order, its DAG as SVG); `/api/runs/<id>/steps/<node>` one step (step.json, log tails, artifacts; pending
and skipped steps too); `/api/runs/<id>/log?node=&name=&from=` a log from a byte offset (the page follows logs with
it); `.../download`, `.../preview`, `.../artifact` a whole log, an artifact's preview, an artifact's bytes. POST
`/api/runs/<id>/stop|resume` stops or resumes a run (an Argo workflow: Argo's stop, and its retry as the
resume). The page polls while a run is going. Requests whose Host
header isn't this server's loopback address are refused (DNS rebinding); a POST must also carry the page's secret
token, come from the page's own Origin and be JSON, so another site can't forge one.

Argo workflows submitted with this run folder (records in <run_dir>/../argo) are listed too, as runs with ids
"argo:<namespace>:<name>" and engine "argo"; their state, step details and logs come live from the Argo Server, with
the CLI's connection settings (ARGO_* variables, the config file) unless make_server(argo=...) gives others.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, quote, unquote, urlsplit

from ._argo._client import ArgoClient
from ._view import _assets
from ._view._argo_control import argo_log_chunk, argo_log_text, resume_argo_run, stop_argo_run
from ._view._control import SOURCE, Refused, resume_run, stop_run
from ._view._runs import (
    NotFound,
    argo_connector,
    argo_step_detail,
    is_argo_id,
    list_argo_runs,
    list_runs,
    load_argo_run,
    load_run,
)
from ._view._steps import (
    IMAGES,
    artifact_path,
    log_chunk,
    log_file,
    natural_key,
    preview,
    run_facts,
    run_rows,
    step_page,
)
from ._view._svg import dag_svg
from ._view._tally import Plan

HOST = "127.0.0.1"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def run_payload(run_dir: Path, run_id: str, connect=None) -> dict:
    """What the page shows of one run: its record (live step phases), every planned step in DAG order (pending ones
    too, maps with their totals), the expected step count and the DAG picture (every box links to its step page)."""
    if is_argo_id(run_id):
        data = load_argo_run(run_dir, run_id, connect or argo_connector())
    else:
        data = load_run(run_dir, run_id)
    rows = run_rows(data)
    first: dict[str, str] = {}  # a map's box opens its first item
    plan = Plan(data["manifest"])
    for key in sorted(data["record"]["steps"], key=natural_key):
        owner = plan.node_of(key)
        if owner and owner != key:
            first.setdefault(owner, key)

    def href(node: str) -> str | None:
        target = first.get(node, node)
        return f"#/run/{quote(run_id, safe='')}/step/{quote(target, safe='/')}"

    record = dict(data["record"])
    record.pop("store", None)
    details = {r["node"]: r["detail"] for r in rows if r.get("map") and r.get("detail")}
    phases = dict(data["phases"])
    if record.get("phase") in ("Running", "Pending"):  # planned steps not started yet are drawn as pending
        for r in rows:
            if r.get("phase") == "Pending" and not r.get("item") and not r.get("more"):
                phases.setdefault(r["node"], "Pending")
    manifest = data["manifest"]
    source = ((manifest.get("metadata") or {}).get("annotations") or {}).get(SOURCE)
    return {"record": record, "expected": data["expected"], "rows": rows, "source": source,
            "dag_svg": dag_svg(manifest, phases, href=href, details=details)}


class Handler(BaseHTTPRequestHandler):
    server: ViewerServer
    """Serves the page and its JSON; `server.run_dir` is the folder of runs."""

    server_version = "flowpack-ui"

    def log_message(self, format: str, *args) -> None:  # quiet: the CLI prints the address once
        pass

    def _send(self, code: int, body: bytes, ctype: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in SECURITY_HEADERS.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, code: int, data) -> None:
        self._send(code, json.dumps(data, default=str, ensure_ascii=False).encode("utf-8"),
                   "application/json; charset=utf-8")

    def _host_ok(self) -> bool:
        port = self.server.server_port
        return self.headers.get("Host", "") in (f"127.0.0.1:{port}", f"localhost:{port}")

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        if not self._host_ok():
            self._json(403, {"error": "wrong Host header: open the page at http://127.0.0.1:PORT/"})
            return
        parts = urlsplit(self.path)
        path, query = parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()}
        run_dir = self.server.run_dir
        static = {"/": (_assets.index(self.server.token), "text/html; charset=utf-8"),
                  "/app.js": (_assets.JS, "text/javascript; charset=utf-8"),
                  "/app.css": (_assets.CSS, "text/css; charset=utf-8")}
        try:
            if path in static:
                text, ctype = static[path]
                self._send(200, text.encode("utf-8"), ctype)
            elif path == "/api/runs":
                self._json(200, {"run_dir": str(run_dir), "runs": all_runs(run_dir, self.server.argo_connect)})
            elif path.startswith("/api/runs/"):
                self._run_route(run_dir, path[len("/api/runs/"):], query)
            else:
                raise NotFound(path)
        except NotFound as exc:
            self._json(404, {"error": str(exc)})

    def _run_route(self, run_dir: Path, rest: str, query: dict) -> None:
        """/api/runs/<id>[/steps/<node> | /log | /download | /preview | /artifact] (node, name, side in the query)."""
        run_id, _, tail = rest.partition("/")
        run_id = unquote(run_id)
        node = unquote(tail[len("steps/"):]) if tail.startswith("steps/") else query.get("node", "")
        argo = is_argo_id(run_id)
        if not tail:
            self._json(200, run_payload(run_dir, run_id, self.server.argo_connect))
        elif tail.startswith("steps/") and argo:
            self._json(200, argo_step_detail(run_dir, run_id, node, self.server.argo_connect))
        elif tail.startswith("steps/"):
            self._json(200, step_page(run_dir, run_id, node))
        elif argo and tail == "log":
            start = query.get("from")
            self._json(200, argo_log_chunk(run_dir, run_id, node, query.get("name", ""),
                                           int(start) if start and start.isdigit() else None,
                                           self.server.argo_connect))
        elif argo and tail == "download":
            with tempfile.TemporaryFile() as f:  # the whole log as the Argo Server streams it
                f.write(argo_log_text(run_dir, run_id, node, self.server.argo_connect).encode("utf-8"))
                f.seek(0)
                self._stream(f, "text/plain; charset=utf-8", f"{run_id}-{node}-log.txt")
        elif argo:
            raise NotFound(f"/{tail} is for local runs")
        elif tail == "log":
            start = query.get("from")
            self._json(200, log_chunk(run_dir, run_id, node, query.get("name", ""),
                                      int(start) if start and start.isdigit() else None))
        elif tail == "download":
            name = query.get("name", "")
            with log_file(run_dir, run_id, node, name) as f:
                self._stream(f, "text/plain; charset=utf-8", f"{run_id}-{node}-{name}.txt")
        elif tail == "preview":
            self._json(200, preview(run_dir, run_id, node, query.get("side", ""), query.get("name", "")))
        elif tail == "artifact":
            file, _ = artifact_path(run_dir, run_id, node, query.get("side", ""), query.get("name", ""))
            with os.fdopen(os.open(file, os.O_RDONLY | os.O_NOFOLLOW), "rb") as f:
                head = f.read(16)
                mime = next((m for magic, m in IMAGES.items() if head.startswith(magic)), None)
                f.seek(0)
                inline = mime if query.get("inline") == "1" else None  # only images are shown in the page
                self._stream(f, inline or "application/octet-stream",
                             None if inline else f"{node}-{query.get('name', '')}")
        else:
            raise NotFound(tail)

    def _stream(self, f, ctype: str, download_name: str | None) -> None:
        """A file's bytes in blocks; as an attachment named `download_name` (made safe) when one is given."""
        size = os.fstat(f.fileno()).st_size
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(size))
        if download_name is not None:
            safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in download_name)[:150] or "download"
            self.send_header("Content-Disposition", f'attachment; filename="{safe}"')
        for k, v in SECURITY_HEADERS.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command == "HEAD":
            return
        for block in iter(lambda: f.read(1 << 16), b""):
            self.wfile.write(block)

    def _post_ok(self) -> str | None:
        """Why a POST is refused (None when it is allowed): another site can't forge one. It must come to our own
        Host, from our own Origin (when the browser sends one), as JSON, with this server's secret token (which
        only our own page holds: other sites can't read it)."""
        port = self.server.server_port
        if not self._host_ok():
            return "wrong Host header"
        origin = self.headers.get("Origin")
        if origin is not None and origin not in (f"http://127.0.0.1:{port}", f"http://localhost:{port}"):
            return f"requests from {origin} are not accepted"
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            return "expected a JSON request"
        token = self.headers.get("X-Flowpack-Token") or ""
        if not hmac.compare_digest(token.encode(), self.server.token.encode()):
            return "missing or wrong token: reload the page"
        return None

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(min(length, 65536))
        refused = self._post_ok()
        if refused:
            self._json(403, {"error": refused})
            return
        path = urlsplit(self.path).path
        run_id, _, action = path[len("/api/runs/"):].partition("/") if path.startswith("/api/runs/") else ("", "", "")
        try:
            run_id = unquote(run_id)
            if action not in ("stop", "resume"):
                raise NotFound(path)
            if is_argo_id(run_id):  # Argo's stop, and Argo's retry as the resume (_view/_argo_control)
                done = (stop_argo_run if action == "stop" else resume_argo_run)(self.server.run_dir, run_id,
                                                                                 self.server.argo_connect)
            else:
                done = (stop_run if action == "stop" else resume_run)(self.server.run_dir, run_id)
            self._json(200, {"ok": True, "message": done})
        except NotFound as exc:
            self._json(404, {"error": str(exc)})
        except Refused as exc:
            self._json(409, {"error": str(exc)})


def all_runs(run_dir: Path, connect) -> list[dict]:
    """Local runs (with their parameters and source file) and recorded Argo workflows together, newest first."""
    runs = [{**r, **run_facts(run_dir, r["id"])} for r in list_runs(run_dir)] + list_argo_runs(run_dir, connect)
    runs.sort(key=lambda r: r.get("startedAt") or 0, reverse=True)
    return runs


class ViewerServer(ThreadingHTTPServer):
    """The viewer's HTTP server: the run folder it shows, how it reaches the Argo Server, the token its page holds."""

    daemon_threads = True

    def __init__(self, port: int, run_dir: Path, argo_connect: Callable[[str], ArgoClient], token: str) -> None:
        super().__init__((HOST, port), Handler)
        self.run_dir, self.argo_connect, self.token = run_dir, argo_connect, token


def make_server(run_dir: str | Path = ".flowpack/runs", port: int = 8765, *, argo=None) -> ViewerServer:
    """A server bound to 127.0.0.1:port (0 picks a free port), not yet serving.

    `argo` (an ArgoClient, ArgoConfig, dict of settings or 'host:port') says how to reach the Argo Server for the
    recorded Argo workflows; None reads the settings as the CLI does, on every request.
    """
    # the token is in the page; every POST must carry it
    return ViewerServer(port, Path(run_dir).absolute(), argo_connector(argo), secrets.token_urlsafe(32))


def serve(run_dir: str | Path = ".flowpack/runs", port: int = 8765, *, background: bool = False, argo=None):
    """Serve the run folder's page; with background=True return the server running on a daemon thread."""
    server = make_server(run_dir, port, argo=argo)
    if background:
        threading.Thread(target=server.serve_forever, daemon=True, name="flowpack-ui").start()
        return server
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return server


def url(server) -> str:
    return f"http://{HOST}:{server.server_address[1]}/"
