"""`flowpack logs NAME [--timestamps]`: a run's step logs on the command line, a local or Docker run (by its id in
--run-dir) or an Argo workflow (through the Argo Server, here the test double with Argo's own controller behind it).
With --timestamps each line carries its time as `argo logs --timestamps` prints a pod's line, `step: TIME content`,
TIME in RFC 3339 (UTC) as kubectl writes it: when the step wrote the line (local engine), the Docker daemon or
Kubernetes received it."""

from __future__ import annotations

import re
import time
from datetime import datetime

import pytest

from argo_double import argo, argo_server, argo_store, use_argo_double  # noqa: F401  (pytest fixtures)
from fixtures_docker import docker_client  # noqa: F401  (a pytest fixture)
from fixtures_s3 import s3_server, s3_store  # noqa: F401  (pytest fixtures)
from flowpack._argo import submit
from flowpack._cli import main
from flowpack._engine.docker import DockerEngine

SOURCE = '''
import sys
import time
import flowpack as fp


@fp.op
def slow() -> int:
    print("first", repr(time.time()), flush=True)
    time.sleep(1)
    print("second", repr(time.time()), flush=True)
    return 7


@fp.op
def other(n: int) -> int:
    print("other line", flush=True)
    sys.stderr.write("unended")  # a last line without its newline: no time kept for it locally or on Docker
    return n + 1


@fp.workflow
def stamped() -> int:
    return other(slow())
'''

STAMPED = re.compile(r"^(?P<step>[^:]+): (?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) (?P<content>.*)$")


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _printed(capsys, argv: list[str]) -> list[str]:
    assert main(argv) == 0
    return capsys.readouterr().out.splitlines()


def _check_stamped(plain: list[str], stamped: list[str], lines) -> None:
    """`stamped` is `plain` with each line's time after its step's name, the time run.logs() gives that line."""
    assert len(stamped) == len(plain) == len(lines)
    for without, with_time, line in zip(plain, stamped, lines):
        if line.time is None:  # a line that never ended, locally or on Docker: printed as it is
            assert with_time == without == f"{line.step}: {line.content}"
            continue
        found = STAMPED.match(with_time)
        assert found is not None, with_time
        assert f"{found['step']}: {found['content']}" == without == f"{line.step}: {line.content}"
        assert line.time is not None and abs(_epoch(found["time"]) - line.time) < 1e-6


def _check_times(stamped: list[str]) -> None:
    """The step's own clock readings: each line's time is when it was written (never before), a second apart."""
    found = {m["content"].split(" ")[0]: m for m in map(STAMPED.match, stamped) if m and m["step"] == "slow"}
    first, second = found["first"], found["second"]
    wrote_first, wrote_second = (float(m["content"].split(" ")[1]) for m in (first, second))
    assert wrote_first - 1e-6 <= _epoch(first["time"]) < wrote_second <= _epoch(second["time"]) + 1e-6


def test_a_local_runs_logs_with_and_without_timestamps(user_module, tmp_path, capsys):
    run_dir = tmp_path / "runs"
    run = user_module(SOURCE).stamped.run(run_dir=run_dir)
    assert run.result() == 8
    capsys.readouterr()
    plain = _printed(capsys, ["logs", run.id, "--run-dir", str(run_dir)])
    assert [line.split(" ")[:2] for line in plain] == [["slow:", "first"], ["slow:", "second"], ["slow:", "7"],
                                                      ["other:", "other"], ["other:", "unended"], ["other:", "8"]]
    assert not any(STAMPED.match(line) for line in plain)  # no time unless asked
    stamped = _printed(capsys, ["logs", run.id, "--run-dir", str(run_dir), "--timestamps"])
    assert stamped[4] == "other: unended"  # no time was kept for it
    _check_stamped(plain, stamped, list(run.logs()))
    _check_times(stamped)

    # --step and --grep choose the lines, as run.logs() does
    assert _printed(capsys, ["logs", run.id, "--run-dir", str(run_dir), "--step", "other"]) == [
        "other: other line", "other: unended", "other: 8"]
    only = _printed(capsys, ["logs", run.id, "--run-dir", str(run_dir), "--grep", "^second ", "--timestamps"])
    assert len(only) == 1 and only[0] == stamped[1]


def test_a_local_run_still_going_is_followed_to_its_end(user_module, tmp_path, capsys):
    run_dir = tmp_path / "runs"
    run = user_module(SOURCE).stamped.run(run_dir=run_dir, wait=False)
    deadline = time.monotonic() + 60
    while not (run_dir / run.id / "run.json").is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = _printed(capsys, ["logs", run.id, "--run-dir", str(run_dir), "--follow", "--timestamps"])
    assert run.wait().result() == 8
    assert [line.split(" ")[1 if STAMPED.match(line) is None else 2] for line in lines] == [
        "first", "second", "7", "other", "unended", "8"]


def test_a_docker_runs_logs_with_timestamps(user_module, tmp_path, capsys, docker_client):
    run_dir = tmp_path / "runs"
    run = user_module(SOURCE).stamped.run(engine=DockerEngine(run_dir=run_dir, client=docker_client))
    assert run.result() == 8
    capsys.readouterr()
    plain = _printed(capsys, ["logs", run.id, "--run-dir", str(run_dir)])
    stamped = _printed(capsys, ["logs", run.id, "--run-dir", str(run_dir), "--timestamps"])
    _check_stamped(plain, stamped, list(run.logs()))  # the daemon's times, kept beside the log
    _check_times(stamped)


@pytest.fixture
def cli_env(monkeypatch, argo_server, tmp_path):
    monkeypatch.chdir(tmp_path)  # submit records go under ./.flowpack
    use_argo_double(monkeypatch, argo_server, tmp_path / "none.toml")


def test_an_argo_workflows_logs_with_timestamps(user_module, tmp_path, capsys, cli_env, argo, argo_store):
    run = submit(user_module(SOURCE).stamped, argo=argo, store=argo_store, run_dir=tmp_path / ".flowpack" / "runs")
    assert run.wait(timeout=120, progress=False, interval=0.1).result() == 8
    capsys.readouterr()
    plain = _printed(capsys, ["logs", run.name])
    assert sorted(plain) == sorted(str(line) for line in run.logs())
    assert not any(STAMPED.match(line) for line in plain)
    stamped = _printed(capsys, ["logs", run.name, "--timestamps"])
    # the time Kubernetes received each line (the kubelet's, from the Argo Server's log stream), to the microsecond
    _check_stamped(plain, stamped, list(run.logs()))
    _check_times(stamped)
    assert _printed(capsys, ["logs", run.name, "--step", "other", "--timestamps"]) == [
        line for line in stamped if line.startswith("other: ")]
