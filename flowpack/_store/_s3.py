"""S3 store (work in progress)."""

from __future__ import annotations

from ._base import Store


class S3(Store):  # type: ignore[misc]
    """Placeholder until the S3 store lands."""

    def __init__(self, *args, **kwargs) -> None:
        raise NotImplementedError("flowpack S3 store: not implemented yet")
