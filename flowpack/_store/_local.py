"""LocalStore: artifacts as plain files under a root directory (the local engine's store).

Layout: the object of key "a/b/c" is the file ROOT/a/b/c; directories are stored as tar.gz files.
No digest sidecar: the ArtifactRef a put returns carries the sha256 and size, and get/load_bytes
verify against it. Writes go to "<key>.part-<random>" beside the object and are renamed into place
(os.replace), so a reader never sees a partial object and a killed writer leaves only a .part file.
"""

from __future__ import annotations

import errno
import os
import shutil
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO

from flowpack._errors import StoreError

from . import _archive
from ._base import (
    ArtifactNotFoundError,
    ArtifactRef,
    Store,
    check_key,
    copy_stream,
    hash_file,
    no_space_error,
    part_path,
    remove_path,
)


class LocalStore(Store):
    """Objects are files under `root`; put can move a file in place (no copy) with move=True."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().absolute()

    def __repr__(self) -> str:
        return f"LocalStore(root={str(self.root)!r})"

    def describe(self) -> dict:
        """Where artifacts live (for run records)."""
        return {"type": "local", "root": str(self.root)}

    def path(self, key: str) -> Path:
        """Filesystem path of the object stored under `key`."""
        return self.root.joinpath(*check_key(key).split("/"))

    def exists(self, key: str) -> bool:
        """True when a complete object is stored under `key`."""
        return self.path(key).is_file()

    def _spool_dir(self) -> Path:
        return self.root  # same filesystem as the objects: spooled archives are renamed, not copied

    def put(self, src: Path, key: str, *, move: bool = False) -> ArtifactRef:
        """Store a file (hashed while copying, or hashed and renamed when move=True) or a directory (tar.gz)."""
        src = Path(src)
        target = self.path(key)
        if src.is_dir():
            sha, size = self._write_archive(src, target)
            if move:
                shutil.rmtree(src)
            return ArtifactRef(key, sha, size, "dir")
        if not src.exists():  # any readable non-directory works (a FIFO too)
            raise StoreError(f"LocalStore.put(src={str(src)!r}): no such file or directory")
        target.parent.mkdir(parents=True, exist_ok=True)
        if move:
            sha, size = hash_file(src)
            try:
                os.replace(src, target)
                return ArtifactRef(key, sha, size, "file")
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
            # another filesystem: copy, then drop the source
            sha, size = self._copy_in(src, target)
            src.unlink()
            return ArtifactRef(key, sha, size, "file")
        sha, size = self._copy_in(src, target)
        return ArtifactRef(key, sha, size, "file")

    def _put_known(self, path: Path, key: str, sha256: str, size: int, *, move: bool) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        if move:
            try:
                os.replace(path, target)
                return
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
            self._copy_in(path, target)
            path.unlink()
            return
        self._copy_in(path, target)

    def _copy_in(self, src: Path, target: Path) -> tuple[str, int]:
        """Copy src to target via a .part file, hashing as it goes; returns (sha256, size)."""
        part = part_path(target)
        try:
            with open(src, "rb") as fin, open(part, "xb") as fout:
                sha, size = copy_stream(fin, fout)
            os.replace(part, target)
            return sha, size
        except OSError as exc:
            remove_path(part)
            if exc.errno == errno.ENOSPC:
                raise no_space_error(target, src.stat().st_size, f"LocalStore.put(key={target.name!r})") from None
            raise
        except BaseException:
            remove_path(part)
            raise

    def _write_archive(self, src: Path, target: Path) -> tuple[str, int]:
        """Stream src as tar.gz into a .part file beside target, then rename; returns (sha256, size)."""
        target.parent.mkdir(parents=True, exist_ok=True)
        part = part_path(target)
        try:
            with open(part, "xb") as f:
                sha, size = _archive.pack(src, f)
            os.replace(part, target)
            return sha, size
        except BaseException:
            remove_path(part)
            raise

    def _open(self, ref: ArtifactRef) -> AbstractContextManager[BinaryIO]:
        try:
            return open(self.path(ref.key), "rb")
        except FileNotFoundError:
            raise ArtifactNotFoundError(
                f"LocalStore: no artifact under key {ref.key!r} in {self.root} (was it put, or the root changed?)"
            ) from None
