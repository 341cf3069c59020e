"""The local engine's memoization cache: a step result is reused only while it is younger than the template's
`memoize.maxAge`, a Go duration as Argo reads it ("1s", "90m", "1h30m", "8760h")."""

from __future__ import annotations

import re
import time
from pathlib import Path

from .._errors import ManifestError

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def go_duration(text: str) -> float:
    """Seconds in a Go duration (time.ParseDuration's syntax); ManifestError when it isn't one."""
    raw = str(text).strip()
    body = raw[1:] if raw[:1] in "+-" else raw
    if body == "0":
        return 0.0
    parts = _PART.findall(body)
    if not body or "".join(n + u for n, u in parts) != body:
        raise ManifestError(f"memoize.maxAge {raw!r} is not a duration such as '30s', '90m' or '1h30m'")
    total = sum(float(n) * _UNITS[u] for n, u in parts)
    return -total if raw.startswith("-") else total


def fresh(path: Path, template: dict) -> bool:
    """Whether the cache entry at `path` may be reused under the template's maxAge (absent: no limit)."""
    max_age = (template.get("memoize") or {}).get("maxAge")
    try:
        age = time.time() - path.stat().st_mtime
    except OSError:
        return False
    return max_age in (None, "") or age <= go_duration(max_age)
