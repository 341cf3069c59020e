"""A step folder's record (steps/<node>/step.json, flowpack._records.StepFolderRecord): the step.json files earlier
versions wrote read into it and write back the same keys and values, unknown keys are kept, a file that holds no
record is refused by name, and the engine writes it, the resume, the cache, the viewer and the results read it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

import flowpack as fp
from flowpack import _view
from flowpack._engine._record import step_folders, step_records
from flowpack._phase import Phase
from flowpack._records import NamedValues, StepFolderRecord
from flowpack._results import step_digest
from flowpack._view import _steps
from helpers import run_checked

OLD = Path(__file__).parent / "data" / "step_records"  # step.json files (and a cache entry) as earlier versions wrote


def _old(name: str) -> dict:
    return json.loads((OLD / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(p.name for p in OLD.glob("*.json")))
def test_an_old_step_json_reads_and_writes_back_every_key_and_value(name):
    data = _old(name)
    record = StepFolderRecord.read(OLD / name)
    assert record.extra == {}  # every key an engine wrote is a field
    written = record.to_json()
    assert json.dumps(written, sort_keys=True) == json.dumps(data, sort_keys=True)
    assert StepFolderRecord.from_json(written) == record


def test_an_old_succeeded_step_as_typed_values():
    record = StepFolderRecord.read(OLD / "succeeded.json")
    assert (record.node, record.template, record.phase, record.exit_code) == ("mk", "mk", Phase.SUCCEEDED, 0)
    assert record.inputs == NamedValues({}, {}) and record.message == "" and record.result == ""
    assert record.outputs == NamedValues({"return": '["123",4,"null"]'}, {})
    assert record.command is not None and record.command[-1].endswith("/scripts/mk.py")
    assert record.cwd is not None and record.cwd.endswith("/steps/mk/work")
    assert len(record.cache_key or "") == 64 and record.reused_from is None
    assert record.started_at is not None and record.finished_at is not None and record.finished_at > record.started_at


def test_old_failed_steps_and_steps_that_never_started():
    failed = StepFolderRecord.read(OLD / "failed.json")
    assert (failed.node, failed.template, failed.phase, failed.exit_code, failed.message) == (
        "boom-2/0", "boom", Phase.FAILED, 1, "exit code 1")
    assert failed.command and failed.cache_key is None and "result" not in failed.to_json()
    for name, phase, said in [("not-started.json", Phase.ERROR, "ForkServerError"),
                              ("stopped-before-start.json", Phase.FAILED, "stopped before it started")]:
        never = StepFolderRecord.read(OLD / name)
        assert never.phase is phase and said in (never.message or "")
        assert never.command is None and never.cwd is None and never.exit_code is None
        assert never.to_json()["exitCode"] is None and "command" not in never.to_json()  # null, as written
    late = StepFolderRecord.read(OLD / "error-after-start.json")  # the Docker engine: an output it refused
    assert late.phase is Phase.ERROR and late.exit_code == 0 and late.command == ["bash", "/flowpack/script/c-dir.sh"]


def test_a_first_attempt_that_a_retry_made_good():
    first = StepFolderRecord.read(OLD / "retried-first.json")
    assert first.phase is Phase.FAILED and first.exit_code == 1  # its own attempt failed
    assert len(first.cache_key or "") == 64 and first.result == "3"  # the step's success, added by the retry


def test_old_reused_steps_keep_where_they_came_from():
    resumed = StepFolderRecord.read(OLD / "resumed.json")
    assert resumed.reused_from == "waits-20261130-102918-55d2d0"
    assert resumed.message == f"reused from run {resumed.reused_from}" and resumed.started_at == resumed.finished_at
    assert resumed.inputs == NamedValues({"x": "4"}, {"param-x": {"raw": True}}) and resumed.exit_code == 0
    cached = StepFolderRecord.read(OLD / "from-cache.json")
    assert cached.message == "reused from the cache" and cached.node == "square" and cached.result == "49"
    assert cached.inputs is None and cached.exit_code is None and cached.command is None
    assert "exitCode" not in cached.to_json() and "inputs" not in cached.to_json()
    entry = StepFolderRecord.read(OLD / "cache-entry.json")
    assert (entry.node, entry.phase, entry.cache_key, entry.outputs) == (
        None, Phase.SUCCEEDED, cached.cache_key, cached.outputs)
    assert set(entry.to_json()) == {"cacheKey", "phase", "template", "result", "outputs"}


def test_old_steps_with_artifacts_and_a_result_too_big_to_keep():
    record = StepFolderRecord.read(OLD / "artifacts.json")
    assert record.inputs is not None and record.outputs is not None
    given, made = record.inputs.artifacts["s"], record.outputs.artifacts["return"]
    assert given["key"] == "runs/shapes-20261130-102515-72f881/make/return" and given["kind"] == "file"
    assert made["sha256"] == record.outputs.parameters["sha256-return"] and made["size"] == 8132
    raw = StepFolderRecord.read(OLD / "raw-inputs.json")
    assert raw.inputs is not None and raw.inputs.artifacts == {"param-s": {"raw": True}}
    big = StepFolderRecord.read(OLD / "result-null.json")
    assert big.result is None and big.cache_key and big.to_json()["result"] is None


def test_unknown_keys_and_values_not_of_their_type_are_kept():
    data = {"node": "n", "phase": "Failed", "exitCode": "137", "addedLater": {"x": [1]}, "command": None}
    record = StepFolderRecord.from_json(data)
    assert record.exit_code is None and record.command is None
    assert record.extra == {"exitCode": "137", "addedLater": {"x": [1]}, "command": None}
    assert record.to_json() == data
    assert StepFolderRecord.from_json(record.to_json()).to_json() == data


def test_the_two_keys_held_as_null():
    ran = StepFolderRecord(node="s", inputs=NamedValues(), phase=Phase.ERROR)
    assert ran.to_json() == {"node": "s", "inputs": {"parameters": {}, "artifacts": {}}, "phase": "Error",
                             "exitCode": None}
    big = StepFolderRecord(phase=Phase.SUCCEEDED, cache_key="k")  # a result too big to keep
    assert big.to_json() == {"phase": "Succeeded", "cacheKey": "k", "result": None}
    assert StepFolderRecord(node="s", phase=Phase.RUNNING).to_json() == {"node": "s", "phase": "Running"}


@pytest.mark.parametrize("text, said", [("[1, 2]", "holds a JSON list, not an object"), ('"x"', "JSON str"),
                                        ('{"node": "n", "phase": "Done"}', "phase 'Done'"),
                                        ('{"node": "n"', "not JSON")])
def test_a_file_with_no_step_record_is_refused_by_name(tmp_path, text, said):
    path = tmp_path / "step.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=said) as info:
        StepFolderRecord.read(path)
    assert str(path) in str(info.value)


def test_a_link_is_never_read_as_a_record(tmp_path):
    real = tmp_path / "real.json"
    real.write_text(json.dumps({"node": "n", "phase": "Succeeded"}))
    (tmp_path / "step.json").symlink_to(real)
    with pytest.raises(OSError):
        StepFolderRecord.read(tmp_path / "step.json")


def test_step_folders_never_look_inside_what_a_step_wrote(tmp_path):
    steps = tmp_path / "steps"
    record = json.dumps({"node": "x", "phase": "Succeeded", "cacheKey": "planted"})
    for folder in ("a", "a/root/tmp", "a/work", "a/inputs-cow/v/upper", "sub/c", "sq/0", "sq/1"):
        (steps / folder).mkdir(parents=True, exist_ok=True)
    for file in ("a/step.json", "a/root/tmp/step.json", "a/work/step.json", "a/inputs-cow/v/upper/step.json",
                 "sub/c/step.json", "sq/0/step.json"):
        (steps / file).write_text(record)
    (steps / "sq/1/stdout").write_text("")  # running: a stdout, no step.json yet
    (steps / "zz").symlink_to(steps / "a", target_is_directory=True)
    assert [p.relative_to(steps).as_posix() for p in step_folders(tmp_path)] == ["a", "sq/0", "sq/1", "sub/c"]
    assert [node for node, _ in step_records(tmp_path)] == ["a", "sq/0", "sub/c"]


FLOW = '''
import json
from pathlib import Path
import flowpack as fp


@fp.op
def make(n: int) -> Path:
    # a file named step.json in the step's own folder is not a record of the run
    Path("step.json").write_text(json.dumps({"node": "planted", "phase": "Succeeded", "cacheKey": "x"}))
    Path("data.txt").write_text("v" * n)
    return Path("data.txt")


@fp.op
def measure(p: Path) -> int:
    return len(p.read_text())


@fp.op
def sq(x: int) -> int:
    return x * x


@fp.op
def bag(n: int):
    return {n, n + 1}  # a pickled output: its step reports its digest


@fp.op
def finish(m: int, sqs: list, flag: str) -> int:
    if Path(flag).exists():
        raise ValueError("told to fail")
    return m + sum(sqs)


@fp.workflow
def flow(n: int, flag: str):
    return finish(measure(make(n)), sq.map(x=[1, 2]), flag), bag(n)
'''


def _records(run) -> dict[str, StepFolderRecord]:
    return dict(step_records(run.path))


def test_a_local_run_writes_its_step_folders_through_the_type(user_module, tmp_path):
    m = user_module(FLOW)
    run = run_checked(m.flow, tmp_path, n=3, flag=str(tmp_path / "no-flag"))
    assert run.result() == (3 + 1 + 4, {3, 4})
    records = _records(run)
    assert set(records) == set(run.steps) == {"make", "measure", "sq/0", "sq/1", "finish", "bag"}
    for node, rec in records.items():
        folder = run.path / "steps" / node
        text = (folder / "step.json").read_text(encoding="utf-8")
        assert text == json.dumps(rec.to_json(), ensure_ascii=False, separators=(",", ":"))  # one compact line
        assert rec.node == node and rec.phase is Phase.SUCCEEDED and rec.exit_code == 0 and rec.extra == {}
        assert rec.cwd == str(folder / "work") and rec.command and all(isinstance(c, str) for c in rec.command)
        assert rec.started_at <= rec.finished_at and len(rec.cache_key or "") == 64
    make, measure = records["make"], records["measure"]
    assert make.inputs is not None and make.inputs.parameters == {"n": "3"}
    assert make.outputs is not None and measure.inputs is not None
    ref = make.outputs.artifacts["return"]
    assert measure.inputs.artifacts["p"] == ref and ref["key"] == f"runs/{run.id}/make/return"
    assert ref["sha256"] == hashlib.sha256(b"vvv").hexdigest()  # settled into the record when the run ended
    bag = records["bag"].outputs
    assert bag is not None and bag.parameters["sha256-return"] == bag.artifacts["return"]["sha256"] == \
        step_digest(run.path, bag.artifacts["return"]["key"])
    assert [records[f"sq/{i}"].result for i in (0, 1)] == ["1", "4"]

    # the viewer shows the record as its JSON (less the folder it ran in), its artifacts from the record
    detail = _view.step_detail(tmp_path / "runs", run.id, "make")
    assert detail["step"] == {k: v for k, v in make.to_json().items() if k != "cwd"}
    page = _steps.step_page(tmp_path / "runs", run.id, "measure")
    assert page["started"] and page["artifacts"] == [{"side": "in", "name": "p", "size": ref["size"],
                                                      "kind": ref["kind"], "key": ref["key"]}]


def test_a_failed_step_and_the_resume_that_reuses_the_others(user_module, tmp_path):
    m = user_module(FLOW)
    flag = tmp_path / "flag"
    flag.write_text("")
    with pytest.raises(fp.StepFailed, match="told to fail") as info:
        run_checked(m.flow, tmp_path, n=2, flag=str(flag))
    failed = info.value.run
    first = _records(failed)
    boom = first["finish"]
    assert boom.phase is Phase.FAILED and boom.exit_code == 1 and boom.command and "told to fail" in boom.message
    assert boom.cache_key is None and boom.result is None and "result" not in boom.to_json()
    assert boom.inputs is not None and set(boom.inputs.parameters) >= {"m", "sqs", "flag"}

    flag.unlink()
    run = m.flow.run(run_dir=tmp_path / "runs", resume=failed.id, n=2, flag=str(flag))
    assert run.result() == (2 + 1 + 4, {2, 3})
    again = _records(run)
    for node in ("make", "measure", "sq/0", "sq/1", "bag"):
        rec, old = again[node], first[node]
        assert rec.reused_from == failed.id and rec.message == f"reused from run {failed.id}"
        assert (rec.inputs, rec.outputs, rec.command, rec.exit_code, rec.cache_key, rec.result) == (
            old.inputs, old.outputs, old.command, old.exit_code, old.cache_key, old.result)
        assert rec.started_at == rec.finished_at and rec.started_at > old.finished_at
    assert again["finish"].reused_from is None and again["finish"].phase is Phase.SUCCEEDED


CACHED = '''
import flowpack as fp


@fp.op(cache=True)
def square(x: int) -> int:
    return x * x


@fp.workflow
def cached(x: int):
    return square(x)
'''


def test_a_cache_entry_and_the_step_that_reuses_it(user_module, tmp_path):
    m = user_module(CACHED)
    first = run_checked(m.cached, tmp_path, x=5)
    second = run_checked(m.cached, tmp_path, x=5)
    assert first.result() == second.result() == 25
    made, reused = _records(first)["square"], _records(second)["square"]
    entry = StepFolderRecord.read(tmp_path / "cache" / f"{made.cache_key}.json")
    assert (entry.node, entry.inputs, entry.phase, entry.result, entry.outputs) == (
        None, None, Phase.SUCCEEDED, "25", made.outputs)
    assert reused.message == "reused from the cache" and reused.node == "square"
    assert (reused.inputs, reused.exit_code, reused.cache_key, reused.result) == (None, None, made.cache_key, "25")
    assert set(reused.to_json()) == {"node", "template", "phase", "message", "startedAt", "finishedAt", "outputs",
                                     "cacheKey", "result"}
