"""Describe the machine and turn bench/run_all.py's results into BENCHMARKS.md (markdown tables, spread shown)."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path

from _common import IMPORTS, SHAPE_DOC

REPO = Path(__file__).resolve().parents[1]
TOOLS = ("flowpack", "hera", "dflow", "kfp")


def machine() -> dict:
    """Cores, CPU model, RAM, OS, Python and the flowpack commit the figures were taken on."""
    model = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kb = next(int(ln.split()[1]) for ln in open("/proc/meminfo") if ln.startswith("MemTotal"))
    except (OSError, StopIteration):
        mem_kb = 0
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return {"cores": os.cpu_count(), "cpu": model, "ram_gib": round(mem_kb / 1024 ** 2, 1),
            "os": platform.platform(), "python": platform.python_version(), "commit": commit.stdout.strip(),
            "date": time.strftime("%Y-%m-%d %H:%M %Z")}


def _err(r) -> str | None:
    if not isinstance(r, dict) or not r:
        return "not run (yet)"
    if "skipped" in r:
        return f"skipped ({r['skipped']})"
    if "error" in r:
        return "ERROR: " + " ".join(str(r["error"]).split())[:400].replace("|", "\\|")
    return None


def _t(r: dict, scale: float = 1.0, unit: str = "s", digits: int = 3) -> str:
    """'median (min-max, n runs)' of a summary, scaled (e.g. per step)."""
    return (f"{r['median'] * scale:.{digits}f} {unit} ({r['min'] * scale:.{digits}f}-{r['max'] * scale:.{digits}f}, "
            f"n={r['n']})")


def _load(r: dict) -> str:
    b, a = r.get("load_before"), r.get("load_after")
    return f"{b[0]:.1f}->{a[0]:.1f}" if b and a else "?"


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "**missed**")


HAND = "## Notes written by hand"


def kept_notes(previous: str) -> list[str]:
    """The section of the previous BENCHMARKS.md written by hand (from HAND to the end), kept as it was."""
    at = previous.find("\n" + HAND + "\n")
    return previous[at + 1:].rstrip("\n").split("\n") + [""] if at >= 0 else []


def render(res: dict, kept: list[str] | None = None) -> str:
    """The report of `res`; `kept` is the hand-written section of the previous report (kept_notes), put last."""
    m = res["meta"]
    out = ["# flowpack benchmarks", "",
           "Written by `make bench` (`python bench/run_all.py`); raw runs in `bench/results.json`. Every time is the "
           "median of the measured runs with (min-max, n=runs) beside it; `load` is the 1-minute load average "
           "(`os.getloadavg`) before->after the figure. Figures from a busy machine are slower than a quiet one's: "
           "read the load column before comparing across runs; ratios within one row were measured side by side.", "",
           "## Machine and versions", "",
           f"- {m['cores']} cores, {m['cpu']}, {m['ram_gib']} GiB RAM, {m['os']}",
           f"- Python {m['python']}; flowpack {m.get('commit', '?')} in `{m.get('flowpack_python')}` (the main "
           f"interpreter, `pip install -e .`); peers in `{m.get('peer_python')}` (bench/.venv, same CPython build)",
           "- peers: " + ", ".join(f"{k}=={v}" for k, v in m.get("peer_versions", {}).items()),
           f"- taken {m['date']}; measured runs per figure: {res['runs']}"
           + (f"; skipped: {', '.join(res['skip'])}" if res.get("skip") else ""),
           "- command: `make bench` (= `python bench/run_all.py`); env `BENCH_RUNS`, `BENCH_SKIP`, `BENCH_TIMEOUT` "
           "(see bench/run_all.py)"]
    for again in res.get("redone", []):
        out.append(f"- measured again on {again['date']} (flowpack {again['commit']}, load {again['load_before'][0]:.1f}) "
                   f"with `BENCH_REDO={','.join(again['parts'])} python bench/run_all.py`: "
                   + ", ".join(again["parts"]) + " (their rows come from that invocation, the others from the run above)")
    out.append("")
    out += (_targets(res) + _issue18(res) + _builds(res) + _fanout(res) + _local(res) + _imports(res) + _scripts(res)
            + _notes() + (kept or []))
    return "\n".join(out) + "\n"


def _get(res, *keys):
    r = res
    for k in keys:
        r = r.get(k, {}) if isinstance(r, dict) else {}
    return r


def _side_by_side(title: str, goal: str, big: dict) -> tuple:
    """A scale row measured side by side (flowpack_worker.scale): the big run's wall per step against the same
    workflow's at 50 steps in the same invocation, within 5%."""
    small = big["small"]
    return (f"{title} (same invocation)", goal,
            f"{big['per_step'] * 1000:.1f} ms (1 run, {big['wall']:.0f} s) vs {_t(small, 1000, 'ms', 1)} (3 runs "
            f"before, 3 after), load {_load(big)}", _verdict(big["per_step"] <= small["median"] * 1.05))


def _targets(res: dict) -> list[str]:
    rows = []
    b10 = _get(res, "build", "flowpack", "10000")
    if _err(b10) is None:
        rows.append(("Issue 2: 10,000-task DAG built and rendered to YAML", "<= 0.7 s", _t(b10) + f", load {_load(b10)}",
                     _verdict(b10["median"] <= 0.7)))
        per = b10["json_bytes"] / b10["tasks"]
        rows.append(("Issue 2: compact JSON bytes per task (names `inc-N`)", "<= 150", f"{per:.0f}", _verdict(per <= 150)))
    else:
        rows.append(("Issue 2: 10,000-task build", "<= 0.7 s", _err(b10), "n/a"))
    ov = res.get("fp_overhead", {})
    if _err(ov) is None:
        n = ov["steps"]
        ratio = ov["engine"]["median"] / ov["bare_sequential"]["median"]
        rows.append(("Issue 2: per-step cost, 200-step chain vs bare `python -c pass` (same run)", "<= 1.5x",
                     f"{_t(ov['engine'], 1000 / n, 'ms', 1)} vs {_t(ov['bare_sequential'], 1000 / n, 'ms', 1)}: "
                     f"**{ratio:.2f}x**, load {_load(ov)}", _verdict(ratio <= 1.5)))
    else:
        rows.append(("Issue 2: 200-step chain overhead", "<= 1.5x", _err(ov), "n/a"))
    c50, c2k = _get(res, "local", "flowpack", "chain"), res.get("fp_chain_2000", {})
    if _err(c2k) is None and "small" in c2k:
        rows.append(_side_by_side("Issue 2: per step, 2,000-step chain vs 50-step chain", "no more", c2k))
    elif _err(c50) is None and _err(c2k) is None:
        p50 = c50["engine"]["median"] / c50["steps"]
        rows.append(("Issue 2: per step, 2,000-step chain vs 50-step chain", "no more",
                     f"{c2k['per_step'] * 1000:.1f} ms (1 run) vs {p50 * 1000:.1f} ms (median), load {_load(c2k)}",
                     _verdict(c2k["per_step"] <= p50 * 1.05)))
    else:
        rows.append(("Issue 2: 2,000 vs 50-step chain", "no more", _err(c2k) or _err(c50), "n/a"))
    imp = _get(res, "imports", "flowpack")
    if _err(imp) is None:
        rows.append(("Issue 2: `import flowpack`, fresh interpreter, bytecode cached", "<= 150 ms",
                     _t(imp, 1000, "ms", 0) + f", load {_load(imp)}", _verdict(imp["median"] <= 0.150)))
    fan, big = _get(res, "local", "flowpack", "fan"), res.get("fp_map_10000", {})
    if _err(big) is None and "small" in big:
        rows.append(_side_by_side("Issue 3: 10,000-item map vs 50-item map, wall per item", "no growth", big))
    elif _err(fan) is None and _err(big) is None:
        pf = fan["engine"]["median"] / fan["steps"]
        rows.append(("Issue 3: 10,000-item map, wall per item vs 50-way fan-out", "no growth",
                     f"{big['per_step'] * 1000:.1f} ms (1 run, {big['wall']:.0f} s) vs {pf * 1000:.1f} ms, "
                     f"load {_load(big)}", _verdict(big["per_step"] <= pf * 1.05)))
    else:
        rows.append(("Issue 3: 10,000-item map", "no growth", _err(big) or _err(fan), "n/a"))
    w = res.get("fp_workers", {})
    if _err(w) is None:
        rows.append((f"Issue 3: {w['steps']}-way fan-out of ~0.2 s CPU steps, workers=1 vs workers=2", "close to 2x",
                     f"{_t(w['workers_1'])} vs {_t(w['workers_2'])}: **{w['speedup']:.2f}x**, load {_load(w)}",
                     _verdict(w["speedup"] >= 1.7)))
    fo = _get(res, "fanout", "flowpack", "cases")
    for label, r in fo.items() if isinstance(fo, dict) else ():
        if "literal" in label:
            continue
        rows.append((f"Issue 3: 100,000 items, {label}: DAG template bytes", "< 5 kB",
                     _err(r) or f"{r['dag_json_bytes']} B (whole manifest {r['yaml_bytes']} B YAML)",
                     _verdict(None if _err(r) else r["dag_json_bytes"] < 5000)))
    rows += _issue18_rows(res)
    lines = ["## flowpack's targets (issues 2, 3 and 18)", "",
             "One table for every target, each measured in this run; ratios compare figures measured side by side "
             "(interleaved run by run). The machine has 2 cores shared with other engineers running tests: each "
             "figure is repeated (n runs) and shown as median (min-max).", "",
             "| target | goal | measured | verdict |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return lines + [""]


def _issue18_rows(res: dict) -> list[tuple]:
    rows = []
    fc = res.get("fp_forkchain", {})
    if _err(fc) is None:
        n = fc["steps"]
        ratio = fc["forked"]["median"] / fc["bare_sequential"]["median"]
        spawn = fc["spawned"]["median"] / fc["bare_sequential"]["median"]
        by_run = fc["ratio_by_run"]
        rows.append((f"Issue 18: per-step cost, {n}-step chain, fork server vs bare `python -c pass` (same run)",
                     "<= 0.25x", f"{_t(fc['forked'], 1000 / n, 'ms', 1)} vs {_t(fc['bare_sequential'], 1000 / n, 'ms', 1)}"
                     f": **{ratio:.2f}x** (run by run {by_run['min']:.2f}-{by_run['max']:.2f}); spawning "
                     f"(`FLOWPACK_FORKSERVER=0`) {_t(fc['spawned'], 1000 / n, 'ms', 1)}: {spawn:.2f}x; load {_load(fc)}",
                     _verdict(ratio <= 0.25)))
    else:
        rows.append(("Issue 18: 50-step chain with the fork server", "<= 0.25x", _err(fc), "n/a"))
    mp = res.get("fp_map_2000", {})
    if _err(mp) is None:
        ips = mp["items_per_second"]
        rows.append((f"Issue 18: {mp['items']:,}-item map of trivial items, {mp['cores']} cores, whole run",
                     ">= 200 items/s", f"**{ips['median']:.0f} items/s** ({ips['min']:.0f}-{ips['max']:.0f}, "
                     f"n={ips['n']}); wall {_t(mp['wall'])}, load {_load(mp)}", _verdict(ips["median"] >= 200)))
    else:
        rows.append(("Issue 18: 2,000-item map", ">= 200 items/s", _err(mp), "n/a"))
    ho = res.get("fp_handoff", {})
    for kind, label in (("file", "file"), ("dir", "folder")):
        if _err(ho) is None and kind in ho:
            r = ho[kind]
            best = r.get("view") or r["copy"]
            how = "copy-on-write views (overlayfs)" if "view" in r else "plain copies (no views here)"
            cp = r["cp"]["median"]
            old = f"; old hand-off {_t(r['old'])}" if r.get("old") else ""
            plain = r["copy"]["cost"]
            copies = (f"; plain copies (`FLOWPACK_OVERLAY=0`) {plain:.2f} s ({plain / cp:.2f}x cp)"
                      if "view" in r else "")
            rows.append((f"Issue 18: a {ho['mib']} MiB {label} handed from one step to the next, {how} (producer's "
                         f"return to consumer's start, minus the same for 1 MiB; bench/bench_handoff.py, "
                         f"{ho.get('filesystem', '?')}, {'as root' if ho.get('root') else 'not root'})", "<= 0.1 s",
                         f"**{max(best['cost'], 0):.3f} s**: {_t(best['big'])} vs {_t(best['small'])}; `cp -r` of "
                         f"the same bytes {_t(r['cp'])} (the whole {ho['mib']} MiB gap: {best['big']['median'] / cp:.3f}x"
                         f" cp){old}{copies}; the digest, computed once "
                         f"in the background, delays the run's end by {best['end_wait']:.2f} s; load {_load(r)}",
                         _verdict(best["cost"] <= 0.1)))
        else:
            rows.append((f"Issue 18: 1 GiB {label} hand-off", "<= 0.1 s", _err(ho) or "not measured", "n/a"))
    dk = res.get("docker", {})
    ratio = _docker_ratio(dk.get("output", "")) if _err(dk) is None else None
    rows.append(("Issue 2: Docker step vs bare `docker run` (bench/bench_docker.py)", "<= 1.2x",
                 _err(dk) or (f"**{ratio:.2f}x**, load {_load(dk)}" if ratio else "no ratio in its output"),
                 _verdict(None if ratio is None else ratio <= 1.2)))
    return rows


def _issue18(res: dict) -> list[str]:
    """Where a map item's time goes, and what a hand-off costs today (issue 18)."""
    lines = ["## Issue 18: where the time goes", ""]
    mp = res.get("fp_map_2000", {})
    cpu = mp.get("cpu_per_item") if _err(mp) is None else None
    if cpu:
        parts = {"engine": "engine process (all its threads; they share one interpreter lock, so one core at most)",
                 "leftover_scan": "... of which the scan of every process's /proc/*/environ for a step's leftover "
                                  "processes (`_procs.kill_tagged`; now only for a step the engine spawns itself: "
                                  "the fork server contains the others)",
                 "fork_server": "fork server (receiving the request, fork, reaping, killing what a step left "
                                "behind, replying)",
                 "steps": "step processes (from fork to exit: the kernel's fork and exit, the step script)"}
        whole = sum(cpu[k]["median"] for k in ("engine", "fork_server", "steps"))
        lines += [f"CPU per item of the {mp['items']:,}-item map, same runs as the target row (median of "
                  f"{cpu['engine']['n']} runs; the engine's from `getrusage`, the server's and its children's "
                  "from /proc/PID/stat):", "", "| where | CPU per item |", "|---|---|"]
        lines += [f"| {label} | {_t(cpu[k], 1000, 'ms', 2)} |" for k, label in parts.items()]
        lines += [f"| all | {whole * 1000:.2f} ms: at most {2 / whole:.0f} items/s on 2 idle cores, and at most "
                  f"{1 / cpu['engine']['median']:.0f} items/s from the engine's one core |", ""]
    ho = res.get("fp_handoff", {})
    if _err(ho) is None:
        lines += [f"Hand-off of a {ho['mib']} MiB artifact (run folder and store on {ho.get('filesystem', '?')}, "
                  f"{'as root' if ho.get('root') else 'not as root'}; `{ho.get('command', 'bench/bench_handoff.py')}`):"
                  " the step script moves what the function returned out of its own folder into its outputs folder "
                  "and the engine moves it into the store (renames, no copy); no digest on the way (a pickle's is "
                  "the one its step reported; a file's or folder's is computed once, in the background, and written "
                  "into the records when the run ends); the consumer gets a copy-on-write overlayfs view of the "
                  "stored object (as root) or a plain copy (`FLOWPACK_OVERLAY=0`, or without root). The old hand-off "
                  "(copy into the outputs folder, copy into the store with sha256 or tar.gz, read back with sha256 "
                  "or unpacked) is rebuilt from LocalStore.put/get on the same bytes in the same run. Plain copies "
                  "run while the helper thread hashes the same bytes, so on 2 busy cores they take longer than `cp` "
                  "alone; with views the hash only delays the run's end.", ""]
    return lines


def _docker_ratio(text: str) -> float | None:
    for line in text.splitlines():
        if line.startswith("ratio engine/bare:"):
            return float(line.split(":")[1].split()[0])
    return None


def _builds(res: dict) -> list[str]:
    lines = ["## Build and render (issue 8)", "", f"Shape: {SHAPE_DOC}. Timed: building the graph and rendering it "
             "to a YAML string, in one process after an unmeasured warm-up build of 50 tasks. Bytes: the YAML string, "
             "and the same document as compact JSON. Ratio: tool time / flowpack time at the same N. "
             "kfp's output is its own pipeline spec, not an Argo manifest. In Hera's and flowpack's manifests alike "
             "the int values travel as stdout results (`outputs.result`).", "",
             "| N | tool | time | x flowpack | YAML B/task | compact JSON B/task | load | notes |",
             "|---|---|---|---|---|---|---|---|"]
    builds = res.get("build", {})
    for n in ("500", "2000", "10000"):
        fp = _get(builds, "flowpack", n)
        for tool in TOOLS:
            r = _get(builds, tool, n)
            if not r:
                continue
            e = _err(r)
            if e:
                lines.append(f"| {n} | {tool} | {e} | | | | | |")
                continue
            ratio = f"{r['median'] / fp['median']:.1f}x" if _err(fp) is None else "?"
            notes = "; ".join(r.get("warnings", [])).replace("|", "\\|")[:160]
            lines.append(f"| {n} | {tool} | {_t(r)} | {ratio} | {r['yaml_bytes'] / r['tasks']:.0f} | "
                         f"{r['json_bytes'] / r['tasks']:.0f} | {_load(r)} | {notes} |")
    return lines + [""]


def _fanout(res: dict) -> list[str]:
    lines = ["## A fan-out of 100,000 items: manifest bytes (issue 8)", "",
             "Each tool's fan-out construct over a list computed by a step (nothing in the manifest), over a workflow "
             "parameter holding the list (the list sits in the arguments), and over a literal list. DAG bytes: the "
             "DAG template(s) alone, compact JSON (kfp: its whole spec only).", "",
             "| tool | construct | whole manifest (YAML bytes) | DAG template (JSON bytes) |", "|---|---|---|---|"]
    for tool in TOOLS:
        r = _get(res, "fanout", tool)
        if _err(r):
            lines.append(f"| {tool} | | {_err(r)} | |")
            continue
        for label, c in r.get("cases", {}).items():
            e = _err(c)
            lines.append(f"| {tool} | {label} | {e or c['yaml_bytes']} | {'' if e else c.get('dag_json_bytes', 'n/a')} |")
    return lines + [""]


def _local(res: dict) -> list[str]:
    lines = ["## Local execution of trivial steps (issue 8)", "",
             "50-step chain, and a 50-step fan-out (one step feeding 49). flowpack: the embedded local engine "
             "(workers = cores). dflow: debug mode (`config['mode'] = 'debug'`). kfp: `kfp.local.init(runner="
             "SubprocessRunner(use_venv=False))` with `install_kfp_package=False`. Floor: 50 bare `python -c pass` "
             "subprocesses one after another (and 2 at a time for the fan-out), measured in the flowpack worker "
             "interleaved with its runs. Hera has no local runner.", "",
             "| shape | tool | total | per step | x floor | load |", "|---|---|---|---|---|---|"]
    floor = {k: _get(res, "local", "flowpack", k).get("bare_sequential") for k in ("chain", "fan")}
    for kind in ("chain", "fan"):
        f = floor[kind]
        if f:
            lines.append(f"| {kind} | floor: bare `python -c pass` x50, sequential | {_t(f)} | "
                         f"{f['median'] * 20:.1f} ms | 1.00 | |")
        par = _get(res, "local", "flowpack", kind).get("bare_2_wide")
        if par:
            lines.append(f"| {kind} | floor: bare x50, 2 at a time | {_t(par)} | {par['median'] * 20:.1f} ms | "
                         f"{par['median'] / f['median']:.2f} | |")
        for tool in ("flowpack", "dflow", "kfp"):
            r = _get(res, "local", tool, kind)
            e = _err(r)
            if e:
                lines.append(f"| {kind} | {tool} | {e} | | | |")
                continue
            s = r["engine"] if tool == "flowpack" else r
            x = f"{s['median'] / f['median']:.2f}" if f else "?"
            lines.append(f"| {kind} | {tool} | {_t(s)} | {s['median'] * 1000 / 50:.1f} ms | {x} | {_load(r)} |")
    return lines + [""]


def _imports(res: dict) -> list[str]:
    lines = ["## Import time (issue 8)", "",
             "`time.perf_counter()` around the import statement in a fresh interpreter started in /tmp; one unmeasured "
             "run first with `PYTHONDONTWRITEBYTECODE` removed from the environment so bytecode is compiled and cached, "
             "then the measured runs (same environment).", "",
             "| tool | statement | time | x flowpack | load |", "|---|---|---|---|---|"]
    fp = _get(res, "imports", "flowpack")
    for tool in TOOLS:
        r = _get(res, "imports", tool)
        e = _err(r)
        ratio = f"{r['median'] / fp['median']:.1f}x" if not e and _err(fp) is None else ""
        lines.append(f"| {tool} | `{IMPORTS[tool]}` | {e or _t(r, 1000, 'ms', 0)} | {ratio} | "
                     f"{'' if e else _load(r)} |")
    return lines + [""]


def _scripts(res: dict) -> list[str]:
    lines = []
    for key, title in (("store", "S3 store (bench/bench_store.py)"), ("docker", "Docker engine (bench/bench_docker.py)")):
        r = res.get(key)
        if r is None:
            continue
        lines += [f"## {title}", ""]
        e = _err(r)
        if e:
            lines += [e, ""]
        else:
            lines += [f"Command: `{r['command']}`, load {_load(r)}.", "", r["output"], ""]
    return lines


def _notes() -> list[str]:
    return ["## How to run", "",
            "```sh",
            "make bench                                   # everything, slow parts last (about 40-60 min on 2 cores)",
            "BENCH_SKIP=store,docker,kfp-2000 make bench  # skip the slow parts; they are reported as skipped",
            "BENCH_SKIP=store,docker,kfp-2000,peers-local,scale,handoff BENCH_RUNS=5 make bench   # the quick set",
            "BENCH_HANDOFF_MIB=64 make bench             # a smaller artifact for the hand-off rows",
            "```", "",
            "`make bench` creates bench/.venv (gitignored) with the pinned peers of bench/requirements-peers.txt "
            "(constrained by bench/peers-lock.txt) the first time; the store part needs `pip install -e .[test]` "
            "(SeaweedFS) and the docker part a running dockerd (`make services`). A figure a tool can't produce is "
            "shown with its error, never dropped. Benchmarks measure; nothing here runs in pytest or CI.", ""]
