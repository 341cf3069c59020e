"""LocalStore: artifacts as plain files under a root directory (the local engine's store).

Layout: the object of key "a/b/c" is the file ROOT/a/b/c; directories are stored as tar.gz files by put, and as
the folder itself (a tree: ROOT/a/b/c/...) by adopt, which the local engine uses to move a step's output in.
No digest sidecar: the ArtifactRef a put returns carries the sha256 and size, and get/load_bytes
verify against it. Writes go to "<key>.part-<random>" beside the object and are renamed into place
(os.replace), so a reader never sees a partial object and a killed writer leaves only a .part file.

An adopted object is renamed in, not copied or hashed: its ref's digest is PENDING until digest() computes it once.
Nothing writes into an object once it is stored: consumers get copy-on-write views or copies (see _engine/_handoff).
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import stat
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO

from flowpack._digest import path_digest
from flowpack._errors import ArtifactIntegrityError, StoreError

from . import _archive
from ._base import (
    PENDING,
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

    def open_unverified(self, key: str) -> BinaryIO:
        """The file at `key`, opened for reading (see Store.open_unverified)."""
        try:
            return open(self.path(key), "rb")
        except (FileNotFoundError, IsADirectoryError):
            raise ArtifactNotFoundError(f"artifact {key!r} is not in {self!r}") from None

    def exists(self, key: str) -> bool:
        """True when a complete object (a file, or an adopted folder) is stored under `key`."""
        path = self.path(key)
        return path.is_file() or (path.is_dir() and not path.is_symlink())

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

    def adopt(self, src: Path, key: str, sha256: str = PENDING) -> ArtifactRef:
        """Move a file or folder into the store under `key` as it is (renamed when on this filesystem), unhashed.

        `sha256` is the digest when it is already known (a pickle's, reported by the step that wrote it); otherwise
        the ref's digest is PENDING until digest() computes it. A link, a file with other names (hard links) or a
        folder holding such a file is copied instead, so the stored object shares nothing with a file outside it;
        a folder holding a link that leads out of it is refused, as put refuses it.
        """
        src = Path(src)
        if src.is_symlink() or not (src.is_file() or src.is_dir()):
            return self.put(src, key)  # what a link points at, or a FIFO: read and hashed, as before
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_path(target)
        if src.is_dir():
            problem = _archive.outside_link(src)
            if problem:
                raise StoreError(f"directory artifact {str(src)!r}: {problem}")
            files = [st for st in (os.lstat(os.path.join(d, f)) for d, _, names in os.walk(src) for f in names)
                     if stat.S_ISREG(st.st_mode)]
            self._move_or_copy(src, target, any(st.st_nlink > 1 for st in files))
            return ArtifactRef(key, sha256, sum(st.st_size for st in files), "dir")
        st = src.stat()
        self._move_or_copy(src, target, st.st_nlink > 1)
        return ArtifactRef(key, sha256, st.st_size, "file")

    def _move_or_copy(self, src: Path, target: Path, shared: bool) -> None:
        """Rename src to target; copy it (then remove src) when it has other names or lives on another filesystem."""
        if not shared:
            try:
                os.rename(src, target)
                return
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EBUSY):
                    raise
        part = part_path(target)
        try:
            copy_tree_or_file(src, part)
            os.rename(part, target)
        except BaseException:
            remove_path(part)
            raise
        remove_path(src)

    def digest(self, ref: ArtifactRef) -> str:
        """The sha256 of a stored object: of its bytes, or for an adopted folder of its relative names and file
        digests (flowpack._digest.path_digest). Reads the whole object: computed once per object by its caller."""
        path = self.path(ref.key)
        if not (path.is_file() or path.is_dir()):
            raise ArtifactNotFoundError(f"LocalStore: no artifact under key {ref.key!r} in {self.root}")
        return path_digest(path)

    def get(self, ref: ArtifactRef, dest: Path) -> Path:
        """Copy the object to dest; an adopted folder is copied as a folder. Checked against the ref's sha256 as it
        is read, except while the digest is PENDING (a step output moved in during this run: see module doc)."""
        path = self.path(ref.key)
        if not (ref.pending or path.is_dir()):
            return super().get(ref, dest)
        if not (path.is_file() or path.is_dir()) or path.is_symlink():
            raise ArtifactNotFoundError(
                f"LocalStore: no artifact under key {ref.key!r} in {self.root} (was it put, or the root changed?)")
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = part_path(dest)
        try:
            copy_tree_or_file(path, part)
            if not ref.pending and path_digest(part) != ref.sha256:
                raise ArtifactIntegrityError(
                    f"get({ref.key!r}): the stored folder's digest is not the recorded {ref.sha256}; it was changed "
                    f"or corrupted, nothing was written")
            if dest.is_dir() and not dest.is_symlink():
                remove_path(dest)
            os.replace(part, dest)
            return dest
        finally:
            remove_path(part)

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


FICLONE = 0x40049409  # ioctl: share the source's extents (a reflink) on filesystems that have them (btrfs, XFS)


def copy_file(src: str | Path, dest: str | Path) -> None:
    """Copy one file: a reflink where the filesystem has them, else an in-kernel copy (copy_file_range)."""
    with open(src, "rb") as fin, open(dest, "xb") as fout:
        try:
            fcntl.ioctl(fout.fileno(), FICLONE, fin.fileno())
            return
        except OSError:
            pass
        size = os.fstat(fin.fileno()).st_size
        try:
            while size > 0:
                n = os.copy_file_range(fin.fileno(), fout.fileno(), size)
                if n == 0:
                    break
                size -= n
        except OSError:  # a filesystem without copy_file_range: copy in user space
            fin.seek(0)
            fout.seek(0)
            fout.truncate()
            shutil.copyfileobj(fin, fout, 1 << 20)
    shutil.copymode(src, dest)


def copy_tree_or_file(src: Path, dest: Path) -> None:
    """Copy a file, or a folder with its relative links kept as links, file by file with copy_file."""
    if src.is_dir():
        shutil.copytree(src, dest, symlinks=True, copy_function=copy_file)
    else:
        copy_file(src, dest)
