"""The picture's model: a manifest's DAG as nodes and edges, layered (longest path) and ordered for drawing.

Nodes are named as the engines name steps ("train", "inner/train"), so a run's {node: phase} colours them; a map
task is one node whose phase sums up its items ("square/0", "square/1", ...). Every pass is O(nodes + edges).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .._engine._zip import listed

_DEP_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_]*)(?:\.[A-Za-z]+)?")
_ITEM = re.compile(r"^(.*)/\d+$")
_FAILURE_OK = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_]*)\.(?:Failed|Errored|AnyFailed|AllFailed)\b")


@dataclass
class Node:
    id: str
    label: str
    template: str = ""
    loop: str = ""  # "withItems" / "withParam" / "" for a single step
    layer: int = 0
    order: int = 0
    phase: str | None = None
    detail: str = ""  # e.g. "3/5" items done for a map
    items: int | None = None  # a withItems map's item count (known from the manifest)
    source: str = ""  # a withParam map's list expression, e.g. "{{tasks.make.outputs.parameters.return}}"
    when: str = ""  # the task's condition
    allowed: bool = False  # continueOn failed/error: the workflow goes on past its failure
    scope: str = ""  # the node prefix where `source`'s `tasks.X` names resolve


@dataclass
class Dag:
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)
    total: int = 0  # nodes before any cap
    hidden: int = 0  # nodes left out of the drawing
    aliases: dict[str, str] = field(default_factory=dict)  # a map wrapper's inner task path -> the map's node


def _wrapped_loop(sub: dict | None, templates: dict) -> dict | None:
    """The one looping task of a map's wrapper template (a DAG holding just `x.map(...)`, e.g. for bounded
    parallelism), drawn as the map itself; None for any other template."""
    tasks = ((sub or {}).get("dag") or {}).get("tasks") or []
    if len(tasks) != 1 or not ("withItems" in tasks[0] or "withParam" in tasks[0]):
        return None
    inner = templates.get(tasks[0].get("template")) or {}
    return None if "dag" in inner else tasks[0]


def _deps(task: dict) -> list[str]:
    if task.get("depends"):
        return sorted({m.group(1) for m in _DEP_NAME.finditer(task["depends"])} - {"Succeeded", "Failed"})
    return list(task.get("dependencies") or [])


def build(manifest: dict, phases: dict | None = None, *, max_nodes: int | None = None) -> Dag:
    """The manifest's entrypoint DAG (nested DAG templates expanded with `outer/inner` names), laid out."""
    spec = manifest.get("spec") or {}
    templates = {t.get("name"): t for t in spec.get("templates") or []}
    dag = Dag()
    entry = templates.get(spec.get("entrypoint"))
    if entry is None:
        return dag
    if "dag" not in entry:  # a single-template workflow: one node
        dag.nodes[entry["name"]] = Node(entry["name"], entry["name"], entry["name"])
    else:
        _expand(entry, "", templates, dag, set())
    if spec.get("onExit") in templates:
        name = spec["onExit"]
        dag.nodes["onexit"] = Node("onexit", f"on exit: {name}", name)
    dag.total = len(dag.nodes)
    _layer(dag)
    if phases:
        colour(dag, phases)
    if max_nodes is not None and len(dag.nodes) > max_nodes:
        keep = sorted(dag.nodes.values(), key=lambda n: (n.layer, n.order))[:max_nodes]
        ids = {n.id for n in keep}
        dag.nodes = {n.id: n for n in keep}
        dag.edges = [(a, b) for a, b in dag.edges if a in ids and b in ids]
        dag.hidden = dag.total - len(ids)
    return dag


_INPUT = re.compile(r"^\{\{inputs\.parameters\.([A-Za-z0-9_-]+)\}\}$")


def _expand(tpl: dict, prefix: str, templates: dict, dag: Dag, stack: set,
            inputs: dict[str, tuple[str, str]] | None = None) -> tuple[list[str], list[str]]:
    """Add a DAG template's tasks; returns its (entry node ids, exit node ids) for wiring the parent's edges.

    `inputs` maps the template's input parameters to (the caller's expression, the prefix it resolves in), so a
    map inside a nested DAG (a bounded map's loop) still knows which step produces its list."""
    tasks = (tpl.get("dag") or {}).get("tasks") or []
    names = {t.get("name") for t in tasks}
    heads: dict[str, tuple[list[str], list[str]]] = {}
    has_child: set[str] = set()
    for t in tasks:
        node = prefix + t["name"]
        sub = templates.get(t.get("template"))
        loop = "withItems" if "withItems" in t else "withParam" if "withParam" in t else ""
        wrapped = _wrapped_loop(sub, templates) if sub is not None and not loop else None
        if sub is not None and "dag" in sub and not loop and not wrapped and sub["name"] not in stack:
            heads[t["name"]] = _expand(sub, node + "/", templates, dag, stack | {sub["name"]}, _args(t, prefix, inputs))
        else:
            looped, scope_in, args = (wrapped, node + "/", _args(t, prefix, inputs)) if wrapped else (t, prefix, inputs)
            on = {**(looped.get("continueOn") or {}), **(t.get("continueOn") or {})}
            source, scope = _scoped(str(looped.get("withParam") or ""), scope_in, args)
            kind = "withItems" if "withItems" in looped else "withParam" if "withParam" in looped else ""
            items = looped.get("withItems")
            dag.nodes[node] = Node(node, t["name"], looped.get("template", ""), kind,
                                   items=len(items) if isinstance(items, list) else None,
                                   source=listed(source), scope=scope,
                                   when=str(t.get("when") or looped.get("when") or ""),
                                   allowed=bool(on.get("failed") or on.get("error")))
            if wrapped:
                dag.aliases[node + "/" + wrapped["name"]] = node
            heads[t["name"]] = ([node], [node])
    for t in tasks:
        for d in _FAILURE_OK.findall(t.get("depends") or ""):  # another task runs on its failure: allowed to fail
            if prefix + d in dag.nodes:
                dag.nodes[prefix + d].allowed = True
        for d in _deps(t):
            if d in names:
                has_child.add(d)
                for a in heads[d][1]:
                    for b in heads[t["name"]][0]:
                        dag.edges.append((a, b))
    starts = [n for t in tasks if not [d for d in _deps(t) if d in names] for n in heads[t["name"]][0]]
    ends = [n for t in tasks if t["name"] not in has_child for n in heads[t["name"]][1]]
    return starts, ends


def _args(task: dict, prefix: str, inputs: dict[str, tuple[str, str]] | None) -> dict[str, tuple[str, str]]:
    """A task's arguments as (expression, prefix it resolves in), for the template it calls."""
    return {p.get("name"): _scoped(str(p.get("value", "")), prefix, inputs)
            for p in (task.get("arguments") or {}).get("parameters") or []}


def _scoped(expr: str, prefix: str, inputs: dict[str, tuple[str, str]] | None) -> tuple[str, str]:
    """(expression, prefix it resolves in), following `{{inputs.parameters.X}}` up to the caller's argument."""
    m = _INPUT.match(expr)
    if m and inputs and m.group(1) in inputs:
        return inputs[m.group(1)]
    return expr, prefix


def _layer(dag: Dag) -> None:
    """Longest-path layers (Kahn's order), then one barycentre pass so children sit near their parents."""
    children: dict[str, list[str]] = {n: [] for n in dag.nodes}
    parents: dict[str, list[str]] = {n: [] for n in dag.nodes}
    for a, b in dag.edges:
        children[a].append(b)
        parents[b].append(a)
    waiting = {n: len(p) for n, p in parents.items()}
    ready = [n for n, c in waiting.items() if c == 0]
    seen = 0
    while ready:
        nxt = []
        for n in ready:
            seen += 1
            for c in children[n]:
                dag.nodes[c].layer = max(dag.nodes[c].layer, dag.nodes[n].layer + 1)
                waiting[c] -= 1
                if waiting[c] == 0:
                    nxt.append(c)
        ready = nxt
    if "onexit" in dag.nodes:
        dag.nodes["onexit"].layer = max((n.layer for n in dag.nodes.values()), default=0) + 1
    layers: dict[int, list[Node]] = {}
    for node in dag.nodes.values():  # a cycle (invalid manifest) leaves nodes in layer 0: drawn, not looped on
        layers.setdefault(node.layer, []).append(node)
    for depth in sorted(layers):
        row = layers[depth]
        if depth:
            def centre(n: Node, depth: int = depth) -> float:
                ps = [dag.nodes[p].order for p in parents[n.id] if dag.nodes[p].layer < depth]
                return sum(ps) / len(ps) if ps else float("inf")
            row.sort(key=centre)
        for i, node in enumerate(row):
            node.order = i


def colour(dag: Dag, phases: dict) -> None:
    """Give each node its phase: its own step's, or for a map the sum of its items' ("3/5" done)."""
    items: dict[str, list[str]] = {}
    own = {dag.aliases.get(k, k): v for k, v in phases.items()}
    for key, phase in phases.items():
        m = _ITEM.match(key)
        if m:
            items.setdefault(dag.aliases.get(m.group(1), m.group(1)), []).append(phase)
    for node in dag.nodes.values():
        if node.id in own and not (node.loop and node.id in items):
            node.phase = own[node.id]
        elif node.id in items:
            got = items[node.id]
            node.phase = summarise(got)
            node.detail = f"{sum(p == 'Succeeded' for p in got)}/{len(got)}"


def summarise(phases: list[str]) -> str:
    """One phase for a group of steps: any failure wins, then running, pending, then done."""
    s = set(phases)
    for p in ("Failed", "Error", "Stopped", "Running", "Pending"):
        if p in s:
            return "Failed" if p == "Error" else p
    if s and s <= {"Skipped", "Omitted"}:
        return "Skipped"
    return "Succeeded"


def expected_steps(manifest: dict) -> int | None:
    """How many leaf steps a run of this manifest has, when it is known before running (None with withParam)."""
    spec = manifest.get("spec") or {}
    templates = {t.get("name"): t for t in spec.get("templates") or []}

    def count(tpl: dict, stack: frozenset) -> int | None:
        if "dag" not in tpl:
            return 1
        total = 0
        for t in (tpl.get("dag") or {}).get("tasks") or []:
            sub = templates.get(t.get("template")) or {}
            if "withParam" in t:
                return None
            n = 1 if sub.get("name") in stack else count(sub, stack | {sub.get("name")})
            if n is None:
                return None
            total += n * (len(t["withItems"]) if "withItems" in t else 1)
        return total

    entry = templates.get(spec.get("entrypoint"))
    if entry is None:
        return None
    n = count(entry, frozenset({entry.get("name")}))
    return None if n is None else n + (1 if spec.get("onExit") in templates else 0)
