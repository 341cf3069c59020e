"""`fp.Retry`: when and how a failed step is tried again, rendered as Argo's `retryStrategy`.

`@fp.op(retries=3)` retries any failure (`retryPolicy: Always`); `@fp.op(retries=fp.Retry(3, on="failure",
exit_codes=(75,), backoff=1, cap=30, max_duration=600))` retries only a failed program (not an error of the step's
pod or inputs), only when it exited 75, waiting 1 s, 2 s, 4 s... at most 30 s, and never past 10 minutes after the
first attempt started.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._engine._retry import exit_codes_expression
from ._errors import OpDefinitionError

POLICIES = {"always": "Always", "failure": "OnFailure", "error": "OnError", "transient": "OnTransientError"}


@dataclass(frozen=True)
class Retry:
    """A retry policy: `limit` retries, `on` "always" | "failure" (the program failed) | "error" (the step's pod or
    inputs failed) | "transient" (errors Kubernetes calls transient); `exit_codes` only after these exit codes;
    `backoff` seconds before the first retry, times `factor` each time, at most `cap`; no retry starting after
    `max_duration` seconds from the first attempt's start."""

    limit: int
    on: str = "always"
    exit_codes: tuple[int, ...] = ()
    backoff: float | None = None
    factor: int = 2
    cap: float | None = None
    max_duration: float | None = None

    def check(self, where: str, max_seconds: float) -> "Retry":
        if not isinstance(self.limit, int) or isinstance(self.limit, bool) or self.limit < 0:
            raise OpDefinitionError(f"{where}: fp.Retry(limit={self.limit!r}) must be a whole number >= 0.")
        if self.on not in POLICIES:
            raise OpDefinitionError(f"{where}: fp.Retry(on={self.on!r}) must be one of {sorted(POLICIES)}.")
        codes = tuple(self.exit_codes)
        if any(isinstance(c, bool) or not isinstance(c, int) or not 0 <= c <= 255 for c in codes):
            raise OpDefinitionError(f"{where}: fp.Retry(exit_codes={self.exit_codes!r}) must be exit codes 0-255.")
        if not isinstance(self.factor, int) or isinstance(self.factor, bool) or self.factor < 1:
            raise OpDefinitionError(f"{where}: fp.Retry(factor={self.factor!r}) must be a whole number >= 1 "
                                    f"(Argo reads an integer).")
        for name in ("backoff", "cap", "max_duration"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not 0 < value <= max_seconds):
                raise OpDefinitionError(f"{where}: fp.Retry({name}={value!r}) must be a positive number of seconds.")
        return Retry(self.limit, self.on, codes, self.backoff, self.factor, self.cap, self.max_duration)

    def strategy(self, duration_text) -> dict:
        """The `retryStrategy` block (`duration_text` writes seconds as a Go duration)."""
        out: dict = {"limit": str(self.limit), "retryPolicy": POLICIES[self.on]}
        if self.exit_codes:
            out["expression"] = exit_codes_expression(self.exit_codes)
        if self.backoff or self.cap or self.max_duration:
            backoff = {"duration": duration_text(self.backoff) if self.backoff else "0s", "factor": str(self.factor)}
            if self.cap:
                backoff["cap"] = duration_text(self.cap)
            if self.max_duration:
                backoff["maxDuration"] = duration_text(self.max_duration)
            out["backoff"] = backoff
        return out
