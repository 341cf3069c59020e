"""Copy-on-write views of stored artifacts for one local step: overlayfs mounts, where this process may mount them.

A consumer sees each input at the path it declared and may change it, as on Argo, where an input is the step's own
downloaded copy; what it writes lands in an upper folder of its own (overlayfs copies a file up before its first
write), never in the stored object, which is the mount's lower layer and which overlayfs never writes. A folder input
is a mount at its own path (lower: the stored folder); file inputs are mounted over the folder that holds them (lower:
a folder of hard links to the stored files, on top of that folder's own content). The mounts live in this process's
mount namespace, where both the fork server's steps and spawned ones see them, for the step's lifetime: the engine
detaches them when the step's outputs are collected. The views of an engine killed mid-step are detached when its run
is found abandoned (_procs.settle_abandoned: when the viewer lists it, or it is resumed). Steps that get their own
mount namespace (shell steps, see _mountns) bind the step root recursively, so they see them too.

Only root may mount, and only where the kernel has overlayfs; FLOWPACK_OVERLAY=0 turns views off. Elsewhere the
engine copies the input instead (_handoff). Not used by the Docker engine: dockerd mounts the step's folders itself.
"""

from __future__ import annotations

import ctypes
import functools
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

MNT_DETACH = 2


@functools.lru_cache(maxsize=1)
def _kernel_has_overlay() -> bool:
    try:
        with open("/proc/filesystems", encoding="ascii") as f:
            return any(line.split()[-1:] == ["overlay"] for line in f)
    except OSError:
        return False


def available() -> bool:
    """Whether inputs can be viewed here: root, Linux with overlayfs, and not turned off by FLOWPACK_OVERLAY=0."""
    return (os.environ.get("FLOWPACK_OVERLAY", "1") != "0" and os.name == "posix" and os.geteuid() == 0
            and _kernel_has_overlay())


@functools.lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _escaped(path: Path) -> str:
    """A path as overlayfs reads it in its options: ',', ':' and '\\' escaped with a backslash."""
    return "".join("\\" + c if c in ",:\\" else c for c in str(path))


def _mount(lowers: list[Path], layer: Path, target: Path) -> None:
    upper, work = layer / "upper", layer / "work"
    upper.mkdir(parents=True)
    work.mkdir()
    options = (f"lowerdir={':'.join(_escaped(p) for p in lowers)},upperdir={_escaped(upper)},"
               f"workdir={_escaped(work)}")
    if _libc().mount(b"overlay", os.fsencode(target), b"overlay", 0, options.encode()) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"mount overlay at {target}: {os.strerror(code)}")


def _unescaped(field: str) -> str:
    """A path field of /proc/self/mountinfo: the kernel writes space, tab, newline and backslash as octal escapes."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mounted_under(folder: Path) -> list[Path]:
    """The overlay mounts of this mount namespace at or below `folder`, innermost first."""
    root = os.path.realpath(folder)
    found = []
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
            for line in f:
                fields = line.split()
                if " - overlay " not in line or len(fields) < 5:
                    continue
                point = _unescaped(fields[4])
                if point == root or point.startswith(root + os.sep):
                    found.append(Path(point))
    except OSError:
        return []
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def detach_under(folder: Path) -> int:
    """Detach every view left mounted below `folder`, e.g. by an engine that was killed (SIGKILL) while a step ran:
    its views stay in the mount namespace it shared, and the run's folder could not be deleted. Returns how many."""
    points = mounted_under(folder)
    for point in points:
        _libc().umount2(os.fsencode(point), MNT_DETACH)
    return len(points)


@dataclass
class Views:
    """The copy-on-write views of one step's inputs: added while its inputs are placed, mounted, then closed."""

    folder: Path  # the step's own folder for the mounts' layers (lower links, upper, work)
    files: dict[Path, list[tuple[Path, str]]] = field(default_factory=dict)  # parent folder -> (stored file, name)
    dirs: list[tuple[Path, Path]] = field(default_factory=list)  # (stored folder, input folder)
    mounted: list[Path] = field(default_factory=list)

    def add(self, stored: Path, dest: Path) -> None:
        """View the stored file or folder at dest (its parent folder exists)."""
        if stored.is_dir():
            dest.mkdir(exist_ok=True)
            self.dirs.append((stored, dest))
        else:
            self.files.setdefault(dest.parent, []).append((stored, dest.name))

    def mount(self) -> list[tuple[Path, Path]]:
        """Mount every view, parents before what they hold; returns the (stored, dest) pairs that could not be
        viewed (the caller copies those; a copy made now lands in the views' upper folders if under one)."""
        left: list[tuple[Path, Path]] = []
        dir_inputs = [d for _, d in self.dirs]
        number = 0
        for parent in sorted(self.files, key=lambda p: len(p.parts)):
            entries = self.files[parent]
            if any(parent == d or d in parent.parents for d in dir_inputs):  # inside a folder input: copied into it
                left += [(stored, parent / name) for stored, name in entries]
                continue
            number += 1
            layer = self.folder / str(number)
            links = layer / "lower"
            links.mkdir(parents=True)
            try:
                for stored, name in entries:
                    os.link(stored, links / name)
                _mount([links, parent], layer, parent)
            except OSError:  # e.g. the store on another filesystem (no hard link), or a kernel refusing the mount
                left += [(stored, parent / name) for stored, name in entries]
                shutil.rmtree(layer, ignore_errors=True)
                continue
            self.mounted.append(parent)
        for stored, dest in sorted(self.dirs, key=lambda pair: len(pair[1].parts)):
            number += 1
            layer = self.folder / str(number)
            try:
                _mount([stored], layer, dest)
            except OSError:
                left.append((stored, dest))
                shutil.rmtree(layer, ignore_errors=True)
                continue
            self.mounted.append(dest)
        return left

    def close(self) -> None:
        """Detach every mount (innermost first) and drop the layers' links to the stored files; the upper folders,
        which hold what the step changed in its inputs, stay in the step's folder."""
        for target in reversed(self.mounted):
            _libc().umount2(os.fsencode(target), MNT_DETACH)
        self.mounted.clear()
        if self.folder.is_dir():
            for layer in self.folder.iterdir():
                shutil.rmtree(layer / "lower", ignore_errors=True)
                shutil.rmtree(layer / "work", ignore_errors=True)
