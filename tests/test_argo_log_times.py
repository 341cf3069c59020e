"""Issue 17.4, log timestamps on Argo: ArgoRun.logs() and the viewer's log API give each line the time Kubernetes
received it. The client asks the Argo Server's log endpoint for timestamps (`logOptions.timestamps=true`: each line's
content then begins with the kubelet's RFC 3339 time and a space) and splits them off. Against the Argo Server test
double (tests/argo_double.py), whose harness (conformance/podlog.go) keeps the time each line of a pod's main
container reached it, as a container runtime does."""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime
from urllib.parse import quote

import pytest

from argo_double import TOKEN, argo, argo_server, argo_store, serving  # noqa: F401
from browser import Browser
from fixtures_s3 import s3_server, s3_store  # noqa: F401
from flowpack._argo import submit
from flowpack._engine._stamps import split_time
from flowpack._ui import make_server, url
from flowpack._view._argo_control import argo_log_chunk
from flowpack._view._runs import argo_connector

SOURCE = '''
import time
import flowpack as fp


@fp.op
def slow() -> int:
    print("first", repr(time.time()), flush=True)
    time.sleep(1)
    print("second", repr(time.time()), flush=True)
    print("progress 1%\\rprogress 2%", flush=True)  # one line for the kubelet: lines end at a newline only
    return 7


@fp.workflow
def stamped() -> int:
    return slow()
'''

KUBE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z ")  # the kubelet's RFC3339NanoFixed and a space


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # submit records go under ./.flowpack


def _epoch(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def test_argo_log_lines_carry_the_time_kubernetes_received_them(tmp_path, user_module, argo, argo_server,
                                                                argo_store):
    run_dir = tmp_path / ".flowpack" / "runs"
    run = submit(user_module(SOURCE).stamped, argo=argo, store=argo_store, run_dir=run_dir)
    assert run.wait(timeout=120, progress=False, interval=0.1).result() == 7
    lines = list(run.logs(step="slow"))
    by_word = {line.content.split(" ")[0]: line for line in lines}
    first, second = by_word["first"], by_word["second"]
    wrote_first, wrote_second = float(first.content.split()[1]), float(second.content.split()[1])
    # the pod shares the test's clock: a line is received once written (never before), the first one before the
    # second was written a second later (not when the log was read), each within the pod's start and end
    assert wrote_first <= first.time < wrote_second <= second.time
    assert second.time - first.time > 0.5
    node = next(n for n in argo_server.objects[("workflows", "argo", run.name)]["status"]["nodes"].values()
                if n["type"] == "Pod")
    started, finished = _epoch(node["startedAt"]), _epoch(node["finishedAt"])  # whole seconds in Argo's status
    times = [line.time for line in lines]
    assert all(t is not None and started <= t < finished + 1 for t in times) and times == sorted(times)
    assert by_word["progress"].content == "progress 1%\rprogress 2%"
    assert by_word["7"].content == "7"  # the result (stdout), in the same log; no content keeps a time in front
    assert not any(KUBE_TIME.match(line.content) for line in lines)

    # grep is applied to the content, as for a local run (the server would see the time in front of it)
    assert [line.content for line in run.logs(step="slow", grep=r"^second ")] == [second.content]
    # the viewer's log API: the time of each line whose newline is in the text, as for a local step
    chunk = argo_log_chunk(run_dir, f"argo:argo:{run.name}", "slow", "stdout", 0, argo_connector(argo))
    texts = chunk["text"].split("\n")
    assert len(chunk["times"]) == len(texts) - 1 and dict(zip(texts, chunk["times"]))[first.content] == first.time


def test_the_viewer_shows_an_argo_steps_lines_at_their_times(tmp_path, user_module, argo, argo_store):
    """In headless Chromium: the step page's timestamps are the times Kubernetes gave the lines."""
    run_dir = tmp_path / ".flowpack" / "runs"
    run = submit(user_module(SOURCE).stamped, argo=argo, store=argo_store, run_dir=run_dir)
    run.wait(timeout=120, progress=False, interval=0.1)
    lines = {line.content.split(" ")[0]: line for line in run.logs(step="slow")}
    server = make_server(run_dir, 0, argo=argo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    b = Browser(tmp_path / "profile")
    try:
        b.send("Page.navigate", url=url(server) + "#/run/" + quote(f"argo:argo:{run.name}", safe="") + "/step/slow")
        b.wait("document.getElementById('stdout') && document.getElementById('stdout').textContent"
               ".includes('second')", "the step's log")
        b.click("#stdout-stamps")
        shown = b.js("Object.fromEntries([...document.querySelectorAll('#stdout .ln')]"
                     ".map(l => [l.textContent.split(' ')[0], l.dataset.t]))")
        for word in ("first", "second"):
            assert shown[word] == b.js(f"new Date({lines[word].time * 1000}).toLocaleTimeString()")
    finally:
        b.close()
        server.shutdown()
        server.server_close()


def test_the_double_sends_the_kubelets_time_only_when_asked(tmp_path, user_module, argo, argo_store):
    run = submit(user_module(SOURCE).stamped, argo=argo, store=argo_store, run_dir=tmp_path / "runs")
    run.wait(timeout=120, progress=False, interval=0.1)

    def contents(**options: str) -> list[str]:
        resp = argo.request("GET", f"/api/v1/workflows/argo/{run.name}/log", what="logs", stream=True,
                            params={"logOptions.container": "main", **options})
        with resp:
            return [json.loads(row)["result"]["content"] for row in resp.text.splitlines() if row.strip()]

    plain, stamped = contents(), contents(**{"logOptions.timestamps": "true"})
    assert len(plain) == len(stamped) and all(KUBE_TIME.match(line) for line in stamped)
    assert [line.split(" ", 1)[1] for line in stamped] == plain  # the time and one space, then the line as it was
    assert not any(KUBE_TIME.match(line) for line in plain)


def test_a_line_without_a_time_in_front_is_kept_whole():
    assert split_time(b"2026-11-30T15:07:18.597454387Z a b") == (pytest.approx(1796051238.597454387), b"a b")
    assert split_time(b"2026-11-30T16:07:18+01:00 x") == (1796051238.0, b"x")
    for line in (b"plain text", b"", b"2026-11-30T15:07:18.5Z", b"2026-13-30T15:07:18Z month 13",
                 b"2026-11-30 15:07:18Z not RFC 3339"):
        assert split_time(line) == (None, line)
