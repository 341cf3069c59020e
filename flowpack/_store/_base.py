"""The store interface (ArtifactRef, Store) and the streaming helpers every store shares."""

from __future__ import annotations

import errno
import hashlib
import os
import queue
import secrets
import shutil
import threading
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from flowpack._digest import CHUNK, hash_file
from flowpack._errors import ArtifactIntegrityError, StoreError

from . import _archive

KINDS = ("file", "dir")
PENDING = ""  # the sha256 of a ref whose digest is not computed yet


class ArtifactNotFoundError(StoreError):
    """No object is stored under the requested key."""


class StoreAuthError(StoreError):
    """The store refused the credentials (wrong or missing access/secret key)."""


class BucketNotFoundError(StoreError):
    """The S3 bucket does not exist (create it with create_bucket)."""


class StoreUnreachableError(StoreError):
    """The store's endpoint does not answer (host, port, TLS or network)."""


@dataclass(frozen=True)
class ArtifactRef:
    """Where an artifact lives in a store and what its bytes hash to: the record a run keeps.

    `sha256` is "" (PENDING) only for a step's output the local engine has just moved into its LocalStore: its digest
    is computed once, off the hand-off, and written into the run's records when the run ends (see _engine/_handoff).
    """

    key: str
    sha256: str
    size: int
    kind: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise StoreError(f"ArtifactRef(kind={self.kind!r}): kind must be 'file' or 'dir'")
        if self.sha256 != PENDING and (len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256)):
            raise StoreError(f"ArtifactRef(sha256={self.sha256!r}): expected 64 lowercase hex digits")

    @property
    def pending(self) -> bool:
        """True while the digest of a just-moved local output is still being computed."""
        return self.sha256 == PENDING

    def to_dict(self) -> dict:
        """JSON-able form for run records."""
        return {"key": self.key, "sha256": self.sha256, "size": self.size, "kind": self.kind}

    @classmethod
    def from_dict(cls, d: dict) -> ArtifactRef:
        """Inverse of to_dict; raises StoreError naming the missing field."""
        missing = [f for f in ("key", "sha256", "size", "kind") if f not in d]
        if missing:
            raise StoreError(f"ArtifactRef.from_dict: missing field(s) {missing} in {sorted(d)}")
        return cls(key=str(d["key"]), sha256=str(d["sha256"]), size=int(d["size"]), kind=str(d["kind"]))


def check_key(key: str, what: str = "key") -> str:
    """Validate a '/'-separated relative store key (no '..', no empty or absolute parts)."""
    if not isinstance(key, str) or not key:
        raise StoreError(f"{what}={key!r}: a store key must be a non-empty string like 'runs/abc/out.bin'")
    parts = key.split("/")
    if key.startswith("/") or "\\" in key or any(p in ("", ".", "..") for p in parts):
        raise StoreError(
            f"{what}={key!r}: a store key is '/'-separated and relative, without empty, '.' or '..' parts"
        )
    return key


def part_path(path: Path) -> Path:
    """A unique temporary name beside `path` (same directory, so os.replace is atomic)."""
    return path.with_name(f"{path.name}.part-{secrets.token_hex(6)}")


def remove_path(path: Path) -> None:
    """Remove a file or directory tree if present, ignoring absence."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()
    except FileNotFoundError:
        pass


class Sha256Pipe:
    """sha256 computed in a helper thread, so hashing overlaps with network or disk I/O."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()
        self._q: queue.Queue = queue.Queue(maxsize=8)  # bounded: at most ~8 chunks held in memory
        self._t = threading.Thread(target=self._run, name="flowpack-sha256", daemon=True)
        self._t.start()
        self._digest: str | None = None

    def _run(self) -> None:
        while True:
            chunk = self._q.get()
            if chunk is None:
                return
            self._h.update(chunk)  # hashlib releases the GIL for large buffers

    def update(self, chunk: bytes) -> None:
        """Queue a chunk for hashing (chunk must not be mutated afterwards)."""
        self._q.put(chunk)

    def hexdigest(self) -> str:
        """Finish and return the hex digest."""
        if self._digest is None:
            self._q.put(None)
            self._t.join()
            self._digest = self._h.hexdigest()
        return self._digest

    close = hexdigest


def copy_stream(src: BinaryIO, dst: BinaryIO) -> tuple[str, int]:
    """Copy src to dst in chunks, hashing in a helper thread; returns (sha256, size)."""
    hasher = Sha256Pipe()
    size = 0
    try:
        while chunk := src.read(CHUNK):
            hasher.update(chunk)
            dst.write(chunk)
            size += len(chunk)
    finally:
        digest = hasher.hexdigest()
    return digest, size


def free_bytes(path: Path) -> int | None:
    """Free space on the filesystem holding `path`, or None when unknown."""
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def no_space_error(dest: Path, needed: int, what: str) -> StoreError:
    """The StoreError for ENOSPC while writing `dest`: says how much space was needed."""
    free = free_bytes(dest.parent)
    free_txt = f", {free} bytes free now" if free is not None else ""
    return StoreError(
        f"{what}: no space left on the device holding {dest.parent} (needed at least {needed} bytes "
        f"for {dest.name}{free_txt}); the partial file was removed. Free space or choose another dest."
    )


class Store(ABC):
    """Moves artifact bytes to and from one place; engines use only this interface."""

    # --- primitives each store implements -------------------------------------------------------
    @abstractmethod
    def put(self, src: Path, key: str, *, move: bool = False) -> ArtifactRef:
        """Upload a file, or a directory as tar.gz, to `key`; atomic; returns the ref with its sha256."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """True when a complete object is stored under `key`."""

    @abstractmethod
    def describe(self) -> dict:
        """Where artifacts live, without credentials (for run records)."""

    @abstractmethod
    def _put_known(self, path: Path, key: str, sha256: str, size: int, *, move: bool) -> None:
        """Store a regular file whose digest is already known under `key`, atomically."""

    @abstractmethod
    def _open(self, ref: ArtifactRef) -> AbstractContextManager[BinaryIO]:
        """A readable stream of the stored bytes of `ref` (raise ArtifactNotFoundError when absent)."""

    @abstractmethod
    def open_unverified(self, key: str) -> AbstractContextManager[BinaryIO]:
        """A readable stream of the object at `key` that someone else wrote (Argo's executor: an output artifact),
        so it has no digest of flowpack's to check; ArtifactNotFoundError when absent. Everything flowpack stored
        is read through `get`, which checks its digest."""

    def _spool_dir(self) -> Path | None:
        """Directory for temporary archives (None: the system temp dir)."""
        return None

    # --- behaviour shared by all stores ---------------------------------------------------------
    def put_content(self, src: Path, prefix: str = "inputs", *, move: bool = False) -> ArtifactRef:
        """Content-addressed upload to f"{prefix}/{sha256}[.tgz]"; skips the upload when that key exists."""
        src = Path(src)
        prefix = check_key(prefix.strip("/"), "prefix")
        if src.is_dir():
            with _archive.spooled(src, self._spool_dir(), deterministic=True) as (tmp, sha, size):
                key = f"{prefix}/{sha}.tgz"
                if not self.exists(key):
                    self._put_known(tmp, key, sha, size, move=True)
            if move:
                shutil.rmtree(src)
            return ArtifactRef(key, sha, size, "dir")
        if not src.is_file():
            raise StoreError(f"put_content(src={str(src)!r}): no such file or directory")
        sha, size = hash_file(src)
        key = f"{prefix}/{sha}"
        if not self.exists(key):
            self._put_known(src, key, sha, size, move=move)
        elif move:
            src.unlink()
        return ArtifactRef(key, sha, size, "file")

    def get(self, ref: ArtifactRef, dest: Path) -> Path:
        """Download to dest (a file, or a directory extracted from the archive), verifying sha256; atomic."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = part_path(dest)
        try:
            self._download_verified(ref, part)
            if ref.kind == "file":
                if dest.is_dir() and not dest.is_symlink():
                    raise StoreError(f"get(dest={str(dest)!r}): dest is a directory but the artifact is a file")
                os.replace(part, dest)
                return dest
            return self._extract_into(ref, part, dest)
        finally:
            remove_path(part)

    def is_tarball(self, ref: ArtifactRef) -> bool:
        """Whether the stored object is a gzip-compressed tar (read from its first bytes, as Argo's executor does)."""
        with self._open(ref) as stream:
            return _archive.is_tarball(stream)

    def read_head(self, ref: ArtifactRef, limit: int) -> bytes:
        """The first `limit` bytes of a stored object, for a preview: read through the store (an S3 store checks the
        object's recorded sha256 against the ref's as it opens it), and verified whole when it is no longer."""
        with self._open(ref) as stream:
            data = stream.read(limit)
        whole = len(data) < limit or ref.size < limit  # all of it was read: it must be all of the recorded object
        if whole and not ref.pending and (len(data) != ref.size or hashlib.sha256(data).hexdigest() != ref.sha256):
            raise ArtifactIntegrityError(f"read_head({ref.key!r}): the stored bytes ({len(data)}) do not hash to "
                                         f"the recorded sha256 {ref.sha256} ({ref.size} bytes); the object was "
                                         f"changed or corrupted")
        return data

    def load_bytes(self, ref: ArtifactRef) -> bytes:
        """Read a small object whole and verify its digest (for pickled values)."""
        with self._open(ref) as stream:
            data = stream.read()
        digest = hashlib.sha256(data).hexdigest()
        if digest != ref.sha256 or len(data) != ref.size:
            raise ArtifactIntegrityError(
                f"load_bytes({ref.key!r}): stored bytes hash to {digest} ({len(data)} bytes), "
                f"expected {ref.sha256} ({ref.size} bytes); the object was changed or corrupted"
            )
        return data

    # --- helpers --------------------------------------------------------------------------------
    def _download_verified(self, ref: ArtifactRef, path: Path) -> None:
        """Stream the object of `ref` into a new file at `path`, checking size and sha256."""
        try:
            with self._open(ref) as stream, open(path, "xb") as out:
                digest, size = copy_stream(stream, out)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                remove_path(path)
                raise no_space_error(path, ref.size, f"get({ref.key!r})") from None
            raise
        if digest != ref.sha256 or size != ref.size:
            raise ArtifactIntegrityError(
                f"get({ref.key!r}): downloaded bytes hash to {digest} ({size} bytes), expected "
                f"{ref.sha256} ({ref.size} bytes); the stored object was changed or corrupted, nothing was written"
            )

    def _extract_into(self, ref: ArtifactRef, archive: Path, dest: Path) -> Path:
        """Extract a verified archive beside dest, then move it into place."""
        staging = part_path(dest)
        try:
            try:
                content = _archive.extract(archive, staging, repr(ref.key))
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    raise no_space_error(dest, _archive.unpacked_size(archive), f"get({ref.key!r})") from None
                raise
            if dest.exists() or dest.is_symlink():
                old = part_path(dest)
                os.replace(dest, old)
                os.replace(content, dest)
                remove_path(old)
            else:
                os.replace(content, dest)
            return dest
        finally:
            remove_path(staging)
