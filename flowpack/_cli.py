"""The `flowpack` command: run, render and inspect workflows defined in a Python file."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from pathlib import Path

from . import __version__, _cli_store
from ._cli_target import load_target, parse_params, recorded_params
from ._engine._record import new_run_id
from ._errors import FlowpackError, UsageError


def _show(value) -> str:
    return json.dumps(value, indent=1, default=str, ensure_ascii=False)


def cmd_run(args) -> int:
    from ._cli_store import resumed_store, store_from  # lazy: a subcommand's module loads only for that subcommand

    wf = load_target(args.target, "workflow")
    params = parse_params(args.param, wf)
    with tempfile.TemporaryDirectory(prefix="flowpack-params-") as kept:  # files read back, until they are uploaded
        if args.params_from:  # -p KEY=VALUE wins
            params = {**recorded_params(args.run_dir, args.params_from, wf, given=set(params), into=Path(kept)),
                      **params}
        store = (resumed_store(args.run_dir, args.resume) if args.resume and args.store is None else None
                 ) or store_from(args.store)
        return _run(args, wf, wf.build(**params), store)  # built: checked before anything runs or shows


def _run(args, wf, built, store) -> int:
    from ._run import execute  # lazy: the engines load on the first run (import time)
    from ._view import ProgressBar

    run_id = new_run_id(wf.name)
    progress = ProgressBar(run_dir=args.run_dir, label=wf.name)  # the one display of runs (flowpack._view)
    try:
        run = execute(built, engine=args.engine, run_dir=args.run_dir, workers=args.workers, progress=progress,
                      resume=args.resume, run_id=run_id, store=store, workflow=wf)
    except FlowpackError as exc:
        failed = getattr(exc, "run", None)
        progress.close(getattr(failed, "phase", "Failed"), getattr(failed, "steps", None))
        print(f"flowpack: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        progress.close("Stopped")
        again = sys.argv[1:] if args.argv is None else list(args.argv)
        print(f"flowpack: stopped run {run_id} (its folder: {Path(args.run_dir) / run_id}); to go on from where it "
              f"stopped: flowpack {_resume_command(again, run_id)}", file=sys.stderr)
        return 130
    progress.close(run.phase, run.steps)
    print(f"run {run.id} {run.phase} ({len(run.steps)} steps) in {run.path}", file=sys.stderr)
    print(_show(run.result()))
    return 0


def _resume_command(argv: list[str], run_id: str) -> str:
    """The command line that was run, with --resume RUN_ID in place of any earlier --resume."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == "--resume":
            skip = True
            continue
        if not a.startswith("--resume="):
            out.append(a)
    return shlex.join(out + ["--resume", run_id])


def cmd_render(args) -> int:
    wf = load_target(args.target, "workflow")
    params = parse_params(args.param, wf)
    manifest = wf.render(**params)
    if args.format in ("svg", "mermaid"):
        from ._view import render_dag  # lazy: the views load on the first display (import time)

        text = render_dag(manifest, args.format)
    else:
        text = wf.to_json(**params) if args.format == "json" else wf.to_yaml(**params)
    if not args.output:
        sys.stdout.write(text)
        return 0
    path = Path(args.output)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"can't write {args.output}: {exc.strerror or exc}") from None
    what = {"svg": "an SVG picture of the DAG", "mermaid": "a Mermaid diagram of the DAG"}.get(
        args.format, f"the Argo Workflow manifest as {args.format.upper()}")
    from ._validate import manifest_size  # lazy: the manifest checks load on the first render (import time)

    print(f"wrote {path} ({len(text.encode('utf-8'))} bytes): {what} of workflow {wf.name!r} "
          f"({len((manifest.get('spec') or {}).get('templates') or [])} templates, "
          f"{manifest_size(manifest)} bytes as compact JSON)", file=sys.stderr)
    return 0


def cmd_script(args) -> int:
    op = load_target(args.target, "op")
    script = op.script
    sys.stdout.write(script() if callable(script) else script)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flowpack", description="Run plain Python functions as Argo workflow steps: "
                                     "on this machine, in Docker, or on Argo Workflows.")
    parser.add_argument("--version", action="version", version=f"flowpack {__version__}",
                        help="print flowpack's version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="run a workflow on this machine (the embedded local engine, or Docker)",
                       description="Run a workflow and print its result as JSON; exits non-zero when it fails.")
    p.add_argument("target", help="FILE.py:WORKFLOW, a workflow (@fp.workflow) defined in FILE.py")
    p.add_argument("-p", "--param", action="append", metavar="KEY=VALUE",
                   help="a workflow parameter: JSON for numbers, lists, dicts...; plain text for str (repeatable)")
    p.add_argument("--run-dir", default=".flowpack/runs", help="where runs are kept (default .flowpack/runs)")
    p.add_argument("--workers", type=_positive, default=None, help="steps at once (default: number of cores)")
    p.add_argument("--engine", choices=["local", "docker"], default="local", help="where steps run (default local)")
    p.add_argument("--resume", metavar="RUN_ID", help="reuse the steps that succeeded in this earlier run (in its "
                   "store, the one it recorded, unless --store is given)")
    p.add_argument("--params-from", metavar="RUN_ID",
                   help="the parameters of this earlier run (in --run-dir) for those not given with -p, big values "
                        "and its input files read back from its store")
    _cli_store.add_option(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("render", help="print the Argo Workflow manifest (or a picture of its DAG)",
                       description="Render a workflow as Argo reads it, or draw its DAG.")
    p.add_argument("target", help="FILE.py:WORKFLOW, a workflow (@fp.workflow) defined in FILE.py")
    p.add_argument("-p", "--param", action="append", metavar="KEY=VALUE",
                   help="a workflow parameter: JSON for numbers, lists, dicts...; plain text for str (repeatable)")
    p.add_argument("-o", "--output", metavar="FILE", help="write to this file instead of stdout")
    p.add_argument("--format", choices=["yaml", "json", "svg", "mermaid"], default="yaml",
                   help="the manifest (yaml, json) or a picture of its DAG (svg, mermaid)")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("script", help="print an op's self-contained step script",
                       description="Print the Python script one step runs (what the op's template holds).")
    p.add_argument("target", help="FILE.py:OP, an op (@fp.op) defined in FILE.py")
    p.set_defaults(func=cmd_script)

    # lazy: a subcommand's module loads only for that subcommand (CLI start-up)
    from . import _cli_argo, _cli_images, _cli_view

    _cli_images.add_commands(sub)
    _cli_argo.add_commands(sub)
    _cli_view.add_commands(sub)
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"flowpack {args.command}: {exc}", file=sys.stderr)
        return 2
    except FlowpackError as exc:
        print(f"flowpack: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("flowpack: stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
