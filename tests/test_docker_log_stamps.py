"""Issue 17.4, log timestamps on the Docker engine (real daemon): each line of a step's log carries the time the
daemon received it (Docker's log API with timestamps), kept in the stamps beside the log as the local engine keeps
its own; the log itself holds exactly what the step wrote, stdout and stderr apart. `run.logs()` and the viewer's
log API give those times."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixtures_docker import docker_client  # noqa: E402,F401  (pytest fixture)
from flowpack._engine.docker import DockerEngine  # noqa: E402
from flowpack._view import _steps  # noqa: E402

SOURCE = '''
import sys, time
import flowpack as fp


@fp.op
def slow() -> int:
    print("first", repr(time.time()), flush=True)
    time.sleep(1)
    print("second", repr(time.time()), flush=True)
    print("long", repr(time.time()), "x" * 40000, flush=True)  # longer than a 16 KiB message of the daemon
    sys.stderr.write("no newline at the end")
    return 7


@fp.workflow
def stamped() -> int:
    return slow()
'''


def test_each_docker_log_line_carries_the_time_the_daemon_received_it(tmp_path, user_module, docker_client):
    run = user_module(SOURCE).stamped.run(engine=DockerEngine(run_dir=tmp_path / "runs", client=docker_client))
    assert run.result() == 7
    step = json.loads((run.path / "steps" / "slow" / "step.json").read_text())
    lines = {line.content.split(" ")[0]: line for line in run.logs("slow")}
    first, second, long, last = lines["first"], lines["second"], lines["long"], lines["no"]
    wrote = {name: float(lines[name].content.split(" ")[1]) for name in ("first", "second", "long")}
    # the container shares the host's clock: a line is received once it is written (never before), the first
    # before the second was written a second later (not when the engine read the log after the container ended),
    # and every time lies within the step's start and end
    assert wrote["first"] <= first.time < wrote["second"] <= second.time <= long.time and wrote["long"] <= long.time
    assert second.time - first.time > 0.5
    assert step["startedAt"] <= first.time and long.time <= step["finishedAt"]
    assert last.content == "no newline at the end" and last.time is None  # a line never ended has no stamp
    folder = run.path / "steps" / "slow"
    stderr = (folder / "stderr").read_text()
    assert stderr == "".join(lines[n].content + "\n" for n in ("first", "second", "long")) + last.content
    assert long.content.endswith(" " + "x" * 40000)  # the daemon's pieces of a long line joined, one time for it
    assert len((folder / "stderr.times").read_text().splitlines()) == 3  # one stamp per line that ended
    result = [line for line in run.logs("slow") if line.content == "7"]
    assert len(result) == 1 and step["startedAt"] <= result[0].time <= step["finishedAt"]  # stdout stamped apart
    assert (folder / "stdout").read_text().endswith("7\n") and "7" not in stderr.splitlines()
    chunk = _steps.log_chunk(tmp_path / "runs", run.id, "slow", "stderr", 0)  # what the viewer shows
    assert chunk["times"] == [first.time, second.time, long.time]
