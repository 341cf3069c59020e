"""A step that succeeded only on a retry is reused when its run resumes, like any succeeded step: it must not run
again (its outputs are in the store, and running it twice may not be harmless)."""

from __future__ import annotations

import pytest

import flowpack as fp

MODULE = '''
from pathlib import Path

import flowpack as fp


@fp.op(retries=fp.Retry(2, on="failure"))
def flaky(n: int, folder: str) -> int:
    log = Path(folder) / "flaky"
    tries = len(log.read_text()) if log.exists() else 0
    log.write_text("x" * (tries + 1))
    if tries == 0:
        raise RuntimeError("first try fails")
    return n * 10


@fp.op
def later(x: int, folder: str) -> int:
    if (Path(folder) / "fail").exists():
        raise RuntimeError("told to fail")
    return x + 1


@fp.workflow
def retried(n: int, folder: str) -> int:
    return later(flaky(n, folder), folder)
'''


def test_a_step_that_succeeded_on_a_retry_is_reused_on_resume(user_module, tmp_path):
    m = user_module(MODULE, "retriedmod")
    folder = tmp_path / "side"
    folder.mkdir()
    (folder / "fail").write_text("")
    with pytest.raises(fp.StepFailed, match="told to fail") as info:
        m.retried.run(run_dir=tmp_path / "runs", n=4, folder=str(folder)).result()
    failed = info.value.run
    assert (folder / "flaky").read_text() == "xx"  # failed once, succeeded on the retry
    assert failed.steps["flaky"]["phase"] == "Succeeded" and failed.steps["flaky"]["attempts"] == 2

    (folder / "fail").unlink()
    run = m.retried.run(run_dir=tmp_path / "runs", resume=failed.id, n=4, folder=str(folder))
    assert run.result() == 41
    assert (folder / "flaky").read_text() == "xx"  # not run a third time
    assert "reused from run " + failed.id in run.steps["flaky"]["message"]
