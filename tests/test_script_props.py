"""Parameter values reach the step as data, never as code: arbitrary strings round-trip exactly and execute nothing."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import flowpack as fp
from helpers import assert_argo_valid, write_module

ECHO = '''
import flowpack as fp


@fp.op
def echo(s: str) -> str:
    return s


@fp.op
def echo_json(v: list) -> list:
    return v


@fp.workflow
def via_param(s: str = ""):
    return echo(s)


@fp.workflow
def via_json(v: list = []):
    return echo_json(v)
'''

_WORK = Path(tempfile.mkdtemp(prefix="fp-props-"))
MARKER = _WORK / "MARKER"
_module = None


def echo_module():
    """One user module for the whole file (hypothesis examples can't use function-scoped fixtures)."""
    global _module
    if _module is None:
        _module = write_module(_WORK / "src", ECHO)
    return _module


PAYLOADS = [
    f"$(touch {MARKER})",
    f"`touch {MARKER}`",
    f"; touch {MARKER}; #",
    f"\"; touch {MARKER}; echo \"",
    f"__import__('os').system('touch {MARKER}')",
    f"'); __import__('os').system('touch {MARKER}'); ('",
    f"\"\"\"); __import__('os').system('touch {MARKER}'); (\"\"\"",
    f"'''); __import__('os').system('touch {MARKER}'); ('''",
    f"\nimport os\nos.system('touch {MARKER}')\n#",
    f"{{{{=sprig.shell('touch {MARKER}')}}}}",
]
NASTY = [
    "", "'", '"', "'''", '"""', "\\", "\\n", "{{", "}}", "{{inputs.parameters.s}}", "{{workflow.name}}",
    "{{ tasks.echo.outputs.result }}", "${HOME}", "%(s)s {0} {s}", "é ü 😀 中文 \u2028 \u2029 \ufeff",
    "\x1b[31m\x07\x08\x7f", " leading and trailing ", "\t", "line1\nline2", "# not a comment",
]
BIG = "0123456789abcdef" * 6400  # 100 kB


def run_echo(s: str) -> str:
    m = echo_module()
    run = m.via_param.run(run_dir=_WORK / "runs", s=s)
    assert_argo_valid(run.manifest)
    return run.result()


def _check_round_trip(s: str) -> None:
    MARKER.unlink(missing_ok=True)
    assert run_echo(s) == s
    assert not MARKER.exists(), "a parameter value was executed"


def examples(values):
    """Add each value as an explicit hypothesis @example."""
    def decorate(test):
        for value in reversed(values):
            test = example(value)(test)
        return test
    return decorate


# The property: arbitrary strings round-trip exactly. Former failures are kept as explicit examples.
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
@example("ends with a newline\n")
@example("a\rb")
@example("a\x00b")
@given(st.text())
def test_any_string_round_trips_exactly(s):
    _check_round_trip(s)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@examples(PAYLOADS + NASTY + [BIG, BIG[:-1] + "'", "\n".join(PAYLOADS)])
@given(st.text(max_size=300))
def test_strings_round_trip_and_execute_nothing(s):
    _check_round_trip(s)


@pytest.mark.parametrize("s", ["trailing\n", "two\n\n", "crlf\r\n", "a\rb", "\n"])
def test_newlines_and_carriage_returns_round_trip(s):
    assert run_echo(s) == s


def test_nul_byte_round_trips():
    assert run_echo("a\x00b") == "a\x00b"


def test_large_string_over_128_kib_round_trips():
    s = "z" * (200 * 1024)
    assert run_echo(s) == s


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@example([f"$(touch {MARKER})", "{{inputs.parameters.v}}", "a\x00\r\n", {"'''": ['"""']}])
@given(st.lists(json_values, max_size=5))
def test_json_values_round_trip_and_execute_nothing(v):
    MARKER.unlink(missing_ok=True)
    m = echo_module()
    run = m.via_json.run(run_dir=_WORK / "runs", v=v)
    assert run.result() == v
    assert not MARKER.exists()


def test_a_workflow_name_literal_is_not_substituted(user_module, tmp_path):
    m = user_module(ECHO)

    @fp.workflow
    def lit():
        return m.echo("plain literal")

    assert lit.run(run_dir=tmp_path / "runs").result() == "plain literal"


def test_literal_with_a_real_argo_reference_is_not_substituted(user_module, tmp_path):
    m = user_module(ECHO)

    @fp.workflow
    def lit():
        return m.echo("name={{workflow.name}}")

    assert lit.run(run_dir=tmp_path / "runs").result() == "name={{workflow.name}}"


BRACES = '''
import flowpack as fp


@fp.op
def echo(s: str) -> str:
    return s


@fp.op
def unpickled(v):                      # no annotation: the value reaches it as a raw pickled-input artifact
    return "got " + v


hello = fp.shell('echo "$s" > /tmp/o', name="hello", inputs={"s": str}, outputs={"o": fp.Parameter("/tmp/o")})


@fp.workflow
def both(s: str = ""):
    return {"echo": echo(s), "raw": unpickled(s)}


@fp.workflow
def to_shell(s: str = ""):
    return hello(s=s).o


@fp.workflow
def in_condition(s: str = ""):
    return echo("x").when(s == "a")
'''


@pytest.mark.parametrize("s", ["{{workflow.name}}", "a {{=sprig.trim(' x ')}} b", "}}{{"])
def test_a_workflow_parameter_holding_braces_reaches_python_steps_exactly(user_module, tmp_path, s):
    """Argo substitutes again where a parameter is used, so such a value travels base64-encoded: no '{{' is left
    in the manifest's arguments, and the steps get the exact text."""
    m = user_module(BRACES)
    manifest = m.both.render(s=s)
    assert_argo_valid(manifest)
    assert "{{" not in json.dumps(manifest["spec"]["arguments"])
    assert m.both.run(run_dir=tmp_path / "runs", s=s).result() == {"echo": s, "raw": "got " + s}


def test_a_workflow_parameter_holding_braces_is_refused_where_it_cannot_be_decoded(user_module):
    m = user_module(BRACES)
    refused = r"parameter 's' holds text Argo can't carry as it is \('\{\{'"
    with pytest.raises(fp.WorkflowBuildError, match=refused + r".*shell step 'hello'"):
        m.to_shell.render(s="{{x}}")
    with pytest.raises(fp.WorkflowBuildError, match=refused + r".*condition"):
        m.in_condition.render(s="{{x}}")
    assert m.to_shell.render(s="no braces")  # plain values pass as before


def teardown_module():
    import shutil

    shutil.rmtree(_WORK, ignore_errors=True)
