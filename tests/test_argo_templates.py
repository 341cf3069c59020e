"""register() publishes a WorkflowTemplate, schedule= a CronWorkflow; both validate against Argo's JSON schema and
go through the test double; lint asks the server. Plus the `flowpack` Argo commands end to end."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import jsonschema
import pytest

from argo_double import TOKEN, argo, argo_server, argo_store, use_argo_double  # noqa: F401
from fixtures_s3 import s3_server, s3_store  # noqa: F401
from flowpack._argo import ArgoConfigError, ArgoConflictError, lint, register, render_for_argo, schedule

DATA = Path(__file__).parent / "data"

WF = '''
from pathlib import Path
import flowpack as fp


@fp.op
def shout(word: str, times: int = 1) -> str:
    print("shouting", word)
    return " ".join([word.upper()] * times)


@fp.op
def size(data: Path) -> int:
    return len(data.read_bytes())


@fp.workflow
def hello(word: str = "hi", times: int = 2) -> str:
    return shout(word, times)


@fp.workflow
def measure(data: Path) -> int:
    return size(data)
'''


@pytest.fixture
def wf(user_module):
    return user_module(WF)


@functools.lru_cache(maxsize=None)
def validator(kind: str):
    s = json.loads((DATA / "argo-schema.json").read_text())
    return jsonschema.Draft202012Validator({"$schema": s["$schema"], "definitions": s["definitions"],
                                            "$ref": f"#/definitions/io.argoproj.workflow.v1alpha1.{kind}"})


def assert_schema_valid(obj: dict, kind: str) -> None:
    errors = sorted(validator(kind).iter_errors(obj), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in errors[:10])


def test_register_publishes_a_workflow_template(wf, argo, argo_server):
    manifest = render_for_argo(wf.hello, kind="WorkflowTemplate", upload=False, word="hey")
    assert manifest["kind"] == "WorkflowTemplate" and manifest["metadata"]["name"] == "hello"
    assert "generateName" not in manifest["metadata"]
    assert_schema_valid(manifest, "WorkflowTemplate")

    stored = register(wf.hello, argo=argo, word="hey")
    assert stored["metadata"]["name"] == "hello" and stored["metadata"]["namespace"] == "argo"
    obj = argo_server.objects[("workflow-templates", "argo", "hello")]
    assert_schema_valid(obj, "WorkflowTemplate")
    params = {p["name"]: p["value"] for p in obj["spec"]["arguments"]["parameters"]}
    assert params == {"word": "hey", "times": "2"}  # the values given become the template's defaults

    again = register(wf.hello, argo=argo, word="again")  # publishing again replaces it
    assert int(again["metadata"]["resourceVersion"]) > int(stored["metadata"]["resourceVersion"])
    with pytest.raises(ArgoConflictError, match="already exists"):
        register(wf.hello, argo=argo, update=False)
    assert [t["metadata"]["name"] for t in argo.list(kind="WorkflowTemplate")] == ["hello"]
    argo.delete("hello", kind="WorkflowTemplate")
    assert argo.list(kind="WorkflowTemplate") == []


def test_schedule_publishes_a_cron_workflow(wf, argo, argo_server, argo_store, tmp_path):
    data = tmp_path / "d.bin"
    data.write_bytes(b"12345")
    stored = register(wf.measure, argo=argo, store=argo_store, schedule="0 * * * *", timezone="Europe/Paris",
                      name="hourly-measure", data=data)
    obj = argo_server.objects[("cron-workflows", "argo", "hourly-measure")]
    assert_schema_valid(obj, "CronWorkflow")
    assert obj["kind"] == "CronWorkflow" and obj["spec"]["schedules"] == ["0 * * * *"]
    assert obj["spec"]["timezone"] == "Europe/Paris" and obj["spec"]["workflowSpec"]["entrypoint"] == "measure"
    assert stored["metadata"]["name"] == "hourly-measure"
    key = obj["spec"]["workflowSpec"]["arguments"]["artifacts"][0]["s3"]["key"]
    assert argo_store.exists(key)  # the input file was uploaded when the cron workflow was published
    assert schedule(wf.measure, "30 2 * * *", argo=argo, store=argo_store, name="nightly", data=data)
    assert argo_server.objects[("cron-workflows", "argo", "nightly")]["spec"]["schedules"] == ["30 2 * * *"]
    with pytest.raises(ArgoConfigError, match="cron expression"):
        register(wf.hello, argo=argo, schedule="every hour")


def test_lint_through_the_server(wf, argo, argo_server):
    result = lint(wf.hello, argo=argo, word="ok")
    assert result["spec"]["entrypoint"] == "hello"
    assert not argo_server.objects  # linting creates nothing
    assert lint(wf.measure, argo=argo, data=Path(__file__))["kind"] == "Workflow"  # no upload needed to lint


# -- the command line ----------------------------------------------------------------------------
@pytest.fixture
def cli_env(monkeypatch, argo_server, tmp_path, wf):
    use_argo_double(monkeypatch, argo_server, tmp_path / "none.toml")  # a bare token: flowpack adds "Bearer "
    return f"{wf.__file__}:hello"


def test_cli_submit_status_logs_list_delete(cli_env, capsys, argo_server):
    from flowpack._cli import main

    assert main(["submit", cli_env, "-p", "word=yo", "-p", "times=3", "--wait", "--timeout", "60"]) == 0
    out = capsys.readouterr()
    name = out.out.splitlines()[0]
    assert name.startswith("hello-") and json.loads("\n".join(out.out.splitlines()[1:])) == "YO YO YO"
    assert TOKEN not in out.out + out.err

    assert main(["status", name]) == 0
    out = capsys.readouterr().out
    assert "Succeeded" in out and "shout" in out
    assert main(["status", name, "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["steps"]["shout"]["phase"] == "Succeeded"
    assert main(["logs", name, "--step", "shout"]) == 0
    assert capsys.readouterr().out.strip() == "shout: shouting yo"
    assert main(["list"]) == 0
    assert name in capsys.readouterr().out
    assert main(["lint", cli_env]) == 0
    assert main(["register", cli_env, "--schedule", "0 * * * *", "--name", "hello-hourly"]) == 0
    assert "CronWorkflow argo/hello-hourly" in capsys.readouterr().out
    assert main(["delete", name]) == 0
    capsys.readouterr()
    assert main(["status", name]) == 1
    assert "not found" in capsys.readouterr().err


def test_cli_errors_are_one_line_and_tokenless(cli_env, capsys, monkeypatch):
    from flowpack._cli import main

    monkeypatch.setenv("ARGO_TOKEN", TOKEN + "-wrong")
    assert main(["list"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("flowpack: list Workflows: 401 Unauthorized") and TOKEN not in err
    monkeypatch.setenv("ARGO_TOKEN", TOKEN)
    monkeypatch.setenv("ARGO_NAMESPACE", "nope")
    assert main(["list"]) == 0  # listing an unknown namespace is empty, as Kubernetes answers
    assert main(["submit", cli_env]) == 1
    assert "namespace 'nope' does not exist" in capsys.readouterr().err


def test_workflow_methods_reach_the_server(wf, argo, argo_server):
    run = wf.hello.submit(argo=argo, word="via", times=1)
    assert run.wait(timeout=60, progress=False, interval=0.1).result() == "VIA"
    assert wf.hello.lint(argo=argo)["kind"] == "Workflow"
    assert wf.hello.register(argo=argo)["metadata"]["name"] == "hello"
    assert wf.hello.schedule("*/5 * * * *", argo=argo, name="often")["metadata"]["name"] == "often"
    assert {k[0] for k in argo_server.objects} == {"workflows", "workflow-templates", "cron-workflows"}
