"""Content digests of input files and folders, streamed (never a whole file in memory).

A file's digest is the one the stores record (`hash_file`, kept here below them), so the key a manifest names for an
input file is the key `Store.put_content` uploads it under.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

CHUNK = 1 << 20  # bytes per read/write; memory use per transfer is a few of these


def hash_file(path: Path) -> tuple[str, int]:
    """sha256 and size of a file, read in chunks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def path_digest(path: Path) -> str:
    """sha256 of a file, or of a folder's relative names and file digests in a stable order."""
    path = Path(path)
    if not path.is_dir():
        return hash_file(path)[0]
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames.sort()
        for name in sorted(filenames):
            full = Path(dirpath) / name
            h.update(str(full.relative_to(path)).encode() + b"\0" + hash_file(full)[0].encode() + b"\n")
    return h.hexdigest()
