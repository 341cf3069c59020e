"""The DAG as SVG text and as mermaid text: boxes per step, coloured by phase once a run exists."""

from __future__ import annotations

import re
from typing import Callable
from xml.sax.saxutils import escape, quoteattr

from ._graph import build

MAX_NODES = 300  # larger DAGs are drawn in part, with a note saying how many steps were left out

# phase -> (fill, stroke)
COLOURS = {
    None: ("#f4f5f7", "#8a94a6"),
    "Pending": ("#eef1f5", "#8a94a6"),
    "Running": ("#dbeafe", "#2563eb"),
    "Succeeded": ("#dcfce7", "#16a34a"),
    "Failed": ("#fee2e2", "#dc2626"),
    "Error": ("#fee2e2", "#dc2626"),
    "Stopped": ("#fef3c7", "#d97706"),
    "Skipped": ("#f3f4f6", "#9ca3af"),
    "Omitted": ("#f3f4f6", "#9ca3af"),
}
W, H, GAP_X, GAP_Y, PAD = 168, 40, 24, 46, 16
LABEL_CHARS = 22


def _short(text: str, n: int = LABEL_CHARS) -> str:
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def dag_svg(manifest: dict, phases: dict | None = None, *, max_nodes: int = MAX_NODES,
            href: Callable[[str], str | None] | None = None) -> str:
    """The workflow's DAG as standalone SVG text (every label XML-escaped); `phases` ({node: phase}) colours it."""
    dag = build(manifest, phases, max_nodes=max_nodes)
    rows: dict[int, int] = {}
    for n in dag.nodes.values():
        rows[n.layer] = max(rows.get(n.layer, 0), n.order + 1)
    widest = max(rows.values(), default=1)
    note_h = 24 if dag.hidden else 0
    width = PAD * 2 + widest * W + (widest - 1) * GAP_X
    height = PAD * 2 + (max(rows, default=0) + 1) * (H + GAP_Y) - GAP_Y + note_h
    pos = {}
    for n in dag.nodes.values():
        offset = (widest - rows[n.layer]) * (W + GAP_X) / 2  # centre short rows
        pos[n.id] = (PAD + offset + n.order * (W + GAP_X), PAD + n.layer * (H + GAP_Y))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="flowpack-dag" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" font-size="12">',
        '<defs><marker id="fp-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" '
        'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#8a94a6"/></marker></defs>',
    ]
    for a, b in dag.edges:
        (x1, y1), (x2, y2) = pos[a], pos[b]
        sx, sy, ex, ey = x1 + W / 2, y1 + H, x2 + W / 2, y2
        my = (sy + ey) / 2
        out.append(f'<path d="M{sx:.1f},{sy:.1f} C{sx:.1f},{my:.1f} {ex:.1f},{my:.1f} {ex:.1f},{ey:.1f}" '
                   'fill="none" stroke="#8a94a6" stroke-width="1.2" marker-end="url(#fp-arrow)"/>')
    for n in dag.nodes.values():
        x, y = pos[n.id]
        fill, stroke = COLOURS.get(n.phase, COLOURS[None])
        title = n.id + (f" ({n.template})" if n.template and n.template != n.label else "")
        if n.loop:
            title += f" [map: {n.loop}]"
        if n.phase:
            title += f": {n.phase}" + (f" {n.detail}" if n.detail else "")
        label = _short(n.label) + (" [\u2026]" if n.loop and not n.detail else "")
        sub = n.phase or ""
        if n.detail:
            sub += f" {n.detail}"
        group = [f'<g class="node" data-node={quoteattr(n.id)} data-phase={quoteattr(n.phase or "")}>',
                 f"<title>{escape(title)}</title>"]
        if n.loop:  # a stack of cards for a map
            group.append(f'<rect x="{x + 4:.1f}" y="{y - 4:.1f}" width="{W}" height="{H}" rx="6" fill="{fill}" '
                         f'stroke="{stroke}"/>')
        group.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{W}" height="{H}" rx="6" fill="{fill}" '
                     f'stroke="{stroke}" stroke-width="1.5"/>')
        ty = y + (H / 2 - 2 if sub else H / 2 + 4)
        group.append(f'<text x="{x + W / 2:.1f}" y="{ty:.1f}" text-anchor="middle" fill="#111827">'
                     f"{escape(label)}</text>")
        if sub:
            group.append(f'<text x="{x + W / 2:.1f}" y="{y + H / 2 + 12:.1f}" text-anchor="middle" '
                         f'fill="{stroke}" font-size="10">{escape(sub)}</text>')
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
    coloured = {}
    for n in dag.nodes.values():
        phase = "Failed" if n.phase == "Error" else "Skipped" if n.phase == "Omitted" else n.phase
        if phase in MERMAID_CLASSES:
            coloured.setdefault(phase, []).append(ids[n.id])
    for phase, members in sorted(coloured.items()):
        lines.append(f"    classDef {phase.lower()} {MERMAID_CLASSES[phase]}")
        lines.append(f"    class {','.join(members)} {phase.lower()}")
    return "\n".join(lines) + "\n"
