"""Run and step records (flowpack._records): run folders written before the typed records still read, nothing in
them is lost when written back, and Argo's workflow status reads into the same records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import flowpack as fp
from flowpack._argo import _status
from flowpack._argo._record import SubmitRecord
from flowpack._phase import Phase
from flowpack._records import RunRecord, StepRecord
from flowpack._run import Run

OLD = Path(__file__).parent / "data" / "run_records"  # run.json files the engine wrote before these types existed


def _json(name: str) -> dict:
    return json.loads((OLD / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ["succeeded.json", "failed.json"])
def test_an_old_run_json_reads_and_writes_back_everything_it_held(name):
    data = _json(name)
    record = RunRecord.read(OLD / name)
    written = record.to_json()
    for key, value in data.items():
        if key != "steps":
            assert written[key] == value, key
    for node, step in data["steps"].items():
        assert {k: v for k, v in written["steps"][node].items() if k in step} == step, node
        assert all(v is None for k, v in written["steps"][node].items() if k not in step), node
    assert RunRecord.from_json(written) == record


def test_an_old_succeeded_record_as_typed_values():
    record = RunRecord.read(OLD / "succeeded.json")
    assert record.phase is Phase.SUCCEEDED and record.done and record.engine == "local"
    assert list(record.steps) == ["square/0", "square/1", "square/2", "write", "total"]
    item = record.steps["square/1"]
    assert (item.name, item.template, item.phase, item.exit_code, item.attempts) == (
        "square(1)", "square", Phase.SUCCEEDED, 0, 1)
    assert item.started_at is not None and item.finished_at is not None and item.finished_at >= item.started_at
    assert record.outputs.parameters == {"sum": "14"} and record.outputs.artifacts["file"]["kind"] == "file"
    assert record.parameters == {"n": "4"} and record.failures() == {}


def test_an_old_failed_record_gives_the_same_failure_report(tmp_path):
    record = RunRecord.read(OLD / "failed.json")
    assert list(record.failures()) == ["boom"] and record.steps["square-2"].phase is Phase.OMITTED
    run = Run(record, tmp_path, None, {})
    with pytest.raises(fp.StepFailed) as info:
        run.check()
    text = str(info.value)
    assert text.startswith("run bad-20261130-150705-d0c9bc Failed: step boom failed\n")
    assert "- step boom (template boom): ValueError: boom 4; No more retries left (after 2 attempts) (exit code 1)" \
        in text
    assert "  stderr (tail):\n    Traceback (most recent call last):" in text
    assert info.value.failures == [{"node": "boom", **_json("failed.json")["steps"]["boom"]}]
    assert run.failures() == info.value.failures and run.steps["boom"]["attempts"] == 2


def test_the_last_word_of_a_full_disk_and_unknown_keys_read():
    short = {"id": "r", "workflow": "w", "engine": "local", "phase": "Error", "startedAt": 1.0, "finishedAt": 2.0,
             "message": "can't write the run record", "addedLater": {"x": 1}}
    record = RunRecord.from_json(short)
    assert record.phase is Phase.ERROR and record.steps == {} and record.outputs.parameters == {}
    assert record.extra == {"addedLater": {"x": 1}} and record.to_json()["addedLater"] == {"x": 1}


@pytest.mark.parametrize("bad, said", [([], "not an object"), ({"id": "r", "phase": "Done"}, "phase 'Done'"),
                                       ({"id": "r", "phase": "Failed", "steps": [1]}, "steps are not an object")])
def test_a_broken_record_is_refused_by_name(bad, said, tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=said) as info:
        RunRecord.read(path)
    assert str(path) in str(info.value)


def test_argo_status_reads_into_step_and_run_records():
    wf = {"metadata": {"name": "wf-abc", "labels": {"flowpack.io/workflow": "wf"}},
          "spec": {"arguments": {"parameters": [{"name": "n", "value": "3"}]}},
          "status": {"phase": "Failed", "startedAt": "2026-11-30T15:06:32Z", "finishedAt": "2026-11-30T15:07:02Z",
                     "message": "child failed", "nodes": {
                         "wf-abc": {"id": "wf-abc", "name": "wf-abc", "type": "DAG", "phase": "Failed",
                                    "outputs": {"parameters": [{"name": "r", "value": "9"}]}},
                         "wf-abc-1": {"id": "wf-abc-1", "name": "wf-abc.boom", "displayName": "boom", "type": "Pod",
                                      "templateName": "boom", "phase": "Failed",
                                      "startedAt": "2026-11-30T15:06:33Z", "finishedAt": "2026-11-30T15:06:40Z",
                                      "message": "Error (exit code 3): ValueError: no",
                                      "outputs": {"exitCode": "3"}}}}}
    record = _status.run_record(wf)
    assert (record.id, record.workflow, record.engine, record.phase) == ("wf-abc", "wf", "argo", Phase.FAILED)
    assert record.finished_at - record.started_at == 30.0 and record.parameters == {"n": "3"}
    assert record.outputs.parameters == {"r": "9"}
    step = record.steps["boom"]
    assert step == StepRecord(name="boom", phase=Phase.FAILED, template="boom", started_at=step.started_at,
                              finished_at=step.started_at + 7, exit_code=3, message="ValueError: no", type="Pod",
                              node_id="wf-abc-1", pod=_status.pod_name(wf, wf["status"]["nodes"]["wf-abc-1"]))
    shown = _status.step_json(step)  # as ArgoRun.steps and status() show it: Argo's own time text
    assert (shown["startedAt"], shown["finishedAt"], shown["exitCode"]) == (
        "2026-11-30T15:06:33Z", "2026-11-30T15:06:40Z", 3)
    assert _status.summary(wf)["steps"] == {"boom": shown}


def test_a_submit_record_reads_and_writes_back_what_submit_wrote():
    # as record_submitted wrote submitted.json before SubmitRecord (every key, in its order)
    old = {"kind": "flowpack/argo-submitted", "version": 1, "name": "wf-abc", "namespace": "argo",
           "server": "https://127.0.0.1:2746", "baseHref": "", "submittedAt": "2026-11-30T15:06:32.123Z",
           "workflow": "wf", "uid": "1234", "outputsAnnotation": {"shape": "value", "kinds": {}}}
    rec = SubmitRecord.from_json({**old, "note": "kept"})
    assert rec is not None and (rec.name, rec.namespace, rec.server, rec.workflow) == (
        "wf-abc", "argo", "https://127.0.0.1:2746", "wf")
    assert rec.to_json() == {"note": "kept", **old}
    assert SubmitRecord.from_json({"name": "x"}) is None and SubmitRecord.from_json(None) is None
