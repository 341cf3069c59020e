"""The DAG as SVG text and as mermaid text: boxes per step, coloured by phase once a run exists."""

from __future__ import annotations

import re
from typing import Callable
from xml.sax.saxutils import escape, quoteattr

from .._phase import Phase
from ._graph import build
from ._layout import PAD, H, W, layout

MAX_NODES = 300  # larger DAGs are drawn in part, with a note saying how many steps were left out

# phase -> (fill, stroke, dash): pending is a dashed outline (not yet), skipped a faded box (never will be)
COLOURS = {
    None: ("#f4f5f7", "#8a94a6", ""),
    "Pending": ("#ffffff", "#8a94a6", "5 3"),
    "Running": ("#dbeafe", "#2563eb", ""),
    "Succeeded": ("#dcfce7", "#16a34a", ""),
    "Failed": ("#fee2e2", "#dc2626", ""),
    "Error": ("#fee2e2", "#dc2626", ""),
    "Stopped": ("#fef3c7", "#d97706", ""),
    "Skipped": ("#e5e7eb", "#6b7280", "1 3"),
    "Omitted": ("#e5e7eb", "#6b7280", "1 3"),
}
ALLOWED_FAILURE = ("#ffedd5", "#c2410c", "")  # failed, but the workflow went on: not the red of a failed run
SUBTITLE = {"Omitted": "not run", "Skipped": "skipped"}
LABEL_CHARS = 22


def _short(text: str, n: int = LABEL_CHARS) -> str:
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def _edge_path(points: list[tuple[float, float]]) -> str:
    """Straight down through a layer's slot, an S-curve (inside the gap between the two layers) between layers."""
    (x0, y0), rest = points[0], points[1:]
    d = [f"M{x0:.1f},{y0:.1f}"]
    for x1, y1 in rest:
        if x1 == x0:
            d.append(f"L{x1:.1f},{y1:.1f}")
        else:
            my = (y0 + y1) / 2
            d.append(f"C{x0:.1f},{my:.1f} {x1:.1f},{my:.1f} {x1:.1f},{y1:.1f}")
        x0, y0 = x1, y1
    return " ".join(d)


def dag_svg(manifest: dict, phases: dict | None = None, *, max_nodes: int = MAX_NODES,
            href: Callable[[str], str | None] | None = None, details: dict[str, str] | None = None) -> str:
    """The workflow's DAG as standalone SVG text (every label XML-escaped); `phases` ({node: phase}) colours it.

    A layered layout (see _layout): edges routed between the boxes, never behind one. A condition is marked with a
    diamond ("when ..." in the tooltip), an allowed failure with "may fail"; the tooltip holds the full name.
    `details` ({node: "3/12"}) overrides a map's items count (e.g. with its total, known from the plan)."""
    dag = build(manifest, phases, max_nodes=max_nodes)
    for node, text in (details or {}).items():
        if node in dag.nodes and text:
            dag.nodes[node].detail = text
    lay = layout(dag)
    note_h = 24 if dag.hidden else 0
    width, height = max(lay.width, 200), lay.height + note_h
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="flowpack-dag" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" font-size="12" '
        f'style="max-width:none" data-crossings="{lay.crossings}">',
        '<defs><marker id="fp-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" '
        'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#8a94a6"/></marker></defs>',
    ]
    for a, b, points in lay.edges:
        out.append(f'<path class="edge" data-from={quoteattr(a)} data-to={quoteattr(b)} d="{_edge_path(points)}" '
                   'fill="none" stroke="#8a94a6" stroke-width="1.2" marker-end="url(#fp-arrow)"/>')
    for n in dag.nodes.values():
        box = lay.boxes[n.id]
        x, y = box.x, box.y
        allowed_failure = n.allowed and n.phase in Phase.FAILED_LIKE
        fill, stroke, dash = ALLOWED_FAILURE if allowed_failure else COLOURS.get(n.phase, COLOURS[None])
        title = n.id + (f" ({n.template})" if n.template and n.template != n.label else "")
        if n.loop:
            title += f" [map: {n.loop}]"
        if n.when:
            title += f"\nruns when: {n.when}"
        if n.allowed:
            title += "\nallowed to fail: the workflow goes on"
        if n.phase:
            title += f"\n{n.phase}" + (f" {n.detail}" if n.detail else "")
        label = _short(n.label) + (" [\u2026]" if n.loop and not n.detail else "")
        sub = "failed (allowed)" if allowed_failure else SUBTITLE.get(n.phase or "", n.phase or "")
        if n.detail:
            sub += f" {n.detail}"
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        group = [f'<g class="node" data-node={quoteattr(n.id)} data-phase={quoteattr(n.phase or "")}'
                 f' data-when={quoteattr(n.when)} data-allowed="{str(n.allowed).lower()}">',
                 f"<title>{escape(title)}</title>"]
        if n.loop:  # a stack of cards for a map
            group.append(f'<rect x="{x + 4:.1f}" y="{y - 4:.1f}" width="{W}" height="{H}" rx="6" fill="{fill}" '
                         f'stroke="{stroke}"{dashed}/>')
        group.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{W}" height="{H}" rx="6" fill="{fill}" '
                     f'stroke="{stroke}" stroke-width="1.5"{dashed}/>')
        ty = y + (H / 2 - 2 if sub else H / 2 + 4)
        strike = ' text-decoration="line-through"' if n.phase in ("Skipped", "Omitted") else ""
        group.append(f'<text x="{x + W / 2:.1f}" y="{ty:.1f}" text-anchor="middle" fill="#111827"{strike}>'
                     f"{escape(label)}</text>")
        if sub:
            group.append(f'<text x="{x + W / 2:.1f}" y="{y + H / 2 + 12:.1f}" text-anchor="middle" '
                         f'fill="{stroke}" font-size="10">{escape(sub)}</text>')
        if n.when:  # a condition: a diamond on the left edge
            cy = y + H / 2
            group.append(f'<path class="when" d="M{x:.1f},{cy - 7:.1f} L{x + 7:.1f},{cy:.1f} L{x:.1f},{cy + 7:.1f} '
                         f'L{x - 7:.1f},{cy:.1f} z" fill="#fde68a" stroke="#b45309"/>')
        if n.allowed:  # an allowed failure: a tag on the top right corner
            group.append(f'<text class="allowed" x="{x + W - 4:.1f}" y="{y + 11:.1f}" text-anchor="end" '
                         'fill="#b45309" font-size="9">may fail</text>')
        group.append("</g>")
        text = "".join(group)
        link = href(n.id) if href is not None else None
        if link:
            text = f'<a href={quoteattr(link)}>{text}</a>'
        out.append(text)
    if dag.hidden:
        out.append(f'<text x="{PAD}" y="{height - 8:.0f}" fill="#6b7280">{dag.hidden} more steps not drawn '
                   f"(of {dag.total}; the first {len(dag.nodes)} by layer are shown)</text>")
    if not dag.nodes:
        out.append(f'<text x="{PAD}" y="{PAD + 12}" fill="#6b7280">(no steps)</text>')
    out.append("</svg>")
    return "\n".join(out)


_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_]")
MERMAID_CLASSES = {
    "Succeeded": "fill:#dcfce7,stroke:#16a34a", "Failed": "fill:#fee2e2,stroke:#dc2626",
    "Running": "fill:#dbeafe,stroke:#2563eb", "Pending": "fill:#eef1f5,stroke:#8a94a6",
    "Skipped": "fill:#f3f4f6,stroke:#9ca3af", "Stopped": "fill:#fef3c7,stroke:#d97706",
}


def _mermaid_label(text: str) -> str:
    """Text for a quoted mermaid label: quotes, angle brackets and line breaks as mermaid entity codes."""
    table = {'"': "#quot;", "<": "#lt;", ">": "#gt;", "#": "#35;", "&": "#amp;", "\n": " ", "\r": " ",
             "`": "#96;", "[": "#91;", "]": "#93;"}
    return "".join(table.get(c, c) for c in text)


def dag_mermaid(manifest: dict, phases: dict | None = None, *, max_nodes: int = 2000) -> str:
    """The workflow's DAG as a mermaid flowchart: ids sanitised (and unique), labels quoted."""
    dag = build(manifest, phases, max_nodes=max_nodes)
    ids: dict[str, str] = {}
    used: set[str] = set()
    for n in sorted(dag.nodes.values(), key=lambda n: (n.layer, n.order)):
        base = "n_" + _UNSAFE_ID.sub("_", n.id)
        mid, i = base, 2
        while mid in used:
            mid, i = f"{base}_{i}", i + 1
        used.add(mid)
        ids[n.id] = mid
    lines = ["flowchart TD"]
    for n in sorted(dag.nodes.values(), key=lambda n: (n.layer, n.order)):
        label = n.label + (" [map]" if n.loop else "") + (f" ({n.detail})" if n.detail else "")
        shape = ('[["', '"]]') if n.loop else ('["', '"]')
        lines.append(f"    {ids[n.id]}{shape[0]}{_mermaid_label(label)}{shape[1]}")
    for a, b in dag.edges:
        lines.append(f"    {ids[a]} --> {ids[b]}")
    if dag.hidden:
        lines.append(f'    fp_more["{dag.hidden} more steps not drawn"]')
    coloured: dict[str, list[str]] = {}
    for n in dag.nodes.values():
        phase = "Failed" if n.phase == "Error" else "Skipped" if n.phase == "Omitted" else n.phase
        if phase in MERMAID_CLASSES:
            coloured.setdefault(phase, []).append(ids[n.id])
    for phase, members in sorted(coloured.items()):
        lines.append(f"    classDef {phase.lower()} {MERMAID_CLASSES[phase]}")
        lines.append(f"    class {','.join(members)} {phase.lower()}")
    return "\n".join(lines) + "\n"
