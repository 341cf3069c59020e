"""Kubernetes-safe names for templates and tasks: sanitised, bounded, and kept unique."""

from __future__ import annotations

import hashlib
import re

MAX_LEN = 63  # a DNS-1123 label: valid everywhere Argo puts a template or task name
_BAD = re.compile(r"[^a-z0-9-]+")
VALID = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
PARAM_NAME = re.compile(r"^[-a-zA-Z0-9_]+$")


def k8s_name(raw: str) -> str:
    """Lowercase, '_' and other odd characters to '-', trimmed; long names keep a short hash of the original."""
    name = _BAD.sub("-", raw.lower()).strip("-") or "step"
    if not name[0].isalnum():
        name = "s" + name
    if len(name) > MAX_LEN:
        digest = hashlib.sha256(raw.encode()).hexdigest()[:8]
        name = name[: MAX_LEN - 9].rstrip("-") + "-" + digest
    return name


class UniqueNames:
    """Hands out distinct names: the first 'add' stays 'add', later ones become 'add-2', 'add-3'..."""

    def __init__(self, reserved: set[str] | None = None):
        self._used: set[str] = set(reserved or ())
        self._next: dict[str, int] = {}
        self._bases: dict[str, str] = {}

    def take(self, raw: str) -> str:
        base = self._bases.get(raw)
        if base is None:
            base = self._bases[raw] = k8s_name(raw)
        if base not in self._used:
            self._used.add(base)
            return base
        n = self._next.get(base, 2)
        while True:
            suffix = f"-{n}"
            cand = base[: MAX_LEN - len(suffix)] + suffix
            n += 1
            if cand not in self._used:
                self._next[base] = n
                self._used.add(cand)
                return cand
