"""A real headless Chromium driven over the Chrome DevTools protocol, for the tests of the viewer (tests/test_ui_*.py,
test_argo_log_times): one page, JavaScript evaluated in it, real mouse clicks, screenshots to test-artifacts/. Needs
Debian's `chromium` (CHROMIUM is None without it: the tests skip) and websocket-client (importing this module skips
the importing test module without it)."""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from helpers import until

websocket = pytest.importorskip("websocket", reason="needs websocket-client (the [test] extra) to drive Chromium")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


class Browser:
    """One headless Chromium and one page, spoken to over its DevTools websocket."""

    def __init__(self, profile: Path):
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--remote-debugging-port=0", "--window-size=1200,900", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        until(lambda: port_file.is_file() and port_file.read_text().strip(), "Chromium's DevTools port", 30.0,
              proc=self.proc)
        port = int(port_file.read_text().splitlines()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            pages = [t for t in json.load(r) if t["type"] == "page"]
        self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=30, suppress_origin=True)
        self.ids = itertools.count(1)
        self.send("Page.enable")
        self.send("Runtime.enable")

    def send(self, method: str, **params) -> dict:
        mid = next(self.ids)
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def js(self, expr: str):
        res = self.send("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"{expr}: {res['exceptionDetails']}")
        return res["result"].get("value")

    def wait(self, expr: str, what: str, limit: float = 30.0):
        """`expr`'s value once it is true (an element counts as true), polled for at most `limit` seconds."""
        probe = f"(() => {{ const v = ({expr}); return v instanceof Node ? true : v; }})()"
        return until(lambda: self.js(probe), f"{what} on the page", limit,
                     shows=lambda: self.js("document.body.innerText")[:2000])

    def click(self, selector: str) -> None:
        """A real mouse click at the middle of the element (scrolled into view)."""
        box = self.js(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return null;"
                      " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
                      " return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        assert box, f"nothing matches {selector}"
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / name
        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"]))
        return path

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
