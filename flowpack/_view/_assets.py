"""The `flowpack ui` page: one HTML shell, its stylesheet and its script (text built only with textContent)."""

INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>flowpack runs</title>
<link rel="stylesheet" href="/app.css"></head>
<body><header><a href="#/" id="home">flowpack</a> <span id="where"></span>
<span id="live"></span></header>
<main id="app">loading&hellip;</main>
<script src="/app.js"></script></body></html>
"""

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#111827;background:#fafafa}
header{background:#1f2937;color:#fff;padding:8px 16px}header a{color:#fff;font-weight:700;text-decoration:none}
#where{margin-left:12px;color:#d1d5db}#live{float:right;color:#93c5fd}
main{padding:16px}table{border-collapse:collapse;background:#fff}
td,th{padding:4px 10px;border-bottom:1px solid #e5e7eb;text-align:left;vertical-align:top}
th{background:#f3f4f6}.ph{font-weight:600}.Succeeded{color:#16a34a}.Failed,.Error{color:#dc2626}
.Running{color:#2563eb}.Stopped{color:#d97706}.Skipped,.Omitted,.Pending{color:#6b7280}
pre{background:#111827;color:#e5e7eb;padding:8px;max-height:420px;overflow:auto;white-space:pre-wrap}
.dag{background:#fff;border:1px solid #e5e7eb;overflow:auto;max-height:520px;margin:8px 0}
h2{margin:8px 0}h3{margin:14px 0 4px}.kv td:first-child{color:#6b7280}.err{color:#dc2626}
"""

JS = r"""
"use strict";
const app = document.getElementById("app");
let timer = null, gen = 0;

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
function table(head, rows) {
  const t = el("table"), tr = el("tr");
  head.forEach(h => tr.appendChild(el("th", h)));
  t.appendChild(tr);
  rows.forEach(r => {
    const row = el("tr");
    r.forEach(c => { const td = el("td"); if (c instanceof Node) td.appendChild(c); else td.textContent = c ?? ""; row.appendChild(td); });
    t.appendChild(row);
  });
  return t;
}
function kv(obj) {
  const entries = Object.entries(obj || {});
  if (!entries.length) return el("div", "(none)");
  const t = table(["name", "value"], entries.map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
  t.className = "kv";
  return t;
}
function enc(s) { return s.split("/").map(encodeURIComponent).join("/"); }
async function getJSON(url) {
  const r = await fetch(url, {cache: "no-store"});
  if (!r.ok) throw new Error((await r.json().catch(() => ({}))).error || r.statusText);
  return r.json();
}
function live(on) { document.getElementById("live").textContent = on ? "live: refreshing" : ""; }
function where(text) { document.getElementById("where").textContent = text; }
function again(fn, running, idle) {
  // Poll every second while something runs; a page that also waits for new things (the run list) polls slower.
  live(running);
  const delay = running ? 1000 : idle;
  if (delay) timer = setTimeout(() => fn().catch(e => app.replaceChildren(el("p", "Error: " + e.message, "err"))), delay);
}

async function showRuns(g) {
  const data = await getJSON("/api/runs");
  if (g !== gen) return;
  where("runs");
  const box = el("div");
  box.appendChild(el("h2", "Runs in " + data.run_dir));
  if (!data.runs.length) box.appendChild(el("p", "No runs yet."));
  else box.appendChild(table(["run", "workflow", "engine", "phase", "started", "duration", "steps"],
    data.runs.map(r => [link("#/run/" + encodeURIComponent(r.id), r.id), r.workflow, r.engine, phase(r.phase),
      when(r.startedAt), secs(r), Object.entries(r.counts).map(([k, v]) => v + " " + k.toLowerCase()).join(", ")])));
  app.replaceChildren(box);
  again(() => showRuns(g), data.runs.some(r => r.phase === "Running" || r.phase === "Pending"), 3000);
}

async function showRun(g, id) {
  const d = await getJSON("/api/runs/" + encodeURIComponent(id));
  if (g !== gen) return;
  where("run " + id);
  const rec = d.record, box = el("div");
  const h = el("h2", rec.id + " "); h.appendChild(phase(rec.phase)); box.appendChild(h);
  box.appendChild(el("div", `workflow ${rec.workflow} · ${rec.engine} engine · started ${when(rec.startedAt)} · ${secs(rec)}`));
  if (rec.message && rec.phase !== "Succeeded") box.appendChild(el("pre", rec.message, "err"));
  const dag = el("div", null, "dag"); dag.id = "dag";
  dag.innerHTML = d.dag_svg;  // server-built SVG: every label XML-escaped
  box.appendChild(dag);
  box.appendChild(el("h3", "Steps"));
  const steps = Object.entries(rec.steps);
  box.appendChild(table(["step", "phase", "started", "duration", "exit", "message"],
    steps.map(([node, s]) => [link("#/run/" + encodeURIComponent(id) + "/step/" + enc(node), node), phase(s.phase),
      when(s.startedAt), secs(s), s.exitCode ?? "", (s.message || "").split("\n")[0]])));
  if (d.expected) box.appendChild(el("div", `${steps.length} of ${d.expected} steps started`));
  box.appendChild(el("h3", "Parameters")); box.appendChild(kv(rec.parameters));
  box.appendChild(el("h3", "Outputs"));
  box.appendChild(kv(Object.assign({}, (rec.outputs || {}).parameters, (rec.outputs || {}).artifacts)));
  app.replaceChildren(box);
  again(() => showRun(g, id), rec.phase === "Running" || rec.phase === "Pending");
}

async function showStep(g, id, node) {
  const d = await getJSON("/api/runs/" + encodeURIComponent(id) + "/steps/" + enc(node));
  if (g !== gen) return;
  where("run " + id + " · step " + node);
  const s = d.step, box = el("div");
  box.appendChild(link("#/run/" + encodeURIComponent(id), "← run " + id));
  const h = el("h2", "step " + node + " "); h.appendChild(phase(s.phase)); h.id = "step-title"; box.appendChild(h);
  box.appendChild(kv({template: s.template || "", "exit code": s.exitCode ?? "", started: when(s.startedAt),
    duration: secs(s), message: s.message || "", command: (s.command || []).join(" ")}));
  box.appendChild(el("h3", "Inputs")); box.appendChild(kv((s.inputs || {}).parameters));
  box.appendChild(el("h3", "Outputs"));
  box.appendChild(kv(Object.assign({}, (s.outputs || {}).parameters, (s.outputs || {}).artifacts)));
  for (const name of ["stdout", "stderr"]) {
    const log = d[name];
    box.appendChild(el("h3", name + (log.truncated ? ` (last part of ${log.size} bytes)` : "")));
    const pre = el("pre", log.text || "(empty)"); pre.id = name; box.appendChild(pre);
  }
  app.replaceChildren(box);
  again(() => showStep(g, id, node), s.phase === "Running" || s.phase === "Pending");
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
