"""The Docker engine reads a step's outputs on the host after its container ended: a link the step planted (the output
itself, a file in a directory output, the directory, a parent folder) must never bring a host file back.

Real containers on the real daemon; the secret is a mode-600 file outside the run's folders.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import flowpack as fp  # noqa: E402
from fixtures_docker import docker_client  # noqa: E402,F401  (pytest fixture)
from flowpack._engine.docker import DockerEngine  # noqa: E402

SECRET = "TOPSECRET-7f3a9c"


@pytest.fixture
def secret(tmp_path) -> Path:
    folder = tmp_path / "host-only"
    folder.mkdir(mode=0o700)
    path = folder / "out.txt"
    path.write_text(SECRET)
    path.chmod(0o600)
    return path


def _attack(name: str, script: str, outputs: dict):
    step = fp.shell(script, name=name, outputs=outputs)

    @fp.workflow(name=f"leak-{name}")
    def leak():
        h = step()
        return {n: getattr(h, n) for n in outputs}

    return leak


def _cases(secret: Path) -> dict:
    return {
        "file": (f"ln -s {secret} /tmp/out.txt", {"o": fp.Artifact("/tmp/out.txt")}),
        "param": (f"ln -s {secret} /tmp/p.txt", {"p": fp.Parameter("/tmp/p.txt")}),
        "in-dir": (f"mkdir /tmp/d && echo fine > /tmp/d/ok && ln -s {secret} /tmp/d/leak",
                   {"d": fp.Artifact("/tmp/d")}),
        "escaping-in-dir": ("mkdir -p /tmp/d/sub && ln -s ../../../../../../../../../.." + str(secret)
                            + " /tmp/d/sub/x",
                            {"d": fp.Artifact("/tmp/d")}),
        "dir": (f"ln -s {secret.parent} /tmp/d", {"d": fp.Artifact("/tmp/d")}),
        "parent": (f"rm -rf /tmp/sub && ln -s {secret.parent} /tmp/sub", {"o": fp.Artifact("/tmp/sub/out.txt")}),
    }


def _contains_secret(folder: Path) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            if SECRET.encode() in data:
                found.append(str(path))
            if path.suffix in (".tgz", ".gz") or data[:2] == b"\x1f\x8b":
                import gzip

                try:
                    if SECRET.encode() in gzip.decompress(data):
                        found.append(str(path))
                except OSError:
                    pass
    return found


@pytest.mark.parametrize("case", ["file", "param", "in-dir", "escaping-in-dir", "dir", "parent"])
def test_a_planted_link_never_brings_a_host_file_back(case, tmp_path, secret, docker_client):
    script, outputs = _cases(secret)[case]
    wf = _attack(f"c-{case}", script, outputs)
    engine = DockerEngine(run_dir=tmp_path / "run" / "runs", client=docker_client)
    with pytest.raises(fp.RunError) as info:
        wf.run(engine=engine).result()
    message = str(info.value)
    assert "link" in message and SECRET not in message
    assert _contains_secret(tmp_path / "run") == []
    assert secret.read_text() == SECRET  # still there, untouched


def test_links_inside_a_directory_output_to_its_own_files_are_kept(tmp_path, docker_client):
    step = fp.shell("mkdir -p /tmp/d/sub && echo data > /tmp/d/sub/f && ln -s sub/f /tmp/d/alias", name="keeps",
                    outputs={"d": fp.Artifact("/tmp/d")})

    @fp.workflow(name="keeps-links")
    def keeps():
        return step().d

    run = keeps.run(engine=DockerEngine(run_dir=tmp_path / "runs", client=docker_client))
    out = run.result()
    assert (out / "alias").is_symlink() and (out / "alias").read_text() == "data\n"
