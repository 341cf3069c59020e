"""`flowpack ui` in a real headless Chromium, driven over the Chrome DevTools protocol: real runs, real clicks.

Needs Debian's `chromium` (apt-get install -y chromium) and websocket-client; screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import flowpack as fp  # noqa: E402
from browser import CHROMIUM, Browser  # noqa: E402
from flowpack._ui import make_server, url  # noqa: E402
from helpers import until  # noqa: E402

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed: apt-get install -y chromium")

WORKFLOWS = '''
import base64
import json
import os
import sys
import time
from pathlib import Path

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


def _until(path):
    deadline = time.time() + 120
    while not os.path.exists(path) and time.time() < deadline:
        time.sleep(0.05)


@fp.op
def chatty(stage1: str, stage2: str) -> str:
    for i in range(3):
        print(f"\\rprogress {i}/3", end="", file=sys.stderr, flush=True)
    print("\\rprogress done  ", file=sys.stderr, flush=True)
    print("\\x1b[31mred alert\\x1b[0m then plain", file=sys.stderr, flush=True)
    for i in range(200):
        print(f"line {i}", file=sys.stderr, flush=True)
    _until(stage1)
    for i in range(200, 260):
        print(f"line {i}", file=sys.stderr, flush=True)
    _until(stage2)
    for i in range(260, 300):
        print(f"line {i}", file=sys.stderr, flush=True)
    return "talked"


@fp.workflow
def logs(stage1: str, stage2: str) -> str:
    return chatty(stage1, stage2)


@fp.op
def held(x: int, path: str) -> int:
    _until(path)
    return x


@fp.workflow
def wide(path: str, items: list = list(range(12))) -> int:
    return total(held.map(x=items, path=path))


@fp.op
def tiny(n: int) -> int:
    return n


@fp.workflow
def branchy(n: int = 1) -> int:
    t = tiny(n)
    tiny(t).when(t > 5)
    return t


PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"


@fp.op
def table() -> Path:
    Path("t.csv").write_text("city,people\\nParis,2100000\\nLyon,520000\\n")
    return Path("t.csv")


@fp.op
def report(t: Path) -> Path:
    Path("r.md").write_text("# Report\\n\\n- rows: " + str(len(t.read_text().splitlines()) - 1) + "\\n")
    return Path("r.md")


@fp.op
def stats(t: Path) -> Path:
    Path("s.json").write_text(json.dumps({"rows": 2, "cols": ["city", "people"]}))
    return Path("s.json")


@fp.op
def picture(t: Path) -> Path:
    Path("p.png").write_bytes(base64.b64decode(PNG))
    return Path("p.png")


@fp.workflow
def files():
    t = table()
    return report(t), stats(t), picture(t)
'''


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
    branchy = mod.branchy.run(run_dir=run_dir)
    made = mod.files.run(run_dir=run_dir)
    server = make_server(run_dir, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    browser = Browser(tmp / "profile")
    yield {"browser": browser, "url": url(server), "good": good, "bad": bad, "mod": mod, "run_dir": run_dir,
           "tmp": tmp, "branchy": branchy, "files": made, "server": server}
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
    # the exception, not "exit code 1"
    assert "square/1" in text and "ValueError: bad total" in text and "items" in text
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
        rid = b.wait("(() => { const a = [...document.querySelectorAll('a')]"
                     ".find(a => a.textContent.startsWith('slow-')); return a && a.textContent; })()",
                     "the slow run in the list")
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


def _rows(b) -> list[list[str]]:
    return b.js("[...document.querySelectorAll('#steps tr')].slice(1).map(tr => [...tr.cells].map(c => c.innerText))")


def test_logs_follow_the_tail_without_losing_scroll_or_selection_and_draw_like_a_terminal(site):
    b, mod, tmp = site["browser"], site["mod"], site["tmp"]
    stage1, stage2 = tmp / "stage1", tmp / "stage2"
    done: dict = {}
    worker = threading.Thread(target=lambda: done.update(run=mod.logs.run(
        run_dir=site["run_dir"], stage1=str(stage1), stage2=str(stage2))), daemon=True)
    worker.start()
    try:
        rid = until(lambda: next((p.name for p in site["run_dir"].iterdir() if p.name.startswith("logs-")), None))
        b.send("Page.navigate", url=site["url"] + f"#/run/{rid}/step/chatty")
        b.wait("document.getElementById('stderr')"
               " && document.getElementById('stderr').textContent.includes('line 199')", "the first 200 lines")
        text = b.js("document.getElementById('stderr').innerText")
        assert "progress done" in text and "progress 0/3" not in text and "progress 2/3" not in text  # \r redraws
        red = b.js("[...document.querySelectorAll('#stderr span.f31')].map(s => s.textContent).join('')")
        assert red == "red alert" and "\x1b" not in text and "[31m" not in text and "then plain" in text
        # the reader scrolls up and selects a line; new lines arrive
        b.js("(() => { const pre = document.getElementById('stderr'); pre.scrollTop = 0;"
             " const line = [...pre.querySelectorAll('.ln')].find(l => l.textContent === 'line 5');"
             " line.dataset.mark = 'kept';"
             " const r = document.createRange(); r.selectNodeContents(line); const s = getSelection();"
             " s.removeAllRanges(); s.addRange(r); return true; })()")
        stage1.write_text("go")
        b.wait("document.getElementById('stderr').textContent.includes('line 259')", "the lines written after")
        assert b.js("document.getElementById('stderr').scrollTop") == 0  # not dragged to the bottom
        assert b.js("getSelection().toString()") == "line 5"  # the selection survived the update
        assert b.js("document.querySelector('#stderr .ln[data-mark=\"kept\"]') !== null")  # appended, not rebuilt
        lines = b.js("[...document.querySelectorAll('#stderr .ln')].map(l => l.textContent)"
                     ".filter(t => t.startsWith('line '))")
        assert lines == [f"line {i}" for i in range(260)]  # every line once, in order
        # at the bottom, the view follows the tail
        b.js("(() => { const pre = document.getElementById('stderr'); pre.scrollTop = pre.scrollHeight;"
             " return true; })()")
        stage2.write_text("go")
        b.wait("document.getElementById('stderr').textContent.includes('line 299')", "the last lines")
        assert b.js("(() => { const p = document.getElementById('stderr');"
                    " return p.scrollHeight - p.scrollTop - p.clientHeight < 10; })()")
        b.wait("document.getElementById('step-title').textContent.includes('Succeeded')", "the step's end")
        b.wait("document.getElementById('step-io').innerText.includes('stage1')", "its inputs, recorded at its end")
        b.click("#stderr-stamps")
        assert b.js("document.getElementById('stderr').classList.contains('stamps')")
        stamps = b.js("[...document.querySelectorAll('#stderr .ln')].map(l => l.dataset.t)")
        assert all(stamps)  # every line has the time it arrived
        got = b.js("fetch(document.getElementById('stderr-download').href).then(async r => "
                   "[r.status, r.headers.get('content-disposition'), await r.text()])")
        assert got[0] == 200 and got[1].startswith("attachment;") and "line 0\n" in got[2] and "line 299\n" in got[2]
        b.screenshot("ui-logs.png")
    finally:
        stage1.write_text("go")
        stage2.write_text("go")
        worker.join(120)
    assert done["run"].phase == "Succeeded"


def test_a_running_run_lists_every_step_in_dag_order_with_the_maps_total(site):
    b, mod, tmp = site["browser"], site["mod"], site["tmp"]
    gate = tmp / "wide-gate"
    done: dict = {}
    worker = threading.Thread(target=lambda: done.update(run=mod.wide.run(run_dir=site["run_dir"], path=str(gate))),
                              daemon=True)
    worker.start()
    try:
        rid = until(lambda: next((p.name for p in site["run_dir"].iterdir() if p.name.startswith("wide-")), None))
        b.send("Page.navigate", url=site["url"] + f"#/run/{rid}")
        b.wait("document.querySelector('#dag g.node[data-node=\"held\"][data-phase=\"Running\"]')", "the map running")
        rows = [r for r in _rows(b) if not r[0].startswith("held/")]
        assert [r[0] for r in rows] == ["held", "total"]  # DAG order, the pending step listed too
        assert rows[0][1:3] == ["Running", "0/12"] and rows[1][1] == "Pending"
        assert "Running 0/12" in b.js("document.querySelector('#dag g.node[data-node=\"held\"]').textContent")
        assert b.js("document.querySelector('#dag g.node[data-node=\"total\"]').dataset.phase") == "Pending"
        b.screenshot("ui-wide-running.png")
        b.click(f'#steps a[href="#/run/{rid}/step/total"]')  # a pending step has a page
        b.wait("document.getElementById('step-title')", "the pending step's page")
        page = b.js("document.getElementById('app').innerText")
        assert "step total Pending" in page and "waits for held" in page and "has not run yet" in page
    finally:
        gate.write_text("go")
        worker.join(120)
    assert done["run"].phase == "Succeeded"
    b.wait("document.getElementById('step-title').textContent.includes('Succeeded')", "the page following the step")


def test_skipped_steps_have_pages_and_are_drawn_apart_from_pending(site):
    b, run = site["browser"], site["branchy"]
    b.send("Page.navigate", url=site["url"] + f"#/run/{run.id}")
    b.wait("document.querySelector('#dag g.node[data-node=\"tiny-2\"]')", "the DAG")
    skipped = b.js("(() => { const g = document.querySelector('#dag g.node[data-node=\"tiny-2\"]');"
                   " return [g.dataset.phase, g.dataset.when, g.querySelector('rect').getAttribute('stroke-dasharray'),"
                   " g.textContent]; })()")
    assert skipped[0] == "Skipped" and skipped[1] and skipped[2] == "1 3" and "skipped" in skipped[3]
    assert b.js("document.querySelector('#dag g.node[data-node=\"tiny-2\"] path.when') !== null")  # condition marked
    b.click(f'#steps a[href="#/run/{run.id}/step/tiny-2"]')
    b.wait("document.getElementById('step-title')", "the skipped step's page")
    page = b.js("document.getElementById('app').innerText")
    assert "step tiny-2 Skipped" in page and "evaluated false" in page and "runs when" in page


def test_artifacts_are_listed_with_previews_and_downloads(site):
    b, run = site["browser"], site["files"]
    previews = {}
    for step in ("table", "report", "stats", "picture"):
        b.send("Page.navigate", url=site["url"] + f"#/run/{run.id}/step/{step}")
        b.wait(f"document.getElementById('step-title') && document.getElementById('step-title').textContent"
               f".startsWith('step {step} ') && document.querySelector('[data-artifact=\"out:return\"] .preview')",
               f"{step}'s preview")
        previews[step] = b.js("document.querySelector('[data-artifact=\"out:return\"] .preview').dataset.type")
    assert previews == {"table": "csv", "report": "markdown", "stats": "json", "picture": "image"}
    b.wait("(() => { const i = document.querySelector('[data-artifact=\"out:return\"] img'); "
           "return i && i.complete && i.naturalWidth === 1; })()", "the image loaded")
    b.send("Page.navigate", url=site["url"] + f"#/run/{run.id}/step/table")
    b.wait("document.querySelector('table.csv')", "the CSV as a table")
    assert b.js("[...document.querySelectorAll('table.csv tr')].map(r => [...r.cells].map(c => c.textContent))") == [
        ["city", "people"], ["Paris", "2100000"], ["Lyon", "520000"]]
    b.send("Page.navigate", url=site["url"] + f"#/run/{run.id}/step/report")
    b.wait("document.querySelector('[data-artifact=\"in:t\"] table.csv') && document.querySelector('.md h2')",
           "the input CSV and the markdown")
    assert b.js("document.querySelector('.md h2').textContent") == "Report"
    assert b.js("document.querySelector('.md li').textContent") == "rows: 2"
    got = b.js("fetch(document.querySelector('[data-artifact=\"out:return\"] a[download]').href).then(async r => "
               "[r.status, r.headers.get('content-disposition'), await r.text()])")
    assert got[0] == 200 and got[1].startswith("attachment;") and got[2] == "# Report\n\n- rows: 2\n"
    b.screenshot("ui-artifacts.png")


def test_run_list_filters_by_phase_and_name_and_searches_parameters_and_files(site):
    b, bad, good = site["browser"], site["bad"], site["good"]
    b.send("Page.navigate", url=site["url"] + "#/")
    b.wait("document.getElementById('runs')", "the run list")
    listed = lambda: b.js("[...document.querySelectorAll('#runs tr')].slice(1).map(r => r.cells[0].innerText)")  # noqa: E731
    text = b.js("document.getElementById('runs').innerText")
    assert "uiwf.py" in text and "items=[1,2]" in text  # source file and parameters shown
    b.js("(() => { const s = document.getElementById('filter-phase'); s.value = 'Failed';"
         " s.dispatchEvent(new Event('change')); return true; })()")
    assert listed() == [bad.id]
    b.js("(() => { const s = document.getElementById('filter-phase'); s.value = '';"
         " s.dispatchEvent(new Event('change')); const n = document.getElementById('filter-name'); n.value = 'good';"
         " n.dispatchEvent(new Event('change')); return true; })()")
    assert listed() == [good.id]
    b.js("(() => { const n = document.getElementById('filter-name'); n.value = '';"
         " n.dispatchEvent(new Event('change')); const q = document.getElementById('search');"
         " q.value = 'items=[1,2,3]';"
         " q.dispatchEvent(new Event('input')); return true; })()")
    assert listed() == [good.id]
    b.js("(() => { const q = document.getElementById('search'); q.value = ''; q.dispatchEvent(new Event('input'));"
         " return true; })()")


def test_dag_zooms_pans_and_fits(site):
    b, run = site["browser"], site["good"]
    b.send("Page.navigate", url=site["url"] + f"#/run/{run.id}")
    b.wait("document.querySelector('#dag svg')", "the DAG")
    width = lambda: b.js("document.querySelector('#dag svg').getBoundingClientRect().width")  # noqa: E731
    w0 = width()
    b.click("#zoom-in")
    assert abs(width() - w0 * 1.25) < 1
    for _ in range(15):  # until the picture is wider than its frame
        if b.js("(() => { const d = document.getElementById('dag'); return d.scrollWidth > d.clientWidth; })()"):
            break
        b.click("#zoom-in")
    assert b.js("(() => { const d = document.getElementById('dag'); return d.scrollWidth > d.clientWidth; })()")
    b.js("document.getElementById('dag').scrollLeft = 0")
    box = b.js("(() => { const r = document.getElementById('dag').getBoundingClientRect();"
               " return [r.x + 30, r.y + 30]; })()")
    for kind, x in (("mousePressed", box[0] + 60), ("mouseMoved", box[0]), ("mouseReleased", box[0])):
        b.send("Input.dispatchMouseEvent", type=kind, x=x, y=box[1], button="left", clickCount=1)
    assert b.js("document.getElementById('dag').scrollLeft") > 0  # dragged left: the view panned right
    b.click("#zoom-fit")
    assert width() <= b.js("document.getElementById('dag').clientWidth") + 1
    assert b.js("document.querySelector('#dag g.node title').textContent").startswith("square")  # full name


def _post(site, path: str, headers: dict):
    req = urllib.request.Request(site["url"] + path, data=b"{}", method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_a_forged_stop_is_refused(site):
    token = site["server"].token
    port = site["url"].rstrip("/").rsplit(":", 1)[1]
    good = {"Content-Type": "application/json", "X-Flowpack-Token": token, "Origin": f"http://127.0.0.1:{port}"}
    path = f"api/runs/{site['good'].id}/stop"
    assert _post(site, path, {**good, "X-Flowpack-Token": "guess"})[0] == 403
    assert _post(site, path, {k: v for k, v in good.items() if k != "X-Flowpack-Token"})[0] == 403
    assert _post(site, path, {**good, "Origin": "http://evil.example"})[0] == 403
    assert _post(site, path, {**good, "Content-Type": "text/plain"})[0] == 403  # what a form could send
    code, body = _post(site, path, good)  # the real page's request: accepted, and refused only on its merits
    assert code == 409 and "already ended" in body["error"]
    b = site["browser"]
    b.send("Page.navigate", url=site["url"] + "#/")
    b.wait("document.getElementById('runs')", "the page")
    assert b.js("document.querySelector('meta[name=\"fp-token\"]').content") == token


def _record(run_folder: Path) -> dict:
    """A run's record, or {} in the moment between the engine creating the run's folder and writing run.json."""
    try:
        return json.loads((run_folder / "run.json").read_text())
    except FileNotFoundError:
        return {}


def test_stop_and_resume_a_local_run_from_the_viewer(site):
    b, tmp = site["browser"], site["tmp"]
    release = tmp / "cli-release"
    proc = subprocess.Popen([sys.executable, "-m", "flowpack", "run", "uiwf.py:slow", "-p", f"path={release}",
                             "--run-dir", str(site["run_dir"])], cwd=tmp, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        rid = until(lambda: next((p.name for p in site["run_dir"].iterdir() if p.name.startswith("slow-")
                                   and _record(p).get("phase") == "Running" and "owner" in _record(p)), None))
        b.send("Page.navigate", url=site["url"] + f"#/run/{rid}")
        b.wait("document.querySelector('#dag g.node[data-node=\"wait-for\"][data-phase=\"Running\"]')", "running")
        # the step's process has started (the engine notes it in <run>/pids): a stop in the instant between
        # "Running" and the process starting can leave the engine waiting for that step (reported to the engine's owner)
        pids = site["run_dir"] / rid / "pids"
        until(lambda: pids.is_file() and pids.read_text().strip())
        b.click("#stop")
        b.wait("document.querySelector('h2 .ph').textContent === 'Stopped'", "the run stopped")
        assert proc.wait(60) == 130  # the CLI stopped as on Ctrl-C
        release.write_text("go")
        b.wait("!document.getElementById('resume').disabled", "resume enabled")
        b.click("#resume")
        b.wait("document.getElementById('control-message').textContent.startsWith('resuming')", "resume started")
        b.screenshot("ui-resumed.png")
        resumed = until(lambda: next((p for p in site["run_dir"].iterdir() if p.name.startswith("slow-")
                                       and _record(p).get("resumedFrom") == rid
                                       and _record(p).get("phase") == "Succeeded"),
                                      None), limit=120)
        assert json.loads((resumed / "run.json").read_text())["outputs"]["parameters"]["return"] == "released"
    finally:
        release.write_text("go")
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
