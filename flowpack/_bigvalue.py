"""Big values: a parameter whose text is over BIG_VALUE (128 KiB, in _wire) travels as an artifact.

Argo keeps a whole workflow (its manifest, and every node's input and output parameters) in one Kubernetes object,
which etcd caps at about 1 MiB. A value over BIG_VALUE bytes of text therefore travels as an artifact, its *twin*
(`fp-big-<name>`, see _wire), and its parameter holds only a marker, `fp-big:<bytes>:<sha256>` (BIG, in _types),
which the step script replaces with the twin's text after checking its size and digest. The step gets the same
value, typed by its annotation, as if the text had come in the parameter.

- At build time (_graph; a workflow parameter: _bigflow): a literal argument of a Python op, or a workflow
  parameter's value, is stored as a file keyed by its content (`stash`) and uploaded before the run like a local
  input file; the task names it as the twin of the input. A `BigValueWarning` says so.
- At run time (_bigflow): a Python op's output may leave its text as an artifact when every step reading it is a
  Python op taking the twin beside the parameter; the step writes the twin only when the text is over BIG_VALUE.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from ._types import BIG
from ._wire import BIG_VALUE, twin

__all__ = ["BIG_VALUE", "UPLOAD_PREFIX", "BigValueWarning", "Marked", "Stashed", "Twin", "is_big", "marker",
           "read_marker", "stash", "twin_literal", "user_level", "warn_kept"]

UPLOAD_PREFIX = "flowpack/inputs"  # input files (_graph) and big values are stored under it, by their content


class BigValueWarning(UserWarning):
    """A value over BIG_VALUE travels as an artifact instead of inside the workflow (or can't, and stays inside).
    Silence it with `warnings.filterwarnings("ignore", category=fp.BigValueWarning)`."""


SILENCE = 'warnings.filterwarnings("ignore", category=fp.BigValueWarning)'


@dataclass(frozen=True)
class Stashed:
    """A big text kept as a file for the run's upload: its store key, the file, and the marker standing for it."""

    key: str
    path: Path
    marker: str
    size: int


def size_of(text: str) -> int:
    """The text's size in bytes as a step reads it (UTF-8; lone surrogates as Python writes them)."""
    return len(text.encode("utf-8", errors="surrogatepass"))


def is_big(text: str) -> bool:
    """Whether `text` is over BIG_VALUE bytes (a cheap look at its length first: UTF-8 takes 1 to 4 bytes a char)."""
    return len(text) * 4 > BIG_VALUE and size_of(text) > BIG_VALUE


def marker(data: bytes) -> str:
    """The parameter text standing for `data`: `fp-big:<bytes>:<sha256>`."""
    return f"{BIG}{len(data)}:{hashlib.sha256(data).hexdigest()}"


@dataclass(frozen=True)
class Marked:
    """What a big value's marker names: the size and sha256 of its text, kept under its content key."""

    size: int
    sha256: str

    @property
    def key(self) -> str:
        """Where the value is stored when it was given at build time (stashed and uploaded, see `stash`)."""
        return f"{UPLOAD_PREFIX}/{self.sha256}"


_MARKER = re.compile(re.escape(BIG) + r"(0|[1-9][0-9]*):([0-9a-f]{64})")


def read_marker(text: str) -> Marked | None:
    """The size and digest `text` names when it is exactly a big value's marker, else None. A user's own text
    never is one: text beginning like the marker travels encoded (see _types.needs_marker)."""
    found = _MARKER.fullmatch(text)
    return Marked(int(found.group(1)), found.group(2)) if found else None


def stash(text: str) -> Stashed:
    """Keep `text` as a file named by its sha256 (in flowpack's cache folder), to be uploaded under its content key
    like a local input file. Written once, atomically; an existing file with the same name has the same bytes."""
    data = text.encode("utf-8", errors="surrogatepass")
    digest = hashlib.sha256(data).hexdigest()
    folder = _folder()
    path = folder / digest
    if not path.is_file() or path.stat().st_size != len(data):
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    return Stashed(f"{UPLOAD_PREFIX}/{digest}", path, marker(data), len(data))


def _folder() -> Path:
    root = os.environ.get("FLOWPACK_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "flowpack")
    return Path(root) / "values"


def describe_size(size: int) -> str:
    """`1.2 MiB`, `300.0 KiB`: a size for a warning."""
    return f"{size / (1 << 20):.1f} MiB" if size >= 1 << 20 else f"{size / 1024:.1f} KiB"


@dataclass(frozen=True)
class Twin:
    """A big literal for one input: the stashed file to upload (its marker is what the input's parameter holds),
    and the twin artifact argument the step reads the value from (uploaded by content, kept as it is)."""

    stashed: Stashed
    artifact: dict

    @property
    def marker(self) -> str:
        return self.stashed.marker


def twin_literal(text: str, name: str, where: str) -> Twin:
    """A big literal for input `name`, as its twin. Warns (BigValueWarning) naming `where` and the size."""
    stashed = stash(text)
    warnings.warn(BigValueWarning(
        f"{where}: the value is {describe_size(stashed.size)} of text, over {BIG_VALUE // 1024} KiB, so it travels "
        f"as an artifact (uploaded before the run) instead of inside the workflow, which Argo keeps under about "
        f"1 MiB. The step gets the same value. To silence this: {SILENCE}."), stacklevel=user_level())
    return Twin(stashed, {"name": twin(name), "s3": {"key": stashed.key}, "archive": {"none": {}}})


def warn_kept(where: str, text: str, why: str) -> None:
    """Say that a value over BIG_VALUE stays inside the workflow, and why (`why` names what reads it)."""
    warnings.warn(BigValueWarning(
        f"{where}: the value is {describe_size(size_of(text))} of text, over {BIG_VALUE // 1024} KiB, and stays "
        f"inside the workflow (Argo keeps it under about 1 MiB): {why}, where Argo needs the value itself. Pass it "
        f"only to Python ops to have it travel as an artifact. To silence this: {SILENCE}."), stacklevel=user_level())


def user_level() -> int:
    """The stack level of the first frame outside flowpack (the workflow body's line), for warnings."""
    frame: FrameType | None = sys._getframe(1)
    level = 1
    package = os.path.dirname(os.path.abspath(__file__))
    while frame is not None and os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == package:
        frame, level = frame.f_back, level + 1
    return level
