"""Resuming a run from the viewer (`flowpack run FILE.py:WF --resume RUN_ID --params-from RUN_ID`) in the store the
run recorded, with its input files given back.

A resumed run keeps its artifacts where the run it resumes kept them: a local store other than the default, or an S3
store (its endpoint, bucket and prefix from run.json, its credentials from the environment); otherwise the outputs
of the steps it reuses are not found. A Path parameter is an input artifact, not one of run.json's `parameters`: it
is read back from the store by the upload key the run's manifest gives it, checked against that key's digest, or
refused naming the parameter and the fix; a list[Path] parameter's files and folders likewise, by the keys its
flowpack.io/given-files annotation lists. Real local runs; S3 is a real SeaweedFS server."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

import flowpack as fp
from fixtures_s3 import s3_server, s3_store  # noqa: F401
from flowpack._cli import main
from flowpack._given_files import GIVEN_FILES
from flowpack._store import recorded_store
from flowpack._view._control import resume_run

SOURCE = '''
from pathlib import Path

import flowpack as fp


def _log(folder, what):
    with open(Path(folder, "log"), "a") as f:
        f.write(what + "\\n")


@fp.op
def measure(data: Path, notes: Path, folder: str) -> int:
    _log(folder, "measure")
    return len(data.read_text()) + len(list(notes.iterdir()))


@fp.op
def count(text: str, folder: str) -> int:
    _log(folder, "measure")
    return len(text)


@fp.op
def finish(n: int, folder: str) -> int:
    _log(folder, "finish")
    if Path(folder, "fail").exists():
        raise SystemExit("told to fail")
    return n * 10


@fp.workflow
def pipeline(data: Path, notes: Path, folder: str) -> int:
    return finish(measure(data, notes, folder), folder)


@fp.workflow
def plain(text: str, folder: str) -> int:
    return finish(count(text, folder), folder)
'''

RUNS = Path(".flowpack", "runs")


@pytest.fixture(autouse=True)
def _project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the project's folder: runs in .flowpack/runs, as the viewer resumes them


def _failing(tmp_path: Path) -> Path:
    folder = tmp_path / "side"
    folder.mkdir()
    (folder / "fail").write_text("")
    return folder


def _failed_plain_run(m, tmp_path: Path, store) -> tuple[fp.Run, Path]:
    """A run of `plain` (no Path parameter) in `store` whose second step failed; the failure cleared."""
    folder = _failing(tmp_path)
    with pytest.raises(fp.StepFailed, match="told to fail") as info:
        m.plain.run(run_dir=RUNS, store=store, text="fifteen letters", folder=str(folder))
    (folder / "fail").unlink()
    return info.value.run, folder


def _failed_run(m, tmp_path: Path, store) -> tuple[fp.Run, Path]:
    """A run of `pipeline` whose second step failed; its input file and folder removed afterwards (only the store
    keeps them), and the failure cleared."""
    folder = _failing(tmp_path)
    data, notes = tmp_path / "data.txt", tmp_path / "notes"
    data.write_text("twelve bytes")
    notes.mkdir()
    for name in ("a", "b", "c"):
        (notes / name).write_text(name)
    with pytest.raises(fp.StepFailed, match="told to fail") as info:
        m.pipeline.run(run_dir=RUNS, store=store, data=data, notes=notes, folder=str(folder))
    data.unlink()
    for child in notes.iterdir():
        child.unlink()
    notes.rmdir()
    (folder / "fail").unlink()
    return info.value.run, folder


def _resumed(failed) -> dict:
    """Resume `failed` as the viewer does; the new run's record once it has ended."""
    said = resume_run(RUNS, failed.id)
    assert said.startswith(f"resuming run {failed.id}")
    pid = int(said.split("(pid ", 1)[1].split(")", 1)[0])
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        found = [p for p in RUNS.iterdir() if p.name != failed.id and (p / "run.json").is_file()]
        record = json.loads((found[0] / "run.json").read_text()) if found else {}
        if record.get("phase") in ("Succeeded", "Failed", "Error", "Stopped"):
            return record
        if not Path(f"/proc/{pid}").exists() and not found:  # the command ended without starting a run
            break
        time.sleep(0.1)
    logs = "\n".join(p.read_text() for p in failed.path.glob("resume-*.log"))
    raise AssertionError(f"no resumed run ended; its output:\n{logs}")


def _check_resumed(record: dict, failed, folder: Path) -> None:
    logs = "\n".join(p.read_text() for p in failed.path.glob("resume-*.log"))
    assert record["phase"] == "Succeeded", logs
    assert record["resumedFrom"] == failed.id
    assert record["store"] == json.loads((failed.path / "run.json").read_text())["store"]  # the run's own store
    assert record["outputs"]["parameters"]["return"] == str(15 * 10)
    assert (folder / "log").read_text().split() == ["measure", "finish", "finish"]  # measure was reused



def _refused_when_changed_or_gone(argv: list[str], stored: Path, name: str, key: str, fix: str, capsys) -> None:
    """`flowpack run ... --params-from` refuses a stored input that was changed, then one that is gone, naming the
    parameter, its key and the fix; the stored file is removed afterwards."""
    stored.write_bytes(stored.read_bytes() + b"z")  # changed in the store: refused, never used
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"parameter {name!r}" in err and key in err and "does not hash to" in err and fix in err, err
    stored.unlink()  # gone: refused, naming the parameter and the fix
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"parameter {name!r}" in err and key in err and fix in err, err

def test_the_viewers_resume_keeps_a_local_store_that_is_not_the_default(user_module, tmp_path):
    m = user_module(SOURCE)
    store = fp.LocalStore(tmp_path / "elsewhere")
    failed, folder = _failed_plain_run(m, tmp_path, store)
    _check_resumed(_resumed(failed), failed, folder)
    assert not Path(".flowpack", "store").exists()  # nothing went to the default store


def test_the_viewers_resume_gives_path_parameters_back_from_the_store(user_module, tmp_path):
    m = user_module(SOURCE)
    failed, folder = _failed_run(m, tmp_path, None)  # the default store
    _check_resumed(_resumed(failed), failed, folder)  # the file (12 bytes) and the folder (3 files) as they were


@pytest.mark.parametrize("failed_run", [_failed_plain_run, _failed_run], ids=["values", "files"])
def test_the_viewers_resume_of_an_s3_run_uses_its_store_and_credentials_from_the_environment(
        failed_run, user_module, tmp_path, monkeypatch, s3_server, s3_store):  # noqa: F811
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)  # what the viewer's process (and its child) has
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "MINIO_ENDPOINT", "FLOWPACK_STORE"):
        monkeypatch.delenv(var, raising=False)  # the endpoint comes from the record alone
    m = user_module(SOURCE)
    store = s3_server.store(s3_store.bucket, prefix="team-b")
    failed, folder = failed_run(m, tmp_path, store)  # "files": the file and folder read back from S3
    record = _resumed(failed)
    _check_resumed(record, failed, folder)
    assert record["store"]["type"] == "s3" and record["store"]["bucket"] == s3_store.bucket
    assert not Path(".flowpack", "store").exists()
    for path in Path(".flowpack").rglob("*"):  # credentials are never written anywhere
        if path.is_file():
            text = path.read_bytes()
            assert s3_server.secret_key.encode() not in text and s3_server.access_key.encode() not in text, path


def test_params_from_gives_path_parameters_back_checked_against_their_digest(user_module, tmp_path, capsys):
    m = user_module(SOURCE)
    store = fp.LocalStore(tmp_path / "elsewhere")
    failed, folder = _failed_run(m, tmp_path, store)
    argo = json.loads((failed.path / "manifest.json").read_text())["spec"]["arguments"]["artifacts"]
    keys = {a["name"]: a["s3"]["key"] for a in argo}
    key = keys["data"]
    stored = store.path(key)
    kept = stored.read_bytes()
    argv = ["run", f"{m.__file__}:pipeline", "--run-dir", str(RUNS), "--params-from", failed.id, "--resume",
            failed.id]

    _refused_when_changed_or_gone(argv, stored, "data", key, "-p data=PATH", capsys)
    assert (folder / "log").read_text().split() == ["measure", "finish"]  # nothing ran

    other = tmp_path / "other.txt"
    other.write_text("four")
    assert main(argv + ["-p", f"data={other}"]) == 0  # -p wins: the gone file is not needed
    assert json.loads(capsys.readouterr().out) == (4 + 3) * 10
    stored.write_bytes(kept)
    tarball = store.path(keys["notes"])  # the folder, stored as a tar.gz: replaced by another folder's
    notes_kept = tarball.read_bytes()
    forged = tmp_path / "forged"
    forged.mkdir()
    (forged / "a").write_text("not a")
    tarball.write_bytes(_packed(tmp_path, forged))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "parameter 'notes'" in err and keys["notes"] in err and "does not hash to" in err, err
    tarball.write_bytes(notes_kept)
    assert main(argv) == 0  # the same file and folder: the same manifest, so measure is reused
    assert json.loads(capsys.readouterr().out) == (12 + 3) * 10
    assert (folder / "log").read_text().split() == ["measure", "finish", "measure", "finish", "finish"]


FILES = '''
from pathlib import Path

import flowpack as fp


def _log(folder, what):
    with open(Path(folder, "log"), "a") as f:
        f.write(what + "\\n")


@fp.op
def size(p: Path, folder: str) -> int:
    _log(folder, "size")
    return len(p.read_text()) if p.is_file() else len(list(p.iterdir()))


@fp.op
def total(sizes: list[int], counts: list[int], folder: str) -> list:
    _log(folder, "total")
    if Path(folder, "fail").exists():
        raise SystemExit("told to fail")
    return sizes + counts


@fp.workflow
def sizes(pages: list[Path], dirs: list[Path], folder: str) -> list:
    return total(size.map(p=pages, folder=folder), size.map(p=dirs, folder=folder), folder)
'''


def test_params_from_gives_a_list_of_files_back_from_the_store(user_module, tmp_path, capsys):
    m = user_module(FILES)
    store = fp.LocalStore(tmp_path / "elsewhere")
    folder = _failing(tmp_path)
    a, b, d = tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "d"
    a.write_text("aa")
    b.write_text("bbbb")
    d.mkdir()
    for name in ("x", "y", "z"):
        (d / name).write_text(name)
    with pytest.raises(fp.StepFailed, match="told to fail") as info:
        m.sizes.run(run_dir=RUNS, store=store, pages=[b, a], dirs=[d], folder=str(folder))
    failed = info.value.run
    for path in (a, b, *d.iterdir(), d):  # only the store keeps them now
        path.unlink() if path.is_file() else path.rmdir()
    (folder / "fail").unlink()
    assert sorted((folder / "log").read_text().split()) == ["size", "size", "size", "total"]
    key_b = "flowpack/inputs/" + hashlib.sha256(b"bbbb").hexdigest()
    stored = store.path(key_b)
    argv = ["run", f"{m.__file__}:sizes", "--run-dir", str(RUNS), "--params-from", failed.id, "--resume",
            failed.id]

    _refused_when_changed_or_gone(argv, stored, "pages", key_b, "-p pages=", capsys)
    assert sorted((folder / "log").read_text().split()) == ["size", "size", "size", "total"]  # nothing ran
    stored.write_bytes(b"bbbb")

    record = _resumed(failed)  # the viewer's resume: the files and the folder, in their order, from the store
    logs = "\n".join(p.read_text() for p in failed.path.glob("resume-*.log"))
    assert record["phase"] == "Succeeded", logs
    assert json.loads(record["outputs"]["parameters"]["return"]) == [4, 2, 3]
    assert sorted((folder / "log").read_text().split()) == ["size", "size", "size", "total", "total"]  # maps reused


def test_params_from_names_a_list_of_files_a_run_did_not_record(user_module, tmp_path, capsys):
    m = user_module(FILES)
    folder = tmp_path / "side"
    folder.mkdir()
    (tmp_path / "a.txt").write_text("aa")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x").write_text("x")
    run = m.sizes.run(run_dir=RUNS, pages=[tmp_path / "a.txt"], dirs=[tmp_path / "d"], folder=str(folder))
    manifest = json.loads((run.path / "manifest.json").read_text())
    del manifest["metadata"]["annotations"][GIVEN_FILES]  # as a run started before they were recorded
    (run.path / "manifest.json").write_text(json.dumps(manifest))
    argv = ["run", f"{m.__file__}:sizes", "--run-dir", str(RUNS), "--params-from", run.id]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "no files for parameter 'pages'" in err and "list[Path]" in err and "-p pages=" in err, err
    given = ["-p", f'pages=["{tmp_path / "a.txt"}"]', "-p", f'dirs=["{tmp_path / "d"}"]']
    assert main(argv + given) == 0  # given with -p: runs
    assert json.loads(capsys.readouterr().out) == [2, 1]


def test_recorded_store_opens_what_a_store_describes(tmp_path, monkeypatch, s3_server, s3_store):  # noqa: F811
    local = fp.LocalStore(tmp_path / "st")
    ref = local.put_content(_file(tmp_path, b"local bytes"))
    assert recorded_store(json.loads(json.dumps(local.describe()))).load_bytes(ref) == b"local bytes"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    remote = s3_server.store(s3_store.bucket, prefix="p")
    ref = remote.put_content(_file(tmp_path, b"s3 bytes"))
    described = json.loads(json.dumps(remote.describe()))
    assert not set(json.dumps(described).split('"')) & {s3_server.access_key, s3_server.secret_key}
    assert recorded_store(described).load_bytes(ref) == b"s3 bytes"  # credentials from the environment
    with pytest.raises(fp.StoreError, match="records a gcs store"):
        recorded_store({"type": "gcs", "bucket": "x"})


def _packed(tmp_path: Path, folder: Path) -> bytes:
    """The tar.gz a store keeps for `folder`."""
    scratch = fp.LocalStore(tmp_path / "scratch")
    scratch.put(folder, "packed")
    return scratch.path("packed").read_bytes()


def _file(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / f"f{os.urandom(4).hex()}"
    path.write_bytes(data)
    return path
