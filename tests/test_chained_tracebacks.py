"""Issue 17.2: a step's chained exceptions (`raise X from Y`, an exception raised while handling another) show as
Python shows them, oldest first with Python's words between them, every frame in the user's file and line, in
StepFailed and in the CLI; `raise ... from None` hides the context, as in Python."""

from __future__ import annotations

import subprocess
import sys

import pytest

import flowpack as fp

CHAINED = '''\
import flowpack as fp


def lookup(table, key):
    return table[key]


@fp.op
def explicit(key: str) -> int:
    try:
        return lookup({"a": 1}, key)
    except KeyError as exc:
        raise RuntimeError(f"no setting {key!r}") from exc


@fp.op
def implicit(key: str) -> int:
    try:
        return lookup({"a": 1}, key)
    except KeyError:
        return int(key)


@fp.op
def hidden(key: str) -> int:
    try:
        return lookup({"a": 1}, key)
    except KeyError:
        raise LookupError("hidden cause") from None


@fp.workflow
def run_explicit(key: str = "b") -> int:
    return explicit(key)


@fp.workflow
def run_implicit(key: str = "b") -> int:
    return implicit(key)


@fp.workflow
def run_hidden(key: str = "b") -> int:
    return hidden(key)
'''

CAUSE = "The above exception was the direct cause of the following exception:"
CONTEXT = "During handling of the above exception, another exception occurred:"


def _line(text: str) -> int:
    return next(i for i, line in enumerate(CHAINED.splitlines(), 1) if text in line)


def _failure(module, name: str, tmp_path) -> str:
    with pytest.raises(fp.StepFailed) as info:
        getattr(module, name).run(run_dir=tmp_path / "runs").result()
    return str(info.value)


def _in_order(text: str, *parts: str) -> bool:
    at = 0
    for part in parts:
        at = text.find(part, at)
        if at < 0:
            return False
        at += len(part)
    return True


def test_raise_from_shows_the_cause_first_then_pythons_words_then_the_exception(tmp_path, user_module):
    m = user_module(CHAINED, "chainflow")
    text = _failure(m, "run_explicit", tmp_path)
    assert _in_order(text, f'chainflow.py", line {_line("return table[key]")}, in lookup', "KeyError: 'b'", CAUSE,
                     f'chainflow.py", line {_line("raise RuntimeError")}, in explicit',
                     "RuntimeError: no setting 'b'"), text
    assert f'chainflow.py", line {_line("return lookup")}, in explicit' in text  # the cause's own frames
    assert "_fp_main" not in text and "failed(exc)" not in text and "/scripts/" not in text
    assert text.count("Traceback (most recent call last):") == 2


def test_an_exception_raised_while_handling_another_shows_both(tmp_path, user_module):
    m = user_module(CHAINED, "chainflow2")
    text = _failure(m, "run_implicit", tmp_path)
    assert _in_order(text, "KeyError: 'b'", CONTEXT, f'chainflow2.py", line {_line("return int(key)")}, in implicit',
                     "ValueError: invalid literal for int() with base 10: 'b'"), text
    assert CAUSE not in text


def test_raise_from_none_hides_the_context_as_python_does(tmp_path, user_module):
    m = user_module(CHAINED, "chainflow3")
    text = _failure(m, "run_hidden", tmp_path)
    assert "LookupError: hidden cause" in text
    assert "KeyError" not in text and CONTEXT not in text and CAUSE not in text


def test_the_cli_shows_the_chain_in_the_users_file(tmp_path):
    (tmp_path / "chainflow.py").write_text(CHAINED)
    done = subprocess.run([sys.executable, "-m", "flowpack", "run", "chainflow.py:run_explicit", "--run-dir", "runs"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert _in_order(done.stderr, f'File "chainflow.py", line {_line("return table[key]")}, in lookup', CAUSE,
                     f'File "chainflow.py", line {_line("raise RuntimeError")}, in explicit',
                     "RuntimeError: no setting 'b'"), done.stderr
    assert "/scripts/" not in done.stderr and "_fp_main" not in done.stderr
