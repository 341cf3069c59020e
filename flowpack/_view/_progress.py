"""A progress bar of our own for runs: a redrawn text line on a terminal, an updated HTML display in Jupyter.

    progress(lambda: {"phase": ..., "steps": {node: phase}, "total": 12})   # poll until the run ends
    pipeline.run(progress=ProgressBar())                                    # fed by the local engine's events

No tqdm: one line of text or one small HTML block is all a run needs.
"""

from __future__ import annotations

import sys
import time
from html import escape
from typing import Callable, TextIO

DONE = ("Succeeded", "Failed", "Error", "Stopped")
ENDED_STEP = ("Succeeded", "Failed", "Error", "Skipped", "Omitted", "Stopped")


def in_kernel() -> bool:
    """True inside a Jupyter kernel (where HTML displays render), False in a terminal or plain IPython."""
    if "IPython" not in sys.modules:
        return False
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


class ProgressBar:
    """Draws run progress; `update(state)` with {phase, steps: {node: phase}, total}, or `__call__(event)` from an engine.

    mode: "html" (a Jupyter display updated in place), "tty" (one line redrawn with \\r), "lines" (a line when
    counts change, at most every `every` seconds, for logs), or None to pick from the surroundings.
    """

    def __init__(self, *, total: int | None = None, stream: TextIO | None = None, mode: str | None = None,
                 label: str = "run", width: int = 30, every: float = 5.0):
        self.stream = stream if stream is not None else sys.stderr
        if mode is None:
            mode = "html" if in_kernel() else "tty" if _isatty(self.stream) else "lines"
        self.mode = mode
        self.total = total
        self.label = label
        self.width = width
        self.every = every
        self.t0 = time.monotonic()
        self.steps: dict[str, str] = {}
        self.phase = "Running"
        self._handle = None
        self._last_line = ""
        self._last_time = 0.0
        self._closed = False

    # -- inputs ----------------------------------------------------------------------------------
    def __call__(self, event: dict) -> None:
        """An engine progress event ({node, phase, ...}): one step changed."""
        self.steps[event["node"]] = event["phase"]
        self.draw()

    def update(self, state: dict) -> None:
        """A whole status: {"phase", "steps": {node: phase or {phase: ...}}, "total"} or a bare {node: phase}."""
        if isinstance(state.get("steps"), dict):
            steps, phase, total = state["steps"], state.get("phase"), state.get("total")
        else:
            steps, phase, total = state, None, None
        self.steps = {k: (v.get("phase") if isinstance(v, dict) else v) for k, v in steps.items()}
        if total is not None:
            self.total = total
        if phase:
            self.phase = phase
        self.draw()

    # -- numbers ---------------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.steps.values():
            out[p] = out.get(p, 0) + 1
        return out

    def numbers(self) -> tuple[int, int]:
        """(steps ended, steps expected): expected grows with what is seen when the total isn't known."""
        done = sum(1 for p in self.steps.values() if p in ENDED_STEP)
        total = max(self.total or 0, len(self.steps))
        return done, total

    def text(self) -> str:
        done, total = self.numbers()
        frac = done / total if total else 0.0
        filled = int(round(frac * self.width))
        bar = "#" * filled + "-" * (self.width - filled)
        counts = self.counts()
        extra = "  ".join(f"{k.lower()} {counts[k]}" for k in ("Running", "Failed", "Error", "Skipped", "Omitted")
                          if counts.get(k))
        elapsed = time.monotonic() - self.t0
        head = f"{self.label} {self.phase.lower()}" if self.phase in DONE else self.label
        return f"{head} [{bar}] {done}/{total or '?'} steps  {extra}{'  ' if extra else ''}{elapsed:6.1f}s".rstrip()

    def html(self) -> str:
        done, total = self.numbers()
        pct = 100.0 * done / total if total else 0.0
        counts = self.counts()
        colour = "#dc2626" if counts.get("Failed") or counts.get("Error") or self.phase in ("Failed", "Error") \
            else "#16a34a" if self.phase == "Succeeded" else "#2563eb"
        detail = ", ".join(f"{v} {k.lower()}" for k, v in sorted(counts.items()))
        return (f'<div class="fp-progress" style="font:12px sans-serif">'
                f'<div style="width:320px;height:10px;background:#e5e7eb;border-radius:5px;display:inline-block;'
                f'vertical-align:middle"><div style="width:{pct:.1f}%;height:10px;background:{colour};'
                f'border-radius:5px"></div></div> <span>{escape(self.label)} {escape(self.phase.lower())}: '
                f'{done}/{total or "?"} steps ({escape(detail)}) {time.monotonic() - self.t0:.1f}s</span></div>')

    # -- output ----------------------------------------------------------------------------------
    def draw(self, force: bool = False) -> None:
        if self._closed:
            return
        if self.mode == "html":
            from IPython.display import HTML, display

            if self._handle is None:
                self._handle = display(HTML(self.html()), display_id=True)
            else:
                self._handle.update(HTML(self.html()))
            return
        line = self.text()
        if self.mode == "tty":
            self.stream.write("\r\x1b[K" + line)
            self.stream.flush()
            return
        key = line.rsplit(" ", 1)[0]  # without the clock: a line per change, not per tick
        now = time.monotonic()
        if force or (key != self._last_line and now - self._last_time >= self.every):
            self._last_line, self._last_time = key, now
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self, phase: str | None = None) -> None:
        """Draw the final state (and end the terminal line)."""
        if phase:
            self.phase = phase
        self.draw(force=True)
        if self.mode == "tty":
            self.stream.write("\n")
            self.stream.flush()
        self._closed = True


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def progress(status: Callable[[], dict], *, interval: float = 0.5, timeout: float | None = None,
             bar: ProgressBar | None = None, **options) -> dict:
    """Poll `status()` until its phase ends, drawing a progress bar; returns the last status.

    status() returns {"phase": "Running", "steps": {node: phase}, "total": n or None}. Raises RunError after
    `timeout` seconds (the run goes on).
    """
    bar = bar or ProgressBar(**options)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        state = status()
        bar.update(state)
        if state.get("phase") in DONE:
            bar.close(state["phase"])
            return state
        if deadline is not None and time.monotonic() >= deadline:
            bar.close()
            from .._errors import RunError

            raise RunError(f"progress(timeout={timeout}): the run is still {state.get('phase')}; it goes on. "
                           "Wait again, or stop it.")
        time.sleep(interval)
