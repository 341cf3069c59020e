"""Every pickle loaded on the user's side is checked first against the sha256 its step reported (an output parameter
`sha256-<output>`): a forged artifact in the Argo artifact repository, or a local output with no reported digest, is
refused before unpickling (which would run its code)."""

from __future__ import annotations

import io
import json
import pickle

import pytest

from argo_double import argo, argo_server, argo_store  # noqa: F401
from fixtures_s3 import s3_server, s3_store  # noqa: F401
from flowpack._argo import ArgoRun, submit
from flowpack._errors import ArtifactIntegrityError
from helpers import run_checked

OPS = '''
import flowpack as fp


@fp.op
def make(n: int) -> "object":
    return {n, n + 1}


@fp.workflow
def pipeline(n: int = 3):
    return make(n)
'''


class _Boom:
    """Unpickling it creates a file: the proof that a forged pickle would run code."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def test_the_step_reports_a_digest_the_local_result_is_checked_against(user_module, tmp_path):
    m = user_module(OPS)
    manifest = m.pipeline.render()
    make = next(t for t in manifest["spec"]["templates"] if t["name"] == "make")
    assert {"name": "sha256-return", "valueFrom": {"path": "/tmp/flowpack/outputs/digests/return"}} in \
        make["outputs"]["parameters"]
    run = run_checked(m.pipeline, tmp_path)
    step = json.loads((run.path / "steps" / "make" / "step.json").read_text())
    ref = run.record["outputs"]["artifacts"]["return"]
    assert step["outputs"]["parameters"]["sha256-return"] == ref["sha256"]
    assert run.result() == {3, 4}


def test_a_local_pickle_without_the_steps_digest_is_not_loaded(user_module, tmp_path):
    m = user_module(OPS)
    run = run_checked(m.pipeline, tmp_path)
    step_json = run.path / "steps" / "make" / "step.json"
    step = json.loads(step_json.read_text())
    del step["outputs"]["parameters"]["sha256-return"]
    step_json.write_text(json.dumps(step))
    with pytest.raises(ArtifactIntegrityError, match="reported no digest"):
        run.result()


def test_a_forged_argo_artifact_is_refused_before_unpickling(user_module, argo, argo_server, argo_store, tmp_path):
    m = user_module(OPS)
    run = submit(m.pipeline, argo=argo, store=argo_store, download_dir=tmp_path / "dl", n=5)
    run.wait(timeout=120, progress=False, interval=0.1)
    assert run.result() == {5, 6}  # the genuine artifact matches its step's digest

    wf = argo_server.objects[("workflows", "argo", run.name)]
    [node] = [n for n in wf["status"]["nodes"].values() if n.get("templateName") == "make"]
    params = {p["name"]: p["value"] for p in node["outputs"]["parameters"]}
    assert len(params["sha256-return"]) == 64
    key = next(a["s3"]["key"] for a in node["outputs"]["artifacts"] if a["name"] == "return")
    proof = tmp_path / "code-ran"
    forged = pickle.dumps(_Boom(str(proof)))
    argo_store._client.put_object(argo_store.bucket, key, io.BytesIO(forged), len(forged))

    again = ArgoRun(argo, run.name, namespace="argo", store=argo_store, download_dir=tmp_path / "dl2")
    with pytest.raises(ArtifactIntegrityError, match="not unpickled"):
        again.result()
    assert not proof.exists()
