"""A step's `retryStrategy` as Argo's controller applies it (operator.go `processNodeRetries`), for local engines.

After a failed attempt, in Argo's order: the backoff's `maxDuration` (counted from the first attempt's start) has
passed, or the next wait would end past it: no retry. The wait is `duration * factor^(attempts-1)`, at most `cap`.
The policy: `Always` retries Failed and Error attempts, `OnFailure` Failed ones, `OnError` Error ones,
`OnTransientError` errors Kubernetes calls transient (none arise here). Then the `limit`, then the `expression`:
flowpack writes one form, `asInt(lastRetry.exitCode) in [3, 4]` (retry only for those exit codes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .._errors import ManifestError
from .._phase import Phase
from ._duration import seconds

_EXIT_CODES = re.compile(r"^asInt\(lastRetry\.exitCode\) in \[(-?\d+(?:, -?\d+)*)\]$")
_RETRIED = {"Always": Phase.FAILED_LIKE, "OnFailure": (Phase.FAILED.value,), "OnError": (Phase.ERROR.value,),
            "OnTransientError": ()}


def exit_codes_expression(codes: tuple[int, ...]) -> str:
    """The retry expression holding for exactly these exit codes of the last attempt."""
    return "asInt(lastRetry.exitCode) in [" + ", ".join(str(c) for c in codes) + "]"


@dataclass(frozen=True)
class Decision:
    """Whether to run another attempt, after how many seconds, and otherwise why not (Argo's message)."""

    retry: bool
    wait: float = 0.0
    message: str = ""


def decide(strategy: dict, phase: str, exit_code: int | None, attempts: int, first_start: float,
           last_end: float, where: str) -> Decision:
    """After `attempts` attempts, the last of which ended `phase` at `last_end`."""
    if phase not in Phase.FAILED_LIKE:
        return Decision(False)
    wait = 0.0
    backoff = strategy.get("backoff") or {}
    if backoff:
        deadline = first_start + seconds(backoff["maxDuration"]) if backoff.get("maxDuration") else None
        if deadline is not None and last_end > deadline:
            return Decision(False, message="Max duration limit exceeded")
        wait = seconds(backoff.get("duration") or "0")
        factor = int(str(backoff.get("factor") or 0))
        if factor > 0:
            wait *= factor ** (attempts - 1)
        if backoff.get("cap"):
            wait = min(wait, seconds(backoff["cap"]))
        if deadline is not None and last_end + wait > deadline:
            return Decision(False, message="Backoff would exceed max duration limit")
    policy = strategy.get("retryPolicy") or "OnFailure"
    if policy not in _RETRIED:
        raise ManifestError(f"{where}: {policy} is not a valid RetryPolicy")
    if phase not in _RETRIED[policy]:
        return Decision(False)
    limit = strategy.get("limit")
    if limit is not None and attempts > int(str(limit)):
        return Decision(False, message="No more retries left")
    expression = strategy.get("expression")
    if expression:
        m = _EXIT_CODES.match(expression)
        if m is None:
            raise ManifestError(f"{where}: the local engine reads only flowpack's retry expression "
                                f"(asInt(lastRetry.exitCode) in [...]); got {expression!r}")
        codes = {int(c) for c in m.group(1).split(", ")}
        if (exit_code if exit_code is not None else -1) not in codes:
            return Decision(False, message="retryStrategy.expression evaluated to false")
    return Decision(True, wait)
