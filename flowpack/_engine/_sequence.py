"""Argo's `withSequence` as the local engine expands it (operator.go `expandSequence`): `count` items from `start`,
or `start` to `end` inclusive (counting down when end < start); each item is the text of `format % i` ("%d")."""

from __future__ import annotations

import re

from .._errors import ManifestError
from ._expr import substitute

_FORMAT = re.compile(r"^[^%]*%0?\d*d[^%]*$")


def sequence_items(spec: dict, values: dict[str, str], where: str) -> list[str]:
    """The items of a `withSequence`, after substituting `{{...}}` in its fields."""
    def number(key: str) -> int | None:
        if spec.get(key) is None:
            return None
        text = substitute(str(spec[key]), values, where)
        try:
            return int(text.strip())
        except ValueError:
            raise ManifestError(f"{where}: withSequence {key} {text!r} is not an integer") from None

    start, end, count = number("start") or 0, number("end"), number("count")
    if end is None:
        if count is None:
            raise ManifestError(f"{where}: neither end nor count was specified in withSequence")
        if count == 0:
            return []
        end = start + count - 1
    fmt = spec.get("format") or "%d"
    if not _FORMAT.match(fmt):
        raise ManifestError(f"{where}: the local engine reads withSequence formats of one %d only; got {fmt!r}")
    step = 1 if start <= end else -1
    return [fmt % i for i in range(start, end + step, step)]
