"""Docker engine: paths declared under the image's own folders (/etc, /usr/bin) never hide those folders (issue
12.16): an input is mounted at its own path, an output is copied out of the ended container."""

from __future__ import annotations

from pathlib import Path

import flowpack as fp
from fixtures_docker import docker_client  # noqa: F401  (a fixture: starts the real services if needed)
from flowpack._engine.docker import DockerEngine

SCRIPT = ('cat /etc/fp-in.conf > /etc/fp-out.conf; ls /etc | wc -l > /tmp/count; head -1 /etc/os-release > /tmp/os; '
          'printf "#!/bin/sh\\necho tool\\n" > /usr/bin/fp-tool; chmod +x /usr/bin/fp-tool; '
          'ls /usr/bin | wc -l >> /tmp/count')

system_paths = fp.shell(SCRIPT, name="system-paths", inputs={"conf": fp.Artifact("/etc/fp-in.conf")},
                        outputs={"out": fp.Artifact("/etc/fp-out.conf"), "tool": fp.Artifact("/usr/bin/fp-tool"),
                                 "count": fp.Parameter("/tmp/count"), "os": fp.Parameter("/tmp/os")})


@fp.op
def make_conf() -> Path:
    out = Path("in.conf")
    out.write_text("setting = 1\n")
    return out


@fp.workflow
def uses_system_paths():
    h = system_paths(conf=make_conf())
    return h.out, h.tool, h.count, h.os


def test_outputs_and_inputs_under_system_folders_leave_the_image_folders_whole(tmp_path, docker_client):  # noqa: F811
    run = uses_system_paths.run(engine=DockerEngine(run_dir=tmp_path / "runs", client=docker_client))
    out, tool, count, os_line = run.result()
    assert out.read_text() == "setting = 1\n"
    assert tool.read_text() == "#!/bin/sh\necho tool\n"
    etc_entries, usr_bin_entries = (int(n) for n in count.split())
    assert etc_entries > 10 and usr_bin_entries > 50  # the image's own /etc and /usr/bin are there
    assert os_line.startswith("PRETTY_NAME=")
