"""Step folders made ahead of their steps, off the path a step waits on.

Each step of the local engine gets a fresh folder: its working folder `work`, its root `root` and, under the root,
the folders around its template's declared paths (e.g. root/tmp and the folders below it). Making a folder is
one of the dearer things a trivial step costs: on a busy ext4 each new inode costs 0.1-0.3 ms of CPU (its inode
allocator passes over recently deleted inodes one by one). So when a step takes its folder and a core is left
free by the running steps, a helper thread makes the next one of the same layout while the step runs, and the next
step of that layout takes it with one rename (with every core busy, folders are made in place: ahead they would cost
the same CPU and a hand-over).
The empty log files a runner opens for writing can be made with them. The folders are the same as when made in
place; the ones no step took are removed when the run ends.
"""

from __future__ import annotations

import os
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

Layout = tuple[str, ...]  # folders under a step's folder, parents first: ("work", "root", "root/tmp", ...)


class Ahead:
    """The folders made ahead for one run, in <run>/.ahead (the filesystem of steps/, so a rename moves one)."""

    def __init__(self, run_dir: Path, keep: int, files: tuple[str, ...] = ()) -> None:
        self.base = run_dir / ".ahead"
        self.keep = keep  # folders kept ready per layout: one per step that may start at once
        self.files = files  # empty files in each folder (the logs its runner opens for writing, so truncates)
        self._ready: dict[Layout, list[Path]] = {}
        self._making: dict[Layout, int] = {}
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._made = 0
        self._ended = False

    def take(self, layout: Layout, step_dir: Path, more: bool) -> bool:
        """Rename a folder made ahead for `layout` to step_dir: True when one was ready (step_dir did not exist, or
        was an empty folder). With `more`, the next steps' folders of this layout are made meanwhile."""
        with self._lock:
            ready = self._ready.get(layout)
            folder = ready.pop() if ready else None
            if more and not self._ended:
                for _ in range(self.keep - len(self._ready.get(layout) or ()) - self._making.get(layout, 0)):
                    self._making[layout] = self._making.get(layout, 0) + 1
                    if self._pool is None:
                        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flowpack-ahead")
                    self._pool.submit(self._make, layout)
        if folder is None:
            return False
        try:
            os.rename(folder, step_dir)
        except OSError:  # e.g. step_dir holds something already: the caller makes its folders in place
            shutil.rmtree(folder, ignore_errors=True)
            return False
        return True

    def _make(self, layout: Layout) -> None:
        with self._lock:
            self._made += 1
            folder = self.base / str(self._made)
        try:
            self.base.mkdir(exist_ok=True)
            os.mkdir(folder)
            for name in layout:
                os.mkdir(folder / name)
            for name in self.files:
                os.close(os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # as open(.., "wb")
        except OSError:  # e.g. a full disk: steps make their folders in place, and say why if they can't
            shutil.rmtree(folder, ignore_errors=True)
            with self._lock:
                self._making[layout] -= 1
            return
        with self._lock:
            self._making[layout] -= 1
            if not self._ended:
                self._ready.setdefault(layout, []).append(folder)
                return
        shutil.rmtree(folder, ignore_errors=True)

    def end(self) -> None:
        """The run ended: no more folders are made, and the ones no step took are removed."""
        with self._lock:
            self._ended = True
            self._ready.clear()
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        shutil.rmtree(self.base, ignore_errors=True)
