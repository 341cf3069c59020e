"""A run's store opened again from its record, and a run's input files read back from it.

run.json's `store` is what Store.describe wrote: where artifacts live, never credentials; an S3 store opened from it
takes this process's AWS_* or MINIO_* credentials (read by S3 itself). A file or folder a workflow parameter named is
uploaded under `flowpack/inputs/<digest>`, the file's sha256 or the folder's path_digest (its names and file digests);
`fetch_upload` reads one back and keeps it only when it hashes to that digest again.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from flowpack._digest import path_digest
from flowpack._errors import ArtifactIntegrityError, StoreError
from flowpack._records import RunRecord

from . import _archive
from ._base import Store, copy_stream, part_path, remove_path
from ._local import LocalStore
from ._s3 import S3

_DIGEST = re.compile(r"[0-9a-f]{64}")


def recorded_store(described: dict | None) -> Store:
    """The store a run's record names (run.json `store`): an S3 store with this process's AWS_* or MINIO_*
    credentials, or a local folder; StoreError when the record names none that can be opened."""
    store = described or {}
    if store.get("type") == "local" and store.get("root"):
        return LocalStore(store["root"])
    if store.get("type") == "s3" and store.get("endpoint") and store.get("bucket"):
        return S3(store["endpoint"], store["bucket"], prefix=store.get("prefix") or "",
                  secure=store.get("secure") is not False, region=store.get("region"))
    raise StoreError(f"the run records a {store.get('type') or 'unknown'} store, which can't be opened here")


def run_store(run_path: Path) -> Store | None:
    """The store the run in `run_path` recorded, where a resume finds the outputs of the steps it reuses; None when
    its run.json can't be read (the engine's resume names what is wrong) or names no store; StoreError when it names
    one that can't be opened here."""
    try:
        record = RunRecord.read(Path(run_path) / "run.json")
    except (OSError, ValueError):
        return None
    return recorded_store(record.store) if record.store else None


def fetch_upload(store: Store, key: str, dest: Path, *, folder: bool) -> Path:
    """The input uploaded under `key` (a folder's tar.gz when `folder`), copied to the new path `dest` and checked
    against the digest its key ends with; nothing is left at `dest` when it does not match (ArtifactIntegrityError)
    or is gone (ArtifactNotFoundError)."""
    digest = key.rsplit("/", 1)[-1]
    if not _DIGEST.fullmatch(digest):
        raise StoreError(f"{key!r} is not a content key (flowpack/inputs/<sha256>)")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(dest)
    try:
        with store.open_unverified(key) as stream, open(part, "xb") as out:
            got, _ = copy_stream(stream, out)
        if folder:
            staging = part_path(dest)
            try:
                os.replace(_archive.extract(part, staging, repr(key)), dest)
            finally:
                remove_path(staging)
            got = path_digest(dest)
        if got != digest:
            remove_path(dest)
            raise ArtifactIntegrityError(f"the object under {key!r} does not hash to {digest}: it was changed or "
                                         f"corrupted, not used")
        if not folder:
            os.replace(part, dest)
        return dest
    finally:
        remove_path(part)
