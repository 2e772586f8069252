"""Starts the grader's probes by fork, from one process that has them imported already.

The local backend starts a probe for every program, peer and capture of every scenario
(about fifteen for one grading of lab 01). A fresh Python spends 30 to 45 ms of CPU starting
and importing one; a fork of this process, which imported them all once, spends about 1 ms.
On a batch that is the larger part of what one grading costs (grader.sandbox.launcher).

Started by the grader as `python3 -s -u launcher.py FD`, where FD is its end of a
SOCK_SEQPACKET socket pair. Requests, one JSON datagram each with three descriptors attached
(the probe's stdin, stdout and stderr): `{"id": N, "script": NAME, "args": [...], "cwd": DIR,
"env": {...}}`, and optionally `"session": false` and `"ignore": ["SIGINT", "SIGTERM"]` (see
below). Answers: `{"id": N, "pid": PID}` once the child is set up (see `start`), `{"id": N,
"error": TEXT}` when not, and `{"exited": PID, "status": WAIT_STATUS}` when a probe has
ended (waitpid(2)'s status). The probe runs in a session of its own (with `"session":
false`, in this process's), as a program started by its script would: its `__main__` entry
(`probe_entries`), with sys.argv, the working folder (`"cwd": null`: this process's) and
the environment asked for, the signals in `ignore` ignored as a program started with them
ignored would have them, and nothing of this process's descriptors but the three it was
given.

It ends when the grader closes its end, which it does at exit, and which happens too when
it dies. Probes still running then are stopped (`stop_orphans`): nothing else would stop a
capture, and a recorder's program would run until its lifetime ends.

`serve` and `start` take the entries to start, so that a process with other entries serves
the same protocol: grader.batch forks its workers that way. This file uses nothing but the
standard library, as the probes do.
"""

from __future__ import annotations

import contextlib
import ctypes  # noqa: F401  # run_bounded.py's, when it changes user: loaded once here
import fcntl  # noqa: F401  # and the other modules the probes import only as they run
import gc
import json
import os
import resource  # noqa: F401
import selectors
import signal
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

Entries = dict[str, Callable[[], object]]
"""What each script a request may name does as __main__, by the script's name."""
PROBES = Path(__file__).resolve().parent


def probe_entries() -> Entries:
    """The probes beside this file, imported here: every fork then has them already."""
    sys.path.insert(0, str(PROBES))
    # With what the probes import only as they run (listen_watch, probe_options,
    # stop_on_stdin): else every fork would compile them again, as this process writes no
    # bytecode.
    import capture_bounded  # type: ignore[import-not-found]
    import listen_watch  # type: ignore[import-not-found]  # noqa: F401
    import peer  # type: ignore[import-not-found]
    import probe_options  # type: ignore[import-not-found]  # noqa: F401
    import relay  # type: ignore[import-not-found]
    import run_bounded  # type: ignore[import-not-found]
    import stop_on_stdin  # type: ignore[import-not-found]  # noqa: F401
    import student_zygote  # type: ignore[import-not-found]  # noqa: F401

    return {
        "capture_bounded.py": lambda: sys.exit(capture_bounded.main(json.loads(sys.argv[1]))),
        "peer.py": peer.main,
        "relay.py": relay.main,
        "run_bounded.py": lambda: run_bounded.main(zygote=STUDENT_ZYGOTE.inherited),
    }


class StudentZygote:
    """This launcher's student_zygote.py, which its recorders ask to start students' Python
    programs: started when the first recorder is, with what of that recorder's environment
    (the program's own) Python reads as it starts, and ended when this launcher and its
    recorders have closed their ends of its socket."""

    def __init__(self) -> None:
        self.fd: int | None = None
        """This launcher's end of the zygote's socket, once started."""
        self.process: subprocess.Popen[bytes] | None = None
        self.inherited: int | None = None
        """In a forked recorder: the descriptor of that socket it was given."""

    def for_recorder(self, environment: dict[str, str]) -> int | None:
        """The descriptor a recorder gets, starting the zygote if it has not started; None
        when it cannot be started (the recorder then execs its program)."""
        if self.fd is None:
            import student_zygote  # beside this file

            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            # Its stdout and stderr are a pipe nobody reads, as a recorder's program's are
            # pipes: Python notes at its start whether they can seek.
            unread, silent = os.pipe()
            os.close(unread)
            try:
                self.process = subprocess.Popen(
                    [sys.executable, "-s", str(PROBES / "student_zygote.py"), str(theirs.fileno())],
                    stdin=subprocess.DEVNULL,
                    stdout=silent,
                    stderr=silent,
                    pass_fds=(theirs.fileno(),),
                    # Python's start reads these; the rest (a run's address and ports,
                    # its HOME) each child gets from its own request.
                    env={
                        name: value
                        for name, value in environment.items()
                        if name == "PATH" or name.startswith(student_zygote.STARTUP_VARIABLES)
                    },
                    start_new_session=True,
                )
            except OSError:
                ours.close()
                return None
            finally:
                theirs.close()
                os.close(silent)
            self.fd = ours.detach()
        return self.fd

    def end(self) -> None:
        """Closes this launcher's end and waits for the zygote, which ends once its recorders
        have (see stop_orphaned), killing it if it has not within ORPHAN_GRACE_S: it must not
        outlive this launcher as an orphan."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.process is not None:
            try:
                self.process.wait(timeout=ORPHAN_GRACE_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


STUDENT_ZYGOTE = StudentZygote()


MESSAGE_BYTES = 1 << 20
"""The largest request: options travel in files (`@PATH`), or inline when they are small
(grader.sandbox.local.INLINE_OPTIONS_BYTES), so requests are small."""
SIGNALS_RESET = (signal.SIGCHLD, signal.SIGTERM, signal.SIGUSR2, signal.SIGALRM)


def start(request: dict[str, object], fds: list[int], entries: Entries) -> int:
    """Forks the probe `request` names; returns its pid once the child leads a session of
    its own with its descriptors, folder and environment in place. Raises OSError when fork
    fails, and ProbeSetupError when the child could not be set up.

    Every signal is held back across the fork: the grader may signal a probe as soon as it
    has its pid, and until the child has the probe's own handlers, this process's would act
    for it (Python drops a KeyboardInterrupt raised in its after-fork hooks, so a SIGINT
    would be lost). The child lets them through once its handlers are the probe's. The pid
    is answered only after the child's setsid(), so the grader's kill of its process group
    cannot come before the group exists.
    """
    keep = None
    environment = request.get("env")
    if request.get("script") == "run_bounded.py" and isinstance(environment, dict):
        keep = STUDENT_ZYGOTE.for_recorder({str(k): str(v) for k, v in environment.items()})
    ready_read, ready_write = os.pipe()
    previous = signal.pthread_sigmask(signal.SIG_SETMASK, signal.valid_signals())
    try:
        pid = os.fork()
    except OSError:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        os.close(ready_read)
        os.close(ready_write)
        raise
    if pid != 0:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        os.close(ready_write)
        try:
            problem = read_all(ready_read)
        finally:
            os.close(ready_read)
        if problem:
            os.waitpid(pid, 0)  # it ends at once; never reported, as it never started
            raise ProbeSetupError(problem.decode("utf-8", "replace"))
        return pid
    code = 70
    try:
        os.close(ready_read)
        code = as_probe(request, fds, ready_write, entries, keep)
    except KeyboardInterrupt:
        code = 128 + signal.SIGINT  # stopped before the probe began, as a new program would be
    except BaseException:  # the child must reach os._exit, whatever happens
        traceback.print_exc()
    finally:
        os._exit(code)


class ProbeSetupError(Exception):
    """The forked child could not become the probe (its folder, its descriptors)."""


def read_all(fd: int) -> bytes:
    data = b""
    while chunk := os.read(fd, 4096):
        data += chunk
    return data


def as_probe(
    request: dict[str, object], fds: list[int], ready: int, entries: Entries, keep: int | None
) -> int:
    """In the forked child: becomes the probe and runs it; returns its exit status. Says on
    `ready` why it could not be set up, or closes it (nothing said) once it is. `keep`: a
    descriptor the probe keeps beside its three (a recorder's to the student zygote)."""
    try:
        if request.get("session", True):
            os.setsid()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        kept = sorted(fd for fd in (ready, keep) if fd is not None)
        start = 3
        for fd in kept:
            os.closerange(start, fd)
            start = fd + 1
        os.closerange(start, os.sysconf("SC_OPEN_MAX"))
        STUDENT_ZYGOTE.inherited = keep
        if request.get("cwd") is not None:
            os.chdir(str(request["cwd"]))
        environment = request["env"]
        assert isinstance(environment, dict)
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in environment.items()})
        script = str(request["script"])
        arguments = request["args"]
        assert isinstance(arguments, list)
        sys.argv = [str(PROBES / script), *map(str, arguments)]
    except Exception as e:  # told to the grader, which takes it as its own failure
        os.write(ready, f"{type(e).__name__}: {e}".encode()[:4000])
        os.close(ready)
        return 70
    os.close(ready)
    signal.set_wakeup_fd(-1)
    for signum in SIGNALS_RESET:
        signal.signal(signum, signal.SIG_DFL)
    ignored = request.get("ignore") or []
    assert isinstance(ignored, list)
    signal.signal(
        signal.SIGINT, signal.SIG_IGN if "SIGINT" in ignored else signal.default_int_handler
    )
    if "SIGTERM" in ignored:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # A signal that came since the fork acts now, as it would on a program just started.
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    try:
        entries[script]()
        code = 0
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            code = e.code or 0
        else:
            print(e.code, file=sys.stderr)
            code = 1
    except KeyboardInterrupt:
        code = 128 + signal.SIGINT
    except BaseException:  # as Python would: the traceback, status 1
        traceback.print_exc()
        code = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    return code


def serve(control: socket.socket, entries: Entries, running: dict[int, str]) -> None:
    """Answers the grader's requests to start one of `entries` until it closes its end.
    `running` holds the children started and not reaped yet (pid: script)."""
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    os.set_blocking(wake_read, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ)
    selector.register(wake_read, selectors.EVENT_READ)
    while True:
        for key, _ in selector.select():
            if key.fileobj == wake_read:
                while True:
                    try:
                        if not os.read(wake_read, 4096):
                            break
                    except BlockingIOError:
                        break
                reap(control, running)
                continue
            data, fds, _, _ = socket.recv_fds(control, MESSAGE_BYTES, 3)
            if not data:
                return
            try:
                request = json.loads(data)
                answer: dict[str, object] = {"id": request["id"]}
                if request["script"] not in entries or len(fds) != 3:
                    answer["error"] = f"cannot start {request['script']!r} here"
                else:
                    try:
                        pid = start(request, fds, entries)
                        answer["pid"] = pid
                        running[pid] = str(request["script"])
                    except OSError as e:
                        answer["error"] = f"fork failed: {e}"
                    except ProbeSetupError as e:
                        answer["error"] = str(e)
            finally:
                for fd in fds:
                    os.close(fd)
            control.send(json.dumps(answer).encode())
        reap(control, running)


def reap(control: socket.socket | None, running: dict[int, str]) -> None:
    """Reports every child that has ended (to `control`, unless None), and forgets it."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        # Only the probes are the grader's to hear of, not the student zygote: a pid it
        # never heard of would be taken for a probe's that ended before it was answered.
        if running.pop(pid, None) is not None and control is not None:
            control.send(json.dumps({"exited": pid, "status": status}).encode())


ORPHAN_GRACE_S = 3.0
"""How long a recorder told to stop may take to kill its program and end."""


def stop_orphaned(running: dict[int, str]) -> None:
    """Stops the probes still running once the grader is gone: a recorder (run_bounded.py) is
    told to kill its program and end (SIGUSR2, as the grader's kill), then killed with its
    process group if it has not ended within ORPHAN_GRACE_S; any other probe at once, with
    its process group (a capture's tcpdump is in it)."""
    for pid, script in list(running.items()):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if script == "run_bounded.py":
                os.kill(pid, signal.SIGUSR2)
            else:
                os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + ORPHAN_GRACE_S
    while running and time.monotonic() < deadline:
        time.sleep(0.02)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            reap(None, running)
    for pid in running:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


def main(fd: int, entries: Entries | None = None, *, stop_orphans: bool = True) -> None:
    """Serves `entries` (the probes when None) on the socket descriptor `fd`; then, with
    `stop_orphans`, stops the children still running (stop_orphaned)."""
    # The grader may start this from a thread that holds SIGINT and SIGTERM back (while it
    # cleans up, or waits: grader.interrupts): a mask every fork and exec below would keep,
    # and a probe would never see the grader's stop.
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the grader's to act on, never this one's
    control = socket.socket(fileno=fd)
    entries = probe_entries() if entries is None else entries
    # Everything imported so far is shared with every fork, never to be collected: a
    # collection in a fork would otherwise touch (and copy) every page that holds it.
    gc.freeze()
    running: dict[int, str] = {}
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the grader is gone
        serve(control, entries, running)
    if stop_orphans:
        stop_orphaned(running)
    STUDENT_ZYGOTE.end()


if __name__ == "__main__":
    main(int(sys.argv[1]))
