"""The local engine's memoization cache: a step result is reused only while it is younger than the template's
`memoize.maxAge` (a duration as Argo reads it: "1s", "90m", "1h30m", "8760h")."""

from __future__ import annotations

import time
from pathlib import Path

from ._duration import seconds


def fresh(path: Path, template: dict) -> bool:
    """Whether the cache entry at `path` may be reused under the template's maxAge (absent: no limit)."""
    max_age = (template.get("memoize") or {}).get("maxAge")
    try:
        age = time.time() - path.stat().st_mtime
    except OSError:
        return False
    return max_age in (None, "") or age <= seconds(max_age)
