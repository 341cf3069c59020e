"""Differential suite, generated part (issue 13): hypothesis builds random workflows from the ops in
differential_ops.py (chains, diamonds, maps over literal lists and over a step's list output, empty ones included,
`when` on steps and on maps, `allow_failure()` on a raising op, a default standing in for a skipped step, a NamedTuple
output, text holding quotes, newlines and unicode, retried steps that fail a given number of attempts). Each runs on
the embedded local engine and on Argo's own controller (the Argo harness, same rendered manifest): the workflow's
phase, every node's phase, every output and the decoded result must match, and a retried step must take as many
attempts on both. Derandomized and bounded (a few examples), so CI is reproducible and its cost known."""

from __future__ import annotations

import itertools
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from both_engines import argo_attempts, argo_result, local_attempts, run_both
from helpers import render_checked, write_module

HEADER = "import flowpack as fp\nfrom differential_ops import add, boom, echo, fallback, flaky, flaky_once, inc, " \
         "shout, sq, stats, total, upto\n\n\n@fp.workflow\ndef generated(n: int, folder: str):\n"


@dataclass(frozen=True)
class Construct:
    """A few lines of a workflow body, the expression that holds their value, and whether returning that value is
    always possible (a skipped or omitted step's output makes the run end in Error on both engines, as it should)."""

    lines: tuple[str, ...]
    value: str
    always: bool = True


small = st.integers(0, 3)
condition = st.builds(lambda op, t: f"n {op} {t}", st.sampled_from([">", "<=", "=="]), small)
texts = st.text(st.sampled_from(list("ab '\"\n\\{}$é✓λ\t")), min_size=0, max_size=8)


def chain(k: int):
    return lambda v: Construct((f"{v} = inc(n)",) + (f"{v} = inc({v})",) * (k - 1), v)


def diamond():
    return lambda v: Construct((f"{v}a = inc(n)", f"{v}b = inc({v}a)", f"{v}c = sq({v}a)",
                                f"{v} = add({v}b, {v}c)"), v)


def literal_map(items: list[int]):
    return lambda v: Construct((f"{v} = total(sq.map(x={items!r}))",), v)


def output_map(k: int):
    return lambda v: Construct((f"{v} = total(sq.map(x=upto({k})))",), v)


def when_step(cond: str):
    return lambda v: Construct((f"{v} = inc(n).when({cond})",), v, always=False)


def when_map(k: int, cond: str):
    return lambda v: Construct((f"{v} = total(sq.map(x=upto({k})).when({cond}))",), v, always=False)


def allowed_failure(ordered: bool):
    # the failure's output is taken by a default (the step runs), or the next step is only ordered after it
    def construct(v: str) -> Construct:
        second = f"{v} = inc(n).after({v}b)" if ordered else f"{v} = fallback({v}b)"
        return Construct((f"{v}b = boom(n).allow_failure()", second), v)
    return construct


def default_after_skip(cond: str):
    return lambda v: Construct((f"{v} = fallback(inc(n).when({cond}))",), v)


def named_tuple(k: int):
    return lambda v: Construct((f"{v}t = stats(upto({k}))", f"{v} = shout({v}t.label, {v}t.count)"), v)


def text(s: str):
    return lambda v: Construct((f"{v} = echo({s!r})",), v)


def retried(fails: int, once: bool):
    # fails its first `fails` attempts (counted in a file of the run's `folder`): retries=2 or fp.Retry(1, ...)
    op = "flaky_once" if once else "flaky"
    return lambda v: Construct((f"{v} = {op}(folder, {v!r}, {fails}, n)",), v)


constructs = st.one_of(
    st.builds(chain, st.integers(1, 3)),
    st.builds(diamond),
    st.builds(literal_map, st.lists(small, max_size=3)),
    st.builds(output_map, small),
    st.builds(when_step, condition),
    st.builds(when_map, small, condition),
    st.builds(allowed_failure, st.booleans()),
    st.builds(default_after_skip, condition),
    st.builds(named_tuple, small),
    st.builds(text, texts),
    st.builds(retried, small, st.booleans()),
)


@st.composite
def workflows(draw) -> tuple[str, int]:
    """The source of one random workflow `generated(n)` and the n to run it with."""
    parts = [make(f"v{i}") for i, make in enumerate(draw(st.lists(constructs, min_size=3, max_size=6)))]
    returned = [p.value for p in parts if p.always or draw(st.booleans())]
    if draw(st.integers(0, 3)) == 0:  # sometimes the whole NamedTuple is the result
        parts.append(named_tuple(draw(small))("whole"))
        returned = ["wholet"]
    return source_of(parts, returned), draw(small)


def source_of(parts: list[Construct], returned: list[str]) -> str:
    body = [line for p in parts for line in p.lines]
    body.append(f"return {', '.join(returned)}" if returned else "return None")
    return HEADER + "".join(f"    {line}\n" for line in body)


# always tried besides the generated ones: an empty literal map, text with every awkward character, a map skipped
# by its condition, a step ordered after an allowed failure, a returned output of a step that is skipped, and a step
# that succeeds on its last retry
EXAMPLE = source_of([literal_map([])("e"), text("say \"hi\"\nit's {{x}} \\ é✓λ\t$")("t"),
                     when_map(2, "n > 0")("m"), allowed_failure(True)("f"), when_step("n == 1")("w"),
                     retried(2, False)("r")],
                    ["e", "t", "f", "w", "r"])


_modules = itertools.count()


@settings(max_examples=8, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=workflows())
@example(case=(EXAMPLE, 0))
@example(case=(EXAMPLE, 1))
def test_random_workflows_run_the_same_locally_and_on_argos_controller(tmp_path_factory, case):
    source, n = case
    tmp = tmp_path_factory.mktemp("random")
    wf = write_module(tmp / "src", source, f"fprandom_{next(_modules)}").generated
    # Each engine counts attempts in a folder of its own, outside /tmp: every pod of Argo's (a retry is a new pod)
    # has a /tmp of its own.
    with tempfile.TemporaryDirectory(prefix="fp-attempts-", dir="/var/tmp") as counters:
        on_argo, here = Path(counters, "argo"), Path(counters, "local")
        on_argo.mkdir(), here.mkdir()
        # Argo's manifest is rendered with its own counters' folder (render_checked: every pin's validator)
        both = run_both(wf, {"n": n, "folder": str(here)}, tmp,
                        manifest=render_checked(wf, n=n, folder=str(on_argo)), note=source)
    argo, local = both.argo, both.local
    assert local_attempts(local) == argo_attempts(argo), source
    if local.phase == "Succeeded":
        assert argo_result(local, argo) == local.result(), source
