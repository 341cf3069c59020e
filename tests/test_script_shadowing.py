"""A step script's own folder is not on its module path (issue 12.1): locally every op's script lies in one folder,
named after its op, so `python scripts/json.py` would import itself for the runner's `import json`, and an op's
`import statistics` would import the script of an op named `statistics`. In a pod the script is alone; locally the
runner takes its folder off sys.path before anything is imported. Spawned steps (no fork server, whose children
inherit its imported modules) show it."""

from __future__ import annotations

import pytest

SOURCE = '''
import flowpack as fp


@fp.op
def statistics(xs: list) -> float:
    return float(len(xs))


@fp.op
def json(n: int) -> list:
    return [n, n + 1]


@fp.op
def mean_of(xs: list) -> float:
    import statistics as stats  # the standard library's, never the op's script beside this one

    return stats.mean(xs)


@fp.workflow
def pipeline(n: int = 2):
    xs = json(n)
    return statistics(xs), mean_of(xs)
'''


@pytest.mark.parametrize("forkserver", ["0", "1"])
def test_ops_named_like_modules_neither_break_the_runner_nor_shadow_imports(user_module, tmp_path, monkeypatch,
                                                                             forkserver):
    monkeypatch.setenv("FLOWPACK_FORKSERVER", forkserver)
    run = user_module(SOURCE).pipeline.run(run_dir=tmp_path / "runs")
    assert run.result() == (2.0, 2.5)
