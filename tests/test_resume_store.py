"""`pipeline.run(resume=ID)` in Python, like the command line's `--resume`, takes the store the resumed run recorded
when no `store=` is given: the steps it reuses keep their outputs there."""

from __future__ import annotations

import pytest

import flowpack as fp
from flowpack._errors import StoreError

MODULE = '''
from pathlib import Path

import flowpack as fp


@fp.op
def make(n: int, folder: str) -> Path:
    log = Path(folder) / "make"
    log.write_text(log.read_text() + "x" if log.exists() else "x")
    out = Path("made.txt")
    out.write_text(str(n) * 3)
    return out


@fp.op
def check(p: Path, folder: str) -> str:
    if (Path(folder) / "fail").exists():
        raise RuntimeError("told to fail")
    return p.read_text()


@fp.workflow
def stored(n: int, folder: str) -> str:
    return check(make(n, folder), folder)
'''


def test_a_resume_in_python_uses_the_store_its_run_recorded(user_module, tmp_path):
    m = user_module(MODULE, "resumestoremod")
    folder, runs = tmp_path / "side", tmp_path / "runs"
    folder.mkdir()
    (folder / "fail").write_text("")
    elsewhere = fp.LocalStore(tmp_path / "elsewhere")
    with pytest.raises(fp.StepFailed, match="told to fail") as info:
        m.stored.run(run_dir=runs, store=elsewhere, n=7, folder=str(folder)).result()
    failed = info.value.run
    (folder / "fail").unlink()

    run = m.stored.run(run_dir=runs, resume=failed.id, n=7, folder=str(folder))
    assert run.result() == "777"
    assert (folder / "make").read_text() == "x"  # reused from the recorded store, not made again
    assert run.record["store"] == failed.record["store"] == elsewhere.describe()

    again = m.stored.run(run_dir=runs, resume=run.id, store=fp.LocalStore(tmp_path / "fresh"), n=7,
                         folder=str(folder))
    assert again.result() == "777" and (folder / "make").read_text() == "xx"  # store= wins: nothing there to reuse


def test_a_resume_of_a_run_whose_store_cannot_be_opened_says_so(user_module, tmp_path):
    m = user_module(MODULE, "resumestoremod2")
    folder, runs = tmp_path / "side", tmp_path / "runs"
    folder.mkdir()
    run = m.stored.run(run_dir=runs, n=1, folder=str(folder))
    record = runs / run.id / "run.json"
    record.write_text(record.read_text().replace('"type": "local"', '"type": "ftp"'))
    with pytest.raises(StoreError, match=rf"resume='{run.id}': the run records a ftp store.*store="):
        m.stored.run(run_dir=runs, resume=run.id, n=1, folder=str(folder))
