"""Fixtures shared by the core tests: user modules as real files, removed from sys.modules/sys.path afterwards; the
Argo harness of each pinned Argo version."""

from __future__ import annotations

import sys

import pytest

from argo_harness import VERSIONS, Harness
from helpers import write_module


@pytest.fixture(params=VERSIONS)
def harness(request) -> Harness:
    """Argo's own code of each pinned Argo version (tests/argo_harness.py): the test runs once per version."""
    return Harness(request.param)


@pytest.fixture
def user_module(tmp_path):
    """`user_module(source)` writes a module into tmp_path/src and imports it; cleaned up after the test."""
    src = tmp_path / "src"
    loaded: list[str] = []

    def make(source: str, name: str | None = None):
        module = write_module(src, source, name)
        loaded.append(module.__name__)
        return module

    yield make
    for name in loaded:
        sys.modules.pop(name, None)
    while str(src) in sys.path:
        sys.path.remove(str(src))
