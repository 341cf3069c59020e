"""A shell step sees its declared paths as a pod does (issue 12.16): on the local engine, when mount namespaces are
available (root, util-linux unshare), the step's own folders are mounted at the paths it declared, so the script runs
unchanged: `echo "/tmp/app.log"` prints /tmp/app.log, and /tmp holds only what the step put there."""

from __future__ import annotations

from pathlib import Path

import flowpack as fp
from flowpack._engine import _mountns
from helpers import run_checked

SCRIPT = ('echo "/tmp/app.log" > /tmp/out.txt; ls -A /tmp > /tmp/listing.txt; cat /tmp/in.txt >> /tmp/out.txt; '
          'mkdir -p /tmp/report && echo done > /tmp/report/status')

paths = fp.shell(SCRIPT, name="paths", inputs={"data": fp.Artifact("/tmp/in.txt")},
                 outputs={"out": fp.Parameter("/tmp/out.txt"), "listing": fp.Parameter("/tmp/listing.txt"),
                          "report": fp.Artifact("/tmp/report")})


@fp.op
def make() -> Path:
    out = Path("x.txt")
    out.write_text("hello")
    return out


@fp.workflow
def shell_paths():
    h = paths(data=make())
    return h.out, h.listing, h.report


def test_mount_namespaces_are_available_here():
    assert _mountns.available()  # the tests run as root with util-linux: the mode below is the one exercised


def test_a_shell_step_sees_the_paths_it_declared_as_a_pod_does(tmp_path):
    run = run_checked(shell_paths, tmp_path)
    out, listing, report = run.result()
    assert out == "/tmp/app.log\nhello"  # a path in a string literal is the path, not a host folder
    assert listing.split() == ["in.txt", "listing.txt", "out.txt"]  # the step's own /tmp, as in a pod
    assert (report / "status").read_text() == "done\n"


def test_the_plan_keeps_system_and_missing_folders_out_of_the_namespace():
    tops, rest = _mountns.plan(["/tmp/a.txt", "/etc/x.conf", "/usr/bin/tool", "/no-such-top-folder/a", "/data"])
    assert tops == ["/tmp"]
    assert rest == ["/etc/x.conf", "/usr/bin/tool", "/no-such-top-folder/a", "/data"]
