"""`flowpack ui`: serve a page listing the runs of a run folder (added to the CLI by add_commands)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def cmd_ui(args) -> int:
    from ._ui import make_server, url  # lazy: the viewer loads only for `flowpack ui`

    folder = Path(args.run_dir)
    if not folder.is_dir():
        print(f"flowpack ui: warning: {folder} does not exist (yet): no runs to show until one is made there. "
              f"Runs go to .flowpack/runs of the folder `flowpack run` is started in; pick another with --run-dir.",
              file=sys.stderr)
    elif not any(folder.glob("*/run.json")):
        print(f"flowpack ui: warning: {folder} holds no runs yet; runs started there will appear.", file=sys.stderr)

    try:
        server = make_server(args.run_dir, args.port)
    except OSError as exc:
        print(f"flowpack ui: can't listen on 127.0.0.1:{args.port}: {exc.strerror or exc}. "
              f"Pick another port with --port (0 picks a free one).", file=sys.stderr)
        return 1
    print(f"flowpack ui: {url(server)} (runs in {server.run_dir}); Ctrl-C stops it", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def add_commands(sub) -> None:
    """Add `flowpack ui` to the CLI's subparsers."""
    p = sub.add_parser("ui", help="serve a local web page of runs (127.0.0.1 only)")
    p.add_argument("--run-dir", default=".flowpack/runs", help="where runs are kept (default .flowpack/runs)")
    p.add_argument("--port", type=_port, default=8765, help="port on 127.0.0.1 (default 8765; 0 picks a free one)")
    p.set_defaults(func=cmd_ui)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0 to 65535; 0 picks a free one)")
    return port
