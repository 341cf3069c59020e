"""Step folders made ahead of their steps (_engine/_ahead): a step whose folder was made ahead has exactly the
folders and files of a step whose folder was made in place, and nothing of the helper stays in the run folder."""

from __future__ import annotations

import time
from pathlib import Path

from flowpack._engine._ahead import Ahead
from helpers import run_checked

CHAIN = '''
import flowpack as fp


@fp.op
def inc(x: int) -> int:
    print("line")
    return x + 1


@fp.workflow
def chain(start: int = 0):
    return inc(inc(inc(inc(start))))
'''


def _tree(folder: Path) -> list[str]:
    """Every folder and file below `folder` (relative; folders end with /), without the step's record."""
    found = []
    for path in sorted(folder.rglob("*")):
        name = str(path.relative_to(folder)) + ("/" if path.is_dir() else "")
        if name != "step.json":
            found.append(name)
    return found


def test_each_step_of_a_chain_has_the_folders_of_the_first(user_module, tmp_path):
    # the first step's folder is made in place (nothing was made ahead yet); the others' were made ahead
    m = user_module(CHAIN)
    run = run_checked(m.chain, tmp_path)
    assert run.result() == 4
    run_dir = next((tmp_path / "runs").iterdir())
    steps = sorted(p for p in (run_dir / "steps").iterdir())
    assert len(steps) == 4
    first = _tree(steps[0])
    assert "work/" in first and "root/" in first and "stdout" in first and "stderr" in first
    assert all(_tree(step) == first for step in steps[1:])
    assert not (run_dir / ".ahead").exists()


def test_a_folder_made_ahead_is_taken_by_the_next_step_of_its_layout(tmp_path):
    ahead = Ahead(tmp_path, keep=1, files=("stdout",))
    layout = ("work", "root", "root/tmp", "root/tmp/a")
    assert not ahead.take(layout, tmp_path / "one", True)  # nothing made yet: the caller makes its own
    end = time.monotonic() + 10
    while not ahead.take(layout, tmp_path / "two", True):
        assert time.monotonic() < end, "no folder was made ahead"
        time.sleep(0.01)
    assert _tree(tmp_path / "two") == ["root/", "root/tmp/", "root/tmp/a/", "stdout", "work/"]
    assert (tmp_path / "two" / "stdout").stat().st_size == 0
    (tmp_path / "three").mkdir()
    (tmp_path / "three" / "kept").write_text("a step's own file")
    deadline = time.monotonic() + 10
    while not ahead._ready.get(layout) and time.monotonic() < deadline:  # the next one is ready
        time.sleep(0.01)
    assert not ahead.take(layout, tmp_path / "three", True)  # never over a folder that holds something
    assert (tmp_path / "three" / "kept").read_text() == "a step's own file"
    ahead.end()
    assert not (tmp_path / ".ahead").exists()
    assert not ahead.take(layout, tmp_path / "four", True) and not (tmp_path / ".ahead").exists()  # none made after end
