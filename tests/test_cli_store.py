"""`--store` on the command line (issue 17.6): run, submit and results with an S3 bucket named `s3://BUCKET/PREFIX`
(endpoint and credentials from the usual AWS_* / MINIO_* variables) or a local folder. Argo commands run against the
Argo Server test double (tests/argo_double.py) with a real S3 server (SeaweedFS) as its artifact repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from argo_double import TOKEN, argo_server, argo_store, use_argo_double  # noqa: F401
from fixtures_s3 import s3_server, s3_store  # noqa: F401
from flowpack._cli import main
from flowpack._errors import UsageError
from helpers import MEASURE_FILE

QUICKSTART = Path(__file__).resolve().parents[1] / "examples" / "quickstart.py"
QUICK_RESULT = {"count": 12, "mean": sum(i * i for i in range(12)) / 12, "offset": 6}


@pytest.fixture
def s3_env(monkeypatch, s3_server, s3_store):  # noqa: F811
    """The environment a user of a MinIO-like server sets: the endpoint URL and the AWS credentials."""
    for var in ("AWS_ENDPOINT_URL_S3", "MINIO_ENDPOINT", "FLOWPACK_STORE", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{s3_server.endpoint}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    return f"s3://{s3_store.bucket}"


@pytest.fixture
def argo_env(monkeypatch, argo_server, tmp_path):  # noqa: F811
    monkeypatch.chdir(tmp_path)
    use_argo_double(monkeypatch, argo_server, tmp_path / "none.toml")


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_submit_wait_of_a_succeeded_workflow_with_artifact_outputs_exits_zero(argo_env, capsys):
    code, out, err = _cli(capsys, "submit", f"{QUICKSTART}:pipeline", "-p", "n=5", "--wait", "--timeout", "120")
    assert code == 0, err
    name, *rest = out.splitlines()
    assert f"workflow {name} Succeeded" in err
    location = json.loads("\n".join(rest))
    assert location.startswith("s3:") and f"{name}/" in location  # where the pickled result is, not a failure
    assert "give --store s3://BUCKET/PREFIX" in err and "flowpack._" not in err
    assert TOKEN not in out + err


def test_submit_and_results_with_a_store_download_the_result(argo_env, s3_env, capsys):
    code, out, err = _cli(capsys, "submit", f"{QUICKSTART}:pipeline", "-p", "n=5", "--wait", "--timeout", "120",
                          "--store", s3_env)
    assert code == 0, err
    name, *rest = out.splitlines()
    assert json.loads("\n".join(rest)) == QUICK_RESULT
    code, out, err = _cli(capsys, "results", name, "--store", s3_env)
    assert code == 0, err
    assert json.loads(out) == QUICK_RESULT and f"workflow {name} Succeeded" in err


def test_the_store_from_the_environment_uploads_local_inputs(argo_env, s3_env, capsys, tmp_path, monkeypatch):
    (tmp_path / "wf.py").write_text(MEASURE_FILE)
    (tmp_path / "input.bin").write_bytes(b"x" * 1234)
    code, _, err = _cli(capsys, "submit", "wf.py:measure", "-p", "data=input.bin")
    assert code == 1 and "fp.S3(endpoint, bucket, secret_name=...)" in err and "flowpack._" not in err
    monkeypatch.setenv("FLOWPACK_STORE", s3_env)
    code, out, err = _cli(capsys, "submit", "wf.py:measure", "-p", "data=input.bin", "--wait", "--timeout", "120")
    assert code == 0, err
    assert json.loads(out.splitlines()[1]) == 1234


def test_results_of_a_failed_workflow_exit_one_naming_the_step(argo_env, capsys, tmp_path):
    (tmp_path / "bad.py").write_text(textwrap.dedent('''
        import flowpack as fp

        @fp.op
        def boom(n: int) -> int:
            raise ValueError("no")

        @fp.workflow
        def failing(n: int = 1) -> int:
            return boom(n)
    '''))
    code, out, err = _cli(capsys, "submit", "bad.py:failing", "--wait", "--timeout", "120")
    assert code == 1 and "step boom failed" in err
    code, _, err = _cli(capsys, "results", out.splitlines()[0])
    assert code == 1 and "step boom failed" in err


def test_run_and_results_with_a_local_folder_store(tmp_path):
    def flowpack(*args):
        return subprocess.run([sys.executable, "-m", "flowpack", *args], cwd=tmp_path, capture_output=True,
                              text=True, timeout=300, env={**os.environ, "FLOWPACK_STORE": ""})

    done = flowpack("run", f"{QUICKSTART}:pipeline", "-p", "n=5", "--run-dir", "runs", "--store", "artifacts")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == QUICK_RESULT
    (run_id,) = [p.name for p in (tmp_path / "runs").iterdir()]
    record = json.loads((tmp_path / "runs" / run_id / "run.json").read_text())
    assert record["store"]["root"] == str(tmp_path / "artifacts")
    assert any((tmp_path / "artifacts").rglob("*")) and not (tmp_path / "store").exists()
    done = flowpack("results", run_id, "--run-dir", "runs", "--store", "artifacts")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == QUICK_RESULT


def test_run_with_an_s3_store(s3_env, tmp_path, s3_server, s3_store):  # noqa: F811
    done = subprocess.run([sys.executable, "-m", "flowpack", "run", f"{QUICKSTART}:pipeline", "-p", "n=5",
                           "--run-dir", "runs", "--store", s3_env + "/team-a"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == QUICK_RESULT
    keys = [o.object_name for o in s3_server.client().list_objects(s3_store.bucket, recursive=True)]
    assert keys and all(k.startswith("team-a/") for k in keys)
    assert s3_server.secret_key not in done.stdout + done.stderr


@pytest.mark.parametrize("text, message", [
    ("ftp://x/y", "use s3://BUCKET/PREFIX or a local folder"),
    ("s3:///prefix", "no bucket"),
])
def test_bad_store_text_is_a_usage_error(text, message):
    from flowpack._cli_store import store_from

    with pytest.raises(UsageError, match=message):
        store_from(text)


def test_argo_refuses_a_local_folder_store():
    from flowpack._cli_store import store_from

    with pytest.raises(UsageError, match="Argo's steps can't read a folder"):
        store_from("some/folder", remote=True)
