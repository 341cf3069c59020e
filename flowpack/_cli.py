"""The `flowpack` command: run, render and inspect workflows defined in a Python file."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

from ._errors import FlowpackError


def load_target(target: str):
    """`FILE.py:NAME` -> the object NAME defined in FILE.py (the file's folder goes on sys.path, as with python FILE)."""
    if ":" not in target:
        raise SystemExit(f"flowpack: expected FILE.py:NAME, got {target!r}")
    file, _, name = target.rpartition(":")
    path = Path(file).resolve()
    if not path.is_file():
        raise SystemExit(f"flowpack: no such file {file!r}")
    sys.path.insert(0, str(path.parent))
    module_name = path.stem
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    try:
        return getattr(module, name)
    except AttributeError:
        raise SystemExit(f"flowpack: {file} defines no {name!r}") from None


def parse_params(pairs: list[str], wf) -> dict:
    """-p key=value: JSON where the parameter takes JSON (numbers, lists...), the raw text for str parameters."""
    from ._types import TEXT

    params = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"flowpack: -p expects key=value, got {pair!r}")
        inp = wf.interface.inputs.get(key)
        if inp is None:
            raise SystemExit(f"flowpack: workflow {wf.name!r} has no parameter {key!r}; "
                             f"it has {sorted(wf.interface.inputs) or 'none'}")
        if inp.kind.codec == TEXT or inp.kind.how == "path":
            params[key] = value
        else:
            try:
                params[key] = json.loads(value)
            except json.JSONDecodeError:
                params[key] = value
    return params


class Progress:
    """Live per-step status: a redrawn summary line on a terminal, one line per finished step otherwise."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.tty = stream.isatty()
        self.t0 = time.monotonic()
        self.phases: dict[str, str] = {}
        self.last_draw = 0.0

    def __call__(self, event: dict) -> None:
        node, phase = event["node"], event["phase"]
        self.phases[node] = phase
        elapsed = time.monotonic() - self.t0
        if phase in ("Failed", "Error") or (not self.tty and phase in ("Succeeded", "Omitted")):
            extra = f" ({event.get('message')})" if event.get("message") else ""
            self._line(f"[{elapsed:7.2f}s] {node:<30} {phase}{extra.splitlines()[0] if extra else ''}")
        if self.tty and time.monotonic() - self.last_draw > 0.1:
            self.last_draw = time.monotonic()
            counts: dict[str, int] = {}
            for p in self.phases.values():
                counts[p] = counts.get(p, 0) + 1
            summary = "  ".join(f"{k.lower()} {v}" for k, v in sorted(counts.items()))
            self.stream.write(f"\r\x1b[K[{elapsed:7.2f}s] {summary}")
            self.stream.flush()

    def _line(self, text: str) -> None:
        self.stream.write(("\r\x1b[K" if self.tty else "") + text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")


def _show(value) -> str:
    return json.dumps(value, indent=1, default=str, ensure_ascii=False)


def cmd_run(args) -> int:
    wf = load_target(args.target)
    params = parse_params(args.param, wf)
    progress = Progress()
    try:
        run = wf.run(engine=args.engine, run_dir=args.run_dir, workers=args.workers, progress=progress,
                     resume=args.resume, **params)
    except FlowpackError as exc:
        progress.close()
        print(f"flowpack: {exc}", file=sys.stderr)
        return 1
    progress.close()
    print(f"run {run.id} {run.phase} ({len(run.steps)} steps) in {run.path}", file=sys.stderr)
    print(_show(run.result()))
    return 0


def cmd_render(args) -> int:
    wf = load_target(args.target)
    params = parse_params(args.param, wf)
    if args.format in ("svg", "mermaid"):
        from ._view import render_dag

        text = render_dag(wf.render(**params), args.format)
    else:
        text = wf.to_json(**params) if args.format == "json" else wf.to_yaml(**params)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        from ._validate import manifest_size

        print(f"wrote {args.output} ({manifest_size(wf.render(**params))} bytes as compact JSON)", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_script(args) -> int:
    op = load_target(args.target)
    if not hasattr(op, "script"):
        raise SystemExit(f"flowpack: {args.target} is not an op")
    script = op.script
    sys.stdout.write(script() if callable(script) else script)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flowpack", description="Run plain Python functions as Argo workflow steps.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run a workflow on the embedded local engine")
    p.add_argument("target", help="FILE.py:WORKFLOW")
    p.add_argument("-p", "--param", action="append", metavar="KEY=VALUE", help="a workflow parameter")
    p.add_argument("--run-dir", default=".flowpack/runs", help="where runs are kept (default .flowpack/runs)")
    p.add_argument("--workers", type=int, default=None, help="steps at once (default: number of cores)")
    p.add_argument("--engine", choices=["local", "docker"], default="local", help="where steps run (default local)")
    p.add_argument("--resume", metavar="RUN_ID", help="reuse the steps that succeeded in this earlier run")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("render", help="print the Argo Workflow manifest")
    p.add_argument("target", help="FILE.py:WORKFLOW")
    p.add_argument("-p", "--param", action="append", metavar="KEY=VALUE")
    p.add_argument("-o", "--output", help="write to this file instead of stdout")
    p.add_argument("--format", choices=["yaml", "json", "svg", "mermaid"], default="yaml",
                   help="the manifest (yaml, json) or a picture of its DAG (svg, mermaid)")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("script", help="print an op's self-contained step script")
    p.add_argument("target", help="FILE.py:OP")
    p.set_defaults(func=cmd_script)

    from . import _cli_argo, _cli_images, _cli_view

    _cli_images.add_commands(sub)
    _cli_argo.add_commands(sub)
    _cli_view.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except FlowpackError as exc:
        print(f"flowpack: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("flowpack: stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
