"""Retry policies (issue 16 item 7, first half): `retries=fp.Retry(...)` renders Argo's retryPolicy, expression and
backoff cap and maxDuration, and the local engine retries exactly when Argo's controller does."""

from __future__ import annotations

import pytest

import flowpack as fp
from both_engines import run_both
from helpers import render_checked, template

OPS = '''
import flowpack as fp


@fp.op(retries=fp.Retry(2, on="failure", exit_codes=(75,)))
def exit_75(n: int) -> int:
    raise SystemExit(75)


@fp.op(retries=fp.Retry(2, exit_codes=(75,)))
def exit_3(n: int) -> int:
    raise SystemExit(3)


@fp.op(retries=fp.Retry(2, on="error"))
def failure_not_error(n: int) -> int:
    raise SystemExit(3)


@fp.op(retries=fp.Retry(3, on="failure", backoff=0.001, factor=3, cap=0.002, max_duration=300))
def always_fails(n: int) -> int:
    raise SystemExit(1)


@fp.op(retries=fp.Retry(2, on="failure"))
def fine(n: int) -> int:
    return n


@fp.workflow
def w_exit_75(n: int):
    return exit_75(n)


@fp.workflow
def w_exit_3(n: int):
    return exit_3(n)


@fp.workflow
def w_failure_not_error(n: int):
    return failure_not_error(n)


@fp.workflow
def w_always_fails(n: int):
    return always_fails(n)


@fp.workflow
def w_fine(n: int):
    return fine(n)
'''

# (workflow, phase, attempts): exit code 75 is retried up to the limit, exit code 3 is not (the expression), a
# failure is not retried on="error", a capped backoff retries to the limit, a success is not retried
CASES = [("exit_75", "Failed", 3), ("exit_3", "Failed", 1), ("failure_not_error", "Failed", 1),
         ("always_fails", "Failed", 4), ("fine", "Succeeded", 1)]


def test_retry_renders_argo_retry_strategy(user_module):
    m = user_module(OPS)
    manifest = render_checked(m.w_always_fails, n=1)
    assert template(manifest, "always-fails")["retryStrategy"] == {
        "limit": "3", "retryPolicy": "OnFailure",
        "backoff": {"duration": "0.001s", "factor": "3", "cap": "0.002s", "maxDuration": "300s"}}
    manifest = render_checked(m.w_exit_75, n=1)
    assert template(manifest, "exit-75")["retryStrategy"] == {
        "limit": "2", "retryPolicy": "OnFailure", "expression": "asInt(lastRetry.exitCode) in [75]"}
    manifest = render_checked(m.w_failure_not_error, n=1)
    assert template(manifest, "failure-not-error")["retryStrategy"] == {"limit": "2", "retryPolicy": "OnError"}


@pytest.mark.parametrize("which, phase, attempts", CASES, ids=[c[0] for c in CASES])
def test_retries_locally_and_on_argos_controller(user_module, tmp_path, which, phase, attempts):
    m = user_module(OPS)
    both = run_both(getattr(m, "w_" + which), {"n": 1}, tmp_path)  # render_checked: Argo's validator accepts it
    argo, local = both.argo, both.local
    assert (argo.phase, local.phase) == (phase, phase), argo.message
    assert len(argo.pods) == attempts
    [step] = local.steps.values()
    assert step.get("attempts", 1) == attempts


def test_retry_options_are_checked():
    bad = [(dict(limit=-1), "limit"), (dict(limit=1, on="sometimes"), "on="), (dict(limit=1, exit_codes=(300,)),
           "exit codes"), (dict(limit=1, factor=1.5), "factor"), (dict(limit=1, cap=0), "cap")]
    for kwargs, match in bad:
        with pytest.raises(fp.OpDefinitionError, match=match):
            fp.op(retries=fp.Retry(**kwargs))(lambda_free)
    with pytest.raises(fp.OpDefinitionError, match="inside fp.Retry"):
        fp.op(retries=fp.Retry(1), backoff=2)(lambda_free)


def lambda_free(x: int) -> int:
    return x
