"""`flowpack ui` in a real headless Chromium, driven over the Chrome DevTools protocol: real runs, real clicks.

Needs Debian's `chromium` (apt-get install -y chromium) and websocket-client; screenshots go to test-artifacts/.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

websocket = pytest.importorskip("websocket", reason="needs websocket-client (the [test] extra) to drive Chromium")

import flowpack as fp  # noqa: E402
from flowpack._ui import make_server, url  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed: apt-get install -y chromium")

WORKFLOWS = '''
import os
import sys
import time

import flowpack as fp


@fp.op
def square(x: int) -> int:
    return x * x


@fp.op
def total(xs: list) -> int:
    print("summing", xs)
    return sum(xs)


@fp.op
def boom(t: int) -> int:
    print("cannot <handle> " + str(t), file=sys.stderr)
    raise ValueError("bad total")


@fp.op
def wait_for(path: str) -> str:
    deadline = time.time() + 120
    while not os.path.exists(path) and time.time() < deadline:
        time.sleep(0.05)
    return "released"


@fp.workflow
def good(items: list = [1, 2, 3]) -> int:
    return total(square.map(x=items))


@fp.workflow
def bad(items: list = [1, 2]) -> int:
    return boom(total(square.map(x=items)))


@fp.workflow
def slow(path: str) -> str:
    return wait_for(path)
'''


class Browser:
    """One headless Chromium and one page, spoken to over its DevTools websocket."""

    def __init__(self, profile: Path):
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--remote-debugging-port=0", "--window-size=1200,900", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        for _ in range(300):
            if port_file.is_file() and port_file.read_text().strip():
                break
            if self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.proc.returncode}")
            time.sleep(0.1)
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
        end = time.monotonic() + limit  # a bound on waiting, not a timing being tested
        probe = f"(() => {{ const v = ({expr}); return v instanceof Node ? true : v; }})()"
        while time.monotonic() < end:
            value = self.js(probe)
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"the page never showed {what}; it shows: {self.js('document.body.innerText')[:2000]}")

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


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ui")
    (tmp / "uiwf.py").write_text(WORKFLOWS)
    import importlib.util

    spec = importlib.util.spec_from_file_location("uiwf", tmp / "uiwf.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["uiwf"] = mod
    spec.loader.exec_module(mod)
    run_dir = tmp / "runs"
    good = mod.good.run(run_dir=run_dir)
    with pytest.raises(fp.StepFailed) as failed:
        mod.bad.run(run_dir=run_dir)
    bad = failed.value.run
    server = make_server(run_dir, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    browser = Browser(tmp / "profile")
    yield {"browser": browser, "url": url(server), "good": good, "bad": bad, "mod": mod, "run_dir": run_dir,
           "tmp": tmp}
    browser.close()
    server.shutdown()
    server.server_close()
    sys.modules.pop("uiwf", None)


def test_click_from_run_list_into_a_run_and_a_steps_logs(site):
    b, bad = site["browser"], site["bad"]
    b.send("Page.navigate", url=site["url"])
    b.wait(f"document.querySelector('a[href=\"#/run/{bad.id}\"]')", "the failed run in the list")
    listing = b.js("document.getElementById('app').innerText")
    assert site["good"].id in listing and "Succeeded" in listing and "Failed" in listing
    assert "3 succeeded, 1 failed" in listing

    b.click(f'a[href="#/run/{bad.id}"]')
    b.wait("document.querySelector('#dag svg g.node')", "the run's DAG")
    phases = b.js("Object.fromEntries([...document.querySelectorAll('#dag g.node')]"
                  ".map(g => [g.dataset.node, g.dataset.phase]))")
    assert phases == {"square": "Succeeded", "total": "Succeeded", "boom": "Failed"}
    text = b.js("document.getElementById('app').innerText")
    assert "square/1" in text and "exit code 1" in text and "items" in text
    b.screenshot("ui-run.png")

    b.click(f'a[href="#/run/{bad.id}/step/boom"]')
    b.wait("document.getElementById('stderr')", "the step's stderr")
    stderr = b.js("document.getElementById('stderr').textContent")
    assert "cannot <handle> 5" in stderr and "ValueError: bad total" in stderr
    assert b.js("document.querySelector('handle')") is None  # log text is text, never markup
    step = b.js("document.getElementById('app').innerText")
    assert "step boom Failed" in step and "t\t5" in step  # its input
    b.screenshot("ui-step.png")

    b.click('a[href="#/run/' + bad.id + '"]')  # back to the run, then a DAG node links to a map item
    b.wait("document.querySelector('#dag svg g.node')", "the run's DAG again")
    b.click('#dag a:has(g[data-node="square"]) rect')  # the map's box opens its first item
    b.wait("document.getElementById('stdout') && location.hash.endsWith('/0')", "the map's first item's page")
    assert "Succeeded" in b.js("document.getElementById('step-title').textContent")


def test_a_running_run_refreshes_until_it_ends(site):
    b, mod = site["browser"], site["mod"]
    release = site["tmp"] / "release"
    done: dict = {}
    worker = threading.Thread(target=lambda: done.update(run=mod.slow.run(run_dir=site["run_dir"], path=str(release))),
                              daemon=True)
    worker.start()
    try:
        b.send("Page.navigate", url=site["url"] + "#/")
        rid = b.wait("(() => { const a = [...document.querySelectorAll('a')].find(a => a.textContent.startsWith('slow-'));"
                     " return a && a.textContent; })()", "the slow run in the list")
        b.click(f'a[href="#/run/{rid}"]')
        b.wait("document.querySelector('#dag g.node[data-node=\"wait-for\"][data-phase=\"Running\"]')",
               "wait-for running")
        assert b.js("document.getElementById('live').textContent") == "live: refreshing"
        b.screenshot("ui-running.png")
    finally:
        release.write_text("go")
        worker.join(120)
    assert done["run"].phase == "Succeeded"
    b.wait("document.querySelector('#dag g.node[data-node=\"wait-for\"][data-phase=\"Succeeded\"]')",
           "wait-for succeeded after a refresh")
    assert "released" in b.js("document.getElementById('app').innerText")  # the run's output, fetched by the poll
    assert b.js("document.getElementById('live').textContent") == ""
