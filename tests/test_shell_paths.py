"""A shell step sees its declared paths as a pod does (issue 12.16): on the local engine, when mount namespaces are
available (root, or any user inside a user namespace of its own, with util-linux unshare), the step's own folders are
mounted at the paths it declared, so the script runs unchanged: `echo "/tmp/app.log"` prints /tmp/app.log, and /tmp
holds only what the step put there. The engine is also run as a user who is not root (uid 65534), with and without
user namespaces: without any, the paths are rewritten and a warning says so."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from flowpack._engine import _mountns
from helpers import run_checked

SCRIPT = ('echo "/tmp/app.log" > /tmp/out.txt; ls -A /tmp > /tmp/listing.txt; cat /tmp/in.txt >> /tmp/out.txt; '
          'mkdir -p /tmp/report && echo done > /tmp/report/status')

# The workflow, as a module of its own: run in this process (user_module) and by a user who is not root (a child)
MODULE = f'''
from pathlib import Path
import flowpack as fp

SCRIPT = {SCRIPT!r}
paths = fp.shell(SCRIPT, name="paths", inputs={{"data": fp.Artifact("/tmp/in.txt")}},
                 outputs={{"out": fp.Parameter("/tmp/out.txt"), "listing": fp.Parameter("/tmp/listing.txt"),
                          "report": fp.Artifact("/tmp/report")}})


@fp.op
def make() -> Path:
    out = Path("x.txt")
    out.write_text("hello")
    return out


@fp.workflow
def shell_paths():
    h = paths(data=make())
    return h.out, h.listing, h.report
'''


def test_mount_namespaces_are_available_here():
    assert _mountns.available()  # the tests run as root with util-linux: the mode below is the one exercised


def test_a_shell_step_sees_the_paths_it_declared_as_a_pod_does(tmp_path, user_module):
    run = run_checked(user_module(MODULE).shell_paths, tmp_path)
    out, listing, report = run.result()
    assert out == "/tmp/app.log\nhello"  # a path in a string literal is the path, not a host folder
    assert listing.split() == ["in.txt", "listing.txt", "out.txt"]  # the step's own /tmp, as in a pod
    assert (report / "status").read_text() == "done\n"


def test_the_plan_keeps_system_and_missing_folders_out_of_the_namespace():
    tops, rest = _mountns.plan(["/tmp/a.txt", "/etc/x.conf", "/usr/bin/tool", "/no-such-top-folder/a", "/data"])
    assert tops == ["/tmp"]
    assert rest == ["/etc/x.conf", "/usr/bin/tool", "/no-such-top-folder/a", "/data"]


# ------------------------------------------------------------------ the engine run by a user who is not root
NOBODY = 65534
CHILD = '''
import json, sys, warnings
sys.path.insert(0, sys.argv[1])
from flowpack._engine import _mountns
import nonroot_paths
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    run = nonroot_paths.shell_paths.run(run_dir=sys.argv[1] + "/runs")
    out, listing, report = run.result()
print(json.dumps({"uid": __import__("os").getuid(), "flags": _mountns.unshare_flags(), "out": out,
                  "listing": listing, "status": (report / "status").read_text(), "root": str(run.path),
                  "warnings": [str(w.message) for w in caught if issubclass(w.category, _mountns.ShellPathWarning)]}))
'''


def _hidden_ancestor(path: Path) -> Path | None:
    """The first folder above `path` that other users can't enter (root's home, 0700, holding the interpreter)."""
    for folder in reversed(path.parents):
        if not folder.stat().st_mode & 0o001:
            return folder
    return None


def _run_as_nobody(work: Path, chroot: bool) -> dict:
    """Run the workflow in MODULE as uid and gid 65534, the way a user who is not root runs the engine: in a private
    mount namespace where the folder holding this interpreter is bound back over a world-readable tmpfs (root's
    home is 0700). With `chroot`, inside a chroot (a bind of /), where the kernel refuses any new user namespace."""
    real = Path(sys.executable).resolve()  # a venv's python links to its base interpreter, maybe in root's home
    hidden = _hidden_ancestor(real)
    setup = ["set -e"]
    if hidden is not None:
        keep = real.relative_to(hidden).parts[0]
        setup += [f'mkdir -p "{work}/keep"', f'mount --bind "{hidden / keep}" "{work}/keep"',
                  f'mount -t tmpfs -o mode=755 tmpfs "{hidden}"', f'mkdir "{hidden / keep}"',
                  f'mount --move "{work}/keep" "{hidden / keep}"']
    # this interpreter as it was started (a venv stays a venv), and the checkout under test first on the path
    checkout = Path(__file__).resolve().parent.parent
    user = f"setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups env HOME={work} PYTHONPATH={checkout}"
    child = f'{user} "{Path(sys.executable).absolute()}" -c "$1" "{work}"'
    if chroot:
        setup += [f'mkdir -p "{work}/root"', f'mount --rbind / "{work}/root"', f'exec chroot "{work}/root" {child}']
    else:
        setup.append(f"exec {child}")
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", "\n".join(setup), "sh",
                           CHILD], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def world_dir():
    """A folder the user 65534 can write (pytest's own tmp folders are root's alone)."""
    work = Path(tempfile.mkdtemp(prefix="fp-nonroot-"))
    work.chmod(0o777)
    (work / "nonroot_paths.py").write_text(MODULE)
    yield work
    shutil.rmtree(work, ignore_errors=True)


def test_as_a_user_who_is_not_root_a_shell_step_sees_its_paths_through_a_user_namespace(world_dir):
    """Not root: the shell step gets a user namespace of its own (the kernel allows unprivileged ones here) and in
    it the same mount namespace as under root, so its text runs unchanged, as in a pod."""
    got = _run_as_nobody(world_dir, chroot=False)
    assert got["uid"] == NOBODY
    assert got["flags"] == ["--user", "--map-root-user", "--mount"]
    assert got["out"] == "/tmp/app.log\nhello"
    assert got["listing"].split() == ["in.txt", "listing.txt", "out.txt"]
    assert got["status"] == "done\n" and got["warnings"] == []


def test_without_any_namespace_the_paths_are_rewritten_and_the_engine_says_so(world_dir):
    """Not root and refused a user namespace (the kernel refuses one to a chrooted process): the declared paths are
    rewritten into the step's folder, and a ShellPathWarning says that this differs from a pod and what to do."""
    got = _run_as_nobody(world_dir, chroot=True)
    assert got["uid"] == NOBODY and got["flags"] is None
    first, second = got["out"].split("\n")
    assert first != "/tmp/app.log" and first.endswith("/tmp/app.log") and second == "hello"
    assert first.startswith(got["root"])  # the step's own folder inside the run's folder
    assert got["listing"].split() == ["in.txt", "listing.txt", "out.txt"] and got["status"] == "done\n"
    assert len(got["warnings"]) == 1 and "unlike in a pod" in got["warnings"][0]
