"""The local backend's probes, started by fork from a process that imported them once.

A probe started as `python3 probe.py` spends 30 to 45 ms of CPU before it does anything:
the interpreter's start and the probe's imports. A local grading of lab 01 starts about
fifteen of them (a run_bounded.py per program, a peer per scenario, a capture_bounded.py
per capture), most of the CPU a grading costs on a batch. grader/probes/launcher.py imports
the probes once and forks one per request, at about 1 ms each.

`launcher(...).launch(...)` gives a Popen-like handle (`LaunchedProcess`) of a probe
started that way; grader.sandbox.local.started_probe uses it for the probes in LAUNCHABLE
and starts any other as a program of its own. One launcher serves every run of this
process (a batch worker's gradings, one after another); it is started on first use, in a
session of its own (a Ctrl-C at the terminal is the grader's to act on), and ends when
this process does.

The same fork server starts a batch's workers (grader.batch): `Launcher` takes the command
that starts it.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grader.errors import InfrastructureError

LAUNCHABLE = frozenset({"capture_bounded.py", "peer.py", "relay.py", "run_bounded.py"})
"""The probes grader/probes/launcher.py can start (its ENTRIES)."""
MESSAGE_BYTES = 1 << 16
START_TIMEOUT_S = 30.0
"""How long a fork may take to be answered: a loaded machine answers in milliseconds."""


class LaunchedProcess:
    """A probe the launcher forked: the part of subprocess.Popen that LocalRunning uses.

    `returncode` is Popen's: the exit status, or minus the signal that ended it, once the
    launcher has reaped it. Raises InfrastructureError from `wait` when the launcher ended
    before the probe did (its status is lost: a grader fault, not the probe's).
    """

    def __init__(self, pid: int, args: list[str], launcher: Launcher) -> None:
        self.pid = pid
        self.args = args
        self.returncode: int | None = None
        self._ended = threading.Event()
        self._launcher = launcher

    def _exited(self, status: int | None) -> None:
        if status is not None:
            self.returncode = os.waitstatus_to_exitcode(status)
        self._ended.set()

    def poll(self) -> int | None:
        if self._ended.is_set():
            self._check_known()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._ended.wait(timeout):
            raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
        self._check_known()
        assert self.returncode is not None
        return self.returncode

    def _check_known(self) -> None:
        if self.returncode is None:
            raise InfrastructureError(
                f"the grader's {self._launcher.name} ended while {self.args[0]} ran: its exit"
                " status is lost (a grader fault)"
            )

    def send_signal(self, signum: int) -> None:
        if self.returncode is None and not self._ended.is_set():
            os.kill(self.pid, signum)


class ForkedServer:
    """A fork server that is a fork of this process, in the shape of the Popen that Launcher
    keeps of one it started as a program: `pid`, `args`, `wait`, `kill`.

    The child ignores SIGINT and SIGTERM (the grader's to act on), has /dev/null for stdin
    and stdout, keeps this process's stderr, holds no other descriptor of this process's
    but `fd`, its end of the control socket, and runs `serve(fd)`; it ends by os._exit, so
    nothing of this process's at-exit work runs twice. Fork only where this process has one
    thread: a lock another thread holds would stay held in the child.
    """

    def __init__(self, serve: Callable[[int], object], fd: int, new_session: bool) -> None:
        self.args = [f"fork of {os.getpid()}", str(fd)]
        self.returncode: int | None = None
        # Held back until the child ignores them: this process's handlers must not run there.
        previous = signal.pthread_sigmask(signal.SIG_SETMASK, signal.valid_signals())
        try:
            self.pid = os.fork()
        except OSError:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
            raise
        if self.pid != 0:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
            return
        code = 70
        try:
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, signal.SIG_IGN)
            if new_session:
                os.setsid()
            devnull = os.open(os.devnull, os.O_RDWR)
            os.dup2(devnull, 0)
            os.dup2(devnull, 1)
            os.closerange(3, fd)
            os.closerange(fd + 1, os.sysconf("SC_OPEN_MAX"))
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
            serve(fd)
            code = 0
        except BaseException:  # the child must reach os._exit, whatever happens
            traceback.print_exc()
        finally:
            os._exit(code)

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
            time.sleep(0.01)
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)


class Launcher:
    """One running fork server (grader/probes/launcher.py's protocol) and the thread that
    reads its answers.

    `command` starts it, with its end of the control socket's descriptor number appended;
    or, a function, is what a fork of this process runs with that descriptor
    (ForkedServer). `env` is its environment (a fork keeps this process's); `new_session`
    puts it in a session of its own. `name` says what it is in errors. Raises
    InfrastructureError when it cannot be started.
    """

    def __init__(
        self,
        command: list[str] | Callable[[int], object],
        env: dict[str, str],
        *,
        name: str = "probe launcher",
        new_session: bool = True,
    ) -> None:
        self.name = name
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._control = ours
        self._process: subprocess.Popen[bytes] | ForkedServer
        try:
            if callable(command):
                self._process = ForkedServer(command, theirs.fileno(), new_session)
            else:
                self._process = subprocess.Popen(
                    [*command, str(theirs.fileno())],
                    pass_fds=(theirs.fileno(),),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    start_new_session=new_session,
                    env=env,
                )
        except OSError as e:
            ours.close()
            raise InfrastructureError(f"could not start the grader's {name}: {e}") from e
        finally:
            theirs.close()
        self._lock = threading.Lock()
        self._next_id = 0
        self._answers: dict[int, dict[str, Any]] = {}
        self._answered = threading.Condition(self._lock)
        self._running: dict[int, LaunchedProcess] = {}
        self._early: dict[int, int] = {}
        """Exits reported before the start's answer was taken (a probe that ended at once)."""
        self._abandoned: set[int] = set()
        """Requests whose answer came too late (START_TIMEOUT_S): their probes are not ours."""
        self._ignored: set[int] = set()
        """The pids of those probes, until their exits are reported."""
        self.alive = True
        self._reader = threading.Thread(target=self._read, name="probe-launcher", daemon=True)
        self._reader.start()

    def launch(
        self,
        script: str,
        args: list[str],
        cwd: str | None,
        env: dict[str, str],
        fds: tuple[int, ...],
        *,
        new_session: bool = True,
        ignore: tuple[str, ...] = (),
    ) -> LaunchedProcess:
        """Forks `script` with `args`, in `cwd` (None: the launcher's) with exactly `env`,
        its stdin, stdout and stderr the three `fds`; in a session of its own unless
        `new_session` is False (then in the launcher's); the signals named in `ignore`
        ("SIGINT", "SIGTERM") ignored. Raises InfrastructureError when the launcher cannot."""
        with self._lock:
            if not self.alive:
                raise InfrastructureError(f"the grader's {self.name} has ended")
            self._next_id += 1
            ident = self._next_id
            request = {
                "id": ident,
                "script": script,
                "args": args,
                "cwd": cwd,
                "env": env,
                "session": new_session,
                "ignore": list(ignore),
            }
            try:
                socket.send_fds(self._control, [json.dumps(request).encode()], list(fds))
            except OSError as e:
                raise InfrastructureError(f"the grader's {self.name} is gone: {e}") from e
            if not self._answered.wait_for(
                lambda: ident in self._answers or not self.alive, START_TIMEOUT_S
            ):
                self._abandoned.add(ident)
                raise InfrastructureError(f"the grader's {self.name} did not start {script}")
            answer = self._answers.pop(ident, None)
            if answer is None:
                raise InfrastructureError(f"the grader's {self.name} has ended")
            if "error" in answer:
                raise InfrastructureError(f"could not start {script}: {answer['error']}")
            process = LaunchedProcess(int(answer["pid"]), [script, *args], self)
            self._running[process.pid] = process
            if process.pid in self._early:
                self._running.pop(process.pid)._exited(self._early.pop(process.pid))
            return process

    def _read(self) -> None:
        while True:
            try:
                data = self._control.recv(MESSAGE_BYTES)
            except OSError:
                data = b""
            with self._lock:
                if not data:
                    self.alive = False
                    for process in self._running.values():
                        process._exited(None)
                    self._running.clear()
                    self._answered.notify_all()
                    return
                message = json.loads(data)
                if "exited" in message:
                    pid, status = int(message["exited"]), int(message["status"])
                    running = self._running.pop(pid, None)
                    if running is not None:
                        running._exited(status)
                    elif pid in self._ignored:
                        self._ignored.discard(pid)
                    else:
                        self._early[pid] = status
                elif int(message["id"]) in self._abandoned:
                    self._abandoned.discard(int(message["id"]))
                    if "pid" in message:
                        self._ignored.add(int(message["pid"]))
                else:
                    self._answers[int(message["id"])] = message
                    self._answered.notify_all()

    def close(self) -> None:
        """Ends the launcher and waits for it; safe to call more than once. A launcher of
        probes stops those still running as it ends (grader/probes/launcher.py)."""
        with self._lock:
            self.alive = False
        with contextlib.suppress(OSError):  # closed already
            self._control.shutdown(socket.SHUT_RDWR)
        self._control.close()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()


def _launcher_env() -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


_launcher: Launcher | None = None
_owner_pid: int | None = None
_guard = threading.Lock()


def cpu_seconds() -> float:
    """CPU time (user + system, seconds) of this process's launcher and of the probes it has
    reaped, with what they reaped in turn (the programs they ran, tcpdump); 0.0 when no
    launcher runs. Read from /proc/PID/stat: utime, stime, cutime and cstime (proc(5))."""
    running = _launcher
    if running is None or not running.alive:
        return 0.0
    try:
        stat = Path(f"/proc/{running._process.pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return sum(int(ticks) for ticks in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def launcher(python: str, probes: str) -> Launcher:
    """This process's launcher, started on first use (or again, if it ended). Raises
    InfrastructureError when it cannot be started."""
    global _launcher, _owner_pid
    with _guard:
        if _launcher is None or not _launcher.alive or _owner_pid != os.getpid():
            _launcher = Launcher(
                [python, "-s", "-u", os.path.join(probes, "launcher.py")], _launcher_env()
            )
            _owner_pid = os.getpid()
            # Ended and waited for here: left to end after this process, it would be an
            # orphan that a container's init which reaps nothing keeps as a zombie.
            atexit.register(_launcher.close)
        return _launcher


def close_launcher() -> None:
    """Ends and waits for this process's launcher, if it started one: what its exit does
    (atexit), for a process that ends without running atexit's functions (os._exit: a batch
    worker, forked by grader.batch's worker launcher)."""
    with _guard:
        if _launcher is not None and _owner_pid == os.getpid():
            _launcher.close()
