"""Shared helpers for the benchmark workers: timing with the machine load, medians with spread, JSON results.

Workers print exactly one line starting with RESULT_PREFIX followed by JSON; the runner reads that line.
No third-party imports here: this module is loaded by the main interpreter and by the peers' venv interpreter.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from typing import Callable

RESULT_PREFIX = "BENCH-RESULT "

# The DAG shape every tool builds (issue 8): a chain of "hub" tasks, each hub feeding the next hub and four
# leaves, so the graph is a chain mixed with fan-out. Task i takes its input from its hub's output.
SHAPE_DOC = ("a chain of hub tasks, each hub feeding the next hub and 4 leaf tasks (a chain mixed with 5-way fan-out); "
             "one decorated function `inc(x: int) -> int` called N times, each call taking its hub's output")


IMPORTS = {  # what a user imports to write a workflow with each tool
    "flowpack": "import flowpack",
    "hera": "import hera.workflows",
    "dflow": "import dflow, dflow.python",
    "kfp": "import kfp.dsl, kfp.compiler",
}


def shape_parents(n: int) -> list[int]:
    """Parent index of each of the n tasks (-1 for the first): hub k feeds hub k+1 and four leaves."""
    parents = [-1]
    hub = 0
    while len(parents) < n:
        nxt = len(parents)
        parents.append(hub)
        for _ in range(4):
            if len(parents) >= n:
                break
            parents.append(hub)
        hub = nxt
    return parents


def load() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded."""
    return [round(x, 2) for x in os.getloadavg()]


def timed_runs(fn: Callable[[], object], runs: int, warmup: int = 1) -> dict:
    """Call fn warmup + runs times; return the timings of the measured runs with the load before and after."""
    for _ in range(warmup):
        fn()
    load_before = load()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return summary(times, load_before=load_before, load_after=load())


def summary(times: list[float], **extra) -> dict:
    """Median, min, max and all the runs (seconds) of a list of timings."""
    return {"median": statistics.median(times), "min": min(times), "max": max(times), "runs": times,
            "n": len(times), **extra}


def emit(result: dict) -> None:
    """Print the worker's result line for the runner."""
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def error_result(exc: BaseException) -> dict:
    """A result recording a failure, with the error's type and message (never dropped)."""
    text = f"{type(exc).__name__}: {exc}"
    return {"error": text[:2000]}
