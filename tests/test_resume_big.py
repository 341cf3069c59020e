"""Resuming a run whose parameters the record keeps in another form than the value given: a value over
fp.BIG_VALUE is recorded as its marker `fp-big:<bytes>:<sha256>` (its text is in the run's store), text Argo can't
carry as it is (`{{`, control characters) base64-encoded behind `fp-b64:`. The viewer's resume
(`flowpack run FILE.py:WF --resume RUN_ID --params-from RUN_ID`) gives the resumed run the values themselves, a big
one read back from the store and checked against its marker; the succeeded steps are reused. Real local runs."""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from pathlib import Path

import pytest

import flowpack as fp
from flowpack._cli import main
from flowpack._types import unmarked
from flowpack._view._control import resume_run

SOURCE = '''
import hashlib
from pathlib import Path

import flowpack as fp


def _log(folder, what):
    with open(Path(folder, "log"), "a") as f:
        f.write(what + "\\n")


@fp.op
def fingerprint(s: str, t: str, folder: str) -> str:
    _log(folder, "fingerprint")
    return hashlib.sha256((s + "|" + t).encode("utf-8")).hexdigest()


@fp.op
def finish(d: str, s: str, t: str, folder: str) -> dict:
    _log(folder, "finish")
    if Path(folder, "fail").exists():
        raise SystemExit("told to fail")
    return {"digest": d, "again": hashlib.sha256((s + "|" + t).encode("utf-8")).hexdigest(), "size": len(s),
            "t": t}


@fp.workflow
def big(s: str, t: str, folder: str) -> dict:
    return finish(fingerprint(s, t, folder), s, t, folder)
'''

BIG = "é{{x}}\x1b[1m" + "z" * 200_000  # over 128 KiB, and text Argo can't carry as it is
SMALL = "a {{b}} \x1b[0m"  # travels base64-encoded


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWPACK_CACHE_DIR", str(tmp_path / "cache"))  # where big values are kept for upload
    monkeypatch.chdir(tmp_path)  # the project's folder: runs in .flowpack/runs, as the viewer resumes them


RUNS = Path(".flowpack", "runs")


def _failed_run(m, tmp_path):
    folder = tmp_path / "side"
    folder.mkdir()
    (folder / "fail").write_text("")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fp.BigValueWarning)
        with pytest.raises(fp.StepFailed, match="told to fail") as info:
            m.big.run(run_dir=RUNS, s=BIG, t=SMALL, folder=str(folder))
    failed = info.value.run
    recorded = json.loads((failed.path / "run.json").read_text())["parameters"]
    assert recorded["s"].startswith("fp-big:") and recorded["t"].startswith("fp-b64:"), recorded  # not the values
    (folder / "fail").unlink()
    return failed, folder


def _expected() -> dict:
    digest = hashlib.sha256((BIG + "|" + SMALL).encode("utf-8")).hexdigest()
    return {"digest": digest, "again": digest, "size": len(BIG), "t": SMALL}


def test_the_viewers_resume_gives_the_resumed_run_the_values_themselves(user_module, tmp_path):
    m = user_module(SOURCE)
    failed, folder = _failed_run(m, tmp_path)
    said = resume_run(RUNS, failed.id)
    assert said.startswith(f"resuming run {failed.id}")
    deadline = time.monotonic() + 120
    new = None
    while time.monotonic() < deadline:
        found = [p for p in RUNS.iterdir() if p.name != failed.id and (p / "run.json").is_file()]
        record = json.loads((found[0] / "run.json").read_text()) if found else {}
        if record.get("phase") in ("Succeeded", "Failed", "Error", "Stopped"):
            new = found[0]
            break
        time.sleep(0.1)
    logs = "\n".join(p.read_text() for p in failed.path.glob("resume-*.log"))
    assert new is not None, f"no resumed run ended; its output:\n{logs}"
    record = json.loads((new / "run.json").read_text())
    assert record["phase"] == "Succeeded", logs
    assert record["resumedFrom"] == failed.id
    assert record["parameters"] == json.loads((failed.path / "run.json").read_text())["parameters"]
    assert unmarked(json.loads(record["outputs"]["parameters"]["return"])) == _expected()  # the output as Argo holds it
    assert (folder / "log").read_text().split() == ["fingerprint", "finish", "finish"]  # fingerprint was reused


@pytest.mark.filterwarnings("ignore::flowpack.BigValueWarning")  # the command line's own builds say it too
def test_params_from_reads_a_big_value_back_from_the_store_checked(user_module, tmp_path, capsys):
    m = user_module(SOURCE)
    failed, folder = _failed_run(m, tmp_path)
    target = f"{m.__file__}:big"
    argv = ["run", target, "--run-dir", str(RUNS), "--params-from", failed.id]
    marker = json.loads((failed.path / "run.json").read_text())["parameters"]["s"]
    stored = RUNS.parent / "store" / "flowpack" / "inputs" / marker.rsplit(":", 1)[1]  # the default store
    kept = stored.read_bytes()

    stored.write_bytes(kept[:-1] + bytes([kept[-1] ^ 1]))  # changed in the store: refused, never used
    assert main(argv + ["--resume", failed.id]) == 2
    err = capsys.readouterr().err
    assert "parameter 's' is a big value" in err and "hash" in err and ".run(resume=" in err, err
    stored.unlink()  # gone from the store: refused, naming the parameter and the fix
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "parameter 's' is a big value" in err and "flowpack/inputs/" in err and ".run(resume=" in err, err
    assert (folder / "log").read_text().split() == ["fingerprint", "finish"]  # nothing ran

    stored.write_bytes(kept)
    assert main(argv + ["--resume", failed.id]) == 0  # from the command line: the same values
    assert json.loads(capsys.readouterr().out) == _expected()
    assert main(argv + ["-p", "t=given"]) == 0  # -p wins over the recorded value
    assert json.loads(capsys.readouterr().out)["t"] == "given"


def test_params_from_names_what_it_cannot_read(user_module, tmp_path, capsys):
    m = user_module(SOURCE)
    assert main(["run", f"{m.__file__}:big", "--run-dir", str(RUNS), "--params-from", "nope"]) == 2
    assert "--params-from nope: no run record" in capsys.readouterr().err
