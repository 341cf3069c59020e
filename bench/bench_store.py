"""Benchmark: flowpack's S3 store vs the raw minio SDK on a 1 GiB file, and peak RSS moving 2 GiB.

Not a test (slow). Starts its own SeaweedFS `weed mini` (pip install -e .[test]) and prints a markdown table.
Usage: python bench/bench_store.py [--size-mib 1024] [--runs 5] [--rss-mib 2048]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from fixtures_s3 import start_weed


def make_file(path: Path, mib: int) -> None:
    """Write `mib` MiB of incompressible bytes."""
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        f.writelines(block[i % 256:] + block[: i % 256] for i in range(mib))  # vary blocks so no two MiB are equal


def cpu_description() -> str:
    """The CPU model and whether it has SHA extensions (sha256 speed, and so verified transfers, depend on them)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "CPU unknown"
    model = next((ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name")), "unknown")
    flags = next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), [])
    return f"CPU {model}, SHA extensions (sha_ni flag): {'yes' if 'sha_ni' in flags else 'no'}"


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


class _NoHash:
    """Stands in for the sha256 pipe in the diagnostic rows: what flowpack's transfer costs without the check."""

    def update(self, chunk: bytes) -> None:
        pass

    def hexdigest(self) -> str:
        return "0" * 64

    close = hexdigest


@contextmanager
def sha256_switched_off():
    """Diagnostic only: flowpack's S3 path with its sha256 replaced by a no-op (a download then fails its check)."""
    from flowpack._store import _base, _s3

    saved = _base.Sha256Pipe, _s3.Sha256Pipe
    _base.Sha256Pipe = _s3.Sha256Pipe = _NoHash
    try:
        yield
    finally:
        _base.Sha256Pipe, _s3.Sha256Pipe = saved


def get_unchecked(store, ref, dest: Path) -> None:
    from flowpack._errors import ArtifactIntegrityError

    try:
        store.get(ref, dest)
    except ArtifactIntegrityError:  # expected: the no-op digest does not match; the bytes were all fetched
        pass


RSS_SCRIPT = """
import os, sys
from pathlib import Path
from flowpack._store import S3

def hwm_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

endpoint, bucket, ak, sk, src, dest, mode = sys.argv[1:8]
if mode == "flowpack":
    store = S3(endpoint, bucket, secure=False, access_key=ak, secret_key=sk)
    store.exists("warm-up")
    before = hwm_kb()
    ref = store.put(Path(src), "rss.bin")
    store.get(ref, Path(dest))
else:
    from minio import Minio
    client = Minio(endpoint, access_key=ak, secret_key=sk, secure=False)
    client.bucket_exists(bucket)
    before = hwm_kb()
    client.fput_object(bucket, "rss-raw.bin", src)
    client.fget_object(bucket, "rss-raw.bin", dest)
print((hwm_kb() - before) / 1024)
"""


def rss_growth(server, bucket: str, src: Path, dest: Path, mode: str) -> float:
    """Peak RSS growth (MiB) of a fresh process uploading then downloading `src`."""
    out = subprocess.run([sys.executable, "-c", RSS_SCRIPT, server.endpoint, bucket, server.access_key,
                          server.secret_key, str(src), str(dest), mode],
                         cwd=REPO, capture_output=True, text=True, check=True)
    dest.unlink()
    return float(out.stdout.strip())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rss-mib", type=int, default=2048)
    args = ap.parse_args()

    from minio import Minio

    from flowpack._store import S3
    from flowpack._store._base import hash_file

    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="flowpack-bench-") as tmp:
        work = Path(tmp)
        (work / "weed").mkdir()
        server = start_weed(work / "weed")
        try:
            raw = Minio(server.endpoint, access_key=server.access_key, secret_key=server.secret_key, secure=False)
            bucket = "bench"
            raw.make_bucket(bucket)
            store = S3(server.endpoint, bucket, secure=False, access_key=server.access_key,
                       secret_key=server.secret_key)
            src = work / "src.bin"
            make_file(src, args.size_mib)
            dest = work / "dest.bin"
            keys = ("raw_up", "fp_up", "nohash_up", "raw_down", "fp_down", "nohash_down", "sha256")
            times: dict[str, list[float]] = {k: [] for k in keys}
            ref = None
            for i in range(args.runs):  # interleaved so drift hits every column alike
                times["raw_up"].append(timed(lambda: raw.fput_object(bucket, "raw.bin", str(src))))
                t = time.perf_counter()
                ref = store.put(src, "fp.bin")
                times["fp_up"].append(time.perf_counter() - t)
                with sha256_switched_off():
                    times["nohash_up"].append(timed(lambda: store.put(src, "nohash.bin")))
                times["raw_down"].append(timed(lambda: raw.fget_object(bucket, "raw.bin", str(dest))))
                dest.unlink()
                times["fp_down"].append(timed(lambda r=ref: store.get(r, dest)))
                dest.unlink()
                with sha256_switched_off():
                    times["nohash_down"].append(timed(lambda r=ref: get_unchecked(store, r, dest)))
                times["sha256"].append(timed(lambda: hash_file(src)))  # the file is in the page cache by now
                print(f"run {i + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()), file=sys.stderr)
            med = {k: statistics.median(v) for k, v in times.items()}
            mbps = {k: args.size_mib * 1.048576 / v for k, v in med.items()}  # MB/s (10^6 bytes)

            src.unlink()
            big = work / "big.bin"
            make_file(big, args.rss_mib)
            rss_fp = rss_growth(server, bucket, big, work / "big.back", "flowpack")
            rss_raw = rss_growth(server, bucket, big, work / "big.back", "raw")
        finally:
            server.stop()

    print(f"\nS3 store vs raw minio SDK, {args.size_mib} MiB file, median of {args.runs} runs "
          f"(SeaweedFS weed mini on 127.0.0.1, {os.cpu_count()} cores, 1-min load average "
          f"{load_start:.1f} at start, {os.getloadavg()[0]:.1f} at end; {cpu_description()})\n")
    print("| direction | raw minio (s) | flowpack (s) | raw MB/s | flowpack MB/s | flowpack / raw |")
    print("|---|---|---|---|---|---|")
    for d, r, f in (("upload", "raw_up", "fp_up"), ("download", "raw_down", "fp_down")):
        print(f"| {d} | {med[r]:.2f} | {med[f]:.2f} | {mbps[r]:.0f} | {mbps[f]:.0f} | {med[r] / med[f]:.0%} |")
    print("\nWhere the time goes (same runs). Diagnostic rows: flowpack's own transfer path with its sha256 replaced "
          "by a no-op, and hashlib's sha256 of the same file from the page cache on one core. A transfer that "
          "checks sha256 can't run faster than the sha256 row.\n")
    print("| measurement | seconds | MB/s | vs raw minio, same direction |")
    print("|---|---|---|---|")
    for label, k, r in (("upload, flowpack without its sha256 (diagnostic)", "nohash_up", "raw_up"),
                        ("download, flowpack without its sha256 check (diagnostic)", "nohash_down", "raw_down"),
                        ("sha256 of the file alone, hashlib, 1 core", "sha256", "raw_down")):
        print(f"| {label} | {med[k]:.2f} | {mbps[k]:.0f} | {med[r] / med[k]:.0%} |")
    print(f"\nPeak RSS growth moving a {args.rss_mib} MiB file (put + get, fresh process):\n")
    print("| client | peak RSS growth (MiB) |")
    print("|---|---|")
    print(f"| flowpack S3 store | {rss_fp:.0f} |")
    print(f"| raw minio fput/fget | {rss_raw:.0f} |")


if __name__ == "__main__":
    main()
