"""The one progress display of a run, for `flowpack run`, `run.wait()` (Run's and ArgoRun's) and Jupyter.

    bar = ProgressBar(manifest=m, run_path=p)   # or ProgressBar(run_dir=...): the manifest is read at the first event
    pipeline.run(progress=bar)                  # fed by the engine's events: bar({"run", "node", "phase", ...})
    run.wait()                                  # or by the events wait() makes of what it sees (flowpack._runbase)
    bar.close(run.phase, run.steps)             # the final line, from the run's own record

On a terminal one line is redrawn (a timer thread keeps the clock moving during a long step); in a log (not a
terminal) a line is written per ended step and a heartbeat line every `heartbeat` seconds; in Jupyter one HTML block
is updated in place. Counts come from the manifest's plan (_tally): done/total with a map counted as its items once
its total is known, the running steps by name, skipped steps and allowed failures by name.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from html import escape
from pathlib import Path
from typing import TextIO

from .._engine._record import read_step_record
from .._phase import Phase
from .._records import StepFolderRecord
from .._traceback import in_kernel
from ._tally import Plan, Tally

SHOWN_RUNNING = 3  # running steps named on the line; the rest are counted


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _read_json(path: Path) -> dict | None:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _clock(secs: float) -> str:
    """'4.2s', '3m04s', '1h02m'."""
    if secs < 60:
        return f"{secs:.1f}s"
    m, s = divmod(int(secs), 60)
    return f"{m}m{s:02d}s" if m < 60 else f"{m // 60}h{m % 60:02d}m"


def _names(names: list[str], limit: int = 5) -> str:
    return ", ".join(names[:limit]) + (f" +{len(names) - limit} more" if len(names) > limit else "")


class ProgressBar:
    """Draws one run's progress from step events (`bar(event)`: an engine's, or those wait() makes).

    manifest / run_path: the run's plan and folder (for map totals from the step that produced the list); with
    run_dir instead, both are found from the first event's run id. mode: "tty" (one redrawn line), "lines" (a log),
    "html" (Jupyter), or None to pick from the surroundings. tick: seconds between redraws on a terminal or in
    Jupyter; heartbeat: seconds between progress lines in a log.
    """

    def __init__(self, *, manifest: dict | None = None, run_path: str | Path | None = None,
                 run_dir: str | Path | None = None, total: int | None = None, stream: TextIO | None = None,
                 mode: str | None = None, label: str | None = None, width: int = 20, tick: float = 0.5,
                 heartbeat: float = 15.0):
        self.stream = stream if stream is not None else sys.stderr
        if mode is None:
            mode = "html" if in_kernel() else "tty" if _isatty(self.stream) else "lines"
        if mode not in ("tty", "lines", "html"):
            raise ValueError(f"ProgressBar(mode={mode!r}): expected 'tty', 'lines', 'html' or None")
        self.mode = mode
        self.total = total
        self.label = label
        self.width = width
        self.tick = tick
        self.heartbeat = heartbeat
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.run_path = Path(run_path) if run_path is not None else None
        self.plan: Plan | None = None
        if manifest is not None:
            self._set_manifest(manifest)
        self.t0 = time.monotonic()
        self.steps: dict[str, dict] = {}
        self.phase = "Running"
        self._final = False
        self._lock = threading.RLock()
        self._handle = None
        self._last_line = 0.0
        self._closed = threading.Event()
        self._ticker: threading.Thread | None = None

    # -- inputs ----------------------------------------------------------------------------------
    def __call__(self, event: dict) -> None:
        """An engine progress event ({run, node, phase, startedAt, message, ...}): one step changed."""
        with self._lock:
            if self._closed.is_set():
                return
            if self.plan is None and event.get("run") and self.run_dir is not None:
                self.run_path = self.run_dir / str(event["run"])
                manifest = _read_json(self.run_path / "manifest.json")
                if manifest:
                    self._set_manifest(manifest)
            self.steps[event["node"]] = dict(event)
            self._start_ticker()
            if self.mode == "lines":
                self._event_line(event)
            else:
                self._render()

    def _set_manifest(self, manifest: dict) -> None:
        self.plan = Plan(manifest)
        if self.label is None:
            self.label = ((manifest.get("metadata") or {}).get("generateName") or "").rstrip("-") or None

    def _read_step(self, node: str) -> StepFolderRecord | None:
        if self.run_path is None or ".." in node.split("/"):
            return None
        return read_step_record(self.run_path / "steps" / node)

    # -- numbers ---------------------------------------------------------------------------------
    def tally(self) -> Tally:
        """done/total and names, from the plan when there is one (else from the steps seen and `total`)."""
        final = self.phase if self._final else None
        if self.plan is not None:
            return self.plan.tally(self.steps, self._read_step, final_phase=final)
        t = Tally()
        for node, s in self.steps.items():
            phase = s.get("phase") or ""
            if final and phase in ("Running", "Pending"):
                phase = "Stopped"
            t.counts[phase] = t.counts.get(phase, 0) + 1
            t.done += phase in Phase.ENDED
            if phase == "Running":
                t.running.append((node, s.get("startedAt")))
            elif phase == "Skipped":
                t.skipped.append(node)
            elif phase == "Omitted":
                t.omitted.append(node)
            elif phase in Phase.FAILED_LIKE:
                t.failed.append(node)
        t.total = max(self.total or 0, len(self.steps))
        t.open = self.total is None and not final
        return t

    def numbers(self) -> tuple[int, int]:
        t = self.tally()
        return t.done, t.total

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def _running(self, t: Tally) -> str:
        now = time.time()
        shown = sorted(t.running, key=lambda r: r[1] or now)
        parts = [name + (f" {_clock(max(0.0, now - started))}" if isinstance(started, (int, float)) else "")
                 for name, started in shown[:SHOWN_RUNNING]]
        more = len(shown) - SHOWN_RUNNING
        return ", ".join(parts) + (f" +{more} more" if more > 0 else "")

    def _summary(self, t: Tally) -> tuple[str, list[str]]:
        """('9/12 steps' or 'Succeeded: 12/12 steps (...)', [running..., skipped..., failed...])."""
        count = f"{t.done}/{t.total}{'+' if t.open else ''} steps"
        extras = []
        if self._final:
            counts = t.counts
            order = ("Succeeded", "Failed", "Error", "failed (allowed)", "Skipped", "Omitted", "Stopped")
            detail = ", ".join(f"{counts[k]} {k.lower()}" for k in order if counts.get(k, 0) > 0)
            count = f"{self.phase}: {count}" + (f" ({detail})" if detail else "")
        elif t.running:
            extras.append("running: " + self._running(t))
        if t.skipped:
            extras.append("skipped: " + _names(t.skipped))
        if t.omitted:
            extras.append("not run: " + _names(t.omitted))
        if t.failed:
            extras.append("failed: " + _names(t.failed))
        if t.allowed:
            extras.append("failed (allowed): " + _names(t.allowed))
        return count, extras

    def text(self) -> str:
        """The progress line: clock, name, bar, done/total, then running (by name), skipped and failed steps."""
        t = self.tally()
        count, extras = self._summary(t)
        head = f"[{_clock(self.elapsed()):>7}] {self.label or 'run'}"
        if not self._final:
            filled = int(round(t.fraction * self.width))
            head += f" [{'#' * filled}{'-' * (self.width - filled)}]"
        return " · ".join([f"{head} {count}"] + extras)

    def html(self) -> str:
        t = self.tally()
        count, extras = self._summary(t)
        pct = 100.0 if self._final and self.phase == "Succeeded" else 100.0 * t.fraction
        colour = ("#dc2626" if t.failed or self.phase in Phase.FAILED_LIKE else
                  "#16a34a" if self.phase == "Succeeded" else "#d97706" if self.phase == "Stopped" else "#2563eb")
        text = " · ".join([f"{_clock(self.elapsed())} {self.label or 'run'} {count}"] + extras)
        return (f'<div class="fp-progress" style="font:12px sans-serif">'
                f'<div style="width:320px;height:10px;background:#e5e7eb;border-radius:5px;display:inline-block;'
                f'vertical-align:middle"><div style="width:{pct:.1f}%;height:10px;background:{colour};'
                f'border-radius:5px"></div></div> <span>{escape(text)}</span></div>')

    # -- output ----------------------------------------------------------------------------------
    def _columns(self) -> int:
        try:
            return os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, ValueError, OSError):
            return 120

    def draw(self) -> None:
        """Redraw now (a terminal line or the notebook block; a log line only on a heartbeat); nothing once closed."""
        with self._lock:
            if not self._closed.is_set():
                self._render()

    def _render(self) -> None:
        with self._lock:
            if self.mode == "html":
                from IPython.display import HTML, display  # lazy: IPython is optional (notebooks only)

                if self._handle is None:
                    self._handle = display(HTML(self.html()), display_id=True)
                else:
                    self._handle.update(HTML(self.html()))
            elif self.mode == "tty":
                line = self.text()
                width = self._columns() - 1
                if len(line) > width and not self._final:  # a wrapped line can't be redrawn in place
                    line = line[: max(0, width - 1)] + "\u2026"
                self.stream.write("\r\x1b[K" + line)
                self.stream.flush()
            elif time.monotonic() - self._last_line >= self.heartbeat:
                self._write_line(self.text())

    def _write_line(self, text: str) -> None:
        self._last_line = time.monotonic()
        self.stream.write(text + "\n")
        self.stream.flush()

    def _event_line(self, event: dict) -> None:
        """In a log: a line for each ended step (a map's items only when they fail)."""
        phase = event.get("phase")
        node = event["node"]
        is_item = self.plan is not None and node not in self.plan.by_id and self.plan.owner(node) is not None
        if phase not in Phase.ENDED or (is_item and phase not in Phase.FAILED_LIKE):
            return
        took = ""
        if isinstance(event.get("startedAt"), (int, float)) and isinstance(event.get("finishedAt"), (int, float)):
            took = f" in {_clock(max(0.0, event['finishedAt'] - event['startedAt']))}"
        message = (event.get("message") or "").strip().splitlines()
        allowed = (" (allowed to fail)" if phase in Phase.FAILED_LIKE and self.plan is not None
                   and self.plan.allowed(node) else "")
        self._write_line(f"[{_clock(self.elapsed()):>7}] {node} {phase}{took}{allowed}"
                         + (f": {message[-1]}" if message and phase != "Succeeded" else ""))

    def _start_ticker(self) -> None:
        if self._ticker is not None or self._closed.is_set():
            return
        every = self.heartbeat if self.mode == "lines" else self.tick
        if self.mode == "lines":
            self._last_line = self._last_line or time.monotonic()

        def tick() -> None:
            while not self._closed.wait(min(every, 1.0)):
                self.draw()

        self._ticker = threading.Thread(target=tick, name="flowpack-progress", daemon=True)
        self._ticker.start()

    def close(self, phase: str | None = None, steps: dict | None = None) -> None:
        """Stop the clock and draw the final state once: the run's phase, and its recorded steps when given."""
        with self._lock:
            if self._closed.is_set():
                return
            self._closed.set()
            if steps is not None:
                self.steps = {k: (dict(v) if isinstance(v, dict) else {"phase": v}) for k, v in steps.items()}
            if phase:
                self.phase = phase
            self._final = self.phase in Phase.DONE
            if self.mode == "lines":
                self._write_line(self.text())
            else:
                self._render()
            if self.mode == "tty":
                self.stream.write("\n")
                self.stream.flush()
        if self._ticker is not None and self._ticker is not threading.current_thread():
            self._ticker.join(timeout=5)

