"""Issue 17.2, the culprit: a failed run names the cause and the workflow line, never the step allowed to fail; a
step's traceback shows the user's file and line (CLI and StepFailed); the step table shows the exception's last line;
a workflow returning or passing on a value that may not exist is warned about at build time."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

import flowpack as fp
from flowpack import _view

DEEP = '''\
import flowpack as fp


def check(n):
    if n < 0:
        raise ValueError("n must be positive")
    return n


@fp.op
def square(n: int) -> int:
    return check(n) * n


@fp.op
def add(a: int, b: int) -> int:
    return a + b


@fp.workflow
def deep(n: int = -2) -> int:
    a = add(1, 2)
    b = add(a, 3)
    c = square(n)
    return add(b, c)
'''

ALLOWED = '''\
import flowpack as fp


@fp.op
def flaky(n: int) -> int:
    raise RuntimeError("flaky broke")


@fp.op
def add_one(n: int) -> int:
    return n + 1


@fp.op
def fallback(n: int = -1) -> int:
    return n


@fp.workflow
def uses_allowed(n: int = 1) -> int:
    x = flaky(n).allow_failure()
    total = add_one(x)
    return total


@fp.workflow
def defaults(n: int = 1) -> int:
    return fallback(flaky(n).allow_failure())
'''


def _line_of(source: str, text: str) -> int:
    return next(i for i, line in enumerate(source.splitlines(), 1) if text in line)


def test_a_failing_op_deep_in_a_workflow_points_at_the_users_line_in_python(tmp_path, user_module):
    m = user_module(DEEP, "deepflow")
    with pytest.raises(fp.StepFailed) as info:
        m.deep.run(run_dir=tmp_path / "runs").result()
    text = str(info.value)
    raise_line, call_line = _line_of(DEEP, 'raise ValueError'), _line_of(DEEP, "return check(n) * n")
    assert f'deepflow.py", line {raise_line}, in check' in text
    assert f'deepflow.py", line {call_line}, in square' in text
    assert f"deepflow.py:{_line_of(DEEP, 'c = square(n)')}: c = square(n)" in text  # the workflow line calling it
    assert "_fp_main" not in text and "_fp_runner" not in text and "failed(exc)" not in text  # no runner frames
    assert "ValueError: n must be positive (exit code 1)" in text


def test_the_cli_shows_the_users_file_and_line_of_the_raise(tmp_path):
    (tmp_path / "deepflow.py").write_text(DEEP)
    done = subprocess.run([sys.executable, "-m", "flowpack", "run", "deepflow.py:deep", "--run-dir", "runs"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert f'File "deepflow.py", line {_line_of(DEEP, "raise ValueError")}, in check' in done.stderr
    assert "square Failed" in done.stderr and "ValueError: n must be positive" in done.stderr
    assert "/scripts/" not in done.stderr and "_fp_main" not in done.stderr


def test_the_step_table_shows_the_exceptions_last_line(tmp_path, user_module):
    m = user_module(DEEP, "deepflow2")
    with pytest.raises(fp.StepFailed) as info:
        m.deep.run(run_dir=tmp_path / "runs")
    run = info.value.run
    assert run.steps["square"]["message"] == "ValueError: n must be positive"
    html = _view.run_html(run)
    assert "ValueError: n must be positive" in html and "exit code 1" not in html


def test_an_unresolved_output_from_an_allowed_failure_names_the_consuming_line(tmp_path, user_module):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fp.SkippableValueWarning)
        m = user_module(ALLOWED, "allowedflow")
        with pytest.raises(fp.RunError) as info:
            m.uses_allowed.run(run_dir=tmp_path / "runs").result()
    err = info.value
    text = str(err)
    assert not isinstance(err, fp.StepFailed)  # no step failed that was not allowed to
    assert text.startswith(f"run {err.run.id} Error: output 'return'")
    assert "comes from step add-one, which ended Omitted (flaky Failed: RuntimeError: flaky broke)" in text
    used = next(line for line in text.splitlines() if line.startswith("  used at "))
    assert used.endswith(f"allowedflow.py:{_line_of(ALLOWED, 'total = add_one(x)')}: total = add_one(x)")
    assert "step flaky failed" not in text and "Traceback" not in text  # the allowed failure is not blamed


def test_the_warning_fires_at_build_time_at_the_users_line(user_module):
    m = user_module(ALLOWED, "allowedflow2")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        manifest = m.uses_allowed.build().manifest
    found = [w for w in caught if issubclass(w.category, fp.SkippableValueWarning)]
    assert len(found) == 2
    passes, returns = (str(w.message) for w in found)
    assert "total = add_one(x) passes on the output of step 'flaky', which is allowed to fail" in passes
    assert "returns as the return value the output of step 'add-one'" in returns and "runs only if flaky" in returns
    assert {Path(w.filename).name for w in found} == {"allowedflow2.py"}
    assert {w.lineno for w in found} == {_line_of(ALLOWED, "total = add_one(x)")}
    assert "total = add_one(x)" in manifest["metadata"]["annotations"]["flowpack.io/call-sites"]
    with warnings.catch_warnings(record=True) as caught:  # an input with a default falls back: nothing to say
        warnings.simplefilter("always")
        m.defaults.build()
    assert not [w for w in caught if issubclass(w.category, fp.SkippableValueWarning)]


def test_a_step_under_when_returned_is_warned_about(user_module):
    m = user_module(textwrap.dedent('''
        import flowpack as fp


        @fp.op
        def inc(n: int) -> int:
            return n + 1


        @fp.workflow
        def cond(n: int = 1) -> int:
            return inc(n).when(n > 3)
        '''), "condflow")
    with pytest.warns(fp.SkippableValueWarning, match=r"output of step 'inc'.*runs only when"):
        m.cond.build()


LOOPED = '''\
import flowpack as fp


@fp.op
def inc(n: int) -> int:
    return n + 1


@fp.workflow
def looped(n: int = 0) -> int:
    x = inc(n)
    for _ in range(COUNT):
        x = inc(x)
    return inc(x)
'''


def test_call_sites_name_every_task_and_a_loop_costs_one_range(user_module):
    from flowpack._callsite import CALL_SITES, lines_of

    sizes = {}
    for count in (30, 300):
        m = user_module(LOOPED.replace("COUNT", str(count)), f"looped{count}")
        manifest = m.looped.build().manifest
        lines = lines_of(manifest)
        tasks = [t["name"] for t in manifest["spec"]["templates"][0]["dag"]["tasks"]]
        assert sorted(lines) == sorted(tasks) and len(tasks) == count + 2  # every task has its line, none more
        body = _line_of(LOOPED, "x = inc(x)")
        assert lines["inc"].endswith(f":{body - 2}: x = inc(n)")
        assert {lines[f"inc-{k}"] for k in range(2, count + 2)} == {lines["inc-2"]}
        assert lines["inc-2"].endswith(f":{body}: x = inc(x)")
        assert lines[f"inc-{count + 2}"].endswith(f":{body + 1}: return inc(x)")
        sizes[count] = len(manifest["metadata"]["annotations"][CALL_SITES])
    assert sizes[300] - sizes[30] < 10  # one more digit in each range, not one entry per task


def test_manifests_written_with_one_line_per_task_still_read():
    from flowpack._callsite import lines_of

    written = '{"inc": "flow.py:3: x = inc(n)", "sub/inc": "s.py:9: y"}'
    old = {"metadata": {"annotations": {"flowpack.io/lines": written}}}
    assert lines_of(old) == {"inc": "flow.py:3: x = inc(n)", "sub/inc": "s.py:9: y"}
    assert lines_of({"metadata": {"annotations": {"flowpack.io/call-sites": "not json"}}}) == {}


def test_ranges_round_trip_names_that_only_look_numbered():
    from flowpack._callsite import _names, _ranges

    names = ["a", "a-2", "a-3", "a-5", "b-01", "b-1", "b-2", "sub/c-7", "sub/c-8", "x-1-2", "x-1-3", "z"]
    listed = " ".join(_ranges(names))
    assert listed == "a a-2..3 a-5 b-01 b-1..2 sub/c-7..8 x-1-2..3 z"
    assert _names(listed) == names
