"""flowpack side of the comparisons and issue 2/3 targets; runs in the main interpreter, started by bench/run_all.py.

    python bench/flowpack_worker.py build N RUNS            # build + render the shared DAG shape to a YAML string
    python bench/flowpack_worker.py fanout ITEMS            # manifest bytes of op.map over 3 kinds of list
    python bench/flowpack_worker.py local chain|fan N RUNS  # local engine; a bare `python -c pass` xN interleaved
    python bench/flowpack_worker.py scale chain|map N       # one big run: per-step cost from the wall time and record
    python bench/flowpack_worker.py workers STEPS RUNS      # fan-out of CPU-bound-ish steps, workers=1 vs workers=2
    python bench/flowpack_worker.py forkchain N RUNS        # N-step chain: fork server, spawning, bare python, interleaved
    python bench/flowpack_worker.py mapthroughput N RUNS    # an N-item map of trivial items: items per second

Steps run as subprocesses of this interpreter (sys.executable), so the bare floor uses the same interpreter.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from _common import emit, error_result, load, shape_parents, summary  # noqa: E402

import flowpack as fp  # noqa: E402


@fp.op
def inc(x: int) -> int:
    return x + 1


@fp.op
def make_list(n: int) -> list:
    return list(range(n))


@fp.op
def total(xs: list) -> int:
    return sum(xs)


@fp.op
def spin(x: int) -> int:
    """CPU-bound-ish trivial step: about 0.2 s of pure-Python arithmetic."""
    acc = 0
    for i in range(3_000_000):
        acc += i & x
    return acc


def shape_workflow(n: int):
    parents = shape_parents(n)

    @fp.workflow(name="shape")
    def shape(start: int = 0):
        tasks = []
        for p in parents:
            tasks.append(inc(start if p < 0 else tasks[p]))
        return tasks[-1]

    return shape


def build(n: int) -> str:
    return shape_workflow(n).to_yaml()


def build_sizes(n: int) -> dict:
    wf = shape_workflow(n)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        manifest = wf.render()
    text = wf.to_yaml()
    return {"yaml_bytes": len(text), "json_bytes": len(json.dumps(manifest, separators=(",", ":"))),
            "warnings": sorted({f"{w.category.__name__}: {w.message}" for w in caught})}


def fanout(items: int) -> dict:
    @fp.workflow(name="fan")
    def over_task(n: int = items):
        return total(inc.map(x=make_list(n)))

    @fp.workflow(name="fan")
    def over_param(values: list = list(range(items))):
        return total(inc.map(x=values))

    values = list(range(items))

    @fp.workflow(name="fan")
    def over_literal():
        return total(inc.map(x=values))

    out = {}
    for label, wf in {"over an op's output (op.map over a handle)": over_task,
                      "over a workflow parameter (op.map)": over_param,
                      "over a literal list (op.map)": over_literal}.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                manifest = wf.render()
                text = wf.to_yaml()
            out[label] = {"yaml_bytes": len(text),
                          "templates_json_bytes": len(json.dumps(manifest["spec"]["templates"], separators=(",", ":"))),
                          "dag_json_bytes": len(json.dumps([t for t in manifest["spec"]["templates"] if "dag" in t],
                                                           separators=(",", ":")))}
        except Exception as exc:  # reported, never dropped
            out[label] = error_result(exc)
    return out


def chain_workflow(kind: str, n: int):
    @fp.workflow(name=kind)
    def pipe(start: int = 0):
        first = prev = inc(start)
        for _ in range(1, n):
            prev = inc(prev if kind == "chain" else first)
        return prev

    return pipe


def run_local(wf, expected, run_dir: Path, **options) -> float:
    t = time.perf_counter()
    run = wf.run(run_dir=run_dir, **options)
    elapsed = time.perf_counter() - t
    if run.result() != expected:
        raise RuntimeError(f"{wf.name}: result {run.result()!r}, expected {expected!r}")
    return elapsed


def bare(n: int, workers: int = 1) -> float:
    """n `python -c pass` subprocesses of this interpreter, `workers` at a time."""
    cmd = [sys.executable, "-c", "pass"]
    t = time.perf_counter()
    if workers == 1:
        for _ in range(n):
            subprocess.run(cmd, check=True)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda _: subprocess.run(cmd, check=True), range(n)))
    return time.perf_counter() - t


def local(kind: str, n: int, runs: int) -> dict:
    """Engine runs interleaved with bare runs of the same number of processes (sequential, and 2-wide for fan)."""
    wf = chain_workflow(kind, n)
    expected = n if kind == "chain" else 2
    work = Path(tempfile.mkdtemp(prefix="bench-fp-"))
    try:
        run_local(wf, expected, work)  # warm-up: script rendering, page cache
        bare(5)
        before = load()
        eng, seq, par = [], [], []
        for _ in range(runs):
            eng.append(run_local(wf, expected, work))
            seq.append(bare(n))
            if kind == "fan":
                par.append(bare(n, workers=2))
        out = {"engine": summary(eng), "bare_sequential": summary(seq), "steps": n,
               "load_before": before, "load_after": load(), "python": sys.executable}
        if par:
            out["bare_2_wide"] = summary(par)
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def step_times(run_dir: Path) -> dict:
    """Median and spread of the steps' own durations from the run record (run.json)."""
    record = json.loads(next(run_dir.glob("*/run.json")).read_text())
    d = [s["finishedAt"] - s["startedAt"] for s in record["steps"].values()
         if s.get("startedAt") and s.get("finishedAt")]
    d.sort()
    q = lambda f: d[min(len(d) - 1, int(f * len(d)))]  # noqa: E731
    return {"count": len(d), "median": statistics.median(d), "p10": q(0.1), "p90": q(0.9), "max": d[-1]}


SMALL = 50  # the size a big run is compared with, per step


def scale(kind: str, n: int) -> dict:
    """One run of an n-step chain or an n-item map: wall time per step, and the steps' durations from the record;
    beside it, in the same invocation, three runs of the same workflow at SMALL steps before and three after (their
    wall per step), so the two figures see the same machine."""
    def workflow(size: int):
        return (chain_workflow("chain", size), size) if kind == "chain" else map_workflow(size)

    work = Path(tempfile.mkdtemp(prefix="bench-fp-scale-"))
    try:
        before = load()
        small = [run_local(*workflow(SMALL), work / f"small-{i}") / SMALL for i in range(3)]
        elapsed = run_local(*workflow(n), work / "big")
        small += [run_local(*workflow(SMALL), work / f"small-{i}") / SMALL for i in range(3, 6)]
        return {"wall": elapsed, "steps": n, "per_step": elapsed / n, "step_durations": step_times(work / "big"),
                "small": {**summary(small), "steps": SMALL}, "load_before": before, "load_after": load()}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def workers_cmp(steps: int, runs: int) -> dict:
    @fp.workflow(name="spinfan")
    def spinfan(values: list = list(range(1, steps + 1))):
        return spin.map(x=values)

    work = Path(tempfile.mkdtemp(prefix="bench-fp-workers-"))
    try:
        spinfan.run(run_dir=work, workers=2)  # warm-up
        before = load()
        one, two = [], []
        for _ in range(runs):  # interleaved
            for w, bucket in ((1, one), (2, two)):
                t = time.perf_counter()
                spinfan.run(run_dir=work, workers=w)
                bucket.append(time.perf_counter() - t)
        return {"workers_1": summary(one), "workers_2": summary(two), "steps": steps,
                "speedup": statistics.median(one) / statistics.median(two), "load_before": before, "load_after": load()}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def forkchain(n: int, runs: int) -> dict:
    """The n-step chain with the fork server, with FLOWPACK_FORKSERVER=0 (spawning), and n bare `python -c pass`,
    interleaved run by run so the three see the same machine; and the forked runs' CPU per step: the engine's
    process, the fork server, the step processes (as map_throughput measures them)."""
    import resource

    from flowpack._engine import _forkclient

    wf = chain_workflow("chain", n)
    work = Path(tempfile.mkdtemp(prefix="bench-fp-fork-"))
    try:
        run_local(wf, n, work)  # warm-up: script rendering, the fork server's start, page cache
        server = _forkclient._servers.get(sys.executable)
        bare(5)
        before = load()
        forked, spawned, seq = [], [], []
        cpu: dict[str, list[float]] = {"engine": [], "fork_server": [], "steps": []}
        for _ in range(runs):
            r0, s0 = resource.getrusage(resource.RUSAGE_SELF), _server_cpu(server.proc.pid)
            forked.append(run_local(wf, n, work))
            r1, s1 = resource.getrusage(resource.RUSAGE_SELF), _server_cpu(server.proc.pid)
            cpu["engine"].append((r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) / n)
            cpu["fork_server"].append((s1[0] - s0[0]) / n)
            cpu["steps"].append((s1[1] - s0[1]) / n)
            os.environ["FLOWPACK_FORKSERVER"] = "0"
            try:
                spawned.append(run_local(wf, n, work))
            finally:
                del os.environ["FLOWPACK_FORKSERVER"]
            seq.append(bare(n))
        ratios = [f / b for f, b in zip(forked, seq)]
        return {"forked": summary(forked), "spawned": summary(spawned), "bare_sequential": summary(seq),
                "ratio_by_run": summary(ratios), "cpu_per_step": {k: summary(v) for k, v in cpu.items()}, "steps": n,
                "load_before": before, "load_after": load()}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def map_workflow(n: int):
    @fp.workflow(name="bigmap")
    def wf(count: int = n):
        return total(inc.map(x=make_list(count)))

    return wf, n * (n + 1) // 2


def _server_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds of the fork server itself and of the step processes it has reaped (from /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick


def map_throughput(n: int, runs: int) -> dict:
    """Wall time of whole runs of an n-item map (one list step, n items, one sum step), as items per second; and
    where the CPU went per item: the engine's process (one core at most: its Python threads share one lock), the
    part of it spent scanning the machine's processes for a step's leftovers, the fork server, the step processes."""
    import resource

    from flowpack._engine import _forkclient, _step

    scan = [0.0]
    scan_leftovers = _step.kill_tagged

    def timed_scan(*args):
        t = time.thread_time()
        try:
            return scan_leftovers(*args)
        finally:
            scan[0] += time.thread_time() - t

    _step.kill_tagged = timed_scan
    wf, expected = map_workflow(n)
    work = Path(tempfile.mkdtemp(prefix="bench-fp-map-"))
    try:
        run_local(wf, expected, work)  # warm-up, and the fork server's start
        server = _forkclient._servers.get(sys.executable)
        before = load()
        walls, cpu = [], {"engine": [], "leftover_scan": [], "fork_server": [], "steps": []}
        for _ in range(runs):
            r0, s0, scan[0] = resource.getrusage(resource.RUSAGE_SELF), _server_cpu(server.proc.pid), 0.0
            walls.append(run_local(wf, expected, work))
            r1, s1 = resource.getrusage(resource.RUSAGE_SELF), _server_cpu(server.proc.pid)
            cpu["engine"].append((r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) / n)
            cpu["leftover_scan"].append(scan[0] / n)
            cpu["fork_server"].append((s1[0] - s0[0]) / n)
            cpu["steps"].append((s1[1] - s0[1]) / n)
        rates = [n / w for w in walls]
        return {"wall": summary(walls), "items_per_second": summary(rates), "items": n, "cores": os.cpu_count(),
                "cpu_per_item": {k: summary(v) for k, v in cpu.items()}, "load_before": before, "load_after": load()}
    finally:
        _step.kill_tagged = scan_leftovers
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str]) -> None:
    what = argv[0]
    result: dict = {"tool": "flowpack", "version": fp.__version__}
    try:
        if what == "build":
            n, runs = int(argv[1]), int(argv[2])
            warnings.simplefilter("ignore")  # the size warning is recorded by build_sizes
            build(50)  # warm-up: imports and first-use caches, not counted
            before = load()
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                build(n)
                times.append(time.perf_counter() - t)
            warnings.resetwarnings()
            result.update(summary(times, load_before=before, load_after=load()), **build_sizes(n), tasks=n)
        elif what == "fanout":
            result.update(cases=fanout(int(argv[1])))
        elif what == "local":
            result.update(local(argv[1], int(argv[2]), int(argv[3])))
        elif what == "scale":
            result.update(scale(argv[1], int(argv[2])))
        elif what == "workers":
            result.update(workers_cmp(int(argv[1]), int(argv[2])))
        elif what == "forkchain":
            result.update(forkchain(int(argv[1]), int(argv[2])))
        elif what == "mapthroughput":
            result.update(map_throughput(int(argv[1]), int(argv[2])))
        else:
            raise SystemExit(f"unknown task {what!r}")
    except Exception as exc:
        result.update(error_result(exc))
    emit(result)


if __name__ == "__main__":
    main(sys.argv[1:])
