"""Download workflow output artifacts that Argo wrote to the artifact repository, through a flowpack Store.

Argo archives an output artifact as tar+gzip (key ending in .tgz, one top-level entry named after the path's
last part) unless the template says `archive: {none: {}}` (flowpack's pickled values), in which case the object
is the file itself. Argo records no digest: a pickled value is unpickled only once it matches the sha256 its step
reported as an output parameter (`sha256-<output>`, in the workflow status).
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from .._results import load_pickled
from .._store import S3, LocalStore
from .._store._archive import extract
from .._wire import DIGEST_PREFIX
from ._errors import ArgoArtifactError


def artifact_key(art: dict) -> str:
    """The object key of a status artifact ({name, s3: {key, bucket?...}})."""
    s3 = art.get("s3") or {}
    key = s3.get("key")
    if not key:
        kinds = sorted(k for k in art if k not in ("name", "path", "archive", "from"))
        raise ArgoArtifactError(f"output artifact {art.get('name')!r} is not in an S3 repository ({kinds}); "
                                f"flowpack reads S3 artifact repositories only")
    return key


def open_object(store, key: str):
    """A readable stream of the object at `key` (a bucket key, as Argo records it), without a digest check.

    Through the store's `open_unverified`, since its own reads check a sha256 that Argo never recorded.
    """
    prefix = store.prefix if isinstance(store, S3) else ""
    if prefix and not key.startswith(prefix):
        raise ArgoArtifactError(f"artifact {key!r} is outside the store's prefix {prefix!r}")
    if not isinstance(store, (S3, LocalStore)):
        raise ArgoArtifactError(f"can't read artifact {key!r} from {type(store).__name__}: flowpack reads Argo's "
                                f"artifacts from an S3 store (fp.S3(endpoint, bucket)) on the repository's bucket")
    return store.open_unverified(key[len(prefix):])


def _download(store, key: str, dest: Path) -> None:
    """Stream object `key` into the new file `dest` (no digest to check: Argo records none)."""
    with open_object(store, key) as stream, open(dest, "xb") as out:
        shutil.copyfileobj(stream, out, 1 << 20)


def fetch_path(store, art: dict, dest: Path) -> Path:
    """Download a Path output to `dest`, extracting Argo's tar.gz archive when it is one."""
    key = artifact_key(art)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".fp-fetch-") as tmp:
        raw = Path(tmp) / "object"
        _download(store, key, raw)
        if key.endswith((".tgz", ".tar.gz", ".tar")) and tarfile.is_tarfile(raw):
            content = extract(raw, Path(tmp) / "x", repr(key))
        else:
            content = raw
        if dest.is_dir() and not dest.is_symlink():
            shutil.rmtree(dest)
        elif dest.exists():
            dest.unlink()
        os.replace(content, dest)
    return dest


def reported_digest(workflow: dict, art: dict) -> str | None:
    """The sha256 the step that wrote artifact `art` reported for it (its `sha256-<output>` output parameter), found
    through the workflow status: the node whose output artifact has the same key and a digest beside it (the DAGs
    that pass the artifact on list it too, without one)."""
    key = (art.get("s3") or {}).get("key")
    for node in ((workflow.get("status") or {}).get("nodes") or {}).values():
        outputs = node.get("outputs") or {}
        for produced in outputs.get("artifacts") or []:
            if key and (produced.get("s3") or {}).get("key") == key:
                params = {p.get("name"): p.get("value") for p in outputs.get("parameters") or []}
                digest = params.get(DIGEST_PREFIX + produced.get("name", ""))
                if digest:
                    return digest
    return None


def fetch_pickle(store, art: dict, workflow: dict):
    """Download a pickled value (archive none; a tar.gz holding one file is accepted too) and unpickle it once it
    matches the digest its step reported in the workflow status."""
    key = artifact_key(art)
    with tempfile.TemporaryDirectory(prefix="fp-fetch-") as tmp:
        raw = Path(tmp) / "object"
        _download(store, key, raw)
        if key.endswith(".tgz"):
            content = extract(raw, Path(tmp) / "x", repr(key))
            if content.is_dir():
                raise ArgoArtifactError(f"output {art.get('name')!r}: expected one pickled file in {key}")
            raw = content
        return load_pickled(raw.read_bytes(), reported_digest(workflow, art),
                            f"output {art.get('name')!r} (artifact {key})")
