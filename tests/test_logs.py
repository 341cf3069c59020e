"""`run.logs()` / `run.logs(step)` on local runs (issue 16 item 10): the lines each step printed, as ArgoRun.logs
gives them (LogLine: step, pod, content)."""

from __future__ import annotations

import pytest

import flowpack as fp

OPS = '''
import sys

import flowpack as fp


@fp.op
def first(n: int) -> int:
    print("first starts with", n)
    print("to stderr too", file=sys.stderr)
    return n + 1


@fp.op
def square(x: int) -> int:
    print(f"squaring {x}")
    return x * x


@fp.op
def broken(x: int) -> int:
    print("about to fail")
    raise ValueError("no luck")


@fp.workflow
def chain(n: int = 2):
    return square.map(x=[3, 5]).after(first(n, name="start"))


@fp.workflow
def fails():
    return broken(1)
'''


def test_logs_of_every_step_in_the_order_they_started(user_module, tmp_path):
    m = user_module(OPS)
    run = m.chain.run(run_dir=tmp_path / "runs")
    lines = list(run.logs())
    assert all(isinstance(line, fp.LogLine) and line.pod == "" for line in lines)
    start = [line.content for line in lines if line.step == "start"]
    assert start == ["first starts with 2", "to stderr too", "3"]  # prints (stderr), then the short result (stdout)
    assert [line[:3] for line in lines[: len(start)]] == [("start", "", c) for c in start]  # it started first
    assert all(line.time is not None for line in lines)  # each stamped with when the step wrote it
    items = {line.step: line.content for line in lines if line.content.startswith("squaring")}
    assert sorted(items.values()) == ["squaring 3", "squaring 5"] and len(items) == 2
    assert str(lines[0]) == "start: first starts with 2"


def test_logs_of_one_step_by_name_or_path_and_grep(user_module, tmp_path):
    m = user_module(OPS)
    run = m.chain.run(run_dir=tmp_path / "runs")
    [item] = [n for n, s in run.steps.items() if s["name"] == "square(1)"]
    assert [line.content for line in run.logs("square(1)")] == ["squaring 5", "25"]
    assert list(run.logs(item)) == list(run.logs("square(1)"))
    assert sorted(line.content for line in run.logs(grep=r"^squaring \d$")) == ["squaring 3", "squaring 5"]
    with pytest.raises(fp.UsageError, match="no step 'nope'"):
        list(run.logs("nope"))
    with pytest.raises(fp.UsageError, match="one container, 'main'"):
        list(run.logs(container="wait"))
    with pytest.raises(fp.UsageError, match="not a regular expression"):
        list(run.logs(grep="("))


def test_logs_of_a_failed_step_hold_its_traceback(user_module, tmp_path):
    m = user_module(OPS)
    with pytest.raises(fp.RunError) as info:
        m.fails.run(run_dir=tmp_path / "runs")
    text = "\n".join(line.content for line in info.value.run.logs("broken"))
    assert "about to fail" in text and "ValueError: no luck" in text


def test_follow_reads_a_running_run_to_its_end(user_module, tmp_path):
    m = user_module(OPS)
    run = m.chain.run(run_dir=tmp_path / "runs", wait=False)
    followed = [line.content for line in run.logs(follow=True)]
    assert run.done
    assert sorted(followed) == sorted(line.content for line in run.logs())
    assert "first starts with 2" in followed and "squaring 3" in followed
