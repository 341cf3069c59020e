"""Where the DAG picture puts its boxes and edges: a layered (Sugiyama-style) layout of our own.

1. layers: longest path from the roots (_graph._layer);
2. every edge longer than one layer gets a thin placeholder in each layer it passes, so it is routed through a
   gap of its own, never behind a box;
3. crossing reduction: barycentre sweeps down and up, keeping the order with the fewest crossings;
4. x positions: each box pulled towards its neighbours' mean, never closer to the next than the gap.

Every edge is a polyline of segments that each stay inside one gap between layers or one placeholder's slot in a
layer, so no segment meets a box other than its two ends (tests/test_view.py checks the geometry).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._graph import Dag

W, H = 168, 40  # a box
GAP_X, GAP_Y, PAD = 24, 54, 16
DUMMY_W = 10  # the slot of an edge passing through a layer
SWEEPS = 12


@dataclass
class Box:
    id: str
    x: float
    y: float
    w: float = W
    h: float = H


@dataclass
class Layout:
    boxes: dict[str, Box] = field(default_factory=dict)  # real nodes only
    edges: list[tuple[str, str, list[tuple[float, float]]]] = field(default_factory=list)  # (from, to, points)
    width: float = 0.0
    height: float = 0.0
    crossings: int = 0  # edge crossings between adjacent layers, after reduction
    crossings_before: int = 0  # the same count in the first order (Kahn's order of the manifest)


def _count(layers: list[list[str]], down: dict[str, list[str]]) -> int:
    """Edge crossings between each pair of adjacent layers (two edges cross when their ends are in opposite order)."""
    total = 0
    for upper, lower in zip(layers, layers[1:]):
        pos = {n: i for i, n in enumerate(lower)}
        ends = [(i, pos[c]) for i, n in enumerate(upper) for c in down.get(n, ()) if c in pos]
        ends.sort()
        for a in range(len(ends)):  # O(e^2) per pair of layers: fine for the sizes drawn (capped by the caller)
            ia, ja = ends[a]
            for b in range(a + 1, len(ends)):
                ib, jb = ends[b]
                if ib != ia and jb < ja:
                    total += 1
    return total


def _sweep(row: list[str], neighbours: dict[str, list[str]], fixed: list[str]) -> list[str]:
    """One layer reordered by the mean place of each node's neighbours in `fixed` (unconnected nodes keep theirs)."""
    pos = {n: i for i, n in enumerate(fixed)}
    scale = len(fixed) / max(len(row), 1)

    def key(item: tuple[int, str]) -> tuple[float, int]:
        i, n = item
        ps = [pos[m] for m in neighbours.get(n, ()) if m in pos]
        return (sum(ps) / len(ps) if ps else i * scale, i)

    return [n for _, n in sorted(enumerate(row), key=key)]


def layout(dag: Dag) -> Layout:
    """Boxes and routed edges for `dag` (its nodes' `layer` already set)."""
    out = Layout()
    if not dag.nodes:
        return out
    depth = max(n.layer for n in dag.nodes.values()) + 1
    layers: list[list[str]] = [[] for _ in range(depth)]
    for node in sorted(dag.nodes.values(), key=lambda n: (n.layer, n.order)):
        layers[node.layer].append(node.id)
    down: dict[str, list[str]] = {}
    up: dict[str, list[str]] = {}
    chains: list[tuple[str, str, list[str]]] = []  # (from, to, the nodes it passes through: from, dummies..., to)
    seen_edges: set[tuple[str, str]] = set()
    for a, b in dag.edges:
        if (a, b) in seen_edges or a == b:
            continue
        seen_edges.add((a, b))
        la, lb = dag.nodes[a].layer, dag.nodes[b].layer
        if lb <= la:  # a cycle in an invalid manifest: drawn as a plain line, not routed
            chains.append((a, b, [a, b]))
            continue
        path = [a]
        for layer in range(la + 1, lb):
            dummy = f"\0{a}\0{b}\0{layer}"
            layers[layer].append(dummy)
            path.append(dummy)
        path.append(b)
        for u, v in zip(path, path[1:]):
            down.setdefault(u, []).append(v)
            up.setdefault(v, []).append(u)
        chains.append((a, b, path))
    out.crossings_before = best = _count(layers, down)
    best_layers = [list(row) for row in layers]
    for i in range(SWEEPS):
        if best == 0:
            break
        if i % 2 == 0:
            for d in range(1, depth):
                layers[d] = _sweep(layers[d], up, layers[d - 1])
        else:
            for d in range(depth - 2, -1, -1):
                layers[d] = _sweep(layers[d], down, layers[d + 1])
        _transpose(layers, up, down)
        now = _count(layers, down)
        if now < best:
            best, best_layers = now, [list(row) for row in layers]
    layers = best_layers
    out.crossings = best
    xs = _place(layers, up, down)
    left = min((x for x in xs.values()), default=0.0)
    for n, x in xs.items():
        xs[n] = x - left + PAD
    width = max((xs[n] + _w(n) for row in layers for n in row), default=0.0) + PAD
    for d, row in enumerate(layers):
        for n in row:
            if n in dag.nodes:
                out.boxes[n] = Box(n, xs[n], PAD + d * (H + GAP_Y))
    for a, b, path in chains:
        points: list[tuple[float, float]] = []
        for i, n in enumerate(path):
            cx = xs[n] + _w(n) / 2
            y = PAD + _layer_of(n, dag) * (H + GAP_Y)
            if i == 0:
                points.append((cx, y + H))
            elif i == len(path) - 1:
                points.append((cx, y))
            else:  # a placeholder: straight down through its own slot
                points += [(cx, y), (cx, y + H)]
        out.edges.append((a, b, points))
    out.width = width
    out.height = PAD * 2 + depth * (H + GAP_Y) - GAP_Y
    return out


def _pair_cost(u: str, v: str, links: dict[str, list[str]], pos: dict[str, int]) -> int:
    """Crossings between u's and v's edges to one neighbouring layer when u is left of v."""
    return sum(1 for a in links.get(u, ()) if a in pos for b in links.get(v, ()) if b in pos and pos[a] > pos[b])


def _transpose(layers: list[list[str]], up: dict[str, list[str]], down: dict[str, list[str]]) -> None:
    """Swap neighbours in a layer while that removes crossings (bounded passes)."""
    for _ in range(4):
        better = False
        for d, row in enumerate(layers):
            above = {n: i for i, n in enumerate(layers[d - 1])} if d else {}
            below = {n: i for i, n in enumerate(layers[d + 1])} if d + 1 < len(layers) else {}
            for i in range(len(row) - 1):
                u, v = row[i], row[i + 1]
                now = _pair_cost(u, v, up, above) + _pair_cost(u, v, down, below)
                swapped = _pair_cost(v, u, up, above) + _pair_cost(v, u, down, below)
                if swapped < now:
                    row[i], row[i + 1] = v, u
                    better = True
        if not better:
            return


def _w(n: str) -> float:
    return DUMMY_W if n.startswith("\0") else W


def _layer_of(n: str, dag: Dag) -> int:
    return int(n.rsplit("\0", 1)[1]) if n.startswith("\0") else dag.nodes[n].layer


def _place(layers: list[list[str]], up: dict[str, list[str]], down: dict[str, list[str]]) -> dict[str, float]:
    """x of each node's left edge: packed in order, then pulled towards its neighbours' centres a few times."""
    xs: dict[str, float] = {}
    for row in layers:
        x = 0.0
        for n in row:
            xs[n] = x
            x += _w(n) + GAP_X
    widest = max((xs[row[-1]] + _w(row[-1]) for row in layers if row), default=0.0)
    for row in layers:  # centre short layers under the widest one
        if row:
            shift = (widest - (xs[row[-1]] + _w(row[-1]))) / 2
            for n in row:
                xs[n] += shift
    for rnd in range(8):
        order = range(1, len(layers)) if rnd % 2 == 0 else range(len(layers) - 2, -1, -1)
        links = up if rnd % 2 == 0 else down
        for d in order:
            row = layers[d]
            want = []
            for n in row:
                ns = links.get(n, ())
                centre = sum(xs[m] + _w(m) / 2 for m in ns) / len(ns) if ns else xs[n] + _w(n) / 2
                want.append(centre - _w(n) / 2)
            _fit(row, want, xs)
    return xs


def _fit(row: list[str], want: list[float], xs: dict[str, float]) -> None:
    """Positions as close to `want` as the order and the gaps allow (a forward then a backward pass, averaged)."""
    fwd, bwd = [0.0] * len(row), [0.0] * len(row)
    for i, n in enumerate(row):
        fwd[i] = want[i] if i == 0 else max(want[i], fwd[i - 1] + _w(row[i - 1]) + GAP_X)
    for i in range(len(row) - 1, -1, -1):
        bwd[i] = want[i] if i == len(row) - 1 else min(want[i], bwd[i + 1] - _w(row[i]) - GAP_X)
    placed = [(f + b) / 2 for f, b in zip(fwd, bwd)]
    for i in range(1, len(row)):  # averaging may squeeze: restore the gaps
        placed[i] = max(placed[i], placed[i - 1] + _w(row[i - 1]) + GAP_X)
    for n, x in zip(row, placed):
        xs[n] = x
