"""The harness is Argo's referee: Argo's own examples validate and run with Argo's phases, manifests Argo refuses are
refused with Argo's message, pods run for real with Argo's executor semantics, and a workflow Argo requeues forever
ends as Stuck instead of hanging. Every test runs on each pinned Argo version (the `harness` fixture)."""

from __future__ import annotations

import copy
import json
import tarfile
import uuid
from pathlib import Path

import pytest
import yaml

from argo_harness import Harness, HarnessRun, as_server_reads
from helpers import tgz

EXAMPLES = Path(__file__).parent / "data" / "argo-examples"


def example(name: str) -> dict:
    return yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8"))


def workflow(templates: list[dict], entrypoint: str = "main", **spec) -> dict:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"generateName": "harness-"},
            "spec": {"entrypoint": entrypoint, "templates": templates, **spec}}


def script(name: str, source: str, **extra) -> dict:
    return {"name": name, "script": {"image": "python:3.11-slim", "command": ["python3"], "source": source}, **extra}


def failed_main(harness: Harness, code: int) -> str:
    """A pod's message when its main container failed (operator.go inferFailedReason: v3.7 on name the container)."""
    return f"{'' if harness.older_than('v3.7') else 'main: '}Error (exit code {code})"


def only_pods(r: HarnessRun) -> dict[str, str]:
    return {n.display_name: n.phase for n in r.pods}


def example_for(harness: Harness, name: str) -> dict:
    """The example (from Argo v4) as this version's Argo Server reads it: without fields its types lack."""
    return as_server_reads(example(name), harness.version)


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_argo_examples_pass_argos_validation(harness: Harness, name):
    [verdict] = harness.validate(example(name))
    if example_for(harness, name) != example(name):
        # strict decoding, as `argo lint` does: a field this version's types lack (v3.6: backoff.cap) is refused
        assert not verdict.ok and "unknown field" in verdict.message
        [verdict] = harness.validate(example_for(harness, name))
    assert verdict.ok, verdict.message
    assert verdict.kind == "Workflow"


def test_dag_diamond_runs_in_dependency_order(harness: Harness, tmp_path):
    r = harness.run(example("dag-diamond.yaml"), tmp_path)
    assert r.phase == "Succeeded", r.message
    assert only_pods(r) == {"A": "Succeeded", "B": "Succeeded", "C": "Succeeded", "D": "Succeeded"}
    a, d = r.node("A"), r.node("D")
    assert {n.display_name for n in r.nodes if n.id in a.children} == {"B", "C"}
    assert all(n.exit_code == "0" for n in r.pods)
    assert a.input_parameters == {"message": "A"} and d.input_parameters == {"message": "D"}


def test_parameter_aggregation_with_param_and_when(harness: Harness, tmp_path):
    r = harness.run(example("parameter-aggregation-dag.yaml"), tmp_path)
    assert r.phase == "Succeeded", r.message
    evens = {n.display_name: n for n in r.nodes if n.display_name.startswith("divide-by-2(")}
    assert {k: n.phase for k, n in evens.items()} == {
        "divide-by-2(0:evenness:odd,num:1)": "Skipped", "divide-by-2(1:evenness:even,num:2)": "Succeeded",
        "divide-by-2(2:evenness:odd,num:3)": "Skipped", "divide-by-2(3:evenness:even,num:4)": "Succeeded"}
    assert evens["divide-by-2(0:evenness:odd,num:1)"].message == "when 'odd == even' evaluated false"
    assert evens["divide-by-2(1:evenness:even,num:2)"].result == "1"
    # Fan-in of the loop's output parameter: a JSON list of the items' strings (numbers arrive as strings).
    assert json.loads(r.node("print-nums").input_parameters["message"]) == ["1", "2", "3", "4"]
    # withParam over the aggregated results of the surviving items.
    prints = sorted(n.input_parameters["message"] for n in r.pods if n.display_name.startswith("print("))
    assert prints == ["1", "2"]


def test_retry_backoff_retries_failed_attempts(harness: Harness, tmp_path):
    r = harness.run(example_for(harness, "retry-backoff.yaml"), tmp_path, timeout=170)
    retry = r.node(r.record["name"])
    assert retry.type == "Retry"
    attempts = sorted(r.pods, key=lambda n: n.display_name)
    assert 1 <= len(attempts) <= 11
    *failed, last = attempts
    assert all(n.phase == "Failed" and n.message == failed_main(harness, 1) for n in failed)
    assert r.phase == last.phase == retry.phase
    # Argo stops at the limit (10 retries), when backoff.maxDuration (1m from the first attempt) has passed, or when the
    # next backoff would pass it (operator.go, processNodeRetries: two messages, in every pinned version).
    assert last.phase == "Succeeded" or len(attempts) == 11 or retry.message in (
        "Max duration limit exceeded", "Backoff would exceed max duration limit")


def test_conditional_parameters_follow_the_coin(harness: Harness, tmp_path):
    r = harness.run(example("dag-conditional-parameters.yaml"), tmp_path)
    assert r.phase == "Succeeded", r.message
    coin = r.node("flip-coin").result
    assert coin in ("heads", "tails")
    other = "tails" if coin == "heads" else "heads"
    assert r.node(coin).phase == "Succeeded" and r.node(coin).result == coin
    assert r.node(other).phase == "Skipped"
    assert r.node(r.record["name"]).parameters == {"stepresult": coin}


def test_dag_level_exit_handlers_run_after_each_task(harness: Harness, tmp_path):
    r = harness.run(example("exit-handler-dag-level.yaml"), tmp_path)
    assert r.phase == "Succeeded", r.message
    for task in "ABCD":
        assert r.node(task).phase == "Succeeded"
        assert r.node(f"{task}.onExit").phase == "Succeeded"
        assert r.node(f"{task}.onExit").template_name == "exit"


def test_continue_on_beside_depends_is_refused_with_argos_message(harness: Harness):
    wf = workflow([
        {"name": "main", "dag": {"tasks": [{"name": "a", "template": "t"},
                                            {"name": "b", "template": "t", "depends": "a",
                                             "continueOn": {"failed": True}}]}},
        {"name": "t", "container": {"image": "busybox", "command": ["true"]}}])
    [v] = harness.validate(wf)
    assert not v.ok and v.stage == "argo"
    assert v.message == ("templates.main cannot use 'continueOn' when using 'depends'. "
                         "Instead use 'dep-task.Failed'/'dep-task.Errored'")


def test_201_tasks_are_refused_by_the_v4_crd_only(harness: Harness):
    """v4's full CRDs set maxItems 200 on a DAG's tasks; v3's validator and full CRDs have no such limit."""
    tasks = [{"name": f"t{i}", "template": "t"} for i in range(201)]
    wf = workflow([{"name": "main", "dag": {"tasks": tasks}},
                   {"name": "t", "container": {"image": "busybox", "command": ["true"]}}])
    [v] = harness.validate(wf)
    if harness.major == 3:
        assert v.ok, v.message
        return
    assert not v.ok and v.stage == "crd"
    assert "spec.templates[0].dag.tasks: Too many: 201: must have at most 200 items" in v.message
    small = copy.deepcopy(wf)
    small["spec"]["templates"][0]["dag"]["tasks"] = tasks[:200]
    assert harness.validate(small)[0].ok


def test_six_field_cron_is_refused(harness: Harness):
    cron = {"apiVersion": "argoproj.io/v1alpha1", "kind": "CronWorkflow", "metadata": {"name": "every-second"},
            "spec": {"schedules": ["0 * * * * *"],
                     "workflowSpec": {"entrypoint": "t", "templates": [
                         {"name": "t", "container": {"image": "busybox", "command": ["true"]}}]}}}
    [v] = harness.validate(cron)
    assert not v.ok
    assert v.message == "cron schedule 0 * * * * * is malformed: expected exactly 5 fields, found 6: [0 * * * * *]"
    cron["spec"]["schedules"] = ["0 * * * *"]
    assert harness.validate(cron)[0].ok


def test_run_of_a_refused_manifest_is_refused(harness: Harness, tmp_path):
    wf = workflow([{"name": "main", "dag": {"tasks": [{"name": "a", "template": "nope"}]}}])
    r = harness.run(wf, tmp_path)
    assert r.phase == "Refused"
    assert "nope" in r.message and r.nodes == ()


def test_memoized_result_requeueing_forever_ends_stuck(harness: Harness, tmp_path):
    """A cache hit restores only what the first run captured; the result nobody referenced then is missing, and
    Argo v4 requeues the workflow without end (dag.go resolveDependencyReferences: ReplaceStrict on tasks.*). The
    harness stops and says why. Argo v3 leaves the reference unresolved (template.Replace with allowUnresolved): the
    consumer runs with the literal text."""
    say = script("say", "print('hello')", memoize={"key": f"say-{uuid.uuid4().hex[:8]}",
                                                 "cache": {"configMap": {"name": "harness-memo"}}})
    wf = workflow([
        {"name": "main", "dag": {"tasks": [
            {"name": "first", "template": "say"},
            {"name": "second", "template": "say", "depends": "first"},
            {"name": "use", "template": "echo", "depends": "second",
             "arguments": {"parameters": [{"name": "x", "value": "{{tasks.second.outputs.result}}"}]}}]}},
        say,
        {"name": "echo", "inputs": {"parameters": [{"name": "x"}]},
         "container": {"image": "busybox", "command": ["echo", "{{inputs.parameters.x}}"]}}])
    r = harness.run(wf, tmp_path, stuck_after=3)
    if harness.major == 3:
        assert r.phase == "Succeeded", r.message
        assert r.node("second").result is None and r.node("second").cache_hit is True
        assert r.node("use").input_parameters == {"x": "{{tasks.second.outputs.result}}"}
        return
    assert r.phase == "Stuck"
    assert "failed to resolve {{tasks.second.outputs.result}}" in r.message
    assert r.node("second").phase == "Succeeded" and r.node("second").result is None
    assert not r.nodes_named("use")


def test_pods_run_with_argos_executor_semantics(harness: Harness, tmp_path):
    """Output parameters lose one trailing newline, the result is captured where it is referenced, artifacts go to
    the store under the key Argo's controller assigned (tgz unless archive none) and come back at their paths,
    store inputs are untarred when they are tarballs, a missing optional input is fine, and the pod's /tmp and /proc
    are its own."""
    store = tmp_path / "store"
    (store / "in").mkdir(parents=True)
    (store / "in" / "plain.txt").write_text("plain input\n")
    (store / "in" / "bundle.tgz").write_bytes(tgz({"pkg/inner.txt": "tarred"}))
    marker = f"harness-private-{uuid.uuid4().hex}"
    make = script("make", f"""
import os
open("/tmp/p.txt", "w").write("line\\n\\n")
os.makedirs("/tmp/dir", exist_ok=True)
open("/tmp/dir/f.txt", "w").write("in dir")
open("/tmp/b.txt", "w").write("plain b")
open("/tmp/{marker}", "w").write("x")
print("result text")
""", outputs={"parameters": [{"name": "p", "valueFrom": {"path": "/tmp/p.txt"}}],
              "artifacts": [{"name": "a", "path": "/tmp/dir"},
                            {"name": "b", "path": "/tmp/b.txt", "archive": {"none": {}}}]})
    read = script("read", """
import json, os
print(json.dumps({"r": "{{inputs.parameters.r}}", "p": {{=toJson(inputs.parameters.p)}},
    "a": open("/tmp/a/f.txt").read(), "b": open("/tmp/b.txt").read(), "plain": open("/tmp/plain.txt").read(),
    "bundle": sorted(os.listdir("/tmp/bundle")), "missing": os.path.exists("/tmp/missing"),
    "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit())[:1]}))
""", inputs={"parameters": [{"name": "r"}, {"name": "p"}],
             "artifacts": [{"name": "a", "path": "/tmp/a"}, {"name": "b", "path": "/tmp/b.txt"},
                           {"name": "plain", "path": "/tmp/plain.txt", "s3": {"key": "in/plain.txt"}},
                           {"name": "bundle", "path": "/tmp/bundle", "s3": {"key": "in/bundle.tgz"}},
                           {"name": "missing", "path": "/tmp/missing", "optional": True, "s3": {"key": "in/none"}}]})
    wf = workflow([
        {"name": "main", "dag": {"tasks": [
            {"name": "make", "template": "make"},
            {"name": "read", "template": "read", "depends": "make", "arguments": {
                "parameters": [{"name": "r", "value": "{{tasks.make.outputs.result}}"},
                               {"name": "p", "value": "{{tasks.make.outputs.parameters.p}}"}],
                "artifacts": [{"name": "a", "from": "{{tasks.make.outputs.artifacts.a}}"},
                              {"name": "b", "from": "{{tasks.make.outputs.artifacts.b}}"}]}}]},
         "outputs": {"parameters": [{"name": "seen", "valueFrom": {"parameter": "{{tasks.read.outputs.result}}"}}]}},
        make, read])
    r = harness.run(wf, store)
    assert r.phase == "Succeeded", r.message
    made = r.node("make")
    assert made.parameters == {"p": "line\n"}
    assert made.result == "result text"
    pod = made.id.replace(f"{r.record['name']}-", f"{r.record['name']}-make-")
    keys = {name: a["s3"]["key"] for name, a in made.artifacts.items()}
    assert keys == {"a": f"{r.record['name']}/{pod}/a.tgz", "b": f"{r.record['name']}/{pod}/b.txt"}
    assert Path(r.artifacts[keys["b"]]).read_text() == "plain b"
    with tarfile.open(r.artifacts[keys["a"]]) as tar:
        assert sorted(tar.getnames()) == ["dir", "dir/f.txt"]
    seen = json.loads(r.node(r.record["name"]).parameters["seen"])
    # Argo's untar puts a tarball's single top-level directory at the artifact's path itself.
    assert seen == {"r": "result text", "p": "line\n", "a": "in dir", "b": "plain b", "plain": "plain input\n",
                    "bundle": ["inner.txt"], "missing": False, "pids": [1]}
    assert not Path("/tmp", marker).exists()


def test_exit_code_and_stdout_result_only_where_referenced(harness: Harness, tmp_path):
    wf = workflow([
        {"name": "main", "dag": {"tasks": [
            {"name": "quiet", "template": "talk"},
            {"name": "loud", "template": "talk"},
            {"name": "fail", "template": "fail", "depends": "loud"},
            {"name": "after", "template": "talk", "depends": "fail.Failed",
             "arguments": {"parameters": [{"name": "x", "value": "{{tasks.loud.outputs.result}}"}]}}]}},
        script("talk", "print('a' * 300_000)", inputs={"parameters": [{"name": "x", "default": ""}]}),
        script("fail", "import sys; print('bye'); sys.exit(3)")])
    r = harness.run(wf, tmp_path)
    # The failure is handled by the dependent's `fail.Failed`: Argo's DAG (and workflow) succeed.
    assert r.phase == "Succeeded", r.message
    assert r.node("quiet").result is None
    assert r.node("loud").result == "a" * 256 * 1024
    assert r.node("fail").phase == "Failed" and r.node("fail").exit_code == "3"
    assert r.node("fail").message == failed_main(harness, 3)
    assert r.node("after").phase == "Succeeded"


def test_template_deadline_fails_the_pod_as_the_kubelet_does(harness: Harness, tmp_path):
    wf = workflow([{"name": "main", "activeDeadlineSeconds": 2,
                    "container": {"image": "busybox", "command": ["sh", "-c", "sleep 60"]}}])
    r = harness.run(wf, tmp_path)
    assert r.phase == "Failed"
    [pod] = r.pods
    assert pod.phase == "Failed"
    assert pod.message == r.message == "Pod was active on the node longer than the specified deadline"
