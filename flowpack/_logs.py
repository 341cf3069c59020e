"""Step logs as lines: `run.logs()` / `run.logs(step)` on a local (or Docker) run, read from each step's folder,
in the same form `ArgoRun.logs` gives from Argo's log stream (LogLine: step, pod, content, time)."""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

from ._engine._stamps import read_stamps
from ._errors import UsageError

STREAMS = ("stderr", "stdout")  # what the function prints goes to stderr; stdout holds its short result, last


class LogLine(NamedTuple):
    """One line of a step's container log (`pod` is empty for a local step). `time`: when the step wrote it, as Unix
    time: stamped by the local engine as the step runs, received by the Docker daemon (Docker engine) or by
    Kubernetes (Argo); None where no time was kept (a line that never ended, locally and on Docker)."""

    step: str
    pod: str
    content: str
    time: float | None = None

    def __str__(self) -> str:
        return self.shown()

    def shown(self, timestamps: bool = False) -> str:
        """The line as `flowpack logs` prints it, `step: content`; with `timestamps`, `step: TIME content` as
        `argo logs --timestamps` prints a pod's line (TIME: RFC 3339 in UTC, see `rfc3339`). A line with no time
        kept has none in front."""
        content = f"{rfc3339(self.time)} {self.content}" if timestamps and self.time is not None else self.content
        return f"{self.step}: {content}" if self.step else content


def rfc3339(when: float) -> str:
    """Unix time as RFC 3339 in UTC, as `kubectl logs --timestamps` writes it, to the microsecond (the precision the
    engines keep: the kubelet's nine digits of fractions pass through a float)."""
    return datetime.fromtimestamp(when, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def find_step(steps: dict, step: str, run_id: str) -> str:
    """The node of `step`: a node path (`square/0`) or a display name (`train-lr-0-1`, `square(0)`) that names
    exactly one step."""
    if step in steps:
        return step
    matches = sorted(n for n, s in steps.items() if s.get("name") == step or n.endswith("/" + step))
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise UsageError(f"run {run_id}: no step {step!r}; steps: {sorted(steps)}")
    raise UsageError(f"run {run_id}: step {step!r} matches several steps; use the full path, one of {matches}")


def _lines(folder: Path, offsets: dict, final: bool) -> Iterator[tuple[str, float | None]]:
    """The complete lines appended to the folder's stderr and stdout since the last call (all of them at the end),
    each with the time the step wrote it (None when not stamped)."""
    for stream in STREAMS:
        path = folder / stream
        if not path.is_file():
            continue
        start = offsets.get(stream, 0)
        with open(path, "rb") as f:
            f.seek(start)
            data = f.read()
        if not final:
            data = data[: data.rfind(b"\n") + 1]
        offsets[stream] = start + len(data)
        stamps = read_stamps(folder, stream) if data else {}
        end = start
        rows = data.split(b"\n")
        for i, raw in enumerate(rows):
            if i == len(rows) - 1 and not raw:
                break  # after the last newline
            end += len(raw) + (i < len(rows) - 1)
            for line in raw.decode("utf-8", errors="replace").splitlines() or [""]:
                yield line, stamps.get(end)


def local_logs(steps: Callable[[], dict], folder: Path, run_id: str, done: Callable[[], bool], step: str | None = None,
               *, follow: bool = False, container: str = "main", grep: str | None = None,
               poll: float = 0.2) -> Iterator[LogLine]:
    """Lines of one step (or of every step, in the order they started) from `folder/<node>/{stderr,stdout}`.
    `follow=True` goes on while the run is running; `grep` keeps the lines matching a regular expression."""
    if container != "main":
        raise UsageError(f"run {run_id}: a local step has one container, 'main'; got container={container!r}.")
    try:
        pattern = re.compile(grep) if grep is not None else None
    except re.error as exc:
        raise UsageError(f"run {run_id}: grep={grep!r} is not a regular expression: {exc}") from None
    node = find_step(steps(), step, run_id) if step is not None else None
    offsets: dict[str, dict] = {}
    while True:
        final = done() or not follow
        current = steps()
        order = [node] if node is not None else sorted(
            (n for n in current if (folder / n).is_dir()), key=lambda n: (current[n].get("startedAt") or "", n))
        for n in order:
            ended = final or current.get(n, {}).get("phase") not in ("Pending", "Running")
            for line, when in _lines(folder / n, offsets.setdefault(n, {}), ended):
                if pattern is None or pattern.search(line):
                    yield LogLine(n, "", line, when)
        if final:
            return
        time.sleep(poll)
