"""The engine's side of the fork server (_forkserver): `start_step_process` is the one place a local step's process
starts. It hands a Python step script to the fork server to fork when it can (same interpreter as the engine, no
PYTHON*/locale variable of the step differing from the server's, `FLOWPACK_FORKSERVER` not "0"), and any other
step to the same server to spawn (fork and exec, as subprocess would), so the server contains what every step
starts. Only where there is no server (not Linux, or a request too large for one message) does the engine spawn
the step itself.
"""

from __future__ import annotations

import functools
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time

from ._forkserver import MAX_MESSAGE, SCRIPT, STARTUP_VARS
from ._procs import kill_group


class ForkServerError(OSError):
    """The fork server ended while it started or ran a step (the step ends as an Error)."""


class ForkRefused(ForkServerError):
    """The fork server did not start the step and never will (the step is spawned instead)."""


class ForkedProcess:
    """A step forked by the server: the part of subprocess.Popen the engine uses (pid, wait, returncode).

    The server reports on a pipe of this step's own: "pid N" once the child exists, then "status N" when it ended
    (or "error TEXT" when it did not fork). End of file before a status means the server itself ended."""

    def __init__(self, argv: list[str], reports: int) -> None:
        self.args = argv
        self.pid: int = 0
        self.returncode: int | None = None
        self._reports = reports  # the read end of the step's pipe
        self._pending = b""

    def _next_report(self, timeout: float | None) -> str | None:
        """The server's next line, "" at end of file, None when `timeout` passed first."""
        poller = select.poll()
        poller.register(self._reports, select.POLLIN)
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._pending:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not poller.poll(None if left is None else left * 1000):
                return None
            chunk = os.read(self._reports, 4096)
            if not chunk:
                return ""
            self._pending += chunk
        line, self._pending = self._pending.split(b"\n", 1)
        return line.decode()

    def _close(self) -> None:
        if self._reports >= 0:
            os.close(self._reports)
            self._reports = -1

    def started(self) -> None:
        """Wait for the child's pid. ForkRefused when the server did not fork, the OSError of a failed exec (as
        subprocess raises it), ForkServerError when the server ended."""
        line = self._next_report(None) or ""  # without a timeout: a line, or "" at end of file
        kind, _, text = line.partition(" ")
        if kind == "pid":
            self.pid = int(text)
            return
        self._close()
        if kind == "error":
            raise ForkRefused(f"the fork server did not start the step: {text}")
        if kind == "oserror":
            number, _, filename = text.partition(" ")
            raise OSError(int(number), os.strerror(int(number)), json.loads(filename))
        # it ended before saying whether it forked: the step may be running, so it is not run a second time
        raise ForkServerError("the fork server ended while it started the step")

    def wait(self, timeout: float | None = None) -> int:
        """The exit code (negative: killed by that signal); subprocess.TimeoutExpired after `timeout` seconds."""
        if self.returncode is not None:
            return self.returncode
        line = self._next_report(timeout)
        if line is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
        self._close()
        kind, _, text = line.partition(" ")
        if kind != "status":
            kill_group(self)  # its outcome is lost: stop it and what it started, as a stopped run does
            raise ForkServerError(f"the fork server ended while step process {self.pid} ran")
        self.returncode = int(text)
        return self.returncode


class ForkServer:
    """One server process of one interpreter, shared by the engine's worker threads."""

    def __init__(self, python: str) -> None:
        self.python = python
        self.base = dict(os.environ)  # the server's environment: requests carry a step's differences from it
        self.environ = {k: v for k, v in self.base.items() if k.startswith(STARTUP_VARS)}
        self.owner = os.getpid()
        self._sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * MAX_MESSAGE)
        with theirs:
            self.proc = subprocess.Popen([python, SCRIPT, str(theirs.fileno())], pass_fds=[theirs.fileno()],
                                         env=self.base, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, start_new_session=True)
        self._lock = threading.Lock()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def start(self, argv: list[str], cwd: str, env: dict, stdout: int, stderr: int, *, spawn: bool) -> ForkedProcess:
        """Start a step: forked as `python SCRIPT ARGS`, or with `spawn` its argv exec'd. Returns once the child
        exists (its pid known); ForkRefused when the server did not start it."""
        base = self.base
        data = json.dumps({"argv": argv, "cwd": cwd, "env": {k: v for k, v in env.items() if base.get(k) != v},
                           "unset": [k for k in base if k not in env], "spawn": spawn}).encode()
        if len(data) > MAX_MESSAGE:
            raise ForkRefused(f"a request of {len(data)} bytes is over {MAX_MESSAGE}")
        reports, theirs = os.pipe()
        proc = ForkedProcess(argv, reports)
        try:
            with self._lock:
                socket.send_fds(self._sock, [data], [stdout, stderr, theirs])  # a message arrives whole or not at all
        except OSError as exc:
            proc._close()
            raise ForkRefused(f"the request was not sent: {exc}") from exc
        finally:
            os.close(theirs)
        proc.started()
        return proc


_servers: dict[str, ForkServer] = {}
_servers_lock = threading.Lock()


def fork_server(python: str) -> ForkServer:
    """This process's fork server of `python`, started on first use (and again if it ended)."""
    with _servers_lock:
        server = _servers.get(python)
        if server is None or not server.alive or server.owner != os.getpid():
            server = _servers[python] = ForkServer(python)
        return server


def serving() -> bool:
    """Whether steps can start through a fork server here (Linux: fork, pidfds, descriptors over sockets)."""
    return sys.platform.startswith("linux") and hasattr(os, "pidfd_open") and hasattr(socket, "send_fds")


def forkable(argv: list[str], env: dict) -> bool:
    """True when the fork server can start `python SCRIPT ARGS` by forking exactly as spawning it would."""
    if os.environ.get("FLOWPACK_FORKSERVER", "1") == "0" or not serving():
        return False
    if len(argv) < 2 or argv[1].startswith("-") or _realpath(argv[0]) != _realpath(sys.executable):
        return False
    ours = {k: v for k, v in env.items() if k.startswith(STARTUP_VARS)}
    if any(not os.path.isabs(p) for p in ours.get("PYTHONPATH", "").split(os.pathsep) if p):
        return False  # relative entries are resolved against the folder the interpreter starts in
    server = _servers.get(argv[0])
    baseline = server.environ if server is not None and server.owner == os.getpid() else {
        k: v for k, v in os.environ.items() if k.startswith(STARTUP_VARS)}
    return ours == baseline


@functools.lru_cache(maxsize=16)
def _realpath(path: str) -> str:
    return os.path.realpath(path)


def start_step_process(argv: list[str], *, cwd, env: dict, stdout, stderr, python_script: bool):
    """Start a local step's process: forked or spawned by the fork server, which stops what the step leaves behind
    (see the module's docstring); spawned with subprocess.Popen only where no server can start it.

    `python_script` says argv is `python SCRIPT [ARGS]` running a step script; stdout/stderr are open files.
    Either way the process leads a session (and process group) of its own, with stdin on /dev/null.
    """
    if serving():
        fork = python_script and forkable(argv, env)
        try:
            server: ForkServer | None = fork_server(argv[0] if fork else sys.executable)
        except OSError:
            server = None  # it could not be started: spawn
        for spawn in ((False, True) if fork else (True,)):
            if server is None:
                break
            try:
                return server.start(argv, str(cwd), env, stdout.fileno(), stderr.fileno(), spawn=spawn)
            except ForkRefused:
                pass  # e.g. a script that doesn't compile: spawned, its interpreter reports it as it would
    return subprocess.Popen(argv, cwd=cwd, env=env, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL,
                            start_new_session=True)


def contained(proc) -> bool:
    """Whether a fork server stops what this step process leaves behind (else only its process group is known)."""
    return isinstance(proc, ForkedProcess)
