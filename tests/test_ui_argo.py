"""`flowpack ui` and Argo: submit records next to the run folder, Argo workflows listed beside local runs, their
per-step phases, inputs, outputs and logs read live from the Argo Server test double (tests/argo_double.py, which
runs the workflow with Argo's own controller against a real S3 server), and a clear message when the server is away."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from urllib.parse import quote

import pytest

from argo_double import DOUBLE_OPS, TOKEN, argo, argo_server, argo_store, step_signal, use_argo_double  # noqa: F401
from browser import CHROMIUM, Browser
from fixtures_s3 import s3_server, s3_store  # noqa: F401
from flowpack._argo import ArgoClient, submit
from flowpack._argo._record import record_path, record_submitted
from flowpack._argo._submit import resubmit
from flowpack._ui import make_server, url
from flowpack._view._runs import _io, dag_key

WORKFLOWS = DOUBLE_OPS + '''

@fp.workflow
def numbers(n: int = 3, xs: list = [1, 2]):
    return {"x": add(n, 1), "squares": total(square.map(x=xs))}


@fp.op
def talk(url: str) -> str:
    for i in range(20):
        print("line", i, flush=True)
    n = 0
    while not is_open(url):
        print("waiting", n, flush=True)
        n += 1
        time.sleep(0.2)
    print("released", flush=True)
    return "done"


@fp.workflow
def talker(url: str) -> str:
    return talk(url)


@fp.op
def boom(n: int) -> int:
    raise ValueError(f"bad total {n}")


@fp.workflow
def broken(n: int = 3) -> int:
    return boom(n)
'''


@pytest.fixture
def wf(user_module):
    return user_module(WORKFLOWS)


@pytest.fixture
def cli_env(monkeypatch, tmp_path, argo_server):
    """The connection settings the CLI would use for the double: ARGO_* variables, no config file."""
    use_argo_double(monkeypatch, argo_server, tmp_path / "no-config.toml", token=f"Bearer {TOKEN}")
    for var in ("ARGO_BASE_HREF", "ARGO_INSECURE_SKIP_VERIFY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def ui(tmp_path):
    """`start(run_dir)` -> the page's base URL, a UI server serving in this process on a free port."""
    servers = []

    def start(run_dir, **kw):
        server = make_server(run_dir, 0, **kw)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return url(server)

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def get_json(u: str) -> dict:
    with urllib.request.urlopen(u, timeout=30) as r:
        body = r.read().decode("utf-8")
    assert TOKEN not in body
    return json.loads(body)


def test_submitted_workflow_is_listed_with_steps_dag_and_logs(wf, cli_env, argo_server, argo_store, ui, tmp_path):
    run_dir = tmp_path / ".flowpack" / "runs"
    local = wf.numbers.run(run_dir=run_dir, n=1)  # a local run in the same folder
    run = submit(wf.numbers, store=argo_store, run_dir=run_dir, n=5, xs=[1, 2, 6])  # settings from ARGO_*
    note = record_path(run_dir, "argo", run.name)
    assert note == tmp_path / ".flowpack" / "argo" / "argo" / run.name / "submitted.json"
    text = note.read_text()
    assert TOKEN not in text and "Bearer" not in text
    rec = json.loads(text)
    assert rec["name"] == run.name and rec["namespace"] == "argo" and rec["workflow"] == "numbers"
    assert rec["server"] == f"http://{argo_server.address}"
    assert rec["baseHref"] == "" and rec["submittedAt"].endswith("Z")
    assert rec["outputsAnnotation"]["shape"] == "dict" and set(rec["outputsAnnotation"]["kinds"]) == {"x", "squares"}

    run.wait(timeout=120, progress=False, interval=0.1)
    status = run.status()
    assert status["phase"] == "Succeeded"
    base = ui(run_dir)

    runs = get_json(base + "api/runs")["runs"]
    rid = f"argo:argo:{run.name}"
    mine = next(r for r in runs if r["id"] == rid)
    assert mine["engine"] == "argo" and mine["workflow"] == "numbers" and mine["phase"] == "Succeeded"
    assert mine["counts"] == {"Succeeded": 5} and mine["argo"]["name"] == run.name
    assert isinstance(mine["startedAt"], float) and mine["finishedAt"] >= mine["startedAt"]
    assert any(r["id"] == local.id and r["engine"] == "local" for r in runs)  # listed alongside local runs

    one = get_json(base + "api/runs/" + quote(rid, safe=""))
    record = one["record"]
    assert record["phase"] == "Succeeded" and record["engine"] == "argo"
    assert {k: s["phase"] for k, s in record["steps"].items()} == {k: s["phase"]
                                                                    for k, s in status["steps"].items()}
    # a map over a run-time list runs in a one-task DAG of its own (c9cd234): its items are named below it
    assert set(record["steps"]) == {"add", "square/square(0:1)", "square/square(1:2)", "square/square(2:6)", "total"}
    assert record["parameters"]["n"] == "5" and record["outputs"]["parameters"]["x"] == "6"
    assert one["expected"] is None  # a map over a parameter (withParam): not known before running
    svg = one["dag_svg"]
    assert svg.startswith("<svg") and "3/3" in svg  # the map node sums its three items
    first = quote("square/square(0:1)")  # a node path keeps its '/' in the page's links
    assert f'href="#/run/{quote(rid, safe="")}/step/{first}"' in svg  # a map links to its first item

    step = get_json(base + f"api/runs/{quote(rid, safe='')}/steps/add")
    assert step["step"]["phase"] == "Succeeded" and step["step"]["pod"] == status["steps"]["add"]["pod"]
    assert set(step["step"]["inputs"]) == {"parameters", "artifacts"}  # the double leaves node inputs empty
    assert step["step"]["outputs"]["parameters"]["return"] == "6"
    assert step["step"]["command"] == ["python"] and isinstance(step["step"]["startedAt"], float)
    # the pod's log holds the step's print (stderr) and its result (stdout), as its container wrote them
    assert sorted(step["stdout"]["text"].splitlines()) == ["6", "adding 5 1"]
    item = get_json(base + f"api/runs/{quote(rid, safe='')}/steps/" + quote("square/square(2:6)"))
    assert sorted(item["stdout"]["text"].splitlines()) == ["36", "square of 6"]
    with pytest.raises(urllib.error.HTTPError) as info:
        get_json(base + f"api/runs/{quote(rid, safe='')}/steps/nope")
    assert info.value.code == 404

    again = resubmit(run, run_dir=run_dir)  # a resubmitted workflow gets its record too
    assert json.loads(record_path(run_dir, "argo", again.name).read_text())["workflow"] == "numbers"
    again.wait(timeout=120, progress=False, interval=0.1)
    assert f"argo:argo:{again.name}" in {r["id"] for r in get_json(base + "api/runs")["runs"]}


def test_a_running_workflow_shows_running_then_refreshes(wf, cli_env, argo_store, ui, tmp_path, step_signal):
    run_dir = tmp_path / "runs"
    run = submit(wf.gated, store=argo_store, run_dir=run_dir, url=step_signal.url)
    next(run.logs(follow=True))  # the step is running and has printed
    base = ui(run_dir)
    rid = quote(f"argo:argo:{run.name}", safe="")
    one = get_json(base + "api/runs/" + rid)
    assert one["record"]["phase"] == "Running" and one["record"]["steps"]["gate"]["phase"] == "Running"
    assert one["record"]["steps"]["gate"]["finishedAt"] is None
    step = get_json(base + f"api/runs/{rid}/steps/gate")
    assert step["step"]["phase"] == "Running" and step["stdout"]["text"] == "waiting for the signal\n"
    step_signal.open()
    deadline = time.monotonic() + 60
    while get_json(base + "api/runs/" + rid)["record"]["phase"] == "Running" and time.monotonic() < deadline:
        time.sleep(0.1)
    done = get_json(base + "api/runs/" + rid)["record"]
    assert done["phase"] == "Succeeded" and done["outputs"]["parameters"]["return"] == "open"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_or_other_server_shows_a_message(monkeypatch, ui, tmp_path):
    port = _closed_port()
    away = ArgoClient(server=f"127.0.0.1:{port}", secure=False, token="Bearer s3cr3t-token-value", namespace="argo")
    run_dir = tmp_path / ".flowpack" / "runs"
    wf_obj = {"metadata": {"name": "numbers-abcde", "namespace": "argo", "labels": {"flowpack.io/workflow": "numbers"},
                           "annotations": {"flowpack.io/outputs": '{"shape":"single","kinds":{}}'}}}
    path = record_submitted(away, wf_obj, run_dir=run_dir)
    assert path is not None and "s3cr3t" not in path.read_text()
    assert record_submitted(away, wf_obj, run_dir=None) is None

    base = ui(run_dir, argo=away)
    mine = get_json(base + "api/runs")["runs"][0]
    assert mine["id"] == "argo:argo:numbers-abcde" and mine["engine"] == "argo" and mine["phase"] == "Unknown"
    assert mine["message"].startswith("Argo server unreachable: ")
    one = get_json(base + "api/runs/" + quote(mine["id"], safe=""))
    assert one["record"]["message"].startswith("Argo server unreachable: ") and one["record"]["steps"] == {}
    step = get_json(base + "api/runs/" + quote(mine["id"], safe="") + "/steps/add")
    assert step["step"]["message"].startswith("Argo server unreachable: ")

    # configured for another server: the token is not sent to the recorded one, and the page says why
    other = ArgoClient(server="127.0.0.1:1", secure=False, namespace="argo")
    base = ui(run_dir, argo=other)
    mine = get_json(base + "api/runs")["runs"][0]
    assert mine["phase"] == "Unknown" and mine["message"].startswith("Argo server not the one submitted to: ")
    assert "was submitted to http://127.0.0.1:" in mine["message"]
    with pytest.raises(urllib.error.HTTPError) as info:  # ids that aren't Kubernetes names
        get_json(base + "api/runs/" + quote("argo:argo:../../etc", safe=""))
    assert info.value.code == 404


def test_argo_node_inputs_outputs_and_item_names_in_the_page_shapes():
    node = {"inputs": {"parameters": [{"name": "a", "value": "5"}],
                       "artifacts": [{"name": "data", "path": "/tmp/x", "s3": {"key": "k/in"}}]},
            "outputs": {"artifacts": [{"name": "report", "s3": {"bucket": "b", "key": "wf/pod/report.tgz",
                                                                 "accessKeySecret": {"name": "s3", "key": "ak"}}}]}}
    assert _io(node["inputs"]) == {"parameters": {"a": "5"}, "artifacts": {"data": "s3:k/in"}}
    assert _io(node["outputs"]) == {"parameters": {}, "artifacts": {"report": "s3://b/wf/pod/report.tgz"}}
    assert dag_key("square(1:2)") == "square/1" and dag_key("inner/square(0:a.b/c)") == "inner/square/0"
    assert dag_key("inner/add") == "inner/add"


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed: apt-get install -y chromium")
def test_the_viewer_follows_stops_and_resumes_an_argo_workflow(wf, cli_env, argo_store, ui, tmp_path, step_signal):
    """In headless Chromium: a failed step's exception line in the step table, a running step's log followed without
    losing the selection, Stop (Argo's stop) and Resume (Argo's retry of the failed step) from the run page."""
    run_dir = tmp_path / ".flowpack" / "runs"
    broken = submit(wf.broken, store=argo_store, run_dir=run_dir).wait(timeout=120, progress=False, interval=0.1)
    run = submit(wf.talker, store=argo_store, run_dir=run_dir, url=step_signal.url)
    base = ui(run_dir)
    b = Browser(tmp_path / "profile")
    try:
        b.send("Page.navigate", url=base + "#/run/" + quote(f"argo:argo:{broken.name}", safe=""))
        b.wait("document.getElementById('steps') && document.getElementById('steps').innerText"
               ".includes('ValueError: bad total 3')", "the step's exception line")

        rid = quote(f"argo:argo:{run.name}", safe="")
        next(run.logs(follow=True))  # the step is running and has printed
        b.send("Page.navigate", url=base + f"#/run/{rid}/step/talk")
        b.wait("document.getElementById('stdout') && document.getElementById('stdout').textContent"
               ".includes('waiting 0')", "the running step's log")
        b.js("(() => { const pre = document.getElementById('stdout'); pre.scrollTop = 0;"
             " const line = [...pre.querySelectorAll('.ln')].find(l => l.textContent === 'line 5');"
             " line.dataset.mark = 'kept';"
             " const r = document.createRange(); r.selectNodeContents(line); const s = getSelection();"
             " s.removeAllRanges(); s.addRange(r); return true; })()")
        b.wait("document.getElementById('stdout').textContent.includes('waiting 8')", "lines written since")
        assert b.js("getSelection().toString()") == "line 5"  # the selection survived the updates
        assert b.js("document.querySelector('#stdout .ln[data-mark=\"kept\"]') !== null")  # appended, not rebuilt
        lines = b.js("[...document.querySelectorAll('#stdout .ln')].map(l => l.textContent)")
        assert [t for t in lines if t.startswith("line ")] == [f"line {i}" for i in range(20)]  # each line once
        waits = [t for t in lines if t.startswith("waiting ")]
        assert waits == [f"waiting {i}" for i in range(len(waits))]
        assert not any("argo=true" in t for t in lines)  # Argo's executor's own lines are left out
        got = b.js("fetch(document.getElementById('stdout-download').href).then(async r => "
                   "[r.status, r.headers.get('content-disposition'), await r.text()])")
        assert got[0] == 200 and got[1].startswith("attachment;") and got[2].startswith("line 0\nline 1\n")

        b.send("Page.navigate", url=base + f"#/run/{rid}")
        b.wait("document.getElementById('stop') && !document.getElementById('stop').disabled", "Stop enabled")
        b.click("#stop")
        b.wait("document.querySelector('h2 .ph').textContent === 'Failed'", "the stopped workflow")
        assert run.status()["stopped"] == "Stop"
        step_signal.open()
        b.wait("!document.getElementById('resume').disabled", "Resume enabled")
        b.click("#resume")
        b.wait("document.getElementById('control-message').textContent.startsWith('retrying')", "the retry")
        b.wait("document.querySelector('h2 .ph').textContent === 'Succeeded'", "the retried workflow's end", 120)
        assert run.wait(timeout=60, progress=False, interval=0.1).result() == "done"
        b.screenshot("ui-argo-resumed.png")
    finally:
        step_signal.open()
        b.close()
