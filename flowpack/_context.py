"""Which workflow is being built right now: op calls inside a workflow body become tasks, outside it plain calls."""

from __future__ import annotations

import contextvars

_current: contextvars.ContextVar = contextvars.ContextVar("flowpack_builder", default=None)


def current():
    """The Graph being built, or None outside a workflow body."""
    return _current.get()


class building:
    """`with building(graph):` makes op calls add tasks to `graph`."""

    def __init__(self, graph):
        self.graph = graph
        self._token = None

    def __enter__(self):
        self._token = _current.set(self.graph)
        return self.graph

    def __exit__(self, *exc):
        _current.reset(self._token)
        return False
