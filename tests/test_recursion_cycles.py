"""Workflows that call each other in a circle (`ping` calls `pong`, which calls `ping`) build only when the circle can
stop: one of its calls under a condition. An unconditional circle is refused at build time, naming each call (it
used to build, and the local engine then nested steps/pong/ping/pong/... until stopped); a guarded one runs the same
on the local engine and on Argo's controller."""

from __future__ import annotations

import pytest

import flowpack as fp
from both_engines import run_both

CIRCLE = '''
import flowpack as fp


@fp.op
def dec(n: int) -> int:
    return n - 1


@fp.workflow
def ping(n: int) -> int:
    m = dec(n)
    pong(m)GUARD
    return m


@fp.workflow
def pong(n: int) -> int:
    m = dec(n)
    ping(m)
    return m


@fp.workflow
def three(n: int) -> int:
    return first(n)


@fp.workflow
def first(n: int) -> int:
    return second(dec(n))


@fp.workflow
def second(n: int) -> int:
    return third(dec(n))


@fp.workflow
def third(n: int) -> int:
    return first(dec(n))
'''


def test_an_unconditional_circle_of_workflows_is_refused_naming_each_call(user_module):
    m = user_module(CIRCLE.replace("GUARD", ""), "circle_open")
    with pytest.raises(fp.WorkflowBuildError) as info:
        m.ping.build(n=3)
    text = str(info.value)
    assert "calls itself through other workflows unconditionally" in text
    assert "pong calls ping (task 'ping')" in text and "ping calls pong (task 'pong')" in text
    assert ".when(condition)" in text
    with pytest.raises(fp.WorkflowBuildError, match=r"first calls second .* second calls third .* third calls "
                                                     r"first \(task 'first'\)"):
        m.three.build(n=3)


def test_a_circle_guarded_once_runs_the_same_locally_and_on_argo(user_module, tmp_path):
    m = user_module(CIRCLE.replace("GUARD", ".when(m > 0)"), "circle_guarded")
    both = run_both(m.ping, {"n": 3}, tmp_path)
    assert both.local.result() == 2
    ran = sorted(s["name"] for s in both.local.steps.values() if s["phase"] == "Succeeded")
    assert ran.count("dec") == 3  # ping(3) -> pong(2) -> ping(1): pong(0) is skipped
