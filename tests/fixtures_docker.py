"""Session fixtures for tests that need the real docker daemon, the local registry and the base image.

When any of them is missing, `ci/services.sh` is run to install and start it (needs root and apt). The tests are
skipped only when that is impossible here (not root, or apt can't install the packages); any other failure fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

REGISTRY = "127.0.0.1:5000"
BASE_IMAGES = ("flowpack/python:3.11", "python:3.11-slim")
SERVICES_SCRIPT = Path(__file__).resolve().parent.parent / "ci" / "services.sh"
_APT_FAILED = 3  # ci/services.sh's exit code when apt-get could not install the packages


def _registry_up() -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy: it's loopback
    try:
        with opener.open(f"http://{REGISTRY}/v2/", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def _missing() -> list[str]:
    """What of daemon, registry and base images isn't ready yet (empty list: all there)."""
    try:
        import docker

        client = docker.from_env()
        client.ping()
    except Exception:
        return ["docker daemon"]
    missing = []
    try:
        if not _registry_up():
            missing.append(f"registry at {REGISTRY}")
        for name in BASE_IMAGES:
            try:
                client.images.get(name)
            except docker.errors.ImageNotFound:
                missing.append(f"image {name}")
    finally:
        client.close()
    return missing


@pytest.fixture(scope="session")
def docker_client():
    """A docker SDK client for a running daemon with the registry and base images ready (starts them if needed)."""
    missing = _missing()
    if missing:
        if os.geteuid() != 0:
            pytest.skip(f"needs {', '.join(missing)}; starting them with ci/services.sh requires root")
        if shutil.which("apt-get") is None and shutil.which("dockerd") is None:
            pytest.skip(f"needs {', '.join(missing)}; no apt-get here to install docker.io/docker-registry/mmdebstrap")
        proc = subprocess.run(["bash", str(SERVICES_SCRIPT)], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=900)
        output = (proc.stdout + proc.stderr)[-4000:]
        if proc.returncode == _APT_FAILED:
            pytest.skip(f"ci/services.sh could not install packages with apt-get:\n{output}")
        if proc.returncode != 0:
            pytest.fail(f"ci/services.sh exited {proc.returncode}:\n{output}")
        still = _missing()
        if still:
            pytest.fail(f"ci/services.sh succeeded but these are still missing: {', '.join(still)}\n{output}")
    import docker

    client = docker.from_env()
    yield client
    client.close()


@pytest.fixture(scope="session")
def local_registry(docker_client) -> str:
    """host:port of the local Docker Distribution registry (plain HTTP on loopback)."""
    return REGISTRY
