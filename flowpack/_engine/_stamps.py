"""When each line of a step's log was written: the local engine stamps every line as the step writes it.

A step writes its standard error and output straight into the files `stderr` and `stdout` of its folder; while it
runs, a Stamper watches them (every tenth of a second) and, for each line that got its newline, appends a stamp to
the file beside the log (`stderr.times`, `stdout.times`): the byte offset just past the newline and the Unix time it
saw the line complete, tab-separated, one stamp a line. The logs themselves stay exactly as the step wrote them. The
viewer and `run.logs()` read the stamps, so a line shows when it was written (at most a tenth of a second late), not
when it was read. The Docker engine writes the same stamps from the times its daemon gave each line as it arrived
(`split_time` reads the RFC 3339 time that Docker's and Kubernetes' log APIs put before a line when asked for
timestamps). Logs without stamps (an older run) read as before.
"""

from __future__ import annotations

import os
import re
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Iterable

SUFFIX = ".times"
INTERVAL = 0.1  # seconds between two looks at the logs: the most a stamp can be late
_READ = 1 << 20  # bytes read at a time while looking for newlines


class Stamper:
    """Watches the logs `streams` of a step's `folder` while the step runs: `with Stamper(folder, streams): ...`."""

    def __init__(self, folder: Path, streams: tuple[str, ...]) -> None:
        self.folder = folder
        self.streams = streams
        self._offsets = dict.fromkeys(streams, 0)
        self._lock = threading.Lock()  # one look at a time: the watcher's, or the last one at the step's end

    def __enter__(self) -> Stamper:
        _watcher.add(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _watcher.discard(self)
        self._look()  # what the step wrote last, stamped as it ends

    def _look(self) -> None:
        now = round(time.time(), 3)
        with self._lock:
            for stream in self.streams:
                try:
                    self._stamp(stream, now)
                except OSError:  # a log that can't be read (yet): looked at again next time
                    continue

    def _stamp(self, stream: str, now: float) -> None:
        start = self._offsets[stream]
        fd = os.open(self.folder / stream, os.O_RDONLY | os.O_NOFOLLOW)  # never through a link the step planted
        with os.fdopen(fd, "rb") as log:
            if os.fstat(log.fileno()).st_size <= start:
                return
            log.seek(start)
            ends: list[int] = []
            offset = start
            while chunk := log.read(_READ):
                at = chunk.find(b"\n")
                while at >= 0:
                    ends.append(offset + at + 1)
                    at = chunk.find(b"\n", at + 1)
                offset += len(chunk)
        if not ends:
            return
        self._offsets[stream] = ends[-1]
        write_stamps(self.folder, stream, ((end, now) for end in ends))


class _Watcher:
    """One thread of the process looks at the logs of every running step each INTERVAL (a thread per step cost
    more than a trivial step's own work); it ends when no step is left and starts again with the next one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[Stamper] = set()
        self._thread: threading.Thread | None = None

    def add(self, stamper: Stamper) -> None:
        with self._lock:
            self._running.add(stamper)
            if self._thread is None or not self._thread.is_alive():  # not alive either in a forked child
                self._thread = threading.Thread(target=self._watch, name="flowpack-stamps", daemon=True)
                self._thread.start()

    def discard(self, stamper: Stamper) -> None:
        with self._lock:
            self._running.discard(stamper)

    def _watch(self) -> None:
        while True:
            time.sleep(INTERVAL)
            with self._lock:
                if not self._running:
                    self._thread = None
                    return
                running = list(self._running)
            for stamper in running:  # one that ended meanwhile finds nothing new: its last look stamped it all
                stamper._look()


_watcher = _Watcher()


def write_stamps(folder: Path, stream: str, stamps: Iterable[tuple[int, float]]) -> None:
    """Append stamps (offset just past a line's newline, Unix time the line was written) beside a step's log."""
    rows = "".join(f"{end}\t{when:.6f}\n" for end, when in stamps)
    if rows:
        with open(folder / (stream + SUFFIX), "a", encoding="ascii") as times:
            times.write(rows)


# The time Docker's log API (`timestamps`) and the kubelet's (`timestamps=true`, as the Argo Server passes it on) put
# before each line: RFC 3339 with up to nine digits of fractions, then one space.
_TIME = re.compile(rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d) ")


def split_time(line: bytes) -> tuple[float | None, bytes]:
    """(Unix time, the rest) of a line that begins with an RFC 3339 time and a space; (None, line) otherwise."""
    found = _TIME.match(line)
    if found is None:
        return None, line
    whole, fraction, zone = found.groups()
    try:
        at = datetime.fromisoformat((whole + (b"+00:00" if zone == b"Z" else zone)).decode("ascii"))
    except ValueError:  # digits in the shape of a time that is none (month 13)
        return None, line
    return at.timestamp() + int((fraction or b"0").ljust(9, b"0")) / 1e9, line[found.end():]


def read_stamps(folder: Path, stream: str) -> dict[int, float]:
    """{offset just past a line's newline: the Unix time the line was written} for a step's log; {} without stamps."""
    try:
        fd = os.open(folder / (stream + SUFFIX), os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return {}
    stamps: dict[int, float] = {}
    with os.fdopen(fd, "r", encoding="ascii", errors="replace") as times:
        for row in times:
            end, _, when = row.partition("\t")
            try:
                stamps[int(end)] = float(when)
            except ValueError:  # a row cut short (the step is still being stamped): the rest is still good
                continue
    return stamps
