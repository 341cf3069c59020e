"""`flowpack build FILE.py[:NAME] [--push REGISTRY]`: build the step images of one workflow or of every workflow in a
file; `flowpack build MANIFEST.json [-o OUT.json]`: those of a rendered manifest, from the facts it carries."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ._cli_target import WORKFLOW, load_module, load_target
from ._errors import FlowpackError, UsageError
from ._workflow import Workflow


def _workflows(target: str) -> list:
    """The workflow FILE.py:NAME, or every workflow FILE.py defines (in definition order)."""
    file, sep, name = target.rpartition(":")
    if sep and name and not name.startswith(("/", "\\")) and file:  # FILE.py:NAME (a bare path has no ':NAME')
        return [load_target(target, WORKFLOW)]
    found = [v for v in vars(load_module(target)).values() if isinstance(v, Workflow)]
    if not found:
        raise UsageError(f"{target} defines no workflow (@fp.workflow)")
    unique: list = []
    for wf in found:
        if all(wf is not w for w in unique):
            unique.append(wf)
    return unique


class _Lines:
    """Build progress on stderr: step lines and decisions as they come, with elapsed seconds."""

    def __init__(self, stream=None, verbose: bool = False):
        self.stream, self.verbose, self.t0 = stream or sys.stderr, verbose, time.monotonic()

    def __call__(self, line: str) -> None:
        keep = self.verbose or line.startswith(("image ", "building ", "pushing ", "Step ", "Successfully"))
        if keep:
            self.stream.write(f"[{time.monotonic() - self.t0:6.1f}s] {line}\n")
            self.stream.flush()


def _manifest(path: Path) -> dict:
    """The manifest in a JSON file (`flowpack render -f json -o FILE`); a clear error for anything else."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: can't read a JSON manifest ({exc}); write one with "
                         f"`flowpack render FILE.py:WORKFLOW --format json -o {path.name}`") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("spec"), dict):
        raise UsageError(f"{path} holds no Argo Workflow manifest (no spec); write one with `flowpack render`")
    return manifest


def cmd_build(args) -> int:
    """Build (and with --push, push) the images; print 'workflow template image' lines on stdout."""
    from ._images_build import apply_images, build_images  # lazy: image building loads only when images are built

    path = Path(args.target)
    if path.suffix == ".json":  # a rendered manifest: its images come from the facts it carries
        manifest = _manifest(path)
        targets: list = [manifest]
        name = ((manifest.get("metadata") or {}).get("labels") or {}).get("flowpack.io/workflow") or path.stem
    elif args.output:
        raise UsageError("--output writes a manifest with the built images: give a rendered MANIFEST.json")
    else:
        targets = _workflows(args.target)
    progress = _Lines(verbose=args.verbose)
    for target in targets:
        label = name if isinstance(target, dict) else target.name
        progress(f"image plan for workflow {label}")
        try:
            mapping = build_images(target, registry=args.push, push=bool(args.push), progress=progress)
        except FlowpackError as exc:  # ImageBuildError names the failing build step and its last output lines
            print(f"flowpack build: workflow {label}: {exc}", file=sys.stderr)
            return 1
        for template, tag in sorted(mapping.items()):
            print(f"{label}\t{template}\t{tag}")
        if args.output:
            Path(args.output).write_text(json.dumps(apply_images(manifest, mapping), indent=1, ensure_ascii=False),
                                         encoding="utf-8")
    return 0


def add_commands(subparsers) -> None:
    """Add `flowpack build` to the main parser's subcommands."""
    p = subparsers.add_parser("build", help="build the step images of a workflow (one per distinct package set)")
    p.add_argument("target", help="FILE.py:WORKFLOW, FILE.py for every workflow in it, or a rendered MANIFEST.json")
    p.add_argument("--push", metavar="REGISTRY", default=None,
                   help="tag the images for this registry (host:port) and push them there")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="with a MANIFEST.json: write the manifest naming the built images to FILE")
    p.add_argument("-v", "--verbose", action="store_true", help="show every line of the image builds")
    p.set_defaults(func=cmd_build)


def main(argv: list[str] | None = None) -> int:
    """`python -m flowpack._cli_images build ...`: the command on its own (also used by the tests)."""
    parser = argparse.ArgumentParser(prog="flowpack")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except FlowpackError as exc:
        print(f"flowpack build: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, UsageError) else 1


if __name__ == "__main__":
    sys.exit(main())
