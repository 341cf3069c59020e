"""The `flowpack ui` page: one HTML shell, its stylesheet and its script (text built only with textContent).

The shell carries the server's secret token (every POST sends it back); the script draws the run list (filters,
search), a run (DAG with zoom, pan and fit; every step in DAG order; stop and resume), and a step (artifacts with
previews, logs that follow their tail and render `\\r` and ANSI colours as a terminal does).
"""

from html import escape

_INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>flowpack runs</title>
<meta name="fp-token" content="{token}">
<link rel="stylesheet" href="/app.css"></head>
<body><header><a href="#/" id="home">flowpack</a> <span id="where"></span>
<span id="live"></span></header>
<main id="app">loading&hellip;</main>
<script src="/app.js"></script></body></html>
"""


def index(token: str) -> str:
    """The page's HTML with the server's token (escaped as every value put into a template is)."""
    return _INDEX.replace("{token}", escape(token, quote=True))


CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#111827;background:#fafafa}
header{background:#1f2937;color:#fff;padding:8px 16px}header a{color:#fff;font-weight:700;text-decoration:none}
#where{margin-left:12px;color:#d1d5db}#live{float:right;color:#93c5fd}
main{padding:16px}table{border-collapse:collapse;background:#fff}
td,th{padding:4px 10px;border-bottom:1px solid #e5e7eb;text-align:left;vertical-align:top}
th{background:#f3f4f6}.ph{font-weight:600}.Succeeded{color:#16a34a}.Failed,.Error{color:#dc2626}
.Running{color:#2563eb}.Stopped{color:#d97706}.Skipped,.Omitted,.Pending{color:#6b7280}
.Unreadable{color:#dc2626}
pre{background:#111827;color:#e5e7eb;padding:8px;max-height:420px;overflow:auto;white-space:pre-wrap}
.dag{background:#fff;border:1px solid #e5e7eb;overflow:auto;max-height:560px;margin:4px 0 8px;cursor:grab}
.dag.dragging{cursor:grabbing}.dag svg{display:block}
.tools button,.tools a{margin-right:6px}.tools{margin:6px 0}
h2{margin:8px 0}h3{margin:14px 0 4px}.kv td:first-child{color:#6b7280}.err{color:#dc2626}.note{color:#6b7280}
.filters{margin:8px 0}.filters input,.filters select{margin-right:8px}
tr.item td:first-child{padding-left:28px}#runs td:first-child,#runs td:nth-child(7){white-space:nowrap}.tag{font-size:11px;color:#b45309;margin-left:6px}
.log{background:#111827;color:#e5e7eb;padding:8px;max-height:420px;overflow:auto;font:12px/1.35 monospace;
white-space:pre-wrap;margin:0}
.log .ln{display:block;min-height:1.35em}.log.stamps .ln::before{content:attr(data-t);color:#6b7280;margin-right:8px}
.b{font-weight:700}.dim{opacity:.7}.it{font-style:italic}.ul{text-decoration:underline}
.f30{color:#4b5563}.f31{color:#f87171}.f32{color:#4ade80}.f33{color:#facc15}.f34{color:#60a5fa}.f35{color:#e879f9}
.f36{color:#22d3ee}.f37{color:#e5e7eb}.f90{color:#9ca3af}.f91{color:#fca5a5}.f92{color:#86efac}.f93{color:#fde047}
.f94{color:#93c5fd}.f95{color:#f0abfc}.f96{color:#67e8f9}.f97{color:#fff}
.g40{background:#374151}.g41{background:#991b1b}.g42{background:#166534}.g43{background:#854d0e}
.g44{background:#1e40af}.g45{background:#86198f}.g46{background:#155e75}.g47{background:#d1d5db;color:#111827}
.artifact{margin:4px 0 10px}.preview{margin-top:4px}.preview img{max-width:100%;border:1px solid #e5e7eb}
.md h1,.md h2,.md h3{margin:6px 0}.md{background:#fff;border:1px solid #e5e7eb;padding:8px}
"""

JS = r"""
"use strict";
const app = document.getElementById("app");
const TOKEN = document.querySelector('meta[name="fp-token"]').content;
let timer = null, gen = 0;
const views = {};  // per run: the DAG's zoom and scroll, kept across refreshes
const filters = {phase: "", name: "", q: ""};

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
function link(href, text) { const a = el("a", text); a.href = href; return a; }
function phase(p) { return el("span", p || "", "ph " + (p || "")); }
function secs(s) {
  if (!s.startedAt) return "";
  const end = s.finishedAt || Date.now() / 1000, d = Math.max(0, end - s.startedAt);
  return d < 60 ? d.toFixed(1) + "s" : Math.floor(d / 60) + "m" + String(Math.floor(d % 60)).padStart(2, "0") + "s";
}
function when(t) { return t ? new Date(t * 1000).toLocaleString() : ""; }
function clock(t) { return new Date(t).toLocaleTimeString(); }
function table(head, rows, rowClass) {
  const t = el("table"), tr = el("tr");
  head.forEach(h => tr.appendChild(el("th", h)));
  t.appendChild(tr);
  rows.forEach((r, i) => {
    const row = el("tr", null, rowClass ? rowClass(i) : "");
    r.forEach(c => { const td = el("td"); if (c instanceof Node) td.appendChild(c); else td.textContent = c ?? ""; row.appendChild(td); });
    t.appendChild(row);
  });
  return t;
}
function kv(obj) {
  const entries = Object.entries(obj || {});
  if (!entries.length) return el("div", "(none)", "note");
  const t = table(["name", "value"], entries.map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
  t.className = "kv";
  return t;
}
function enc(s) { return s.split("/").map(encodeURIComponent).join("/"); }
function q(params) { return Object.entries(params).map(([k, v]) => k + "=" + encodeURIComponent(v)).join("&"); }
async function getJSON(url) {
  const r = await fetch(url, {cache: "no-store"});
  if (!r.ok) throw new Error((await r.json().catch(() => ({}))).error || r.statusText);
  return r.json();
}
async function post(url) {
  const r = await fetch(url, {method: "POST", headers: {"Content-Type": "application/json", "X-Flowpack-Token": TOKEN},
                              body: "{}"});
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}
function live(on) { document.getElementById("live").textContent = on ? "live: refreshing" : ""; }
function where(text) { document.getElementById("where").textContent = text; }
function again(fn, running, idle) {
  // Poll every second while something runs; a page that also waits for new things (the run list) polls slower.
  live(running);
  const delay = running ? 1000 : idle;
  if (delay) timer = setTimeout(() => fn().catch(e => app.replaceChildren(el("p", "Error: " + e.message, "err"))), delay);
}
const going = p => p === "Running" || p === "Pending";

// -- the run list --------------------------------------------------------------------------------
function listFilters(runs, redraw) {
  const box = el("div", null, "filters");
  const ph = el("select"); ph.id = "filter-phase";
  ["", ...new Set(runs.map(r => r.phase))].forEach(p => { const o = el("option", p || "every phase"); o.value = p; ph.appendChild(o); });
  ph.value = filters.phase;
  const name = el("select"); name.id = "filter-name";
  ["", ...new Set(runs.map(r => r.workflow).filter(Boolean))].sort().forEach(n => { const o = el("option", n || "every workflow"); o.value = n; name.appendChild(o); });
  name.value = filters.name;
  const search = el("input"); search.id = "search"; search.type = "search"; search.placeholder = "search runs, parameters, files";
  search.value = filters.q;
  ph.onchange = () => { filters.phase = ph.value; redraw(); };
  name.onchange = () => { filters.name = name.value; redraw(); };
  search.oninput = () => { filters.q = search.value; redraw(); };
  box.append(ph, name, search);
  return box;
}
function matches(r) {
  if (filters.phase && r.phase !== filters.phase) return false;
  if (filters.name && r.workflow !== filters.name) return false;
  if (!filters.q) return true;
  const params = Object.entries(r.parameters || {}).map(([k, v]) => k + "=" + v).join(" ");
  const hay = [r.id, r.workflow, r.engine, r.phase, r.message, r.source, params].join(" ").toLowerCase();
  return filters.q.toLowerCase().split(/\s+/).every(w => hay.includes(w));
}
function runTable(runs) {
  const shown = runs.filter(matches);
  if (!shown.length) return el("p", runs.length ? "No run matches." : "No runs yet.", "note");
  const t = table(["run", "workflow", "source", "parameters", "engine", "phase", "started", "duration", "steps"],
    shown.map(r => [link("#/run/" + encodeURIComponent(r.id), r.id), r.workflow, (r.source || "").split("/").pop(),
      Object.entries(r.parameters || {}).map(([k, v]) => k + "=" + v).join(", "), r.engine, phase(r.phase),
      when(r.startedAt), secs(r), Object.entries(r.counts || {}).map(([k, v]) => v + " " + k.toLowerCase()).join(", ")]));
  t.id = "runs";
  return t;
}
async function showRuns(g) {
  const data = await getJSON("/api/runs");
  if (g !== gen) return;
  where("runs");
  let box = document.getElementById("run-list");
  if (!box) {  // built once: the filters keep their focus and text while the list refreshes
    box = el("div"); box.id = "run-list";
    box.appendChild(el("h2", "Runs in " + data.run_dir));
    box.appendChild(el("div", null, "filters")); box.appendChild(el("div"));
    app.replaceChildren(box);
  }
  const redraw = () => box.children[2].replaceChildren(runTable(data.runs));
  if (!box.contains(document.activeElement) || document.activeElement === document.body)
    box.children[1].replaceWith(listFilters(data.runs, redraw));
  redraw();
  again(() => showRuns(g), data.runs.some(r => going(r.phase)), 3000);
}

// -- a run ---------------------------------------------------------------------------------------
function dagTools(dag, id) {
  const svg = dag.querySelector("svg");
  if (!svg) return el("div");
  const vb = svg.viewBox.baseVal, view = views[id] || (views[id] = {scale: 1, left: 0, top: 0});
  const apply = () => { svg.setAttribute("width", vb.width * view.scale); svg.setAttribute("height", vb.height * view.scale); };
  const zoom = (f, cx, cy) => {
    const old = view.scale;
    view.scale = Math.min(8, Math.max(0.05, view.scale * f));
    cx = cx ?? dag.clientWidth / 2; cy = cy ?? dag.clientHeight / 2;
    const k = view.scale / old;
    apply();
    dag.scrollLeft = (dag.scrollLeft + cx) * k - cx; dag.scrollTop = (dag.scrollTop + cy) * k - cy;
  };
  const fit = () => { view.scale = Math.min(1, dag.clientWidth / vb.width, (dag.clientHeight || 520) / vb.height); apply(); };
  apply();
  dag.scrollLeft = view.left; dag.scrollTop = view.top;
  dag.onscroll = () => { view.left = dag.scrollLeft; view.top = dag.scrollTop; };
  dag.onwheel = e => { if (!e.ctrlKey && !e.metaKey) return; e.preventDefault(); const r = dag.getBoundingClientRect();
    zoom(e.deltaY < 0 ? 1.2 : 1 / 1.2, e.clientX - r.left, e.clientY - r.top); };
  let drag = null;
  dag.onmousedown = e => { if (e.target.closest("a")) return; drag = {x: e.clientX, y: e.clientY, l: dag.scrollLeft, t: dag.scrollTop}; dag.classList.add("dragging"); };
  window.onmousemove = e => { if (drag) { dag.scrollLeft = drag.l - (e.clientX - drag.x); dag.scrollTop = drag.t - (e.clientY - drag.y); } };
  window.onmouseup = () => { drag = null; dag.classList.remove("dragging"); };
  const tools = el("div", null, "tools");
  const b = (text, idn, fn) => { const x = el("button", text); x.id = idn; x.onclick = fn; tools.appendChild(x); };
  b("+", "zoom-in", () => zoom(1.25)); b("\u2212", "zoom-out", () => zoom(0.8)); b("fit", "zoom-fit", fit);
  b("1:1", "zoom-reset", () => { view.scale = 1; apply(); });
  tools.appendChild(el("span", "ctrl + wheel zooms, drag pans, hover a box for its full name", "note"));
  return tools;
}
function controls(rec, id) {
  const box = el("div", null, "tools"), msg = el("span", "", "note"); msg.id = "control-message";
  const act = (verb) => async () => {
    const out = () => document.getElementById("control-message");  // the one on the page, kept across refreshes
    out().textContent = verb + "\u2026"; out().className = "note";
    try { out().textContent = (await post("/api/runs/" + encodeURIComponent(id) + "/" + verb)).message; route(); }
    catch (e) { out().textContent = e.message; out().className = "err"; }
  };
  const stop = el("button", "stop"); stop.id = "stop"; stop.disabled = !going(rec.phase); stop.onclick = act("stop");
  const resume = el("button", "resume"); resume.id = "resume";  // on Argo: Argo's retry of the failed steps
  resume.disabled = !["Failed", "Error", "Stopped"].includes(rec.phase); resume.onclick = act("resume");
  box.append(stop, resume);
  box.appendChild(msg);
  return box;
}
async function showRun(g, id) {
  const d = await getJSON("/api/runs/" + encodeURIComponent(id));
  if (g !== gen) return;
  where("run " + id);
  const rec = d.record, box = el("div");
  const h = el("h2", rec.id + " "); h.appendChild(phase(rec.phase)); box.appendChild(h);
  box.appendChild(el("div", `workflow ${rec.workflow} · ${rec.engine} engine · started ${when(rec.startedAt)} · ${secs(rec)}`));
  if (d.source) box.appendChild(el("div", "source: " + d.source, "note"));
  const old = document.getElementById("control-message");
  const ctl = controls(rec, id); box.appendChild(ctl);
  if (old && old.textContent) ctl.querySelector("#control-message").replaceWith(old);
  if (rec.message && rec.phase !== "Succeeded") box.appendChild(el("pre", rec.message, "err"));
  const dag = el("div", null, "dag"); dag.id = "dag";
  dag.innerHTML = d.dag_svg;  // server-built SVG: every label XML-escaped
  const tools = el("div"); box.appendChild(tools); box.appendChild(dag);
  box.appendChild(el("h3", "Steps"));
  const rows = d.rows || [];
  const t = table(["step", "phase", "items", "started", "duration", "exit", "message"],
    rows.map(r => [r.more ? el("span", r.label, "note") : (() => { const c = el("span");
        c.appendChild(link("#/run/" + encodeURIComponent(id) + "/step/" + enc(r.node), r.label));
        if (r.when) c.appendChild(el("span", "when " + r.when, "tag"));
        if (r.allowed) c.appendChild(el("span", "may fail", "tag")); return c; })(),
      phase(r.phase), r.map ? r.detail : "", when(r.startedAt), secs(r), r.exitCode ?? "", (r.message || "").split("\n")[0]]),
    i => rows[i].item ? "item" : "");
  t.id = "steps"; box.appendChild(t);
  box.appendChild(el("h3", "Parameters")); box.appendChild(kv(rec.parameters));
  box.appendChild(el("h3", "Outputs"));
  box.appendChild(kv(Object.assign({}, (rec.outputs || {}).parameters, (rec.outputs || {}).artifacts)));
  app.replaceChildren(box);
  tools.replaceWith(dagTools(dag, id));
  again(() => showRun(g, id), going(rec.phase));
}

// -- logs: appended as they grow, drawn as a terminal draws them -----------------------------------
const SGR_FG = c => (c >= 30 && c <= 37) || (c >= 90 && c <= 97);
function paint(raw) {
  // one line: \r returns to its start (later text overwrites), \b steps back, ESC[K erases to the end, SGR colours
  const cells = []; let col = 0, style = {};
  const re = /\x1b\[([0-9;]*)([A-Za-z])|\r|\x08|[^\x1b\r\x08]+|\x1b/g; let m;
  while ((m = re.exec(raw))) {
    const s = m[0];
    if (s === "\r") col = 0;
    else if (s === "\x08") col = Math.max(0, col - 1);
    else if (m[2] === "K") cells.length = Math.min(cells.length, col);
    else if (m[2] === "m") {
      const codes = (m[1] || "0").split(";").map(Number);
      for (let i = 0; i < codes.length; i++) {
        const c = codes[i];
        if (c === 0) style = {};
        else if (c === 1) style = {...style, b: 1}; else if (c === 2) style = {...style, dim: 1};
        else if (c === 3) style = {...style, it: 1}; else if (c === 4) style = {...style, ul: 1};
        else if (c === 22) style = {...style, b: 0, dim: 0}; else if (c === 23) style = {...style, it: 0};
        else if (c === 24) style = {...style, ul: 0};
        else if (SGR_FG(c)) style = {...style, fg: "f" + c}; else if (c === 39) style = {...style, fg: ""};
        else if ((c >= 40 && c <= 47)) style = {...style, bg: "g" + c}; else if (c >= 100 && c <= 107) style = {...style, bg: "g" + (c - 60)};
        else if (c === 49) style = {...style, bg: ""};
        else if ((c === 38 || c === 48) && codes[i + 1] === 5) i += 2; else if ((c === 38 || c === 48) && codes[i + 1] === 2) i += 4;
      }
    } else if (m[2] || s === "\x1b") { /* other control sequences: not shown */ }
    else for (const ch of s) { cells[col++] = {ch, style}; }
  }
  const frag = document.createDocumentFragment(); let span = null, key = null;
  for (const cell of cells) {
    const c = cell || {ch: " ", style: {}}, st = c.style;
    const k = [st.b && "b", st.dim && "dim", st.it && "it", st.ul && "ul", st.fg, st.bg].filter(Boolean).join(" ");
    if (k !== key) { span = el("span", null, k); frag.appendChild(span); key = k; }
    span.textContent += c.ch;
  }
  return frag;
}
class LogView {
  constructor(node, name, url) {
    this.url = url; this.offset = null; this.partial = ""; this.last = null;
    this.box = el("div");
    const head = el("h3", name + " "); this.head = head;
    const dl = link(url.replace("/log?", "/download?"), "download"); dl.setAttribute("download", ""); dl.id = name + "-download";
    const stamp = el("label", " timestamps"); const cb = el("input"); cb.type = "checkbox"; cb.id = name + "-stamps"; stamp.prepend(cb);
    this.pre = el("pre", null, "log"); this.pre.id = name;
    cb.onchange = () => this.pre.classList.toggle("stamps", cb.checked);
    head.append(dl, stamp);
    this.box.append(head, this.pre);
  }
  async poll() {
    const d = await getJSON(this.url + (this.offset === null ? "" : "&from=" + this.offset));
    if (d.reset) { this.pre.replaceChildren(); this.partial = ""; this.last = null; }
    const stampNow = this.offset === null ? "\u2264" + (d.mtime ? clock(d.mtime * 1000) : "") : clock(Date.now());
    if (this.offset === null && d.start > 0) this.pre.appendChild(el("span", `(the last ${d.size - d.start} of ${d.size} bytes)`, "ln note"));
    this.offset = d.end;
    if (d.text) this.append(d.text, stampNow, d.times || []);
    if (!this.pre.childNodes.length) this.pre.appendChild(el("span", "(empty)", "ln note empty"));
    else if (this.pre.querySelector(".empty") && this.pre.childNodes.length > 1) this.pre.querySelector(".empty").remove();
  }
  append(text, stamp, times) {  // times[i]: when the step wrote the i-th line ending in `text` (the engine's stamp)
    const pre = this.pre, follow = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
    const parts = (this.partial + text).split("\n");
    this.partial = parts.pop();
    const line = (raw, t) => { const s = el("span", null, "ln"); s.dataset.t = t; s.appendChild(paint(raw.replace(/\r$/, ""))); return s; };
    let t = stamp;
    if (this.last) { t = this.last.dataset.t; this.last.remove(); this.last = null; }  // the unfinished line, redrawn
    parts.forEach((raw, i) => { pre.appendChild(line(raw, times[i] ? clock(times[i] * 1000) : t)); t = stamp; });
    if (this.partial) { this.last = line(this.partial, t); pre.appendChild(this.last); }
    if (follow) pre.scrollTop = pre.scrollHeight;  // at the bottom: follow the tail; scrolled up: stay put
  }
}

// -- a step --------------------------------------------------------------------------------------
const MD_ROW = /^\s*\|.*\|\s*$/, MD_RULE = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)+\|?\s*$/;
function mdCells(line) { return line.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map(c => c.trim()); }
function markdown(text) {
  const box = el("div", null, "md"); let list = null, code = null;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.startsWith("```")) { if (code) { box.appendChild(code); code = null; } else code = el("pre"); continue; }
    if (code) { code.textContent += line + "\n"; continue; }
    if (MD_ROW.test(line) && MD_RULE.test(lines[i + 1] || "")) {  // a table: its head, the rule, its rows
      const head = mdCells(line), rows = [];
      for (i += 2; i < lines.length && MD_ROW.test(lines[i]); i++) rows.push(mdCells(lines[i]));
      i--; list = null;
      const t = table(head, rows); t.className = "mdtable"; box.appendChild(t); continue;
    }
    const h = /^(#{1,6})\s+(.*)$/.exec(line), li = /^\s*[-*]\s+(.*)$/.exec(line);
    if (li) { if (!list) { list = el("ul"); box.appendChild(list); } list.appendChild(el("li", li[1])); continue; }
    list = null;
    if (h) box.appendChild(el("h" + Math.min(h[1].length + 1, 6), h[2]));
    else if (line.trim()) box.appendChild(el("p", line));
  }
  if (code) box.appendChild(code);
  return box;
}
async function showPreview(box, url) {
  const p = await getJSON(url.replace("/artifact?", "/preview?"));
  const out = el("div", null, "preview");
  if (p.type === "image") { const img = el("img"); img.src = url + "&inline=1"; img.alt = "artifact"; out.appendChild(img); }
  else if (p.type === "csv") { const t = table(p.rows[0], p.rows.slice(1)); t.className = "csv"; out.appendChild(t); }
  else if (p.type === "markdown") out.appendChild(markdown(p.text));
  else out.appendChild(el("pre", p.text));
  if (p.truncated) out.appendChild(el("div", `(a preview of the first part of ${p.size} bytes)`, "note"));
  out.dataset.type = p.type;
  box.replaceChildren(out);
}
function artifactList(id, node, list, side) {
  const items = list.filter(a => a.side === side);
  const box = el("div");
  if (!items.length) return box;
  for (const a of items) {
    const url = "/api/runs/" + encodeURIComponent(id) + "/artifact?" + q({node, side, name: a.name});
    const row = el("div", null, "artifact"); row.dataset.artifact = side + ":" + a.name;
    row.appendChild(el("b", a.name)); row.appendChild(el("span", ` ${a.kind || ""} · ${a.size ?? "?"} bytes `, "note"));
    const dl = link(url, "download"); dl.setAttribute("download", ""); row.appendChild(dl);
    const pv = el("div", "loading preview\u2026", "note"); row.appendChild(pv);
    showPreview(pv, url).catch(e => pv.replaceChildren(el("span", "no preview: " + e.message, "note")));
    box.appendChild(row);
  }
  return box;
}
function stepMeta(s) {
  const box = el("div");
  const h = el("h2", "step " + s.node + " "); h.appendChild(phase(s.phase)); h.id = "step-title"; box.appendChild(h);
  const facts = {template: s.template || "", "exit code": s.exitCode ?? "", started: when(s.startedAt),
    duration: secs(s), message: s.message || "", command: (s.command || []).join(" ")};
  if (s.when) facts["runs when"] = s.when;
  if (s.allowed) facts["allowed to fail"] = "yes: the workflow goes on past its failure";
  box.appendChild(kv(facts));
  return box;
}
async function showStep(g, id, node) {
  const base = "/api/runs/" + encodeURIComponent(id);
  const d = await getJSON(base + "/steps/" + enc(node));
  if (g !== gen) return;
  where("run " + id + " · step " + node);
  const s = {...d.step, node}, box = el("div"), meta = el("div"); meta.id = "step-meta";
  box.appendChild(link("#/run/" + encodeURIComponent(id), "\u2190 run " + id));
  meta.appendChild(stepMeta(s)); box.appendChild(meta);
  const io = el("div"); io.id = "step-io"; box.appendChild(io);
  const drawIO = (st, arts) => io.replaceChildren(el("h3", "Inputs"), kv((st.inputs || {}).parameters),
    artifactList(id, node, arts || [], "in"), el("h3", "Outputs"), kv((st.outputs || {}).parameters),
    artifactList(id, node, arts || [], "out"));
  drawIO(s, d.artifacts);
  const logs = [];
  if (!id.startsWith("argo:") && !d.started) {
    box.appendChild(el("p", "No logs: this step has not run" + (s.phase === "Pending" ? " yet." : "."), "note"));
  } else if (id.startsWith("argo:")) {  // one log: the Argo Server streams stdout and stderr together
    const v = new LogView(node, "stdout", base + "/log?" + q({node, name: "stdout"}));
    logs.push(v); box.appendChild(v.box); box.appendChild(el("p", d.stderr.text, "note"));
  } else {
    for (const name of ["stdout", "stderr"]) {
      const v = new LogView(node, name, base + "/log?" + q({node, name}));
      logs.push(v); box.appendChild(v.box);
    }
  }
  await Promise.all(logs.map(v => v.poll()));  // the first paint has the logs' tails
  if (g !== gen) return;
  app.replaceChildren(box);
  logs.forEach(v => { v.pre.scrollTop = v.pre.scrollHeight; });
  const tick = async () => {
    if (g !== gen) return;
    const d2 = await getJSON(base + "/steps/" + enc(node));
    if (g !== gen) return;
    if (d2.started && !d.started) return route();  // it started: draw its logs and artifacts
    meta.replaceChildren(stepMeta({...d2.step, node}));  // only the facts are redrawn: logs keep scroll and selection
    if (d2.step.phase !== s.phase) { drawIO(d2.step, d2.artifacts); s.phase = d2.step.phase; }  // its record came
    await Promise.all(logs.map(v => v.poll()));
    again(tick, going(d2.step.phase));
  };
  again(tick, going(s.phase));
}

async function route() {
  clearTimeout(timer); live(false);
  const g = ++gen;
  const parts = location.hash.replace(/^#\/?/, "").split("/");
  try {
    if (parts[0] === "run" && parts.length >= 4 && parts[2] === "step")
      await showStep(g, decodeURIComponent(parts[1]), parts.slice(3).map(decodeURIComponent).join("/"));
    else if (parts[0] === "run" && parts[1]) await showRun(g, decodeURIComponent(parts[1]));
    else await showRuns(g);
  } catch (e) {
    if (g === gen) app.replaceChildren(el("p", "Error: " + e.message, "err"));
  }
}
window.addEventListener("hashchange", route);
route();
"""
