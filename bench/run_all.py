"""Run every benchmark and rewrite BENCHMARKS.md: `make bench` (python bench/run_all.py).

flowpack runs in this interpreter (the one `make install` put flowpack into); Hera, dflow and kfp run in a venv of
their own at bench/.venv, created here with the pinned versions of bench/requirements-peers.txt. Every figure comes
from a worker subprocess (bench/flowpack_worker.py, bench/peers/*_worker.py) that prints one JSON result line.

Environment:
    BENCH_RUNS=5        measured runs per figure (at least 5 for the report; fewer only for a smoke run)
    BENCH_SKIP=a,b      parts to skip, reported as skipped: store, docker, kfp-2000, peers-local, scale, handoff
    BENCH_HANDOFF_MIB=1024  size of the artifact handed from one step to the next (issue 18)
    BENCH_REDO=a,b      measure only these parts again (handoff, docker, scale, steps, local, build), keeping the other figures of
                        bench/results.json; the report names them and when they were taken
    BENCH_TIMEOUT=2400  seconds allowed to one worker call; past it the figure is reported as a timeout
Results also go to bench/results.json (raw runs) and the report is rewritten after every part.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
VENV = BENCH / ".venv"
VENV_PY = VENV / "bin" / "python"
sys.path.insert(0, str(BENCH))
from _common import IMPORTS, RESULT_PREFIX, load  # noqa: E402
import report  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
SKIP = {s.strip() for s in os.environ.get("BENCH_SKIP", "").split(",") if s.strip()}
TIMEOUT = float(os.environ.get("BENCH_TIMEOUT", "2400"))
HANDOFF_MIB = int(os.environ.get("BENCH_HANDOFF_MIB", "1024"))
PEERS = {"hera": "hera_worker.py", "dflow": "dflow_worker.py", "kfp": "kfp_worker.py"}


def ensure_venv() -> dict:
    """Create bench/.venv with the pinned peers unless it already has them; return the installed versions."""
    pins = [ln.strip() for ln in (BENCH / "requirements-peers.txt").read_text().splitlines()
            if ln.strip() and not ln.startswith("#")]
    if not VENV_PY.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    if _versions(pins) != dict(p.split("==") for p in pins):
        subprocess.run([str(VENV_PY), "-m", "pip", "install", "-q", "-r", str(BENCH / "requirements-peers.txt"),
                        "-c", str(BENCH / "peers-lock.txt")], check=True)
    return _versions(pins)


def _versions(pins: list[str]) -> dict:
    names = [p.split("==")[0] for p in pins]
    code = ("import json, importlib.metadata as m\nout = {}\nfor n in %r:\n    try: out[n] = m.version(n)\n"
            "    except Exception: out[n] = None\nprint(json.dumps(out))" % names)
    if not VENV_PY.exists():
        return {}
    out = subprocess.run([str(VENV_PY), "-c", code], capture_output=True, text=True)
    return json.loads(out.stdout) if out.returncode == 0 else {}


def peer_env() -> dict:
    """The environment of a peer worker: the venv's bin first on PATH, as an activated venv."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(VENV)
    return env


def work(tool: str, *args) -> dict:
    """Run one worker call; its result, or an error record with the tail of its stderr (never dropped)."""
    if tool == "flowpack":
        cmd, env = [sys.executable, str(BENCH / "flowpack_worker.py"), *map(str, args)], dict(os.environ)
    else:
        cmd, env = [str(VENV_PY), str(BENCH / "peers" / PEERS[tool]), *map(str, args)], peer_env()
    label = " ".join([tool, *map(str, args)])
    print(f"[bench] {label} (load {load()[0]})", file=sys.stderr, flush=True)
    t = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=TIMEOUT, cwd=REPO)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {TIMEOUT:.0f} s (BENCH_TIMEOUT)"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line[len(RESULT_PREFIX):])
            result["wall_of_call"] = time.perf_counter() - t
            return result
    tail = (proc.stderr or proc.stdout)[-1500:]
    return {"error": f"worker exited {proc.returncode} without a result: {tail}"}


def import_time(python: str, statement: str, env: dict) -> dict:
    """Import time in fresh interpreters, bytecode cached: one unmeasured run with bytecode writing allowed first."""
    env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    code = f"import time\nt = time.perf_counter()\n{statement}\nprint(time.perf_counter() - t)"
    try:
        subprocess.run([python, "-c", statement], env=env, check=True, capture_output=True, cwd="/tmp")
        before, times = load(), []
        for _ in range(max(RUNS, 7)):
            out = subprocess.run([python, "-c", code], env=env, check=True, capture_output=True, text=True, cwd="/tmp")
            times.append(float(out.stdout.strip()))
        return {"median": statistics.median(times), "min": min(times), "max": max(times), "runs": times,
                "n": len(times), "load_before": before, "load_after": load()}
    except subprocess.CalledProcessError as exc:
        return {"error": f"{statement!r} failed: {(exc.stderr or b'')[-800:]!r}"}


def script_bench(name: str, args: list[str]) -> dict:
    """Run another helper's benchmark script (bench_store.py, bench_docker.py) and keep its printed report."""
    path = BENCH / name
    if not path.exists():
        return {"error": f"{name} is not present"}
    before = load()
    try:
        proc = subprocess.run([sys.executable, str(path), *args], capture_output=True, text=True, cwd=REPO,
                              timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {TIMEOUT:.0f} s (BENCH_TIMEOUT)"}
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}: {(proc.stderr or proc.stdout)[-1500:]}", "command": args}
    return {"output": proc.stdout.strip(), "load_before": before, "load_after": load(),
            "command": " ".join(["python", f"bench/{name}", *args])}


def script_result(name: str, args: list[str]) -> dict:
    """Run a benchmark script that ends with a BENCH-RESULT line (bench_handoff.py); its result, or an error."""
    before = load()
    try:
        proc = subprocess.run([sys.executable, str(BENCH / name), *args], capture_output=True, text=True, cwd=REPO,
                              timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {TIMEOUT:.0f} s (BENCH_TIMEOUT)"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return {"load_before": before, **json.loads(line[len(RESULT_PREFIX):])}
    return {"error": f"exit {proc.returncode} without a result: {(proc.stderr or proc.stdout)[-1500:]}"}


def write_report(results: dict) -> None:
    """Rewrite BENCHMARKS.md from `results`, keeping the previous report's section written by hand."""
    path = REPO / "BENCHMARKS.md"
    kept = report.kept_notes(path.read_text()) if path.exists() else []
    path.write_text(report.render(results, kept))


LATE_PARTS = {  # the parts a BENCH_REDO can measure again, by name
    "handoff": {"fp_handoff": lambda: script_result("bench_handoff.py", ["--mib", str(HANDOFF_MIB),
                                                                         "--runs", str(min(RUNS, 3))])},
    "scale": {"fp_chain_2000": lambda: work("flowpack", "scale", "chain", 2000),
              "fp_map_10000": lambda: work("flowpack", "scale", "map", 10000)},
    "docker": {"docker": lambda: script_bench("bench_docker.py", ["--repeat", str(RUNS)])},
    "steps": {"fp_forkchain": lambda: work("flowpack", "forkchain", 50, RUNS),  # issue 18.1 and 18.2
              "fp_map_2000": lambda: work("flowpack", "mapthroughput", 2000, max(3, RUNS // 2))},
}
BUILD_SIZES = (500, 2000, 10000)
BUILD_TOOLS = ("flowpack", "hera", "dflow", "kfp")


def nested_jobs(name: str) -> list[tuple[tuple[str, ...], object]]:
    """The figures of a part kept in nested keys, as (path in results.json, how to measure it): BENCH_REDO=local is
    flowpack's 50-step chain and fan-out; BENCH_REDO=build the build rows of every tool (kfp's 2,000 only with the
    full run: about 80 s a build)."""
    if name == "local":
        return [(("local", "flowpack", kind), lambda kind=kind: work("flowpack", "local", kind, 50, RUNS))
                for kind in ("chain", "fan")]
    if name == "build":
        return [(("build", tool, str(n)), lambda tool=tool, n=n: work(tool, "build", n, RUNS))
                for n in BUILD_SIZES for tool in BUILD_TOOLS if tool != "kfp" or n == 500]
    return []


def redo(names: list[str]) -> int:
    """Measure some parts again into the existing bench/results.json (e.g. after a part failed)."""
    results = json.loads((BENCH / "results.json").read_text())
    known = sorted(LATE_PARTS) + ["build", "local"]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"BENCH_REDO: unknown part(s) {unknown}; known: {known}")
    results.setdefault("redone", []).append({"parts": names, "date": report.machine()["date"],
                                             "commit": report.machine()["commit"], "load_before": load()})
    for name in names:
        jobs = nested_jobs(name) or [((key,), fn) for key, fn in LATE_PARTS[name].items()]
        for path, fn in jobs:
            place = results
            for key in path[:-1]:
                place = place.setdefault(key, {})
            place[path[-1]] = fn()
            (BENCH / "results.json").write_text(json.dumps(results, indent=1))
            write_report(results)
    return 0


def main() -> int:
    if os.environ.get("BENCH_REDO"):
        return redo([n.strip() for n in os.environ["BENCH_REDO"].split(",") if n.strip()])
    results: dict = {"meta": report.machine(), "runs": RUNS, "skip": sorted(SKIP), "started": time.time()}
    results["meta"]["peer_versions"] = ensure_venv()
    results["meta"]["flowpack_python"] = sys.executable
    results["meta"]["peer_python"] = str(VENV_PY)

    def save() -> None:
        results["finished"] = time.time()
        (BENCH / "results.json").write_text(json.dumps(results, indent=1))
        write_report(results)

    def part(key: str, fn, skip_as: str | None = None) -> None:
        if skip_as and skip_as in SKIP:
            results[key] = {"skipped": f"BENCH_SKIP={skip_as}"}
        else:
            results[key] = fn()
        save()

    envs = {"flowpack": (sys.executable, dict(os.environ))}
    envs.update({t: (str(VENV_PY), peer_env()) for t in PEERS})
    part("imports", lambda: {t: import_time(py, IMPORTS[t], env) for t, (py, env) in envs.items()})

    builds: dict = {}
    results["build"] = builds
    for n in BUILD_SIZES:
        for tool in BUILD_TOOLS:
            if tool == "kfp" and n == 10000:
                builds.setdefault(tool, {})[str(n)] = {"skipped": "not run: kfp's compile time grows quadratically "
                                                                  "(issue 8 asks for N = 500 and 2,000 only)"}
                continue
            if tool == "kfp" and n == 2000:
                continue  # about 80 s a build: run after the quick parts, below
            builds.setdefault(tool, {})[str(n)] = work(tool, "build", n, RUNS)
            save()

    part("fanout", lambda: {t: work(t, "fanout", 100_000) for t in ("flowpack", "hera", "dflow", "kfp")})
    part("fp_overhead", lambda: work("flowpack", "local", "chain", 200, RUNS))
    part("fp_workers", lambda: work("flowpack", "workers", 20, RUNS))
    for key, fn in LATE_PARTS["steps"].items():
        part(key, fn)

    local: dict = {}
    results["local"] = local
    for tool in ("flowpack", "kfp", "dflow"):  # dflow's debug mode is the slowest: last
        for kind in ("chain", "fan"):
            if tool != "flowpack" and "peers-local" in SKIP:
                local.setdefault(tool, {})[kind] = {"skipped": "BENCH_SKIP=peers-local"}
            else:
                local.setdefault(tool, {})[kind] = work(tool, "local", kind, 50, RUNS)
            save()

    if "kfp-2000" in SKIP:
        builds["kfp"]["2000"] = {"skipped": "BENCH_SKIP=kfp-2000"}
    else:
        builds["kfp"]["2000"] = work("kfp", "build", 2000, RUNS)
    save()
    # the hand-off's old path (one run of each kind: a 1 GiB folder packed as tar.gz takes minutes) is measured beside
    for name in ("handoff", "scale"):
        for key, fn in LATE_PARTS[name].items():
            part(key, fn, name)
    part("store", lambda: script_bench("bench_store.py", ["--runs", str(RUNS)]), "store")
    part("docker", LATE_PARTS["docker"]["docker"], "docker")
    print(f"[bench] wrote {REPO / 'BENCHMARKS.md'} and {BENCH / 'results.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
