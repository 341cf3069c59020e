"""Artifact stores: one small interface (Store) and two places bytes can live (LocalStore, S3)."""

from ._base import (
    ArtifactNotFoundError,
    ArtifactRef,
    BucketNotFoundError,
    Store,
    StoreAuthError,
    StoreUnreachableError,
)
from ._local import LocalStore
from ._recorded import fetch_upload, recorded_store, run_store
from ._s3 import S3

__all__ = [
    "S3",
    "ArtifactNotFoundError",
    "ArtifactRef",
    "BucketNotFoundError",
    "LocalStore",
    "Store",
    "StoreAuthError",
    "StoreUnreachableError",
    "fetch_upload",
    "recorded_store",
    "run_store",
]
