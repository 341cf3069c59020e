"""How a failed run shows in IPython/Jupyter: the failing step and its stderr tail, not flowpack's own frames.

IPython calls `exc._render_traceback_()` when an exception has it and shows the returned lines instead of a
traceback; StepFailed._render_traceback_ calls `render_traceback` below. In Jupyter the failed run's own display (its
DAG and step table) is shown with it; the run stays reachable as `exc.run`. In a step's own Python traceback, the
frames of flowpack's generated wrapper (the script's `<module>` and `_fp_main`) are left out: the user's frames stay.
"""

from __future__ import annotations

import re
import sys

RED, BOLD, RESET = "\x1b[31m", "\x1b[1m", "\x1b[0m"
_FRAME = re.compile(r'^(\s*)File "([^"]*)", line \d+, in (.+)$')
_WRAPPER = ("<module>", "_fp_main")


def _without_wrapper_frames(lines: list[str], step: str) -> list[str]:
    out: list[str] = []
    skip_indent: int | None = None
    for line in lines:
        m = _FRAME.match(line)
        if m:
            skip_indent = None
            if m.group(3) in _WRAPPER and "/scripts/" in m.group(2).replace("\\", "/"):
                skip_indent = len(m.group(1))
                continue
        elif skip_indent is not None:
            if len(line) - len(line.lstrip()) > skip_indent and line.strip():
                continue  # the wrapper frame's source line and its ^^^ marker
            skip_indent = None
        if line.strip() == "Traceback (most recent call last):":
            line = line.replace("Traceback (most recent call last):",
                                f"Traceback in step {step} (most recent call last):")
        out.append(line)
    return out


def render_traceback(exc: BaseException) -> list[str]:
    """The lines IPython shows for a flowpack run error: its class and message, with the step lines in bold."""
    lines = str(exc).splitlines() or [""]
    out = [f"{RED}{BOLD}{type(exc).__name__}{RESET}: {lines[0]}"]
    step = "?"
    for line in lines[1:]:
        stripped = line.lstrip()
        if stripped.startswith("- step "):
            step = stripped[7:].split(" ", 1)[0]
            out.append(f"{BOLD}{line}{RESET}")
        else:
            out.append(line)
    out = [out[0]] + _without_wrapper_frames(out[1:], step)
    run = getattr(exc, "run", None)
    path = getattr(run, "path", None)
    if path is not None and not any("step folders" in ln for ln in lines):
        out.append(f"  run folder: {path}")
    if run is not None:
        out.append(f"  the run: {type(exc).__name__}.run (`except fp.{type(exc).__name__} as exc: exc.run`)")
        _show_run(run)
    return out


def in_kernel() -> bool:
    """True inside a Jupyter kernel (where HTML displays render), False in a terminal or plain IPython."""
    if "IPython" not in sys.modules:
        return False
    try:
        from IPython import get_ipython  # lazy: IPython is optional (and already loaded here, checked above)

        shell = get_ipython()
    except ImportError:
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


def _show_run(run) -> None:
    """In Jupyter, the failed run's DAG and step table go above the error (a terminal gets the text only)."""
    if not in_kernel() or not hasattr(run, "_repr_html_"):
        return
    from IPython.display import HTML, display  # lazy: IPython is optional (only in a notebook kernel)

    try:
        display(HTML(run._repr_html_()))
    except Exception:  # noqa: BLE001 - the error itself must still show, whatever the display does
        pass
