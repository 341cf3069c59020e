"""flowpack's own checks on a manifest before anyone runs or submits it.

Argo's JSON schema checks structure only; Argo's server resolves references at submit time. These checks do that
here: every template name, `{{inputs.parameters.x}}`, `{{tasks.t.outputs...}}` and `{{workflow.parameters.x}}`
resolves; names are valid Kubernetes names; the size is measured against Argo's ~1 MiB object budget.
"""

from __future__ import annotations

import json
import warnings

from ._engine._batch import parse_chunk
from ._engine._choice import parse_choice
from ._engine._cond import parse as parse_condition
from ._engine._cond import references as condition_references
from ._engine._exitvalue import parse_exit_value
from ._engine._expr import parse_depends, parse_fallback, parse_memo, references
from ._engine._tolerance import parse_check
from ._engine._zip import parse_zip
from ._errors import ManifestError
from ._exit import FAILURES as EXIT_FAILURES
from ._names import VALID

SIZE_BUDGET = 1024 * 1024  # Argo stores a workflow as one Kubernetes object (etcd's ~1 MiB limit)
SIZE_WARN = int(SIZE_BUDGET * 0.75)
MAX_ITEMS = 200  # v4's full CRDs: maxItems of spec.templates and of a template's dag.tasks
GLOBALS = {"workflow.name", "workflow.namespace", "workflow.uid", "workflow.status", "workflow.duration",
           "workflow.failures", "workflow.creationTimestamp", "pod.name", "retries", "node.name"}


class ManifestSizeWarning(UserWarning):
    """The manifest is close to Argo's object size budget."""


class ArgoLimitWarning(UserWarning):
    """The manifest has more templates or DAG tasks than Argo v4's CRDs allow."""


def argo_limits(manifest: dict) -> list[str]:
    """What in the manifest exceeds Argo v4's CRD limits (at most 200 templates, 200 tasks per DAG)."""
    spec = manifest.get("spec") or {}
    if "workflowSpec" in spec:  # a CronWorkflow
        spec = spec["workflowSpec"]
    templates = spec.get("templates") or []
    problems = []
    if len(templates) > MAX_ITEMS:
        problems.append(f"the workflow has {len(templates)} templates; Argo v4's CRDs allow at most {MAX_ITEMS}. "
                        f"Each distinct op is a template: call fewer distinct ops, or run one op over many values "
                        f"with op.map(...).")
    for tpl in templates:
        count = len((tpl.get("dag") or {}).get("tasks") or [])
        if count > MAX_ITEMS:
            problems.append(f"template {tpl.get('name')!r} has {count} DAG tasks; Argo v4's CRDs allow at most "
                            f"{MAX_ITEMS}. Each op call is a task: run one op over many values with op.map(...), "
                            f"which renders to one task whatever the number of items.")
    return problems


def check_argo_limits(manifest: dict) -> None:
    """Raise ManifestError when Argo would refuse the manifest for its number of templates or tasks."""
    problems = argo_limits(manifest)
    if problems:
        raise ManifestError(" ".join(problems))


def manifest_size(manifest: dict) -> int:
    return len(json.dumps(manifest, separators=(",", ":"), ensure_ascii=False).encode())


def check_manifest(manifest: dict) -> int:
    """Raise ManifestError on a dangling reference or bad name; warn near the size budget; return the size."""
    spec = manifest.get("spec") or {}
    templates = {t.get("name"): t for t in spec.get("templates") or []}
    if len(templates) != len(spec.get("templates") or []):
        names = [t.get("name") for t in spec.get("templates") or []]
        raise ManifestError(f"two templates share the name(s) {sorted({n for n in names if names.count(n) > 1})}")
    for problem in argo_limits(manifest):
        warnings.warn(problem + " The local and Docker engines run it; Argo would refuse it.", ArgoLimitWarning,
                      stacklevel=3)
    for name in templates:
        _check_name(name, "template")
    if spec.get("entrypoint") not in templates:
        raise ManifestError(f"entrypoint {spec.get('entrypoint')!r} is not one of the templates {sorted(templates)}")
    wf_params = {p["name"] for p in (spec.get("arguments") or {}).get("parameters") or []}
    scope = GLOBALS | {"workflow.parameters." + p for p in wf_params}
    for tpl in templates.values():
        if "dag" in tpl:
            _check_dag(tpl, templates, scope)
        else:
            _check_leaf(tpl, scope)
    size = manifest_size(manifest)
    if size > SIZE_WARN:
        warnings.warn(
            f"the manifest is {size / 1024:.0f} KiB, {100 * size / SIZE_BUDGET:.0f}% of Argo's ~1 MiB workflow size "
            f"budget. Large regular fan-outs belong in a map (op.map), which renders to withParam/withItems and does "
            f"not grow with the number of items.",
            ManifestSizeWarning,
            stacklevel=3,
        )
    return size


def _check_name(name: str, what: str) -> None:
    if not isinstance(name, str) or not VALID.match(name):
        raise ManifestError(f"{what} name {name!r} is not a valid Kubernetes name (lowercase, digits, '-', <= 63)")


def _inputs(tpl: dict) -> set[str]:
    inputs = tpl.get("inputs") or {}
    names = {"inputs.parameters." + p["name"] for p in inputs.get("parameters") or []}
    names |= {"inputs.artifacts." + a["name"] for a in inputs.get("artifacts") or []}
    names |= {"inputs.artifacts." + a["name"] + ".path" for a in inputs.get("artifacts") or []}
    return names


def _strings(value, out: list[str]) -> list[str]:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for v in value.values():
            _strings(v, out)
    elif isinstance(value, list):
        for v in value:
            _strings(v, out)
    return out


def _task_strings(task: dict, args: dict) -> list[str]:
    """The strings of a DAG task that Argo resolves: argument values and sources, `when`, `withParam`."""
    texts = [p.get("value", "") for p in args.get("parameters") or []]
    for a in args.get("artifacts") or []:
        texts.append(a.get("from", ""))
        if "raw" in a:
            texts.append(a["raw"].get("data", ""))
    texts += [task.get("when") or "", task.get("withParam") or ""]
    return [t for t in texts if isinstance(t, str) and "{{" in t]


def _check_leaf(tpl: dict, scope: set[str]) -> None:
    known = scope | _inputs(tpl)
    for text in _strings({k: v for k, v in tpl.items() if k != "outputs"}, []):
        for ref in references(text):
            memo = parse_memo(ref) if ref.startswith("=") else None
            if memo is not None and all(f"inputs.parameters.{p}" in known for p in memo):
                continue
            if ref not in known:
                raise ManifestError(f"template {tpl['name']!r}: {{{{{ref}}}}} does not resolve")


def _outputs_of(tpl: dict) -> set[str]:
    outs = tpl.get("outputs") or {}
    names = {"parameters." + p["name"] for p in outs.get("parameters") or []}
    names |= {"artifacts." + a["name"] for a in outs.get("artifacts") or []}
    if "script" in tpl or "container" in tpl:
        names.add("result")
    return names


def _check_dag(tpl: dict, templates: dict, scope: set[str]) -> None:
    tasks = {t.get("name"): t for t in tpl["dag"].get("tasks") or []}
    known_inputs = scope | _inputs(tpl)
    outputs_cache: dict[str, set[str]] = {}
    deps: dict[str, set[str]] = {}
    for name, task in tasks.items():
        deps[name] = parse_depends(task["depends"])[1] if task.get("depends") else set(task.get("dependencies") or [])
        for d in deps[name]:
            if d not in tasks:
                raise ManifestError(f"task {name!r} depends on {d!r}, which is not a task of {tpl['name']!r}")
    _check_acyclic(tpl["name"], deps)

    def is_ancestor(candidate: str, name: str) -> bool:
        """Direct dependencies answer at once (flowpack's own manifests); otherwise walk up the graph."""
        if candidate in deps[name]:
            return True
        seen, stack = set(), list(deps[name])
        while stack:
            cur = stack.pop()
            if cur == candidate:
                return True
            if cur not in seen:
                seen.add(cur)
                stack.extend(deps[cur])
        return False

    def check_ref(ref: str, where: str, task: str | None) -> None:
        if ref in known_inputs:
            return
        if ref == EXIT_FAILURES:  # the exit op's failed nodes (see _exit)
            return
        if ref.startswith("=") and parse_exit_value(ref[1:]) is not None:  # a global output, or a default
            return
        chunked = parse_chunk(ref[1:]) if ref.startswith("=") else None
        if chunked is not None:  # a run-time list cut into batches (_batch): the list it reads
            check_ref(chunked.source, where, task)
            return
        zipped = parse_zip(ref[1:]) if ref.startswith("=") else None
        if zipped is not None:  # run-time lists zipped into a map's items (_zip): each list it reads
            for source in zipped.sources.values():
                check_ref(source, where, task)
            return
        check = parse_check(ref[1:]) if ref.startswith("=") else None
        if check is not None:  # a tolerant map's check (_tolerance): the map it counts, the DAG input it counts in
            if check.total_is != "literal":
                check_ref(check.total, where, task)
            check_ref(f"tasks.{check.task}.status", where, task)
            return
        choice = parse_choice(ref[1:]) if ref.startswith("=") else None
        if choice is not None:  # fp.one_of: each step it reads
            for branch in choice:
                check_ref(f"tasks.{branch.task}.outputs.parameters.{branch.output}", where, task)
            return
        if ref.startswith("="):
            fallback = parse_fallback(ref)
            if fallback is None:
                try:
                    names = condition_references(ref[1:])
                    parse_condition(ref[1:])
                except ManifestError:
                    raise ManifestError(f"{where}: {{{{{ref}}}}} is not an expression flowpack can check") from None
                for name in names:
                    if name != "item" and not name.startswith("item."):  # a map's item (fp.item): its own loop's
                        check_ref(name, where, task)
                return
            ref = f"tasks.{fallback[0]}.outputs.parameters.{fallback[1]}"
        if ref.startswith("tasks."):
            rest = ref[len("tasks."):]
            tname, _, field = rest.partition(".")
            if tname not in tasks:
                raise ManifestError(f"{where}: {{{{{ref}}}}} names task {tname!r}, which does not exist")
            if task is not None and not is_ancestor(tname, task):
                raise ManifestError(f"{where}: {{{{{ref}}}}} uses task {tname!r}, which it does not depend on")
            if field in ("status", "id", "startedAt", "finishedAt", "exitCode"):
                return
            target = templates.get(tasks[tname].get("template"))
            if target is None:
                return  # reported below
            key = target["name"]
            if key not in outputs_cache:
                outputs_cache[key] = _outputs_of(target)
            if not field.startswith("outputs.") or field[len("outputs."):] not in outputs_cache[key]:
                raise ManifestError(f"{where}: {{{{{ref}}}}}: template {key!r} has no such output")
            return
        raise ManifestError(f"{where}: {{{{{ref}}}}} does not resolve")

    for name, task in tasks.items():
        _check_name(name, "task")
        target = templates.get(task.get("template"))
        if target is None:
            raise ManifestError(f"task {name!r} uses template {task.get('template')!r}, which does not exist")
        where = f"task {name!r}"
        args = task.get("arguments") or {}
        given = {p["name"] for p in args.get("parameters") or []}
        declared = {p["name"]: p for p in (target.get("inputs") or {}).get("parameters") or []}
        for p in given - declared.keys():
            raise ManifestError(f"{where} passes parameter {p!r}, which template {target['name']!r} does not declare")
        for p, decl in declared.items():
            if p not in given and "default" not in decl and "value" not in decl:
                raise ManifestError(f"{where} does not pass required parameter {p!r} of template {target['name']!r}")
        loop = "withItems" in task or "withParam" in task or "withSequence" in task
        for text in _task_strings(task, args):
            for ref in references(text):
                if loop and (ref == "item" or ref.startswith("item.")):
                    continue
                check_ref(ref, where, name)
    for text in _strings(tpl.get("outputs") or {}, []):
        for ref in references(text):
            check_ref(ref, f"outputs of template {tpl['name']!r}", None)


def _check_acyclic(template: str, deps: dict[str, set[str]]) -> None:
    """Kahn's algorithm: every task must be reachable in dependency order."""
    waiting = {n: len(d) for n, d in deps.items()}
    children: dict[str, list[str]] = {n: [] for n in deps}
    for n, d in deps.items():
        for parent in d:
            children[parent].append(n)
    ready = [n for n, c in waiting.items() if c == 0]
    seen = 0
    while ready:
        n = ready.pop()
        seen += 1
        for c in children[n]:
            waiting[c] -= 1
            if waiting[c] == 0:
                ready.append(c)
    if seen != len(deps):
        cycle = sorted(n for n, c in waiting.items() if c > 0)
        raise ManifestError(f"template {template!r}: tasks {cycle[:5]} depend on each other in a cycle")
