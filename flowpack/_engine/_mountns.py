"""Shell steps in a private mount namespace: a step sees its own folders at the paths it declared, as a pod does.

In a pod, `/tmp/app.log` is the container's own file; locally each step has its own root folder instead. When this
process may create mount namespaces (as root; otherwise inside a user namespace of its own, where the kernel allows
unprivileged ones: `unshare --user --map-root-user`), a shell step runs in a namespace of its own where the step
root's top folders are bind-mounted over the real ones (`root/tmp` at `/tmp`), so its text is run unchanged and
`echo "/tmp/app.log"` prints `/tmp/app.log`. Folders the machine needs for itself (/etc, /usr...), and top folders
that don't exist on this machine (a mount point can't be made without changing the host), are left to the older
way: those paths are rewritten in the script's text to point into the step root. When no namespace can be made at
all, every declared path is rewritten so, and the engine says so once (ShellPathWarning).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import warnings

# Folders a shell needs for itself, or that hold this run: never hidden behind a step's own folder.
SYSTEM_TOPS = {"/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/nix", "/opt",
               "/proc", "/root", "/run", "/sbin", "/snap", "/srv", "/sys", "/usr", "/var"}

# $1 script, $2 step root, $3 the shell, then the folders to bind, with the mounts below them (an input's
# copy-on-write view, _overlay). The script is opened before any mount hides the folder it lives in, and read through
# its open descriptor.
_SETUP = ('script=$1; root=$2; shell=$3; shift 3; exec 9<"$script" || exit 126; '
          'for top; do mount --rbind "$root$top" "$top" || exit 126; done; exec "$shell" /dev/fd/9')


class ShellPathWarning(UserWarning):
    """A shell step's declared paths are rewritten in its text: this machine gives it no mount namespace."""


@functools.lru_cache(maxsize=1)
def unshare_flags() -> tuple[str, ...] | None:
    """How `unshare` gives a shell step a mount namespace here: as root directly, otherwise inside a user namespace
    (the step runs as root of that namespace; what it writes is this user's). None when neither works (checked once
    per process, by trying)."""
    if os.name != "posix" or not (shutil.which("unshare") and shutil.which("mount")):
        return None
    flags = ("--mount",) if os.geteuid() == 0 else ("--user", "--map-root-user", "--mount")
    try:
        probe = subprocess.run(["unshare", *flags, "--propagation", "private", "true"],
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return flags if probe.returncode == 0 else None


def available() -> bool:
    """Whether shell steps can get a mount namespace here."""
    return unshare_flags() is not None


@functools.lru_cache(maxsize=1)
def _warn_rewritten() -> None:
    warnings.warn(ShellPathWarning(
        "flowpack: shell steps get no mount namespace on this machine (not root, and the kernel refuses "
        "unprivileged user namespaces, or util-linux `unshare` is missing), so the paths they declare are rewritten "
        "in their text to point into each step's own folder: `echo \"/tmp/app.log\"` prints that folder's path, "
        "unlike in a pod. Run as root, allow user namespaces (sysctl kernel.apparmor_restrict_unprivileged_userns=0 "
        "or user.max_user_namespaces > 0), or use the Docker engine for pod-like paths."), stacklevel=2)


def plan(declared: list[str]) -> tuple[list[str], list[str]]:
    """(top folders to bind-mount, declared paths still to rewrite in the text) for a shell step's declared paths."""
    if not available():
        if declared:
            _warn_rewritten()
        return [], list(declared)
    tops: set[str] = set()
    rest: list[str] = []
    for path in declared:
        parts = os.path.normpath(path).strip("/").split("/")
        top = "/" + parts[0]
        if len(parts) > 1 and top not in SYSTEM_TOPS and os.path.isdir(top) and not os.path.islink(top):
            tops.add(top)
        else:
            rest.append(path)
    rest = [p for p in rest if "/" + os.path.normpath(p).strip("/").split("/")[0] not in tops]
    return sorted(tops), rest


def wrap(command: list[str], root: str, tops: list[str]) -> list[str]:
    """`[shell, script]` run in a new mount namespace with `root + top` mounted at each top."""
    shell, script = command
    return ["unshare", *(unshare_flags() or ("--mount",)), "--propagation", "private", "--", "/bin/sh", "-c", _SETUP,
            "flowpack-step", script, root, shell, *tops]
