"""The fork server: local steps start from a warm interpreter that also keeps track of everything they start.

The engine's side is _forkclient. The server is this file run as a script, `python _forkserver.py FD`: a
single-threaded interpreter that imported
only what step scripts import (the stdlib modules of templates/step.py.j2, cloudpickle). For each request on its
socket it forks one child, which becomes the step as `python SCRIPT ARGS` would: a session and process group of
its own, the step's working folder, environment, argv and sys.path[0], a fresh `__main__` running the script,
stdin on /dev/null, stdout/stderr on the step's files (received as file descriptors), the interpreter's default
signal handlers and no other open file of the server; or the child execs the request's argv in that session,
folder, environment and files. The server reports each child's pid, then its exit status (Popen's returncode
convention: negative for a signal).

While fewer steps run than there are cores, a spare child is forked ahead of the next request (right after the
previous one was handed on, on a core the running steps leave free): it waits on a socket of its own, so the fork,
the interpreter's after-fork work and the new session are done before the request arrives instead of while the
engine waits for its step. It is handed the request and the step's two files, then becomes the step exactly as a
child forked for the request would. With every core busy, requests are forked as they come (a spare would only add
a hand-over).

Containment: the server and each step are child subreapers (prctl PR_SET_CHILD_SUBREAPER). A process a step
started whose parent ended is re-parented to the step, not to init, so while the step runs everything it started
stays below it, whatever it did (`setsid`, a double fork, a fork without exec, a cleared environment). When the
step process ends, what is still below it is re-parented to the server, which kills and reaps every child that is
not a running step before it reports the step's status. When the engine's end of the socket closes (the engine
was killed) the server keeps doing so until its last step ended, then exits.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":  # the server: its own folder must not shadow the stdlib modules it imports next
    del sys.path[0]

import atexit
import builtins
import ctypes
import gc
import importlib.machinery
import json
import selectors
import signal
import socket
import threading
import types

MAX_MESSAGE = 256 << 10  # bytes of one request (the step's environment dominates); larger requests spawn instead
COMPILED_KEPT = 64  # step scripts whose compiled code the server keeps (each run writes its scripts anew)
SCRIPT = os.path.abspath(__file__)
_PRELOAD = ("base64", "hashlib", "json", "pathlib", "pickle", "re", "shutil", "unicodedata", "importlib.util",
            "cloudpickle")
# Variables read once by an interpreter at startup: a step whose value differs from the server's must spawn.
STARTUP_VARS = ("PYTHON", "LANG", "LC_", "LANGUAGE")
_PR_SET_CHILD_SUBREAPER = 36  # prctl option (linux/prctl.h)
_LIBC = ctypes.CDLL(None, use_errno=True)
_MAX_FD = os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 65536
_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class _Job:
    """What a forked child runs: the request, the script's compiled code, the modules the server had imported."""

    def __init__(self, request: dict, code, server_modules: frozenset) -> None:
        self.request = request
        self.code = code
        self.server_modules = server_modules


def _serve(fd: int) -> _Job | None:
    """Start a child per request until the engine closed the socket and the last step ended; returns only in a
    forked child (its job).

    A request is JSON (argv, cwd, env and unset: how the step's environment differs from the server's, spawn)
    with three descriptors: the step's stdout and stderr, and the write end of the pipe its reports go to ("pid N",
    then "status N"; or "error TEXT", or "oserror ERRNO FILENAME")."""
    for name in _PRELOAD:
        try:
            __import__(name)
        except ImportError:
            pass
    _subreaper()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # inherited as ignored, children would be reaped unseen
    sock = socket.socket(fileno=fd)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ, None)
    compiled: dict[str, tuple] = {}
    steps: set[int] = set()  # the running step processes: every other child of the server is left behind by one
    server_modules = frozenset(sys.modules)
    gc.freeze()  # objects of the server stay out of the children's collections: fewer pages copied on write
    spare: _Spare | None = None

    def report(pipe: int, line: str, last: bool) -> None:
        try:
            os.write(pipe, line.encode() + b"\n")  # a few bytes: written whole
        except OSError:
            pass  # the engine gave up on this step
        if last:
            os.close(pipe)

    while steps or sock.fileno() >= 0:
        if spare is None and sock.fileno() >= 0 and len(steps) < _CORES:  # the next step's, on a free core
            forked = _fork_spare(sel, sock, compiled)
            if isinstance(forked, _Job):  # in the spare, handed its request: the step
                return _Job(forked.request, forked.code, server_modules)
            spare = forked
        for key, _ in sel.select():
            if key.data is not None:  # a step ended: what it left running goes first, then its status
                pid, pipe = key.data
                sel.unregister(key.fd)
                os.close(key.fd)
                _, status = os.waitpid(pid, 0)
                steps.discard(pid)
                _stop_leftovers(steps | ({spare.pid} if spare else set()))
                report(pipe, f"status {os.waitstatus_to_exitcode(status)}", last=True)
                continue
            try:
                data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, 3)
            except OSError:
                data, fds = b"", []
            if not data:  # the engine is gone: its steps run to their end (a stopped run's record stops them)
                sel.unregister(sock)
                sock.close()
                break
            if len(fds) != 3:  # not a request of ours: nothing to answer on
                for f in fds:
                    os.close(f)
                continue
            pipe, pid = fds[2], -1
            try:
                request = json.loads(data)
                if request["spawn"]:
                    pid = _spawn(request, fds[:2])
                else:
                    known = compiled.get(request["argv"][1])
                    code = _compiled(compiled, request["argv"][1])
                    if spare is not None and (known is None or known[1] is not code):
                        spare.end()  # forked before this code was compiled: a child forked now has it
                        spare = None
                    pid = spare.take(data, fds[:2]) if spare is not None else -1
                    spare = None  # used (or gone): another is forked next
                    if pid < 0:
                        pid = os.fork()
            except _ExecFailed as exc:
                report(pipe, f"oserror {exc.errno} {json.dumps(exc.filename)}", last=True)
                continue
            except (OSError, SyntaxError, ValueError, KeyError, IndexError, TypeError) as exc:
                report(pipe, f"error {type(exc).__name__}: {' '.join(str(exc).split())}", last=True)
                continue
            finally:
                if pid != 0:  # the server's side: the step's files are the child's now
                    for f in fds[:2]:
                        os.close(f)
            if pid == 0:  # the server's descriptors held by objects are closed here, the rest by _become_step
                sel.close()
                sock.close()
                _own_session()
                _become_step(request, fds[:2])
                return _Job(request, code, server_modules)
            steps.add(pid)
            sel.register(os.pidfd_open(pid), selectors.EVENT_READ, (pid, pipe))
            report(pipe, f"pid {pid}", last=False)
    if spare is not None:
        spare.end()
    return None


class _Spare:
    """The server's side of a spare child: its pid and the socket its request goes to."""

    def __init__(self, pid: int, sock: socket.socket) -> None:
        self.pid = pid
        self.sock = sock

    def take(self, data: bytes, fds: list[int]) -> int:
        """Hand the spare a request and the step's stdout and stderr: its pid, or -1 when it is gone (reaped)."""
        try:
            socket.send_fds(self.sock, [data], fds)
        except OSError:
            self.end()
            return -1
        self.sock.close()
        return self.pid

    def end(self) -> None:
        """Stop a spare that was never handed a request (it exits at the end of its socket) and reap it."""
        self.sock.close()
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


def _fork_spare(sel: selectors.BaseSelector, sock: socket.socket, compiled: dict) -> _Spare | _Job | None:
    """Fork a spare child: the server gets a _Spare (None when it could not fork); the spare waits for its
    request, then returns it as a _Job (server_modules filled in by the caller), or exits when none comes."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        pid = os.fork()
    except OSError:
        ours.close()
        theirs.close()
        return None  # requests are forked when they come
    if pid:
        theirs.close()
        return _Spare(pid, ours)
    try:  # the spare: nothing of the server's but what _become_step closes
        ours.close()
        sel.close()
        sock.close()
        _own_session()
        data, fds, _, _ = socket.recv_fds(theirs, MAX_MESSAGE, 2)
        theirs.close()
        if not data or len(fds) != 2:
            os._exit(0)
        request = json.loads(data)
        code = _compiled(compiled, request["argv"][1])  # the server's code, unless compiled after this fork
    except BaseException:  # noqa: BLE001 - never back into the server's loop
        os._exit(1)
    _become_step(request, fds)
    return _Job(request, code, frozenset())


class _ExecFailed(OSError):
    """A spawned step's folder or program could not be entered (the engine raises it as subprocess would)."""


def _spawn(request: dict, fds: list[int]) -> int:
    """Fork a child that execs the request's argv as subprocess.Popen(start_new_session=True) would, in the step's
    folder, environment and files; its pid once the exec succeeded (_ExecFailed when it did not)."""
    argv = request["argv"]
    readable, writable = os.pipe()  # close-on-exec: end of file without a word from the child means it exec'd
    try:
        pid = os.fork()
    except OSError:
        os.close(readable)
        os.close(writable)
        raise
    if pid == 0:
        try:
            os.close(readable)
            os.setsid()
            _subreaper()
            os.dup2(fds[0], 1)
            os.dup2(fds[1], 2)
            os.closerange(3, writable)
            os.closerange(writable + 1, _MAX_FD)
            for sig in (signal.SIGPIPE, signal.SIGXFSZ):  # ignored by the interpreter, restored as Popen does
                signal.signal(sig, signal.SIG_DFL)
            where = request["cwd"]
            os.chdir(where)
            where = argv[0]
            os.execvpe(argv[0], argv, {**{k: v for k, v in os.environ.items() if k not in request["unset"]},
                                       **request["env"]})
        except OSError as exc:
            os.write(writable, json.dumps([exc.errno, where]).encode())
        finally:
            os._exit(127)
    os.close(writable)
    with open(readable, "rb") as words:
        failure = words.read()
    if not failure:
        return pid
    os.waitpid(pid, 0)
    number, where = json.loads(failure)
    raise _ExecFailed(number, os.strerror(number), where)


def _subreaper() -> None:
    """Make this process a child subreaper: a descendant whose parent ended becomes its child, not init's."""
    _LIBC.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _stop_leftovers(steps: set[int]) -> None:
    """Kill and reap every child of the server that is not a running step: what ended steps left behind. A killed
    process's own children become the server's in turn, so this goes on until none is left."""
    while True:
        left = [pid for pid in _children() if pid not in steps]
        if not left:
            return
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in left:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


def _children() -> list[int]:
    """This process's children (a kernel without /proc/PID/task/TID/children: every process's parent is read)."""
    me = os.getpid()
    try:
        with open(f"/proc/{me}/task/{me}/children", "rb") as f:  # the server has one thread
            return [int(p) for p in f.read().split()]
    except FileNotFoundError:
        pass
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                if int(f.read().rsplit(b")", 1)[1].split()[1]) == me:
                    found.append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    return found


def _compiled(cache: dict, path: str):
    """The script's code object, compiled once per version of the file (the last COMPILED_KEPT scripts are kept)."""
    st = os.stat(path)
    stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
    hit = cache.pop(path, None)
    if hit is None or hit[0] != stamp:
        with open(path, "rb") as f:
            hit = (stamp, compile(f.read(), path, "exec", dont_inherit=True))
    cache[path] = hit  # now the most recent
    while len(cache) > COMPILED_KEPT:
        del cache[next(iter(cache))]
    return hit[1]


def _own_session() -> None:
    """In a child that will be a step: a session and process group of its own, and what it starts stays below it."""
    os.setsid()
    _subreaper()


def _become_step(request: dict, fds: list[int]) -> None:
    """In the child, in its own session: the files, folder, environment and argv of `python SCRIPT ARGS`."""
    out, err = fds
    os.dup2(out, 1)
    os.dup2(err, 2)
    os.closerange(3, _MAX_FD)  # out, err and the rest
    os.chdir(request["cwd"])
    for name in request["unset"]:  # the request holds the step's differences from the server's environment
        os.environ.pop(name, None)
    for name, value in request["env"].items():
        os.environ[name] = value
    argv = request["argv"]
    sys.argv = list(argv[1:])
    sys.orig_argv = list(argv)
    sys.path.insert(0, os.path.dirname(os.path.realpath(argv[1])))


def _run(job: _Job) -> None:
    """Run the step script as `__main__`, then exit as the interpreter would (see _exit)."""
    script = job.request["argv"][1]
    main = types.ModuleType("__main__")
    vars(main).update(__file__=script, __cached__=None, __builtins__=builtins, __annotations__={},
                      __loader__=importlib.machinery.SourceFileLoader("__main__", script))
    sys.modules["__main__"] = main
    interrupted = False
    try:
        exec(job.code, main.__dict__)
        code = 0
    except SystemExit as exc:  # as the interpreter: None is 0, an int its low byte, anything else printed and 1
        code = _exit_code(exc.code)
    except BaseException as exc:  # printed by sys.excepthook (the step's, if it set one), without this frame
        exc.__traceback__ = exc.__traceback__.tb_next if exc.__traceback__ else None  # what excepthook prints
        sys.excepthook(type(exc), exc, exc.__traceback__)
        code, interrupted = 1, isinstance(exc, KeyboardInterrupt)
    _exit(code, interrupted, [sys.modules[n] for n in list(sys.modules) if n not in job.server_modules] + [main])


def _exit_code(code) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    try:
        print(code, file=sys.stderr)
    except Exception:  # noqa: BLE001 - an unprintable exit value still exits 1
        pass
    return 1


def _exit(code: int, interrupted: bool, modules: list) -> None:
    """The interpreter's shutdown, minus tearing down the server's modules (which would copy every page it touches).

    As Py_FinalizeEx: wait for non-daemon threads, run atexit callbacks, flush stdio; then the step's own modules
    and __main__ are cleared and garbage collected, so their objects' finalizers run (an unclosed file is flushed).
    An unhandled KeyboardInterrupt ends the process by SIGINT, as the interpreter does.
    """
    try:
        threading._shutdown()  # type: ignore[attr-defined]  # what Py_FinalizeEx calls: joins non-daemon threads
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):
                code = code or 120
        for module in reversed(modules):
            namespace = getattr(module, "__dict__", None)
            if isinstance(namespace, dict):
                namespace.clear()
        modules.clear()
        gc.collect()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):
                pass
    finally:
        if interrupted:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        os._exit(code)


if __name__ == "__main__":
    _job = _serve(int(sys.argv[1]))
    if _job is not None:
        _run(_job)
