"""`flowpack ui`: a small local web page over a run folder, served on 127.0.0.1 only (stdlib http.server).

Routes: `/` the page; `/api/runs` the run list; `/api/runs/<id>` one run (record with live step phases, its DAG as
SVG); `/api/runs/<id>/steps/<node>` one step (step.json, stdout and stderr tails). The page polls these while a run
is going. Requests whose Host header isn't this server's loopback address are refused (DNS rebinding).

Argo workflows submitted with this run folder (records in <run_dir>/../argo) are listed too, as runs with ids
"argo:<namespace>:<name>" and engine "argo"; their state, step details and logs come live from the Argo Server, with
the CLI's connection settings (ARGO_* variables, the config file) unless make_server(argo=...) gives others.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from ._view import _assets
from ._view._runs import (
    NotFound,
    argo_connector,
    argo_step_detail,
    dag_key,
    is_argo_id,
    list_argo_runs,
    list_runs,
    load_argo_run,
    load_run,
    step_detail,
)
from ._view._svg import dag_svg

HOST = "127.0.0.1"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def run_payload(run_dir: Path, run_id: str, connect=None) -> dict:
    """What the page shows of one run: its record (live step phases), expected step count and DAG picture."""
    if is_argo_id(run_id):
        data = load_argo_run(run_dir, run_id, connect or argo_connector())
    else:
        data = load_run(run_dir, run_id)
    steps = data["record"]["steps"]
    by_dag_key = {dag_key(k): k for k in steps}  # Argo names map items 'square(0:1)'; the picture 'square/0'

    def href(node: str) -> str | None:
        target = by_dag_key.get(node) or by_dag_key.get(f"{node}/0")
        return None if target is None else f"#/run/{quote(run_id, safe='')}/step/{quote(target, safe='/')}"

    record = dict(data["record"])
    record.pop("store", None)
    return {"record": record, "expected": data["expected"],
            "dag_svg": dag_svg(data["manifest"], data["phases"], href=href)}


class Handler(BaseHTTPRequestHandler):
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
        port = self.server.server_address[1]
        return self.headers.get("Host", "") in (f"127.0.0.1:{port}", f"localhost:{port}")

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        if not self._host_ok():
            self._json(403, {"error": "wrong Host header: open the page at http://127.0.0.1:PORT/"})
            return
        path = urlsplit(self.path).path
        run_dir = self.server.run_dir
        static = {"/": (_assets.INDEX, "text/html; charset=utf-8"),
                  "/app.js": (_assets.JS, "text/javascript; charset=utf-8"),
                  "/app.css": (_assets.CSS, "text/css; charset=utf-8")}
        try:
            if path in static:
                text, ctype = static[path]
                self._send(200, text.encode("utf-8"), ctype)
            elif path == "/api/runs":
                self._json(200, {"run_dir": str(run_dir), "runs": all_runs(run_dir, self.server.argo_connect)})
            elif path.startswith("/api/runs/"):
                rest = path[len("/api/runs/"):]
                run_id, _, tail = rest.partition("/")
                run_id = unquote(run_id)
                node = unquote(tail[len("steps/"):]) if tail.startswith("steps/") else None
                if not tail:
                    self._json(200, run_payload(run_dir, run_id, self.server.argo_connect))
                elif node is not None and is_argo_id(run_id):
                    self._json(200, argo_step_detail(run_dir, run_id, node, self.server.argo_connect))
                elif node is not None:
                    self._json(200, step_detail(run_dir, run_id, node))
                else:
                    raise NotFound(path)
            else:
                raise NotFound(path)
        except NotFound as exc:
            self._json(404, {"error": str(exc)})


def all_runs(run_dir: Path, connect) -> list[dict]:
    """Local runs and recorded Argo workflows together, newest first."""
    runs = list_runs(run_dir) + list_argo_runs(run_dir, connect)
    runs.sort(key=lambda r: r.get("startedAt") or 0, reverse=True)
    return runs


def make_server(run_dir: str | Path = ".flowpack/runs", port: int = 8765, *, argo=None) -> ThreadingHTTPServer:
    """A server bound to 127.0.0.1:port (0 picks a free port), not yet serving.

    `argo` (an ArgoClient, ArgoConfig, dict of settings or 'host:port') says how to reach the Argo Server for the
    recorded Argo workflows; None reads the settings as the CLI does, on every request.
    """
    server = ThreadingHTTPServer((HOST, port), Handler)
    server.daemon_threads = True
    server.run_dir = Path(run_dir).absolute()
    server.argo_connect = argo_connector(argo)
    return server


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
