"""Directory artifacts as tar.gz: streamed packing with a running sha256, and safe extraction.

Format: gzip (level 6) of a PAX tar holding one top-level directory named "artifact" with the tree
inside. That is what Argo's executor expects of a tar archive: it extracts and, when there is a single
top-level entry, moves that entry to the artifact path. Extraction here follows the same rule, so
archives written by Argo load too. `deterministic=True` (used for content addressing) zeroes mtimes
and owners so equal trees give equal digests.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from flowpack._errors import StoreError

if TYPE_CHECKING:
    import tarfile

TOP = "artifact"
COMPRESSLEVEL = 6


class HashingWriter:
    """A write-only file object that hashes and counts what passes through to `out`."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._h = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._h.update(data)
        self._out.write(data)
        self.size += len(data)
        return len(data)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self._out.flush()

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def _normalize(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """Drop owners and mtimes so the archive depends only on names, modes and contents."""
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    return info


def _drop_owner(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def outside_link(top: Path) -> str | None:
    """The first symbolic link in directory `top` that is absolute or leads out of it, described; None if none does.

    Such a link can't travel: its target is a path on the machine that wrote it (extraction refuses it)."""
    real_top = os.path.realpath(top)
    for folder, dirs, files in os.walk(top):
        for entry in dirs + files:
            path = os.path.join(folder, entry)
            if not os.path.islink(path):
                continue
            target = os.readlink(path)
            if os.path.isabs(target) or os.path.commonpath([real_top, os.path.realpath(path)]) != real_top:
                return (f"the directory holds the link {os.path.relpath(path, top)!r} -> {target!r}, which leads "
                        f"out of it; a directory artifact can hold links only to its own files, by relative paths "
                        f"(copy the file in instead)")
    return None


def pack(src: Path, out: BinaryIO, *, deterministic: bool = False) -> tuple[str, int]:
    """Stream `src` (a directory) as tar.gz into `out`; returns (sha256, size) of the archive bytes.

    A link leading out of `src` is refused here, when the artifact is made, not later where it would be extracted."""
    problem = outside_link(src)
    if problem:
        raise StoreError(f"directory artifact {str(src)!r}: {problem}")

    writer = HashingWriter(out)
    with (
        gzip.GzipFile(fileobj=writer, mode="wb", compresslevel=COMPRESSLEVEL, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        tar.add(str(src), arcname=TOP, recursive=True, filter=_normalize if deterministic else _drop_owner)
    writer.flush()
    return writer.hexdigest(), writer.size


@contextmanager
def spooled(src: Path, directory: Path | None, *, deterministic: bool) -> Iterator[tuple[Path, str, int]]:
    """Pack `src` into a temporary file; yields (path, sha256, size) and removes the file afterwards."""
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".flowpack-", suffix=".tgz.part", dir=directory)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            sha, size = pack(src, f, deterministic=deterministic)
        yield tmp, sha, size
    finally:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass


def extract(archive: Path, staging: Path, what: str = "") -> Path:
    """Extract a tar(.gz) safely into new dir `staging`; returns the content dir (the single top entry).
    `what` names the artifact in errors (the archive itself is a temporary file)."""
    staging.mkdir()
    try:
        with tarfile.open(archive, "r:*") as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(staging, filter="data")
            else:  # Python without extraction filters: refuse unsafe names and links ourselves
                for m in tar.getmembers():
                    _check_member(m)
                tar.extractall(staging)
    except (tarfile.TarError, EOFError, ValueError) as exc:  # FilterError is a TarError
        raise StoreError(f"cannot extract directory artifact {what or archive.name}: {exc}") from exc
    entries = list(staging.iterdir())
    return entries[0] if len(entries) == 1 else staging


def is_tarball(stream: BinaryIO) -> bool:
    """Whether `stream` holds a gzip-compressed tar with a first entry: Argo's executor (isTarball) extracts such
    an input artifact unless its archive is `none`."""
    try:
        with tarfile.open(fileobj=stream, mode="r|gz") as tar:
            return tar.next() is not None
    except (tarfile.TarError, OSError, EOFError, zlib.error):
        return False


def _check_member(m: tarfile.TarInfo) -> None:
    """Reject absolute names, '..' and links leaving the archive (fallback for old Pythons)."""
    for name in (m.name, m.linkname if (m.issym() or m.islnk()) else ""):
        if name and (name.startswith("/") or ".." in Path(name).parts):
            raise StoreError(f"unsafe path {name!r} in directory artifact; refusing to extract")
    if m.isdev():
        raise StoreError(f"device file {m.name!r} in directory artifact; refusing to extract")


def unpacked_size(archive: Path) -> int:
    """Sum of member sizes of an archive (space needed to extract it)."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            return sum(m.size for m in tar.getmembers())
    except (tarfile.TarError, OSError, EOFError):
        return 0
