"""Which files a list[Path] workflow parameter was given, recorded in the manifest (flowpack.io/given-files) so a
later run can be given the same files back from the store (`flowpack run --params-from`)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ._bigvalue import UPLOAD_PREFIX

# workflow annotation: JSON {list[Path] parameter: [the digest of each file or folder it was given, in order]}, a
# folder's digest ending in "/"; each is uploaded under flowpack/inputs/<digest>, so a later run can be given the
# same files back from the store (flowpack run --params-from)
GIVEN_FILES = "flowpack.io/given-files"


@dataclass(frozen=True)
class GivenFile:
    """One file or folder a list[Path] workflow parameter was given: its upload key, and whether it is a folder
    (stored as a tar.gz)."""

    key: str
    folder: bool


GIVEN_FILES_BUDGET = 64 * 1024  # Kubernetes refuses an object whose annotations hold over 256 KiB in all


def given_files_annotation(given: dict[str, list[GivenFile]]) -> dict[str, str]:
    """The GIVEN_FILES annotation ({} when the workflow has no list[Path] parameter). Lists are recorded shortest
    first while they fit in GIVEN_FILES_BUDGET (about 1,000 files); a longer one is left out, and a later run must be
    given its files again."""
    data: dict[str, list[str]] = {}
    size = 2
    for name, files in sorted(given.items(), key=lambda item: len(item[1])):
        digests = [f.key.rsplit("/", 1)[-1] + ("/" if f.folder else "") for f in files]
        size += len(json.dumps({name: digests}, separators=(",", ":")))
        if size > GIVEN_FILES_BUDGET:
            break
        data[name] = digests
    return {GIVEN_FILES: json.dumps(data, sort_keys=True, separators=(",", ":"))} if data else {}


def given_files_of(manifest: dict) -> dict[str, list[GivenFile]]:
    """A manifest's GIVEN_FILES annotation read back: list[Path] parameter -> its files and folders; {} when it has
    none (a manifest rendered before they were recorded). ValueError when it is not what given_files_annotation
    writes."""
    text = ((manifest.get("metadata") or {}).get("annotations") or {}).get(GIVEN_FILES)
    if text is None:
        return {}
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"the {GIVEN_FILES} annotation holds {data!r}, not a JSON object")
    given: dict[str, list[GivenFile]] = {}
    for name, digests in data.items():
        if not isinstance(digests, list) or not all(isinstance(d, str) and _GIVEN.fullmatch(d) for d in digests):
            raise ValueError(f"the {GIVEN_FILES} annotation gives {name!r} {digests!r}, not a list of digests")
        given[name] = [GivenFile(f"{UPLOAD_PREFIX}/{d.rstrip('/')}", d.endswith("/")) for d in digests]
    return given


_GIVEN = re.compile(r"[0-9a-f]{64}/?")
