"""How the local engine hands artifacts from one step to the next without copying or hashing them on the way.

Out: a step's output file or folder is moved (renamed) into the LocalStore as it is: no copy, no archive, no digest
on the way (LocalStore.adopt). A pickle's digest is the one its step reported as it wrote it (`sha256-<name>`);
any other output's digest is computed once, by a helper thread, while the next steps run, and written into the
run's records (step.json, the cache's records, run.json) when the run ends (settle).

In: an output of this run whose digest is still pending (a plain file or folder this engine moved in minutes ago,
which no one has a writable name for) reaches its consumer as a copy-on-write view (_overlay) or, where views can't
be mounted, as a copy without a digest check. Everything else is copied and checked against its digest as it is
read: pickles (a pickle runs code as it loads), the workflow's uploaded inputs, and objects reused from an earlier
run or the cache (the store may have changed between runs). Other stores (S3) keep put and get as they are.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar, cast

from .._store import ArtifactRef, LocalStore, Store
from .._store._local import copy_tree_or_file
from ._overlay import Views
from ._record import read_json, write_json

T = TypeVar("T")


class Handoff:
    """The artifact traffic of one run: outputs into the store, inputs out of it, digests settled at the end."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._pool: ThreadPoolExecutor | None = None
        self._digests: dict[str, Future[str]] = {}
        self._records: set[Path] = set()
        self._lock = threading.Lock()

    def store_output(self, src: Path, key: str, reported: str | None) -> ArtifactRef:
        """Move a step's output into the store under key; `reported` is the sha256 its step reported (pickles)."""
        if not isinstance(self.store, LocalStore):
            return self.store.put(src, key)
        ref = self.store.adopt(src, key, reported or "")
        if ref.pending:
            with self._lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flowpack-digest")
                self._digests[key] = self._pool.submit(self.store.digest, ref)
        return ref

    def place_input(self, ref: ArtifactRef, dest: Path, views: Views | None) -> None:
        """Put an input at dest: a view (added to `views`, mounted with the step's others) or a copy."""
        if ref.pending and views is not None and isinstance(self.store, LocalStore):
            views.add(self.store.path(ref.key), dest)
            return
        self.store.get(ref, dest)  # a pending ref: copied as it is; any other: checked against its digest

    def copy_stored(self, stored: Path, dest: Path) -> None:
        """Copy a stored object that could not be viewed to dest (an empty folder made for its view goes first)."""
        if dest.is_dir() and not dest.is_symlink() and not any(dest.iterdir()):
            dest.rmdir()
        copy_tree_or_file(stored, dest)

    def note(self, path: Path, record: dict) -> None:
        """Remember a record written with a pending digest in it, to complete it when the run ends."""
        if _has_pending(record):
            with self._lock:
                self._records.add(path)

    def settle(self) -> dict[str, str]:
        """Wait for every pending digest (key -> sha256) and write them into the records that named them."""
        with self._lock:
            futures, self._digests = dict(self._digests), {}
            records, self._records = set(self._records), set()
            pool, self._pool = self._pool, None
        digests = {key: future.result() for key, future in futures.items()}
        if pool is not None:
            pool.shutdown()
        for path in sorted(records):
            if path.is_file():
                write_json(path, completed(read_json(path), digests), compact=True)  # a step.json or a cache entry
        return digests


def completed(value: T, digests: dict[str, str]) -> T:
    """`value` (a record, or any JSON value or ArtifactRef in it) with each pending ref's digest filled in."""
    return cast(T, _completed(value, digests))


def _completed(value: object, digests: dict[str, str]) -> object:
    if isinstance(value, ArtifactRef):
        return ArtifactRef(value.key, digests[value.key], value.size, value.kind) if value.pending \
            and value.key in digests else value
    if isinstance(value, dict):
        if value.get("sha256") == "" and value.get("key") in digests:
            return {**value, "sha256": digests[value["key"]]}
        return {k: _completed(v, digests) for k, v in value.items()}
    if isinstance(value, list):
        return [_completed(v, digests) for v in value]
    return value


def _has_pending(value: object) -> bool:
    if isinstance(value, dict):
        return value.get("sha256") == "" and "key" in value or any(_has_pending(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_pending(v) for v in value)
    return False
