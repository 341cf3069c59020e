"""Issue 18.3: what handing a file or folder from one local step to the next costs, beside `cp` and the old hand-off.

    python bench/bench_handoff.py [--mib 1024] [--runs 3] [--old-runs 1] [--dir FOLDER]

For a file and a folder (4 files) of MIB MiB, measured in the same process, interleaved run by run:

- flowpack's hand-off: a workflow `consume(produce())` on the local engine; the producer notes the time its function
  returns, the consumer the time its function starts; the gap minus the same gap for a 1 MiB artifact is the
  hand-off's cost. Twice: with copy-on-write views (overlayfs, when run as root) and with FLOWPACK_OVERLAY=0 (plain
  copies, what a machine without root gets). Also the wait at the run's end for the artifact's digest, computed
  once in the background (consumer's return to the run's end, minus the same for 1 MiB).
- `cp` (or `cp -r`) of the same bytes on the same filesystem: what one plain copy costs.
- the old hand-off, rebuilt from the store's own put/get on the same bytes: the step script's copy into its outputs
  folder, LocalStore.put (copy and sha256; a folder packed as tar.gz) and LocalStore.get (read back, check, copy;
  a folder unpacked): what every hand-off did before.

Prints a report and, last, one `BENCH-RESULT {json}` line for bench/run_all.py.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from _common import emit, error_result, load, summary  # noqa: E402

import flowpack as fp  # noqa: E402
from flowpack._engine import _overlay  # noqa: E402
from flowpack._store import LocalStore  # noqa: E402


def write_data(out: Path, mib: int, kind: str) -> None:
    """`mib` MiB of random bytes: one file, or a folder of 4 files."""
    chunk = os.urandom(1 << 20)
    if kind == "dir":
        out.mkdir()
        files = [out / f"part{i}" for i in range(4)]
    else:
        files = [out]
    for i, path in enumerate(files):
        with open(path, "wb") as f:
            for _ in range(mib // len(files) + (i < mib % len(files))):
                f.write(chunk)


@fp.op
def produce(mib: int, kind: str, stamp: str) -> Path:
    """Write the artifact, then note the time the function returns."""
    out = Path("out")
    write_data(out, mib, kind)
    Path(stamp, "returned").write_text(repr(time.time()))
    return out


@fp.op
def consume(data: Path, stamp: str) -> int:
    """Note the time the function starts, then the size of what arrived (stat only), then the time it returns."""
    Path(stamp, "started").write_text(repr(time.time()))
    size = sum(p.stat().st_size for p in data.iterdir()) if data.is_dir() else data.stat().st_size
    Path(stamp, "consumed").write_text(repr(time.time()))
    return size


@fp.workflow(name="handoff")
def handoff_workflow(mib: int, kind: str, stamp: str):
    return consume(produce(mib, kind, stamp), stamp)


def filesystem(path: Path) -> str:
    """The type of the filesystem holding path (the longest mount point above it in /proc/mounts)."""
    best = ("", "?")
    for line in Path("/proc/mounts").read_text().splitlines():
        _, mount, kind = line.split()[:3]
        if (str(path) + "/").startswith(mount.rstrip("/") + "/") and len(mount) > len(best[0]):
            best = (mount, kind)
    return best[1]


def one_run(work: Path, mib: int, kind: str) -> tuple[float, float]:
    """(producer's return -> consumer's start, consumer's return -> the run's end) of one run, in seconds."""
    stamp = work / "stamp"
    stamp.mkdir()
    try:
        run = handoff_workflow.run(run_dir=work / "runs", mib=mib, kind=kind, stamp=str(stamp))
        ended = time.time()
        if run.result() != mib << 20:
            raise RuntimeError(f"the consumer saw {run.result()} bytes, expected {mib << 20}")
        read = {n: float((stamp / n).read_text()) for n in ("returned", "started", "consumed")}
        return read["started"] - read["returned"], ended - read["consumed"]
    finally:
        shutil.rmtree(stamp, ignore_errors=True)
        shutil.rmtree(work / "runs", ignore_errors=True)
        shutil.rmtree(work / "store", ignore_errors=True)


def timed_cp(src: Path, dest: Path) -> float:
    t = time.perf_counter()
    subprocess.run(["cp", "-r", str(src), str(dest)], check=True)
    took = time.perf_counter() - t
    shutil.rmtree(dest) if dest.is_dir() else dest.unlink()
    return took


def timed_old(src: Path, work: Path) -> float:
    """The old hand-off on the same bytes: the script's copy, LocalStore.put, LocalStore.get."""
    store = LocalStore(work / "old-store")
    t = time.perf_counter()
    outputs = work / "old-outputs"
    if src.is_dir():
        shutil.copytree(src, outputs, symlinks=True)
    else:
        shutil.copyfile(src, outputs)
    ref = store.put(outputs, "runs/r/produce/return")
    store.get(ref, work / "old-input")
    took = time.perf_counter() - t
    for path in (outputs, work / "old-input", work / "old-store"):
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    return took


def measure(kind: str, mib: int, runs: int, old_runs: int, work: Path) -> dict:
    data = work / "data"
    write_data(data, mib, kind)
    modes = {"view": "1", "copy": "0"} if _overlay.available() else {"copy": "0"}
    gaps: dict = {(m, s): [] for m in modes for s in (1, mib)}
    ends: dict = {(m, s): [] for m in modes for s in (1, mib)}
    cps, olds = [], []
    before = load()
    for i in range(runs + 1):  # the first round warms up and is dropped
        for mode, flag in modes.items():
            os.environ["FLOWPACK_OVERLAY"] = flag
            for size in (1, mib):
                gap, end = one_run(work, size, kind)
                if i:
                    gaps[mode, size].append(gap)
                    ends[mode, size].append(end)
        if i:
            cps.append(timed_cp(data, work / "cp-copy"))
            if len(olds) < old_runs:
                olds.append(timed_old(data, work))
    os.environ.pop("FLOWPACK_OVERLAY", None)
    out: dict = {"cp": summary(cps), "old": summary(olds) if olds else None, "load_before": before,
                 "load_after": load()}
    for mode in modes:
        big, small = gaps[mode, mib], gaps[mode, 1]
        cost = statistics.median(big) - statistics.median(small)
        out[mode] = {"big": summary(big), "small": summary(small), "cost": cost,
                     "end_wait": statistics.median(ends[mode, mib]) - statistics.median(ends[mode, 1]),
                     "end_big": summary(ends[mode, mib]), "end_small": summary(ends[mode, 1])}
    shutil.rmtree(data) if data.is_dir() else data.unlink()
    return out


def report(result: dict) -> str:
    mib = result["mib"]
    lines = [f"hand-off of {mib} MiB on {result['filesystem']} ({result['folder']}), "
             f"{'as root' if result['root'] else 'not as root'}, overlayfs views "
             f"{'available' if result['views'] else 'not available'}; load {result['load_before']}"]
    for kind in ("file", "dir"):
        r = result[kind]
        cp = r["cp"]["median"]
        lines.append(f"{kind}: cp -r {cp:.3f} s (n={r['cp']['n']})"
                     + (f"; old hand-off {r['old']['median']:.3f} s (n={r['old']['n']})" if r["old"] else ""))
        for mode in ("view", "copy"):
            if mode in r:
                m = r[mode]
                old = f", old/this {r['old']['median'] / max(m['cost'], 1e-3):.0f}x" if r["old"] else ""
                lines.append(f"  {mode}: hand-off {m['cost']:.3f} s ({m['big']['median']:.3f} s vs "
                             f"{m['small']['median']:.3f} s for 1 MiB, n={m['big']['n']}), {m['cost'] / cp:.3f}x cp"
                             f"{old}; digest wait at the run's end {m['end_wait']:.3f} s")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--old-runs", type=int, default=1)
    parser.add_argument("--dir", default=os.environ.get("BENCH_HANDOFF_DIR"))
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-handoff-", dir=args.dir))
    result: dict = {"mib": args.mib, "folder": str(work), "filesystem": filesystem(work), "root": os.geteuid() == 0,
                    "views": _overlay.available(), "load_before": load(),
                    "command": "python bench/bench_handoff.py " + " ".join(argv)}
    try:
        for kind in ("file", "dir"):
            result[kind] = measure(kind, args.mib, args.runs, args.old_runs, work)
        result["load_after"] = load()
        print(report(result), flush=True)
    except Exception as exc:  # the runner keeps the error as the figure
        result.update(error_result(exc))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    emit(result)
    return 0 if "error" not in result else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
