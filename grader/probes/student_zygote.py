"""Starts students' Python programs by fork of an interpreter that has started already.

The local backend runs six student programs for one grading of lab 01, each `python3 -s
FILE`, and most of such a short program's CPU is the interpreter's own start (20 to 30 ms,
before FILE's first line). This process is that interpreter, started once for a probe
launcher's life the way the programs are started, `PYTHON -s student_zygote.py FD`, with
their environment; it forks a child for each program. The child becomes what `PYTHON -s
FILE` is when it starts FILE's first line:

- the session, descriptors (stdin, stdout, stderr, nothing else), user, resource limits,
  working folder and environment the recorder asks for, set as run_bounded.py sets them
  before it execs a program;
- the modules of an interpreter that has just started, and `socket` (which nearly every
  program imports first) as if FILE had imported it: what this process imported for
  itself is forgotten (a FILE beside a `resource.py` of its own imports that one), and a
  FILE beside a module of one of the kept modules' names is exec'd as a fresh
  interpreter; sys.argv, sys.orig_argv, sys.path[0] and the import caches are FILE's;
- FILE compiled and run as a fresh `__main__` module, at this file's top level, so that
  Python itself ends the program as it ends any: SystemExit's status, an uncaught
  exception's traceback (this file's frame left out) and status 1, an uncaught
  KeyboardInterrupt's traceback and an end by SIGINT, threads joined and atexit run.

A request whose program this cannot start as its own start would (another interpreter or
other options, another value of a variable Python or the C library reads as it starts) is
answered "unsuitable", and the recorder execs the program.

Protocol: FD is a SOCK_SEQPACKET socket shared by every recorder of the probe launcher. A
request is one `marshal` dict, `{"argv": [PYTHON, "-s", FILE], "env": {...}, "cwd": DIR or
None, "user": [uid, gid] or None, "rlimits": {name: n}}`, with four descriptors attached:
the recorder's end of a socket pair for the answers, then the program's stdin, stdout and
stderr. Answers on that socket, `marshal` dicts: `{"pid": PID}` once the child leads its
session, `{"error": TEXT}` when it could not be set up, `{"unsuitable": TEXT}`, and later
`{"status": WAIT_STATUS}` (waitpid(2)'s) when the program has ended. This process ends
when every holder of the other end of FD has closed it.

Imports nothing beside the standard library, as the probes, and forgets in each child what
it imported (FRESH_MODULES).
"""

import sys

FRESH_MODULES = frozenset(sys.modules)
"""What the interpreter had imported when it started, before this file imported anything."""

import socket  # noqa: E402, F401  # imported by nearly every program: kept (PRELOADED)

PRELOADED = frozenset(sys.modules) - FRESH_MODULES
"""Modules a child keeps, as if its program had imported them already: those `import socket`
imports, which no program can tell from its own import of them (their state is their
import's), unless its folder holds a module of one of their names, which its import would
find instead: then the child execs the program (shadowed)."""

import _socket  # noqa: E402
import contextlib  # noqa: E402
import ctypes  # noqa: E402  # what a child needs, imported once here and forgotten in each
import gc  # noqa: E402
import marshal  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import signal as _signal  # noqa: E402
from typing import Any  # noqa: E402

STARTUP_VARIABLES = ("PYTHON", "LC_", "LANG", "LANGUAGE", "MALLOC_", "GLIBC_", "LD_")
"""Environment variables (by prefix) that Python or the C library reads as a program starts:
a request whose values differ from this process's is unsuitable."""
REQUEST_BYTES = 1 << 20
PR_SET_NO_NEW_PRIVS = 38
PR_SET_DUMPABLE = 4
SETUP_FAILED = 70
SETUP_MESSAGE_BYTES = 4096
"""The most the zygote reads of why a child could not be set up (one write, within
PIPE_BUF)."""

_libc = ctypes.CDLL(None, use_errno=True)
# What the end of this file uses, kept from FILE's reach (it may rebind builtins and sys).
_getattr, _KeyboardInterrupt, _SystemExit = getattr, KeyboardInterrupt, SystemExit
FRAMES_ABOVE_FILE = 4
"""What FILE's recursion depth counts above its own frame and a program of its own does not
have: this file's frame, exec's, the frame of file "sys" and the call into C (ctypes). Counted
by hand on Python 3.11, the runtime image's; no test compares the depths yet, and Python 3.12,
which no longer counts C calls, would give FILE a few frames more than its own run has."""
_children: dict[int, "_socket.socket"] = {}
_control: "_socket.socket | None" = None
_BUILTIN_IMPORTER = sys.modules["_frozen_importlib"].BuiltinImporter


def _startup_values(environment: dict[str, str]) -> dict[str, str]:
    return {
        name: value for name, value in environment.items() if name.startswith(STARTUP_VARIABLES)
    }


def unsuitable(request: dict[str, Any]) -> str | None:
    """Why the program of `request` cannot be started here as its own start would, or None."""
    argv = request.get("argv")
    if not (isinstance(argv, list) and len(argv) == 3 and argv[:2] == sys.orig_argv[:2]):
        return f"not {sys.orig_argv[0]} -s FILE"
    if not isinstance(argv[2], str) or argv[2].startswith("-") or not argv[2].endswith(".py"):
        return "FILE is not a .py file"
    environment = request.get("env")
    if not isinstance(environment, dict) or not all(
        isinstance(name, str) and isinstance(value, str) for name, value in environment.items()
    ):
        return "no environment"
    if _startup_values(environment) != _startup_values(dict(os.environ)):
        return "another environment for Python's start"
    return None


def _reap(signum: object = None, frame: object = None) -> None:
    """Answers every ended child's status to its recorder (a SIGCHLD handler)."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        answers = _children.pop(pid, None)
        if answers is not None:
            with contextlib.suppress(OSError):
                answers.send(marshal.dumps({"status": status}))
            answers.close()


def _receive(control: "_socket.socket") -> tuple[bytes, list[int]]:
    """One request and the descriptors attached to it."""
    data, ancillary, _, _ = control.recvmsg(REQUEST_BYTES, _socket.CMSG_SPACE(4 * 4))
    fds: list[int] = []
    for level, kind, payload in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            usable = len(payload) - len(payload) % 4
            fds += [int.from_bytes(payload[i : i + 4], sys.byteorder) for i in range(0, usable, 4)]
    return data, fds


def serve(fd: int) -> dict[str, Any]:
    """Answers requests until the other end is closed everywhere (then exits), and returns
    in each forked child only, with that child's request once it is set up."""
    global _control
    _control = _socket.socket(fileno=fd)
    # A recorder's program gets the signals its recorder handles as an exec leaves them
    # (the default, Python's KeyboardInterrupt for SIGINT), whatever this process inherited;
    # the signals it ignores, as this process was started by its launcher.
    _signal.signal(_signal.SIGINT, _signal.default_int_handler)
    for signum in (_signal.SIGTERM, _signal.SIGUSR2, _signal.SIGALRM):
        _signal.signal(signum, _signal.SIG_DFL)
    _signal.pthread_sigmask(_signal.SIG_SETMASK, set())
    _signal.signal(_signal.SIGCHLD, _reap)
    # What this process holds is never collected: a child's collections then neither walk
    # it nor write to (and so copy) the pages that hold it.
    gc.freeze()
    while True:
        try:
            data, fds = _receive(_control)
        except OSError:
            data, fds = b"", []
        if not data:
            os._exit(0)
        if len(fds) != 4:
            for descriptor in fds:
                os.close(descriptor)
            continue
        answers = _socket.socket(fileno=fds[0])
        try:
            request = marshal.loads(data)
        except (ValueError, EOFError, TypeError):
            request = None
        reason = unsuitable(request) if isinstance(request, dict) else "not a request"
        if reason is None:
            child = _start(request, fds, answers)
            if child is not None:
                return child
        else:
            with contextlib.suppress(OSError):
                answers.send(marshal.dumps({"unsuitable": reason}))
            answers.close()
        for descriptor in fds[1:]:
            os.close(descriptor)


def _start(
    request: dict[str, Any], fds: list[int], answers: "_socket.socket"
) -> dict[str, Any] | None:
    """Forks the program's child. In the parent: answers its pid (or why it could not be
    set up) and returns None; in the child: returns the request once it is set up.

    Every signal is held back across the fork, as grader/probes/launcher.py does: a signal
    for the new pid must reach the program, not this process's handlers in the child.
    """
    ready_read, ready_write = os.pipe()
    everything = _signal.valid_signals()
    previous = _signal.pthread_sigmask(_signal.SIG_SETMASK, everything)
    try:
        pid = os.fork()
    except OSError as e:
        _signal.pthread_sigmask(_signal.SIG_SETMASK, previous)
        os.close(ready_read)
        os.close(ready_write)
        with contextlib.suppress(OSError):
            answers.send(marshal.dumps({"error": f"fork failed: {e}"}))
        answers.close()
        return None
    if pid == 0:
        os.close(ready_read)
        # The parent's sockets are closed below by number: their objects must never close
        # those numbers again, which by then may be the program's own files.
        for sock in (_control, answers, *_children.values()):
            if sock is not None:
                sock.detach()
        try:
            _become(request, fds, ready_write)
        except BaseException as e:  # told to the recorder, which reports it as its own failure
            try:
                message = f"{type(e).__name__}: {e}".encode()[: SETUP_MESSAGE_BYTES - 96]
                os.write(ready_write, message)
            finally:
                os._exit(SETUP_FAILED)
        os.close(ready_write)
        try:
            _become_user(request)
        except BaseException:  # cannot happen (see there); never run as anyone else
            os._exit(SETUP_FAILED)
        _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)
        _signal.pthread_sigmask(_signal.SIG_SETMASK, previous)
        return request
    os.close(ready_write)
    problem = b""  # at most what the child writes: nothing, or one message of 4000 bytes
    while len(problem) < SETUP_MESSAGE_BYTES and (
        chunk := os.read(ready_read, SETUP_MESSAGE_BYTES - len(problem))
    ):
        problem += chunk
    os.close(ready_read)
    if problem:
        os.waitpid(pid, 0)
        with contextlib.suppress(OSError):
            answers.send(marshal.dumps({"error": problem.decode("utf-8", "replace")}))
        answers.close()
    else:
        try:
            answers.send(marshal.dumps({"pid": pid}))
            _children[pid] = answers
        except OSError:
            # The recorder is gone (killed while it waited): nobody would stop its program,
            # and the grader's sweep of the program's user may have come before this fork.
            os.killpg(pid, _signal.SIGKILL)
            answers.close()
    # The child may have ended already: its SIGCHLD, held back until now, is acted on here.
    _signal.pthread_sigmask(_signal.SIG_SETMASK, previous)
    return None


def _become(request: dict[str, Any], fds: list[int], ready: int) -> None:
    """In the child: what run_bounded.py's `as_user` (or `with_limits`) and Popen's
    start_new_session do before they exec the program, all that can fail done before the
    zygote is told (`ready`).

    The program's user becomes only the effective uid here: the real and saved uids stay
    this process's (root) until `_become_user`, once the zygote has been told. Until then no
    process of that user may signal or trace this one (kill(2) and ptrace(2) compare with
    those uids), so none can stop it while the zygote waits for it, nor write to `ready`
    in its stead. The folder is entered with the effective uid, as the program's own.
    """
    os.setsid()
    for target, fd in enumerate(fds[1:]):
        os.dup2(fd, target)
    os.closerange(3, ready)
    os.closerange(ready + 1, os.sysconf("SC_OPEN_MAX"))
    user = request.get("user")
    if user:
        with open("/proc/self/oom_score_adj", "w") as adjust:
            adjust.write("1000")
        os.nice(19)
        os.setgroups([])
        os.setgid(int(user[1]))
    _set_rlimits(request.get("rlimits") or {})
    if user:
        if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
        os.setresuid(-1, int(user[0]), -1)
    if request.get("cwd") is not None:
        os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])


def _become_user(request: dict[str, Any]) -> None:
    """In the child, once the zygote has been told: the program's user in full. An
    unprivileged process may take its effective uid as its real and saved ones, so this
    does not fail. A change of user leaves a process undumpable (its /proc files root's);
    an exec by the new user, which is what the program would have had, makes it dumpable."""
    user = request.get("user")
    if user:
        os.setresuid(int(user[0]), int(user[0]), int(user[0]))
        _libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)


def _set_rlimits(rlimits: dict[str, Any]) -> None:
    for name, value in rlimits.items():
        resource.setrlimit(getattr(resource, name), (int(value), int(value)))


def shadowed(folder: str) -> bool:
    """Whether `folder` (the program's sys.path[0]) may hold a module of a PRELOADED name, or
    cannot be listed to tell."""
    names = {name.split(".", 1)[0] for name in PRELOADED}
    try:
        return any(entry.split(".", 1)[0] in names for entry in os.listdir(folder))
    except OSError:
        return True


def _exec(argv: list[str]) -> None:
    """Becomes the program by exec, as the recorder would have started it: Python's ignored
    SIGPIPE and SIGXFSZ back to their defaults, as subprocess does."""
    for signum in (_signal.SIGPIPE, _signal.SIGXFSZ):
        _signal.signal(signum, _signal.SIG_DFL)
    try:
        os.execv(argv[0], argv)
    except OSError as e:
        os.write(2, f"cannot exec {argv[0]}: {e}\n".encode(errors="backslashreplace"))
        os._exit(127)


class _CompilerFlags(ctypes.Structure):
    """PyCompilerFlags, as Python's start passes it to PyRun_SimpleFileExFlags (Include/cpython/
    compile.h): no flags, this version's grammar."""

    _fields_ = [("cf_flags", ctypes.c_int), ("cf_feature_version", ctypes.c_int)]


def _run_file_function() -> Any:
    """PyRun_SimpleFileExFlags, the C function with which `python3 FILE` runs FILE
    (Modules/main.c, pymain_run_file): it reads FILE with Python's own tokenizer (a coding
    declaration, a file that is not UTF-8, null bytes: Python's own messages), runs it in
    `__main__`, and prints an uncaught exception with sys.excepthook before it returns -1."""
    function = ctypes.pythonapi.PyRun_SimpleFileExFlags
    function.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p]
    function.restype = ctypes.c_int
    return function


def _fopen_function() -> Any:
    function = ctypes.CDLL(None, use_errno=True).fopen
    function.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    function.restype = ctypes.c_void_p
    return function


def prepared(request: dict[str, Any]) -> tuple[Any, tuple[Any, ...]]:
    """In the child: PyRun_SimpleFileExFlags and its arguments, which run FILE as `python3
    -s FILE` runs it, with a fresh `__main__` module (the caller calls it at this file's top
    level, so that FILE's frame has as few above it as can be). A FILE that is not a regular
    file this user can open, or beside a module of a PRELOADED name, is exec'd instead
    (Python says why it cannot run it, or runs it with its own modules)."""
    argv = request["argv"]
    path = os.path.abspath(argv[2])
    folder = os.path.dirname(os.path.realpath(path))
    run_file, fopen = _run_file_function(), _fopen_function()
    flags = _CompilerFlags(0, sys.version_info.minor)
    if not os.path.isfile(path) or shadowed(folder):
        _exec(argv)
    handle = fopen(os.fsencode(path), b"rb")
    if not handle:
        _exec(argv)
    for name in list(sys.modules):
        if name not in FRESH_MODULES and name not in PRELOADED:
            del sys.modules[name]
    sys.argv = [argv[2]]
    sys.orig_argv = list(argv)
    sys.path[0] = folder
    sys.path_importer_cache.clear()
    module = type(sys)("__main__")
    # What Python's start gives `__main__` (Python/pylifecycle.c, add_main_module); running
    # FILE adds __file__, __cached__ and its loader.
    module.__dict__.update(
        {"__annotations__": {}, "__builtins__": __builtins__, "__loader__": _BUILTIN_IMPORTER}
    )
    sys.modules["__main__"] = module
    # FILE runs below this file's frame and the call into C, which count against the
    # recursion limit: FILE gets the depth it would have as a program of its own.
    sys.setrecursionlimit(sys.getrecursionlimit() + FRAMES_ABOVE_FILE)
    return run_file, (handle, os.fsencode(path), 1, ctypes.byref(flags))


class ZygoteGone(OSError):
    """The zygote ended, or never answered: a program it started has an end nobody knows."""


class ZygoteUnreachable(ZygoteGone):
    """The zygote could not be asked: it has started nothing for this request."""


class Forked:
    """A program the zygote started, as run_bounded.py uses a subprocess.Popen: `pid`,
    `stdout` and `stderr` (the read ends of its pipes), `returncode` (negative: the signal
    that ended it), poll(), wait(), send_signal(), kill()."""

    def __init__(self, pid: int, answers: "_socket.socket", stdout: int, stderr: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self.stdout = open(stdout, "rb", buffering=0)  # noqa: SIM115  # as Popen's: kept open
        self.stderr = open(stderr, "rb", buffering=0)  # noqa: SIM115
        self._answers = answers

    def poll(self) -> int | None:
        """The exit code once the program has ended (never blocks). Raises ZygoteGone."""
        if self.returncode is None:
            self._receive(block=False)
        return self.returncode

    def wait(self) -> int:
        """Waits for the program's end; its exit code. Raises ZygoteGone."""
        while self.returncode is None:
            self._receive(block=True)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(_signal.SIGKILL)

    def _receive(self, *, block: bool) -> None:
        self._answers.setblocking(block)
        try:
            data = self._answers.recv(REQUEST_BYTES)
        except BlockingIOError:
            return
        if not data:
            raise ZygoteGone(f"the student zygote ended while program {self.pid} ran")
        self.returncode = os.waitstatus_to_exitcode(marshal.loads(data)["status"])
        self._answers.close()


ANSWER_TIMEOUT_S = 60.0
"""How long a recorder waits for the zygote to say it has started a program (it waits for
nothing but the fork and the child's setup)."""


def start(
    zygote: int,
    argv: list[str],
    env: dict[str, str],
    cwd: str | None,
    user: list[int] | None,
    rlimits: dict[str, int],
    stdin: int,
) -> Forked | None:
    """Asks the zygote on socket descriptor `zygote` to start `argv` (see the protocol
    above); None when it answers that it cannot start that program as its own start would.
    Raises OSError when it could not be set up (the message is the child's), ZygoteUnreachable
    when the zygote cannot be asked (it has ended), and ZygoteGone when it does not answer
    (it may have started the program)."""
    control = _socket.socket(fileno=os.dup(zygote))
    ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    request = {"argv": argv, "env": env, "cwd": cwd, "user": user, "rlimits": rlimits}
    fds = [theirs.fileno(), stdin, out_write, err_write]
    try:
        control.sendmsg(
            [marshal.dumps(request)],
            [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, b"".join(
                fd.to_bytes(4, sys.byteorder) for fd in fds))],
        )  # fmt: skip
    except OSError as e:
        for fd in (out_read, err_read):
            os.close(fd)
        ours.close()
        raise ZygoteUnreachable(f"the student zygote cannot be reached: {e}") from e
    finally:
        control.close()
        theirs.close()
        os.close(out_write)
        os.close(err_write)
    ours.settimeout(ANSWER_TIMEOUT_S)
    try:
        data, problem = ours.recv(REQUEST_BYTES), "it ended"
    except OSError as e:  # TimeoutError too
        data, problem = b"", str(e)
    if not data:
        for fd in (out_read, err_read):
            os.close(fd)
        ours.close()
        raise ZygoteGone(f"the student zygote did not answer: {problem}")
    answer = marshal.loads(data)
    if "pid" in answer:
        return Forked(int(answer["pid"]), ours, out_read, err_read)
    for fd in (out_read, err_read):
        os.close(fd)
    ours.close()
    if "unsuitable" in answer:
        return None
    raise OSError(answer.get("error", "the student zygote did not start the program"))


if __name__ == "__main__":
    _run, _arguments = prepared(serve(int(sys.argv[1])))
    # Called from a frame of file "sys", line 1, in a module "sys": what Python names the
    # place of a warning attributed above a program's top level (stacklevel=2), which is
    # then shown or hidden, and printed, as it is for a program of its own.
    _call = {"run": _run, "arguments": _arguments, "__name__": "sys"}
    exec(compile("status = run(*arguments)", "sys", "exec"), _call)
    if _call["status"] != 0:
        if _getattr(sys, "last_type", None) is _KeyboardInterrupt:
            # Python ends a program whose KeyboardInterrupt nothing caught by SIGINT once it
            # has finalized (Modules/main.c), noting it as that exception leaves the main
            # module's code: this file's end is that same exception, printed already.
            sys.excepthook = lambda *exception: None
            raise _KeyboardInterrupt
        raise _SystemExit(1)  # as Python's start does when its file's run returns -1
