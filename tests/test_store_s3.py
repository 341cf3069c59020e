"""S3 store against a real SeaweedFS server: round trips, content addressing, integrity, atomicity, errors."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from fixtures_s3 import s3_server, s3_store  # noqa: F401
from flowpack._errors import ArtifactIntegrityError, StoreError
from flowpack._store import S3, ArtifactRef
from flowpack._store._base import (
    BucketNotFoundError,
    StoreAuthError,
    StoreUnreachableError,
)

REPO = Path(__file__).resolve().parents[1]


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def make_tree(root: Path) -> dict[str, bytes]:
    files = {"a.txt": b"alpha\n", "sub/b.bin": os.urandom(200_000), "sub/deep/c.txt": b"c" * 5000}
    for rel, data in files.items():
        write(root / rel, data)
    return files


def read_tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def meta_sha(s3_server, store: S3, key: str) -> str | None:
    return s3_server.client().stat_object(store.bucket, key).metadata.get("x-amz-meta-sha256")


@pytest.mark.parametrize("size,stream_hash", [(3_000_000, False), (12 << 20, True)])
def test_file_round_trip_with_digest_metadata(s3_server, s3_store: S3, tmp_path: Path, size, stream_hash) -> None:
    if stream_hash:  # exercise the hash-while-uploading path (multipart + metadata self-copy) at test size
        s3_store.STREAM_HASH_MIN = 1 << 20
    data = os.urandom(size)
    ref = s3_store.put(write(tmp_path / "in.bin", data), "runs/r1/out.bin")
    assert ref == ArtifactRef("runs/r1/out.bin", hashlib.sha256(data).hexdigest(), size, "file")
    assert meta_sha(s3_server, s3_store, "runs/r1/out.bin") == ref.sha256
    dest = s3_store.get(ref, tmp_path / "dl" / "out.bin")
    assert dest.read_bytes() == data
    assert sorted(p.name for p in dest.parent.iterdir()) == ["out.bin"]
    assert s3_store.exists("runs/r1/out.bin") and not s3_store.exists("runs/r1/none")


def test_dir_round_trip_and_prefix(s3_server, s3_store: S3, tmp_path: Path) -> None:
    files = make_tree(tmp_path / "tree")
    store = s3_server.store(s3_store.bucket, prefix="team/a")
    ref = store.put(tmp_path / "tree", "out/tree", move=True)
    assert not (tmp_path / "tree").exists()
    raw = s3_server.client().get_object(store.bucket, "team/a/out/tree").read()
    assert ref.kind == "dir" and ref.sha256 == hashlib.sha256(raw).hexdigest() and ref.size == len(raw)
    assert read_tree(store.get(ref, tmp_path / "back")) == files


def test_put_content_skips_existing_key(s3_server, s3_store: S3, tmp_path: Path) -> None:
    src = write(tmp_path / "v.bin", b"value bytes")
    ref = s3_store.put_content(src, prefix="values")
    assert ref.key == f"values/{hashlib.sha256(b'value bytes').hexdigest()}"
    # Put a marker behind the store's back: a second upload would overwrite it.
    client = s3_server.client()
    client.put_object(s3_store.bucket, ref.key, io.BytesIO(b"marker"), 6)
    assert s3_store.put_content(src, prefix="values") == ref
    assert client.get_object(s3_store.bucket, ref.key).read() == b"marker"

    make_tree(tmp_path / "t")
    d1 = s3_store.put_content(tmp_path / "t")
    stat1 = client.stat_object(s3_store.bucket, d1.key)
    d2 = s3_store.put_content(tmp_path / "t")
    assert d1 == d2 and d1.key.endswith(".tgz")
    assert client.stat_object(s3_store.bucket, d1.key).etag == stat1.etag
    assert read_tree(s3_store.get(d2, tmp_path / "back")) == read_tree(tmp_path / "t")


def test_corruption_detected_and_dest_not_left(s3_server, s3_store: S3, tmp_path: Path) -> None:
    data = os.urandom(500_000)
    ref = s3_store.put(write(tmp_path / "in.bin", data), "x.bin")
    client = s3_server.client()
    bad = bytearray(data)
    bad[1000] ^= 0xFF
    # same recorded digest, different bytes: caught while streaming
    client.put_object(s3_store.bucket, "x.bin", io.BytesIO(bytes(bad)), len(bad),
                      metadata={"x-amz-meta-sha256": ref.sha256})
    dest = tmp_path / "dl" / "x.bin"
    with pytest.raises(ArtifactIntegrityError, match="x.bin"):
        s3_store.get(ref, dest)
    assert list((tmp_path / "dl").iterdir()) == []
    with pytest.raises(ArtifactIntegrityError):
        s3_store.load_bytes(ref)
    # overwritten with other content and its own digest: caught from the metadata before downloading
    client.put_object(s3_store.bucket, "x.bin", io.BytesIO(b"other"), 5, metadata={"x-amz-meta-sha256": "ab" * 32})
    with pytest.raises(ArtifactIntegrityError, match="recorded sha256"):
        s3_store.get(ref, dest)
    assert list((tmp_path / "dl").iterdir()) == []


class Relay:
    """A TCP relay in front of the S3 server that freezes ("pause") or cuts ("cut") uploads after `limit` bytes."""

    def __init__(self, upstream: str, limit: int, mode: str) -> None:
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.limit, self.mode = limit, mode
        self.sent = 0
        self.tripped = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.socks: list[socket.socket] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            up = socket.create_connection(self.upstream)
            self.socks += [client, up]
            threading.Thread(target=self._pump, args=(client, up, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(up, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, upload: bool) -> None:
        try:
            while data := src.recv(65536):
                if upload:
                    with self.lock:
                        self.sent += len(data)
                        over = self.sent >= self.limit
                    if over:
                        self.tripped.set()
                        if self.mode == "cut":
                            self.close()
                            return
                        self.release.wait()
                        return
                dst.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        self.release.set()
        self.listener.close()  # later connections are refused
        for s in self.socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


WRITER = """
import sys
from flowpack._store import S3
endpoint, bucket, ak, sk, src, stream_min = sys.argv[1:7]
store = S3(endpoint, bucket, secure=False, access_key=ak, secret_key=sk)
store.STREAM_HASH_MIN = int(stream_min)
store.put(src, "big/object.bin")
"""


@pytest.mark.parametrize("stream_hash", [False, True])
def test_writer_killed_mid_upload_leaves_no_object(s3_server, s3_store: S3, tmp_path: Path, stream_hash) -> None:
    data = os.urandom(24 << 20)  # several 5 MiB parts: a multipart upload
    src = write(tmp_path / "big.bin", data)
    relay = Relay(s3_server.endpoint, 10 << 20, "pause")
    stream_min = 1 << 20 if stream_hash else 1 << 30
    proc = subprocess.Popen([sys.executable, "-c", WRITER, relay.endpoint, s3_store.bucket, s3_server.access_key,
                             s3_server.secret_key, str(src), str(stream_min)], cwd=REPO)
    try:
        assert relay.tripped.wait(60), "the writer never got 10 MiB into its upload"
        assert proc.poll() is None
        proc.send_signal(signal.SIGKILL)  # frozen mid-upload: killed with parts sent, not completed
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        relay.close()
    assert proc.returncode == -signal.SIGKILL
    assert not s3_store.exists("big/object.bin")
    ref = s3_store.put(src, "big/object.bin")
    assert s3_store.get(ref, tmp_path / "back.bin").read_bytes() == data


@pytest.mark.parametrize("stream_hash", [False, True])
def test_failed_upload_leaves_no_object_and_retry_works(s3_server, s3_store: S3, tmp_path: Path, stream_hash) -> None:
    data = os.urandom(20 << 20)
    src = write(tmp_path / "big.bin", data)
    relay = Relay(s3_server.endpoint, 8 << 20, "cut")
    # the same bucket, reached through the relay that cuts the connection mid-upload
    flaky = S3(relay.endpoint, s3_store.bucket, secure=False, access_key=s3_server.access_key,
               secret_key=s3_server.secret_key)
    if stream_hash:
        flaky.STREAM_HASH_MIN = 1 << 20
    try:
        with pytest.raises(StoreError, match="big/object.bin"):
            flaky.put(src, "big/object.bin")
    finally:
        relay.close()
    assert relay.tripped.is_set()
    assert not s3_store.exists("big/object.bin")
    ref = s3_store.put(src, "big/object.bin")
    assert ref.sha256 == hashlib.sha256(data).hexdigest()
    assert s3_store.exists("big/object.bin")


def test_wrong_credentials_give_clear_error_without_secret(s3_server, s3_store: S3, monkeypatch) -> None:
    secret = "wrong-secret-Zq81xT"
    store = S3(s3_server.endpoint, s3_store.bucket, secure=False, access_key=s3_server.access_key, secret_key=secret)
    with pytest.raises(StoreAuthError) as err:
        store.exists("k")
    msg = str(err.value)
    assert secret not in msg and s3_server.secret_key not in msg
    assert "access_key=/secret_key=" in msg and "AWS_ACCESS_KEY_ID" in msg and s3_server.endpoint in msg
    assert secret not in repr(store) and secret not in json.dumps(store.describe())

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "NOSUCHKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    from_env = S3(s3_server.endpoint, s3_store.bucket, secure=False)
    with pytest.raises(StoreAuthError, match="env AWS_ACCESS_KEY_ID") as err:
        from_env.exists("k")
    assert secret not in str(err.value)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    assert S3(s3_server.endpoint, s3_store.bucket, secure=False).exists("k") is False


def test_missing_bucket_error_offers_create(s3_server, tmp_path: Path) -> None:
    store = s3_server.store("fp-missing-bucket-1")
    src = write(tmp_path / "f", b"data")
    with pytest.raises(BucketNotFoundError, match=r"create_bucket=True\) or store.create_bucket\(\)"):
        store.put(src, "k")
    store.create_bucket()
    ref = store.put(src, "k")
    assert store.load_bytes(ref) == b"data"
    other = s3_server.store("fp-missing-bucket-2", create_bucket=True)
    assert other.exists("k") is False


def test_unreachable_endpoint_and_tls_mismatch(s3_server, s3_store: S3) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    dead = S3(f"127.0.0.1:{port}", "bucket", secure=False, access_key="a", secret_key="b")
    with pytest.raises(StoreUnreachableError, match=f"127.0.0.1:{port}.*secure="):
        dead.exists("k")
    tls = S3(s3_server.endpoint, s3_store.bucket, access_key=s3_server.access_key, secret_key=s3_server.secret_key)
    with pytest.raises(StoreUnreachableError, match="secure=False"):
        tls.exists("k")  # TLS on by default; this server speaks http


def test_to_argo_uses_secret_refs_and_matches_schema(s3_server, s3_store: S3) -> None:
    import jsonschema

    store = S3("s3.example.com:9000", "art", prefix="proj/", secure=False, access_key="AK", secret_key="SK-secret",
               secret_name="my-s3")
    loc = store.to_argo("runs/1/out.tgz")
    assert loc == {"s3": {"endpoint": "s3.example.com:9000", "bucket": "art", "key": "proj/runs/1/out.tgz",
                          "insecure": True, "accessKeySecret": {"name": "my-s3", "key": "accesskey"},
                          "secretKeySecret": {"name": "my-s3", "key": "secretkey"}}}
    assert "SK-secret" not in json.dumps(loc) and "AK" not in json.dumps(store.describe())
    schema = json.loads((REPO / "tests" / "data" / "argo-schema.json").read_text())
    s3_def = schema["definitions"]["io.argoproj.workflow.v1alpha1.S3Artifact"]
    assert set(loc["s3"]) <= set(s3_def["properties"])
    jsonschema.validate(loc["s3"], {**s3_def, "definitions": schema["definitions"]})


RSS_SCRIPT = """
import sys
from pathlib import Path
from flowpack._store import S3

def hwm_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

endpoint, bucket, ak, sk, root = sys.argv[1:6]
root = Path(root)
src = root / "big.bin"
with open(src, "wb") as f:
    for i in range(300):
        f.write(bytes([i % 251]) * (1 << 20))
store = S3(endpoint, bucket, secure=False, access_key=ak, secret_key=sk)
store.exists("warm-up")  # import minio and open a connection before measuring
before = hwm_kb()
ref = store.put(src, "big.bin", move=True)
store.get(ref, root / "back.bin")
print((hwm_kb() - before) // 1024)
"""


def test_moving_300mb_through_s3_keeps_peak_memory_small(s3_server, s3_store: S3, tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-c", RSS_SCRIPT, s3_server.endpoint, s3_store.bucket,
                          s3_server.access_key, s3_server.secret_key, str(tmp_path)],
                         cwd=REPO, capture_output=True, text=True, check=False, timeout=600)
    assert res.returncode == 0, res.stderr
    growth_mb = int(res.stdout.strip())
    assert growth_mb < 100, f"peak RSS grew by {growth_mb} MB while moving 300 MB through S3"
    assert (tmp_path / "back.bin").stat().st_size == 300 << 20
