"""`flowpack submit|status|logs|list|wait|stop|terminate|retry|resubmit|delete|lint|register`: Argo from the shell.

Connection flags mirror Argo's CLI (-s/--argo-server, -n/--namespace, -e/--secure, -k/--insecure-skip-verify,
--argo-base-href); the token comes only from ARGO_TOKEN or the config file, never from a flag (a flag would
show in the process list and the shell history).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Iterator

from . import _cli_store
from ._cli_store import store_from
from ._cli_target import load_target, parse_params
from ._engine._procs import owner_alive
from ._engine._record import read_json
from ._errors import UsageError
from ._logs import LogLine, local_logs
from ._records import RunRecord
from ._results import rebuild
from ._store import LocalStore
from ._view._runs import _where


def add_commands(sub) -> None:
    """Register the Argo subcommands on the `flowpack` parser's subparsers."""
    conn = argparse.ArgumentParser(add_help=False)
    g = conn.add_argument_group("Argo Server (defaults: ARGO_* environment variables, then the config file)")
    g.add_argument("-s", "--argo-server", dest="server", metavar="HOST:PORT", help="the Argo Server's address")
    g.add_argument("-n", "--namespace", help="the Kubernetes namespace of the workflows")
    g.add_argument("-e", "--secure", dest="secure", action="store_const", const=True, default=None,
                   help="HTTPS (the default)")
    g.add_argument("--plaintext", dest="secure", action="store_const", const=False, help="plain HTTP")
    g.add_argument("-k", "--insecure-skip-verify", action="store_const", const=True, default=None,
                   help="do not verify the server's TLS certificate (self-signed development servers only)")
    g.add_argument("--argo-base-href", dest="base_href", metavar="PATH",
                   help="the path the Argo Server is served under, behind a proxy")

    build = argparse.ArgumentParser(add_help=False)
    build.add_argument("target", help="FILE.py:WORKFLOW, a workflow (@fp.workflow) defined in FILE.py")
    build.add_argument("-p", "--param", action="append", metavar="KEY=VALUE",
                       help="a workflow parameter: JSON for numbers, lists, dicts...; plain text for str (repeatable)")
    build.add_argument("--artifact-repository", metavar="cluster|store|CONFIGMAP:KEY", default=None,
                       help="where artifacts live (default: the cluster's configured repository)")
    _cli_store.add_option(build)

    p = sub.add_parser("submit", parents=[conn, build], help="submit a workflow to Argo")
    p.add_argument("--wait", action="store_true", help="wait until it ends and print its result")
    p.add_argument("--timeout", type=float, default=None, help="seconds to wait (with --wait)")
    p.add_argument("-l", "--label", action="append", metavar="KEY=VALUE", help="a label for the workflow")
    p.add_argument("--service-account", help="the service account the workflow's pods run as")
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("results", parents=[conn], help="print a finished run's result (a local run or an Argo "
                       "workflow)")
    p.add_argument("name", help="a run id in --run-dir, or the name of an Argo workflow")
    p.add_argument("--run-dir", default=".flowpack/runs", help="where local runs are kept (default .flowpack/runs)")
    _cli_store.add_option(p)
    p.set_defaults(func=cmd_results)

    p = sub.add_parser("lint", parents=[conn, build], help="validate a workflow with the Argo Server")
    p.set_defaults(func=cmd_lint)

    p = sub.add_parser("register", parents=[conn, build],
                       help="publish a workflow as a WorkflowTemplate (or a CronWorkflow with --schedule)")
    p.add_argument("--name", help="the template's name (default: the workflow's)")
    p.add_argument("--schedule", action="append", metavar="CRON", help="cron schedule, e.g. '0 * * * *'")
    p.add_argument("--timezone", help="the schedule's time zone, e.g. Europe/Paris (default: the controller's)")
    p.set_defaults(func=cmd_register)

    p = sub.add_parser("status", parents=[conn], help="a workflow's phase and per-step phases")
    p.add_argument("name", help="the workflow's name")
    p.add_argument("-o", "--output", choices=["text", "json"], default="text", help="text (default) or json")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("logs", parents=[conn], help="a run's step logs (a local or Docker run, or an Argo workflow)")
    p.add_argument("name", help="a run id in --run-dir (a local or Docker run), or the name of an Argo workflow")
    p.add_argument("--run-dir", default=".flowpack/runs", help="where local runs are kept (default .flowpack/runs)")
    p.add_argument("--step", help="only this step (its path, e.g. add or inner/add)")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing lines as they come")
    p.add_argument("--grep", metavar="TEXT", help="only lines holding this text")
    p.add_argument("--timestamps", action="store_true",
                   help="include each line's time (RFC 3339, UTC): when the step wrote it")
    p.set_defaults(func=cmd_logs)

    p = sub.add_parser("list", parents=[conn], help="workflows in the namespace")
    p.add_argument("-l", "--selector", help="label selector, e.g. flowpack.io/workflow=pipeline")
    p.add_argument("-o", "--output", choices=["text", "json"], default="text", help="text (default) or json")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("wait", parents=[conn], help="wait for a workflow to end")
    p.add_argument("name", help="the workflow's name")
    p.add_argument("--timeout", type=float, default=None, help="seconds to wait at most (default: no limit)")
    p.set_defaults(func=cmd_wait)

    for verb, text in (("stop", "stop a workflow (exit handlers still run)"),
                       ("terminate", "terminate a workflow immediately"),
                       ("retry", "retry a failed workflow"),
                       ("resubmit", "submit a finished workflow again"),
                       ("delete", "delete a workflow")):
        p = sub.add_parser(verb, parents=[conn], help=text)
        p.add_argument("name", help="the workflow's name")
        p.set_defaults(func=cmd_action, verb=verb)


# -- helpers -------------------------------------------------------------------------------------
def _client(args):
    from ._argo import ArgoClient  # lazy: the Argo package loads only when Argo is used (import time)

    settings = {k: getattr(args, k, None) for k in ("server", "namespace", "secure", "insecure_skip_verify",
                                                      "base_href")}
    return ArgoClient(**{k: v for k, v in settings.items() if v is not None})


def _repository(text: str | None):
    if text in (None, "cluster", "store"):
        return text
    if ":" in text:
        cm, _, key = text.partition(":")
        return {"configMap": cm, "key": key}
    raise UsageError(f"--artifact-repository {text!r}: use cluster, store or CONFIGMAP:KEY")


def _load(args):
    wf = load_target(args.target, "workflow")
    return wf, parse_params(args.param, wf)


def _pairs(items: list[str] | None, flag: str) -> dict:
    out = {}
    for item in items or []:
        k, sep, v = item.partition("=")
        if not sep:
            raise UsageError(f"{flag} expects KEY=VALUE, got {item!r}")
        out[k] = v
    return out


def _show(value) -> str:
    return json.dumps(value, indent=1, default=str, ensure_ascii=False)


# -- commands ------------------------------------------------------------------------------------
def cmd_submit(args) -> int:
    from ._argo import submit  # lazy: the Argo package loads only when Argo is used (import time)

    wf, params = _load(args)
    client = _client(args)
    run = submit(wf, argo=client, store=store_from(args.store, remote=True),
                 artifact_repository=_repository(args.artifact_repository), labels=_pairs(args.label, "-l"),
                 service_account=args.service_account, params=params)
    print(run.name, flush=True)
    if not args.wait:
        return 0
    run.wait(timeout=args.timeout)
    return _print_result(run)


def _print_result(run) -> int:
    """An ended Argo workflow's phase (stderr) and result (stdout, as JSON); artifacts need a store to download:
    without one they are shown as their locations. Non-zero only when the workflow did not succeed."""
    from ._argo import _status  # lazy: the Argo package loads only when Argo is used (import time)

    phase = run.status()["phase"]
    print(f"workflow {run.name} {phase}", file=sys.stderr)
    run.check()  # a failed workflow raises StepFailed, naming the step
    if run.store is not None:
        print(_show(run.result()))
        return 0
    kinds = run.shape.get("kinds", {})
    artifacts = _status.root_outputs(run.workflow)["artifacts"]
    pending = [n for n, k in kinds.items() if k.get("how") != "param"]

    def output(name: str):
        if name in pending:
            return _where(artifacts[name]) if name in artifacts else None
        return run.output(name)

    print(_show(rebuild(run.shape, output)))
    if pending:
        print(f"flowpack: output(s) {', '.join(pending)} are artifacts in the artifact repository, shown by location; "
              f"give --store s3://BUCKET/PREFIX (that repository's bucket) to download them", file=sys.stderr)
    return 0


def cmd_results(args) -> int:
    """A local run's result from its folder, or an Argo workflow's."""
    from ._argo import get  # lazy: the Argo package loads only when Argo is used (import time)

    folder = Path(args.run_dir) / args.name
    if args.name and "/" not in args.name and (folder / "run.json").is_file():
        return _local_result(folder, store_from(args.store))
    run = get(args.name, argo=_client(args), store=store_from(args.store, remote=True))
    if not run.done():
        print(f"flowpack: workflow {run.name} is still {run.phase}; `flowpack wait {run.name}` waits for it",
              file=sys.stderr)
        return 1
    return _print_result(run)


def _local_result(folder, store) -> int:
    from ._run import Run  # lazy: the engines load on the first run (import time)

    record = RunRecord.read(folder / "run.json")
    if store is None:
        store = LocalStore(folder.absolute().parent.parent / "store")  # the local engine's default store
    run = Run(record, folder, store, read_json(folder / "manifest.json"))
    print(f"run {run.id} {run.phase}", file=sys.stderr)
    print(_show(run.result()))
    return 0


def cmd_lint(args) -> int:
    from ._argo import lint  # lazy: the Argo package loads only when Argo is used (import time)

    wf, params = _load(args)
    lint(wf, argo=_client(args), store=store_from(args.store, remote=True),
         artifact_repository=_repository(args.artifact_repository), params=params)
    print(f"{args.target}: no errors found", file=sys.stderr)
    return 0


def cmd_register(args) -> int:
    from ._argo import register  # lazy: the Argo package loads only when Argo is used (import time)

    wf, params = _load(args)
    obj = register(wf, argo=_client(args), store=store_from(args.store, remote=True), name=args.name,
                   schedule=args.schedule, timezone=args.timezone,
                   artifact_repository=_repository(args.artifact_repository), params=params)
    print(f"{obj.get('kind', 'WorkflowTemplate' if not args.schedule else 'CronWorkflow')} "
          f"{obj['metadata']['namespace']}/{obj['metadata']['name']}")
    return 0


def cmd_status(args) -> int:
    from ._argo import get  # lazy: the Argo package loads only when Argo is used (import time)

    status = get(args.name, argo=_client(args)).status()
    if args.output == "json":
        print(_show(status))
        return 0
    print(f"{status['namespace']}/{status['name']}  {status['phase']}  {status.get('progress') or ''}")
    if status["message"]:
        print(f"  message: {status['message']}")
    for node, step in status["steps"].items():
        extra = f"  ({step['message']})" if step.get("message") else ""
        print(f"  {node:<30} {step['phase']}{extra}")
    return 0 if status["phase"] != "Failed" and status["phase"] != "Error" else 1


def cmd_logs(args) -> int:
    """A local (or Docker) run's step logs from its folder, or an Argo workflow's from the Argo Server."""
    folder = Path(args.run_dir) / args.name
    if args.name and "/" not in args.name and (folder / "run.json").is_file():
        lines = _local_logs(folder, args)
    else:
        from ._argo import get  # lazy: the Argo package loads only when Argo is used (import time)

        lines = get(args.name, argo=_client(args)).logs(step=args.step, follow=args.follow, grep=args.grep)
    for line in lines:
        print(line.shown(timestamps=args.timestamps), flush=True)
    return 0


def _local_logs(folder: Path, args) -> Iterator[LogLine]:
    """The run's lines as run.logs() gives them; --follow reads its record again until it ends (or its engine is
    gone)."""
    def record() -> RunRecord:
        return RunRecord.read(folder / "run.json")

    def done() -> bool:
        now = record()
        return now.done or not owner_alive(now.owner)

    return local_logs(lambda: {node: s.to_json() for node, s in record().steps.items()}, folder / "steps",
                      args.name, done, args.step, follow=args.follow, grep=args.grep)


def cmd_list(args) -> int:
    from ._argo import list_runs  # lazy: the Argo package loads only when Argo is used (import time)

    runs = list_runs(argo=_client(args), labels=args.selector)
    if args.output == "json":
        print(_show(runs))
        return 0
    for r in runs:
        print(f"{r['name']:<40} {r['phase']:<10} {r.get('startedAt') or '':<22} {r.get('progress') or ''}")
    return 0


def cmd_wait(args) -> int:
    from ._argo import get  # lazy: the Argo package loads only when Argo is used (import time)

    run = get(args.name, argo=_client(args)).wait(timeout=args.timeout)
    phase = run.status()["phase"]
    print(f"{run.name} {phase}")
    return 0 if phase == "Succeeded" else 1


def cmd_action(args) -> int:
    from ._argo import get  # lazy: the Argo package loads only when Argo is used (import time)

    run = get(args.name, argo=_client(args))
    result = getattr(run, args.verb)()
    if args.verb == "resubmit":
        print(result.name)
    else:
        done = {"stop": "stopped", "terminate": "terminated", "retry": "retried", "delete": "deleted"}[args.verb]
        print(f"{args.name} {done}")
    return 0
