"""LocalStore behaviour on the real filesystem: round trips, content addressing, integrity, atomicity."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowpack._errors import ArtifactIntegrityError, StoreError
from flowpack._store import ArtifactRef, LocalStore

REPO = Path(__file__).resolve().parents[1]


def make_tree(root: Path) -> dict[str, bytes]:
    """A small directory tree with nesting, an empty dir, an executable and binary data."""
    files = {
        "a.txt": b"alpha\n",
        "sub/b.bin": os.urandom(70_000),
        "sub/deeper/c.txt": b"gamma" * 1000,
        "run.sh": b"#!/bin/sh\necho hi\n",
    }
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    (root / "run.sh").chmod(0o755)
    (root / "empty").mkdir()
    return files


def read_tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".part-" in p.name)


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


def test_file_round_trip_keeps_bytes_and_digest(store: LocalStore, tmp_path: Path) -> None:
    data = os.urandom(3_000_000)
    src = tmp_path / "in.bin"
    src.write_bytes(data)
    ref = store.put(src, "runs/r1/out.bin")
    assert ref == ArtifactRef("runs/r1/out.bin", hashlib.sha256(data).hexdigest(), len(data), "file")
    assert src.read_bytes() == data  # copy mode leaves the source
    dest = store.get(ref, tmp_path / "dl" / "out.bin")
    assert dest.read_bytes() == data
    assert store.exists("runs/r1/out.bin") and not store.exists("runs/r1/other")
    assert leftovers(dest.parent) == [] and leftovers(store.path("runs/r1/out.bin").parent) == []


def test_dir_round_trip_restores_tree(store: LocalStore, tmp_path: Path) -> None:
    files = make_tree(tmp_path / "tree")
    ref = store.put(tmp_path / "tree", "runs/r1/tree")
    assert ref.kind == "dir"
    stored = store.path("runs/r1/tree").read_bytes()
    assert ref.sha256 == hashlib.sha256(stored).hexdigest() and ref.size == len(stored)
    dest = store.get(ref, tmp_path / "out" / "tree")
    assert read_tree(dest) == files
    assert (dest / "empty").is_dir()
    assert os.access(dest / "run.sh", os.X_OK)
    # getting again over an existing directory replaces it
    (dest / "stale.txt").write_text("old")
    dest = store.get(ref, dest)
    assert read_tree(dest) == files


def test_move_renames_without_copy(store: LocalStore, tmp_path: Path) -> None:
    src = tmp_path / "big.bin"
    data = os.urandom(1_000_000)
    src.write_bytes(data)
    inode = src.stat().st_ino
    ref = store.put(src, "k/big.bin", move=True)
    assert not src.exists()
    assert store.path("k/big.bin").stat().st_ino == inode  # same file, renamed: no copy was made
    assert ref.sha256 == hashlib.sha256(data).hexdigest()


def test_put_content_skips_second_upload(store: LocalStore, tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes(b"same bytes")
    ref1 = store.put_content(src)
    assert ref1.key == f"inputs/{hashlib.sha256(b'same bytes').hexdigest()}"
    st1 = store.path(ref1.key).stat()
    ref2 = store.put_content(src)
    st2 = store.path(ref1.key).stat()
    assert ref1 == ref2
    assert (st1.st_ino, st1.st_mtime_ns) == (st2.st_ino, st2.st_mtime_ns)  # not rewritten

    make_tree(tmp_path / "t1")
    shutil.copytree(tmp_path / "t1", tmp_path / "t2")
    os.utime(tmp_path / "t2" / "a.txt", (1, 1))  # mtimes don't change the content address
    d1 = store.put_content(tmp_path / "t1", prefix="data")
    st1 = store.path(d1.key).stat()
    d2 = store.put_content(tmp_path / "t2", prefix="data")
    assert d1 == d2 and d1.key == f"data/{d1.sha256}.tgz"
    assert store.path(d1.key).stat().st_ino == st1.st_ino
    assert read_tree(store.get(d2, tmp_path / "back")) == read_tree(tmp_path / "t1")
    assert [p.name for p in store.root.iterdir() if p.name.startswith(".flowpack-")] == []


def test_corrupted_object_is_detected_and_dest_not_written(store: LocalStore, tmp_path: Path) -> None:
    src = tmp_path / "v.bin"
    src.write_bytes(b"x" * 100_000)
    ref = store.put(src, "v.bin")
    obj = store.path("v.bin")
    with open(obj, "r+b") as f:  # flip one byte behind the store's back
        f.seek(5000)
        f.write(b"y")
    dest = tmp_path / "dl" / "v.bin"
    with pytest.raises(ArtifactIntegrityError, match="v.bin"):
        store.get(ref, dest)
    assert not dest.exists() and leftovers(dest.parent) == []
    with pytest.raises(ArtifactIntegrityError):
        store.load_bytes(ref)

    make_tree(tmp_path / "tree")
    dref = store.put(tmp_path / "tree", "tree")
    store.path("tree").write_bytes(store.path("tree").read_bytes()[:-10])  # truncated archive
    with pytest.raises(ArtifactIntegrityError):
        store.get(dref, tmp_path / "dl" / "tree")
    assert sorted(p.name for p in (tmp_path / "dl").iterdir()) == []


def test_load_bytes_and_ref_serialisation(store: LocalStore, tmp_path: Path) -> None:
    src = tmp_path / "value.pkl"
    src.write_bytes(b"\x80\x04pickled")
    ref = store.put_content(src, prefix="values")
    assert store.load_bytes(ref) == b"\x80\x04pickled"
    assert ArtifactRef.from_dict(json.loads(json.dumps(ref.to_dict()))) == ref
    with pytest.raises(StoreError, match="missing field"):
        ArtifactRef.from_dict({"key": "k"})


def test_bad_keys_and_missing_objects_raise_clear_errors(store: LocalStore, tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_text("x")
    for bad in ("../escape", "/abs", "a//b", "a/./b", ""):
        with pytest.raises(StoreError, match="key"):
            store.put(src, bad)
    with pytest.raises(StoreError, match="no such file"):
        store.put(tmp_path / "absent", "k")
    ghost = ArtifactRef("nope", "0" * 64, 1, "file")
    with pytest.raises(StoreError, match="no artifact under key 'nope'"):
        store.get(ghost, tmp_path / "ghost")
    assert not (tmp_path / "ghost").exists()
    assert store.describe() == {"type": "local", "root": str(store.root)}


WRITER = """
import sys
from flowpack._store import LocalStore
LocalStore(sys.argv[1]).put(sys.argv[2], "big/object.bin")
"""


def open_fifo_for_writing(fifo: Path, proc: subprocess.Popen) -> int:
    """Open the FIFO once the writer process has opened it for reading (fails if the writer died)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader yet
            assert proc.poll() is None, "writer exited before reading"
            time.sleep(0.01)
            continue
        os.set_blocking(fd, True)
        return fd
    raise AssertionError("writer never opened the FIFO")


def wait_for_part(directory: Path, size: int, proc: subprocess.Popen) -> Path:
    """Wait until the writer's .part file holds `size` bytes."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, "writer exited early"
        parts = list(directory.glob("object.bin.part-*")) if directory.exists() else []
        if parts and parts[0].stat().st_size >= size:
            return parts[0]
        time.sleep(0.01)
    raise AssertionError("writer never wrote its .part file")


def test_killed_writer_leaves_no_object_and_retry_succeeds(store: LocalStore, tmp_path: Path) -> None:
    # The writer reads from a FIFO, so the test decides exactly how far the upload gets before SIGKILL.
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(store.root), str(fifo)], cwd=REPO)
    try:
        fd = open_fifo_for_writing(fifo, proc)
        with os.fdopen(fd, "wb") as w:
            chunk = os.urandom(1 << 20)
            for _ in range(8):
                w.write(chunk)
            w.flush()
            part = wait_for_part(store.root / "big", 8 << 20, proc)
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            assert part.exists()  # the killed writer's temporary file is all that remains
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not store.exists("big/object.bin") and not store.path("big/object.bin").exists()
    src = tmp_path / "real.bin"
    src.write_bytes(os.urandom(9 << 20))
    ref = store.put(src, "big/object.bin")
    assert store.get(ref, tmp_path / "back.bin").read_bytes() == src.read_bytes()


ENOSPC_SCRIPT = """
import sys
from pathlib import Path
from flowpack._store import LocalStore, ArtifactRef
from flowpack._errors import StoreError
store = LocalStore(sys.argv[1])
ref = ArtifactRef.from_dict({"key": "big.bin", "sha256": sys.argv[3], "size": int(sys.argv[4]), "kind": "file"})
try:
    store.get(ref, Path(sys.argv[2]) / "big.bin")
except StoreError as exc:
    print("ERR", exc)
print("LEFT", sorted(p.name for p in Path(sys.argv[2]).iterdir()))
"""


def test_full_disk_on_download_removes_partial_file(store: LocalStore, tmp_path: Path) -> None:
    if not shutil.which("unshare"):
        pytest.skip("needs util-linux unshare to mount a small tmpfs")
    data = os.urandom(4 << 20)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    ref = store.put(src, "big.bin")
    small = tmp_path / "small"
    small.mkdir()
    cmd = [
        "unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
        'mount -t tmpfs -o size=1m tmpfs "$1" && shift && exec "$@"', "sh", str(small),
        sys.executable, "-c", ENOSPC_SCRIPT, str(store.root), str(small), ref.sha256, str(ref.size),
    ]
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False, timeout=60)
    if res.returncode != 0 and "mount" in res.stderr:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    assert res.returncode == 0, res.stderr
    assert f"needed at least {4 << 20} bytes" in res.stdout and "no space left" in res.stdout
    assert "LEFT []" in res.stdout


RSS_SCRIPT = """
import sys
from pathlib import Path
from flowpack._store import LocalStore

def hwm_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

root = Path(sys.argv[1])
src = root / "big.bin"
with open(src, "wb") as f:
    for _ in range(300):
        f.write(b"\\x5a" * (1 << 20))
store = LocalStore(root / "store")
before = hwm_kb()
ref = store.put(src, "big.bin")
store.get(ref, root / "back.bin")
d = root / "tree"
d.mkdir()
(src).rename(d / "big.bin")
dref = store.put(d, "tree")
store.get(dref, root / "tree_back")
print((hwm_kb() - before) // 1024)
"""


def test_moving_300mb_keeps_peak_memory_small(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-c", RSS_SCRIPT, str(tmp_path)], cwd=REPO,
                         capture_output=True, text=True, check=False, timeout=300)
    assert res.returncode == 0, res.stderr
    growth_mb = int(res.stdout.strip())
    assert growth_mb < 40, f"peak RSS grew by {growth_mb} MB while moving 300 MB"
