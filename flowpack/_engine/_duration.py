"""Durations as Argo reads them (`memoize.maxAge`, `activeDeadlineSeconds`, retry backoff): whole seconds or Go's
duration syntax ("1.5s", "1m30s", "250ms")."""

from __future__ import annotations

import re

from .._errors import ManifestError

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def seconds(text) -> float:
    """An Argo duration in seconds: whole seconds ("10"), or a Go duration ("1.5s", "1m30s", "250ms", "10ns")."""
    text = str(text).strip()
    if re.fullmatch(r"\d+", text or "0"):
        return float(text or 0)
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ManifestError(f"{text!r} is not a duration Argo reads (e.g. 10, 1.5s, 2m, 250ms)")
    return sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
