"""Issue 17.4, log timestamps: the local engine stamps each line of a step's log as the step writes it (in a file
beside the log, the log itself untouched); `run.logs()` and the viewer's log API give those times, so a line shows
when the step wrote it, not when it was read."""

from __future__ import annotations

from pathlib import Path

import flowpack as fp
from flowpack._view import _steps

SOURCE = '''
import os, sys, time
from pathlib import Path
import flowpack as fp


@fp.op
def slow() -> int:
    print("first", repr(time.time()), flush=True)
    times = Path(os.environ["FLOWPACK_ROOT"]).parent / "stderr.times"
    for _ in range(6000):  # on until the engine has stamped the first line: no race with its stamping
        if times.exists() and times.read_text().strip():
            break
        time.sleep(0.01)
    print("second", repr(time.time()), flush=True)
    sys.stderr.write("no newline at the end")
    return 1


@fp.workflow
def stamped() -> int:
    return slow()
'''


def test_each_line_carries_the_time_the_step_wrote_it(tmp_path, user_module):
    run = user_module(SOURCE).stamped.run(run_dir=tmp_path / "runs")
    lines = [line for line in run.logs("slow") if line.content.split(" ")[0] in ("first", "second", "no")]
    first, second, last = lines
    wrote_first, wrote_second = float(first.content.split()[1]), float(second.content.split()[1])
    # a stamp is taken once the line is there (never before), and the first was stamped before the second was written
    assert wrote_first <= first.time + 0.001 and first.time <= wrote_second <= second.time + 0.001
    assert last.content == "no newline at the end" and last.time is None  # a line never ended has no stamp
    assert str(first) == "slow: " + first.content  # plain logs read as before
    log = (run.path / "steps" / "slow" / "stderr").read_text()
    assert log.startswith(first.content + "\n" + second.content + "\n")  # the log itself is what the step wrote


def test_the_viewer_log_api_gives_each_lines_time(tmp_path, user_module):
    run = user_module(SOURCE).stamped.run(run_dir=tmp_path / "runs")
    whole = _steps.log_chunk(tmp_path / "runs", run.id, "slow", "stderr", 0)
    texts = whole["text"].split("\n")
    assert len(whole["times"]) == len(texts) - 1  # one per newline
    by_line = {text.split(" ")[0]: t for text, t in zip(texts, whole["times"])}
    stamps = {line.content.split(" ")[0]: line.time for line in run.logs("slow")}
    assert by_line["first"] == stamps["first"] and by_line["second"] == stamps["second"]
    later = _steps.log_chunk(tmp_path / "runs", run.id, "slow", "stderr", len(texts[0].encode()) + 1)  # from line 2
    assert later["times"][0] == stamps["second"]
    assert (Path(run.path) / "steps" / "slow" / "stderr.times").is_file()  # beside the log, not in it
