"""`flowpack ui`: serve a page listing the runs of a run folder (added to the CLI by add_commands)."""

from __future__ import annotations

import sys


def cmd_ui(args) -> int:
    from ._ui import make_server, url

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
    p.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (default 8765; 0 picks a free one)")
    p.set_defaults(func=cmd_ui)
