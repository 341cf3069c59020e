"""Submitting to Argo: a submit, wait, logs, result round trip and the workflow actions, against the Argo Server
test double (tests/argo_double.py: checked against Argo's OpenAPI spec; Argo's own controller runs the workflows and
applies the actions) and a real S3 server (SeaweedFS) as the artifact repository. Steps run in pods that see the
network, not the test's files: a step the test holds or releases polls a URL (argo_double.StepSignal)."""

from __future__ import annotations

import re
import time

import pytest

import argo_harness
from argo_double import DOUBLE_OPS, TOKEN, argo, argo_server, argo_store, serving, step_signal  # noqa: F401
from fixtures_s3 import s3_server, s3_store  # noqa: F401
from flowpack import StepFailed
from flowpack._argo import (
    ArgoClient,
    ArgoError,
    ArgoNotFoundError,
    ArgoRun,
    ArgoTimeoutError,
    get,
    list_runs,
    submit,
)

WORKFLOWS = DOUBLE_OPS + '''

from pathlib import Path


@fp.op
def report(n: int, data: Path, label: str) -> Path:
    out = Path("report.txt")
    out.write_text(f"{label}: n={n} data={data.read_text().strip()}")
    print("wrote report for", label)
    return out


@fp.op
def stats(n: int) -> set:
    return {n, n * 2}


@fp.workflow
def pipeline(data: Path, n: int = 3, label: str = "run", xs: list = [1, 2, 3]):
    x = add(n, 1)
    return {"x": x, "report": report(x, data, label), "stats": stats(x), "squares": total(square.map(x=xs))}


@fp.op
def count(text: str) -> int:
    return len(text)


@fp.workflow
def gated_count(url: str) -> int:
    return add(count(gate(url)))


@fp.op
def flaky(url: str) -> int:
    if not is_open(url):
        raise RuntimeError("the service is not up yet")
    return 42


@fp.workflow
def retried(url: str) -> int:
    return flaky(url)


@fp.op
def boom(n: int) -> int:
    raise ValueError(f"boom {n}")


@fp.workflow
def failing(n: int = 1) -> int:
    return boom(add(n))
'''


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """Submits record themselves under ./.flowpack/argo: keep those records in the test's own folder."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def wf(user_module):
    return user_module(WORKFLOWS)


def test_round_trip_parameters_artifacts_pickle_and_map(wf, argo, argo_server, argo_store, tmp_path):
    data = tmp_path / "input.txt"
    data.write_text("hello from a local file\n")
    run = submit(wf.pipeline, argo=argo, store=argo_store, download_dir=tmp_path / "dl", data=data, n=5,
                 label="weekly", xs=[1, 2, 6])
    assert isinstance(run, ArgoRun) and run.name.startswith("pipeline-") and run.namespace == "argo"
    events = []
    run.wait(timeout=120, progress=events.append, interval=0.1)
    status = run.status()
    assert status["phase"] == "Succeeded" and status["progress"] == "7/7"
    # a map over a list known at run time runs in a DAG of its own (its items are named inside it)
    assert set(status["steps"]) == {"add", "report", "stats", "square/square(0:1)", "square/square(1:2)",
                                    "square/square(2:6)", "total"}
    assert all(s["phase"] == "Succeeded" and s["pod"].startswith(run.name + "-") for s in status["steps"].values())
    assert {e["node"] for e in events if e["phase"] == "Succeeded"} == set(status["steps"])

    result = run.result()
    assert result["x"] == 6
    assert result["report"].read_text() == "weekly: n=6 data=hello from a local file"
    assert result["report"].parent == tmp_path / "dl" / "outputs"
    assert result["stats"] == {6, 12}
    assert result["squares"] == 1 + 4 + 36
    assert run.outputs["x"] == 6

    # the local file went to the bucket before submission, under its content key
    wf_obj = argo_server.objects[("workflows", "argo", run.name)]
    key = wf_obj["spec"]["arguments"]["artifacts"][0]["s3"]["key"]
    assert set(wf_obj["spec"]["arguments"]["artifacts"][0]["s3"]) == {"key"} and argo_store.exists(key)
    # Argo's layout in the repository: the Path output as <wf>/<pod>/return.tgz, the pickle as a plain file
    keys = {a["name"]: a["s3"]["key"] for a in wf_obj["status"]["nodes"][run.name]["outputs"]["artifacts"]}
    assert keys["report"].startswith(run.name + "/") and keys["report"].endswith("/return.tgz")
    assert keys["stats"].endswith("/return")

    lines = list(run.logs())
    assert "adding 5 1" in [ln.content for ln in lines if ln.step == "add"]
    assert {ln.step for ln in lines} >= {"add", "report", "square/square(0:1)"}
    assert [str(ln) for ln in run.logs(step="report")] == ["report: wrote report for weekly"]
    # the step's print (stderr) and its result (stdout, Argo's outputs.result) are both in its log
    assert sorted(ln.content for ln in run.logs(step="square/square(2:6)")) == ["36", "square of 6"]


def test_status_progresses_and_logs_follow(wf, argo, argo_store, step_signal):
    run = submit(wf.gated, argo=argo, store=argo_store, url=step_signal.url)
    with pytest.raises(ArgoTimeoutError, match="still"):  # a workflow that does not end in time keeps running
        run.wait(timeout=0, progress=False)
    follow = run.logs(follow=True)
    first = next(follow)  # arrives while the step still runs
    assert first.content == "waiting for the signal" and first.step == "gate"
    status = run.status()
    assert status["phase"] == "Running" and status["steps"]["gate"]["phase"] == "Running"
    assert not run.done()
    step_signal.open()
    assert [ln.content for ln in follow] == ["released"]  # the stream ends when the step ends
    assert run.wait(timeout=60, progress=False, interval=0.1).result() == "open"


def test_failed_workflow_names_the_step(wf, argo, argo_server, argo_store):
    run = submit(wf.failing, argo=argo, store=argo_store, n=2).wait(timeout=60, progress=False, interval=0.1)
    status = run.status()
    assert status["phase"] == "Failed"
    assert status["steps"]["add"]["phase"] == "Succeeded" and status["steps"]["boom"]["phase"] == "Failed"
    # the step leaves its exception's last line as its container's termination message; Argo's node message holds it
    node = argo_server.objects[("workflows", "argo", run.name)]["status"]["nodes"][status["steps"]["boom"]["id"]]
    assert re.fullmatch(r"(main: )?Error \(exit code 1\): ValueError: boom 3", node["message"])  # v3.6: no "main: "
    assert status["steps"]["boom"]["message"] == "ValueError: boom 3" and status["steps"]["boom"]["exitCode"] == 1
    with pytest.raises(StepFailed, match=r"step boom failed") as err:
        run.result()
    assert err.value.failures[0]["node"] == "boom"
    assert any("ValueError: boom 3" in ln.content for ln in run.logs(step="boom"))


@pytest.mark.parametrize("verb", ["stop", "terminate"])
def test_stop_and_terminate_end_the_wait(wf, argo, argo_store, step_signal, verb):
    run = submit(wf.gated, argo=argo, store=argo_store, url=step_signal.url)
    next(run.logs(follow=True))  # the step is running
    getattr(run, verb)()
    run.wait(timeout=60, progress=False, interval=0.1)
    status = run.status()
    strategy = "Stop" if verb == "stop" else "Terminate"
    assert status["phase"] == "Failed" and status["stopped"] == strategy
    assert status["message"] == f"Stopped with strategy '{strategy}'"
    assert status["steps"]["gate"]["phase"] == "Failed"
    with pytest.raises(StepFailed, match=f"stopped: {strategy}"):
        run.result()


def test_suspend_holds_the_next_step_until_resume(wf, argo, argo_server, argo_store, step_signal):
    run = submit(wf.gated_count, argo=argo, store=argo_store, url=step_signal.url)
    next(run.logs(follow=True))  # gate is running
    assert argo.action(run.name, "suspend")["spec"]["suspend"] is True
    step_signal.open()
    for _ in range(1200):  # the running step ends; Argo's controller starts no next step while it is suspended
        steps = run.status()["steps"]
        if steps["gate"]["phase"] == "Succeeded":
            break
        time.sleep(0.05)
    assert steps["gate"]["phase"] == "Succeeded" and "count" not in steps and run.phase == "Running"
    assert "suspend" not in argo.action(run.name, "resume")["spec"]
    assert run.wait(timeout=60, progress=False, interval=0.1).result() == 5
    with pytest.raises(ArgoError, match="cannot shutdown a completed workflow"):
        run.stop()  # Argo's own refusal, with the HTTP status its server answers it with (500)


def test_retry_reruns_a_failed_workflow_in_place(wf, argo, argo_store, step_signal):
    run = submit(wf.retried, argo=argo, store=argo_store, url=step_signal.url)
    assert run.wait(timeout=60, progress=False, interval=0.1).status()["phase"] == "Failed"
    step_signal.open()
    again = run.retry()
    assert again is run
    assert run.wait(timeout=60, progress=False, interval=0.1).result() == 42


def test_resubmit_creates_a_new_workflow_with_new_parameters(wf, argo, argo_store):
    first = submit(wf.failing, argo=argo, store=argo_store, n=1).wait(timeout=60, progress=False, interval=0.1)
    second = first.resubmit(parameters={"n": 7})
    assert second.name != first.name and second.name.startswith(first.name + "-")
    second.wait(timeout=60, progress=False, interval=0.1)
    assert any("boom 8" in ln.content for ln in second.logs(step="boom"))
    names = {r["name"] for r in list_runs(argo=argo)}
    assert {first.name, second.name} <= names
    assert [r["name"] for r in list_runs(argo=argo, labels="flowpack.io/workflow=failing")] != []


def test_delete_and_get(wf, argo, argo_store):
    run = submit(wf.failing, argo=argo, store=argo_store).wait(timeout=60, progress=False, interval=0.1)
    assert get(run.name, argo=argo).status()["phase"] == "Failed"
    run.delete()
    with pytest.raises(ArgoNotFoundError, match=run.name):
        get(run.name, argo=argo)
    with pytest.raises(ArgoNotFoundError):
        run.delete()


def test_explicit_s3_store_puts_secret_references_in_the_manifest(wf, argo, argo_server, argo_store, tmp_path):
    data = tmp_path / "in.txt"
    data.write_text("via the store")
    run = submit(wf.pipeline, argo=argo, store=argo_store, artifact_repository="store", data=data, n=1,
                 download_dir=tmp_path / "dl")
    manifest = argo_server.objects[("workflows", "argo", run.name)]
    s3 = manifest["spec"]["arguments"]["artifacts"][0]["s3"]
    assert s3["bucket"] == argo_store.bucket and s3["endpoint"] == argo_store.endpoint
    assert s3["accessKeySecret"] == {"name": argo_store.secret_name, "key": "accesskey"}
    assert s3["secretKeySecret"] == {"name": argo_store.secret_name, "key": "secretkey"}
    outs = [a for t in manifest["spec"]["templates"] for a in (t.get("outputs") or {}).get("artifacts") or []
            if "path" in a]
    assert outs and all(a["s3"]["key"].startswith("flowpack/runs/{{workflow.name}}/{{pod.name}}/") for a in outs)
    text = str(manifest)
    assert argo_store._secret_key not in text and argo_store._access_key not in text
    result = run.wait(timeout=120, progress=False, interval=0.1).result()
    assert result["report"].read_text() == "run: n=2 data=via the store"
    assert result["stats"] == {2, 4}


def test_a_missing_secret_makes_the_workflow_error(wf, argo, argo_server, argo_store, tmp_path):
    argo_server.secrets["argo"] = {}
    data = tmp_path / "in.txt"
    data.write_text("x")
    run = submit(wf.pipeline, argo=argo, store=argo_store, artifact_repository="store", data=data)
    status = run.wait(timeout=60, progress=False, interval=0.1).status()
    assert status["phase"] == "Error" and "secret" in status["message"]


FIELDS = '''
from typing import NamedTuple
import flowpack as fp


class Stats(NamedTuple):
    total: int
    label: str


@fp.op
def stats(xs: list) -> Stats:
    return Stats(sum(xs), "n=%d" % len(xs))


@fp.workflow
def returns_fields(xs: list = [2, 4]):
    return stats(xs)
'''


def test_a_namedtuple_result_is_the_same_namedtuple_on_argo_as_locally(user_module, argo, argo_store, tmp_path):
    m = user_module(FIELDS)
    local = m.returns_fields.run(run_dir=tmp_path / "runs").result()
    run = submit(m.returns_fields, argo=argo, store=argo_store).wait(timeout=60, progress=False, interval=0.1)
    assert type(local) is m.Stats and local == m.Stats(6, "n=2")
    assert type(run.result()) is m.Stats and run.result() == local
    again = run.resubmit().wait(timeout=60, progress=False, interval=0.1)
    assert type(again.result()) is m.Stats and again.result() == local


@pytest.mark.parametrize("version", argo_harness.VERSIONS)
def test_every_pinned_argo_version_runs_the_round_trip(wf, argo_store, tmp_path, version):
    """The double with each pinned Argo release's code behind it: submit, wait, result, logs, a failed step's line."""
    with serving(argo_store, tmp_path / "argo-double", argo_version=version) as double:
        client = ArgoClient(server=double.address, secure=False, token=f"Bearer {TOKEN}", namespace="argo")
        assert client.version()["version"] == version
        run = submit(wf.failing, argo=client, store=argo_store, n=2).wait(timeout=120, progress=False, interval=0.1)
        steps = run.status()["steps"]
        assert run.phase == "Failed" and steps["add"]["phase"] == "Succeeded"
        assert steps["boom"]["message"] == "ValueError: boom 3" and steps["boom"]["exitCode"] == 1
        assert sorted(ln.content for ln in run.logs(step="add")) == ["3", "adding 2 1"]  # no executor lines
        with pytest.raises(StepFailed, match="ValueError: boom 3"):
            run.result()
